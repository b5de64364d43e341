"""list_concat (2017-09-01 on): one list from the items of several lists, in order."""
from __future__ import annotations

import json

from typing import Any

from engine.errors import TemplateError

USAGE = ('Incorrect arguments to "{function}" should be: "{function}" : [ [ <value 1>, '
         '<value 2> ], [ <value 3>, <value 4> ] ]')


def check_arguments(function: str, args: Any, path: tuple) -> None:
    """Heat checks list_concat's arguments only when it resolves them."""


def validate(args: Any, path: tuple) -> None:
    check_arguments("list_concat", args, path)


def concatenated(function: str, args: Any, evaluate) -> list:
    resolved = evaluate(args)
    if not isinstance(resolved, list):
        raise TemplateError(USAGE.format(function=function))
    result: list = []
    for item in resolved:
        # A list that is not available yet (a null attribute) adds nothing, as in Heat.
        if item is None:
            continue
        if not isinstance(item, list):
            raise TemplateError("Incorrect arguments: Items to concat must be lists. "
                                f"{json.dumps(resolved)} contains an item that is not a list: "
                                f"{json.dumps(item)}")
        result.extend(item)
    return result


def resolve(args: Any, evaluate, context) -> list:
    return concatenated("list_concat", args, evaluate)
