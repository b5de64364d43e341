"""list_join before 2015-10-15: join the strings of exactly one list with a delimiter. Pure, touches
nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions import list_join
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Incorrect arguments to "list_join" should be: "list_join" : [ " ", [ "str1", "str2"]]'


def validate(args: Snippet, path: Path) -> None:
    list_join.check_arguments(args, path, usage=USAGE, most=1)


def as_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    raise TemplateError(f"Items to join must be strings not {repr(item)[:200]}")


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    return list_join.join(args, evaluate, as_text, context)
