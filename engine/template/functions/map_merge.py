"""map_merge (2016-04-08 on): one map from a list of maps, later keys overriding earlier ones."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name

USAGE = "map_merge: expected a list of maps"


def validate(args: Any, path: tuple) -> None:
    if is_call(args):
        return  # {get_param: maps}: checked when resolved
    if not isinstance(args, list):
        raise TemplateError(USAGE, path=path)
    for number, item in enumerate(args):
        if not (item is None or isinstance(item, dict)):
            raise TemplateError(f"map_merge: item {number} must be a map", path=path)


def items_of(function: str, args: Any, evaluate) -> list:
    """The resolved items of a list argument that may itself be a call."""
    if isinstance(args, list):
        return [evaluate(item, number) for number, item in enumerate(args)]
    items = evaluate(args)
    if not isinstance(items, list):
        raise TemplateError(f"{function}: expected a list, not {type_name(items)}")
    return items


def resolve(args: Any, evaluate, context) -> dict:
    merged: dict = {}
    for number, item in enumerate(items_of("map_merge", args, evaluate)):
        # A map that is not available yet (a null attribute) merges as nothing, as in Heat.
        if item is None:
            continue
        if not isinstance(item, dict):
            raise TemplateError(f"map_merge: item {number} must be a map, not {type_name(item)}")
        merged.update(item)
    return merged
