"""str_split (2015-10-15 on): split a string by a delimiter into a list, or pick one item of it by
index. Pure, touches nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Incorrect arguments to "str_split" should be: "str_split" : [ ",", "apples,pears", <index>]'


def validate(args: Snippet, path: Path) -> None:
    # Heat refuses a text or a map before resolving; the rest is checked once resolved.
    if isinstance(args, (str, dict)) and not is_call(args):
        raise TemplateError(USAGE, path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    args = evaluate(args)
    if not isinstance(args, list) or len(args) < 2:
        raise TemplateError(USAGE)
    delimiter, text = args[0], args[1]
    # A string that is not available yet (a null attribute) splits into null, as in Heat.
    if text is None:
        return None
    if not isinstance(text, str) or not isinstance(delimiter, str):
        raise TemplateError(USAGE)
    if not delimiter:
        raise TemplateError("empty separator")
    # Counted before splitting: each item is a string of its own, however short.
    budget_of(context).spend(text.count(delimiter) + 1, "str_split", "the items to split into")
    items = text.split(delimiter)
    if len(args) < 3:
        return items
    try:
        index = int(args[2])
    except (TypeError, ValueError):
        raise TemplateError(
            'Incorrect index to "str_split" should be: "str_split" : [ ",", "apples,pears", <index>]'
        ) from None
    if not -len(items) <= index < len(items):
        raise TemplateError(f'Incorrect index to "str_split" should be between 0 and {len(items) - 1}')
    return items[index]
