"""str_replace_strict (2017-02-24 on): str_replace, but every placeholder must occur in the
template. Pure, touches nothing."""

from __future__ import annotations

from typing import Any

from engine.template.functions import str_replace
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

NAME = "str_replace_strict"


def validate(args: Snippet, path: Path) -> None:
    str_replace.check_arguments(args, path, NAME)


def as_text(placeholder: str, value: Any) -> str:
    return str_replace.as_text(placeholder, value, NAME)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    return str_replace.substitute(args, evaluate, as_text, context=context, function=NAME, strict=True)
