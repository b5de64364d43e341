"""list_concat (2017-09-01 on): one list from the items of several lists, in order."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.functions.map_merge import items_of

USAGE = "{function}: expected a list of lists"


def check_arguments(function: str, args: Any, path: tuple) -> None:
    if is_call(args):
        return  # {get_param: lists}: checked when resolved
    if not isinstance(args, list):
        raise TemplateError(USAGE.format(function=function), path=path)
    for number, item in enumerate(args):
        if not (item is None or isinstance(item, list) or is_call(item)):
            raise TemplateError(f"{function}: item {number} must be a list", path=path)


def validate(args: Any, path: tuple) -> None:
    check_arguments("list_concat", args, path)


def concatenated(function: str, args: Any, evaluate) -> list:
    result: list = []
    for number, item in enumerate(items_of(function, args, evaluate)):
        # A list that is not available yet (a null attribute) adds nothing, as in Heat.
        if item is None:
            continue
        if not isinstance(item, list):
            raise TemplateError(f"{function}: item {number} must be a list, not {type_name(item)}")
        result.extend(item)
    return result


def resolve(args: Any, evaluate, context) -> list:
    return concatenated("list_concat", args, evaluate)
