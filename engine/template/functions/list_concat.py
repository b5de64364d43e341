"""list_concat (2017-09-01 on): one list from the items of several lists, in order."""
from __future__ import annotations

import json
from typing import Any

from engine.errors import TemplateError
from engine.template.limits import budget_of

USAGE = ('Incorrect arguments to "{function}" should be: "{function}" : [ [ <value 1>, '
         '<value 2> ], [ <value 3>, <value 4> ] ]')


def check_arguments(function: str, args: Any, path: tuple) -> None:
    """Heat checks list_concat's arguments only when it resolves them."""


def validate(args: Any, path: tuple) -> None:
    check_arguments("list_concat", args, path)


def concatenated(function: str, args: Any, evaluate, context) -> list:
    """The items of every list, in order; how many there are is counted before any is copied."""
    resolved = evaluate(args)
    if not isinstance(resolved, list):
        raise TemplateError(USAGE.format(function=function))
    for item in resolved:
        # A list that is not available yet (a null attribute) adds nothing, as in Heat.
        if item is not None and not isinstance(item, list):
            raise TemplateError("Incorrect arguments: Items to concat must be lists. "
                                f"{_quoted(resolved, context)} contains an item that is not a "
                                f"list: {_quoted(item, context)}")
    budget_of(context).spend(sum(len(item) for item in resolved if item is not None), function,
                             "the items to concatenate")
    result: list = []
    for item in resolved:
        if item is not None:
            result.extend(item)
    return result


def _quoted(value: Any, context) -> str:
    # Measured first: the arguments may share parts that JSON text would repeat.
    budget_of(context).size_of(value, "list_concat", "the arguments to quote")
    return json.dumps(value)


def resolve(args: Any, evaluate, context) -> list:
    return concatenated("list_concat", args, evaluate, context)
