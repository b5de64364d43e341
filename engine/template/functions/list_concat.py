"""list_concat (2017-09-01 on): one list from the items of several lists, in order. Pure, touches
nothing."""

from __future__ import annotations

import json

from engine.errors import TemplateError
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = (
    'Incorrect arguments to "{function}" should be: "{function}" : [ [ <value 1>, '
    "<value 2> ], [ <value 3>, <value 4> ] ]"
)


def check_arguments(function: str, args: Snippet, path: Path) -> None:
    """Heat checks list_concat's arguments only when it resolves them."""


def validate(args: Snippet, path: Path) -> None:
    check_arguments("list_concat", args, path)


def concatenated(function: str, args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[Snippet]:
    """The items of every list, in order; how many there are is counted before any is copied."""
    resolved = evaluate(args)
    if not isinstance(resolved, list):
        raise TemplateError(USAGE.format(function=function))
    for item in resolved:
        # A list that is not available yet (a null attribute) adds nothing, as in Heat.
        if item is not None and not isinstance(item, list):
            raise TemplateError(
                "Incorrect arguments: Items to concat must be lists. "
                f"{_quoted(resolved, context)} contains an item that is not a "
                f"list: {_quoted(item, context)}"
            )
    budget_of(context).spend(
        sum(len(item) for item in resolved if item is not None), function, "the items to concatenate"
    )
    result: list[Snippet] = []
    for item in resolved:
        if item is not None:
            result.extend(item)
    return result


def _quoted(value: Snippet, context: FunctionContext) -> str:
    # Measured first: the arguments may share parts that JSON text would repeat.
    budget_of(context).size_of(value, "list_concat", "the arguments to quote")
    return json.dumps(value)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[Snippet]:
    return concatenated("list_concat", args, evaluate, context)
