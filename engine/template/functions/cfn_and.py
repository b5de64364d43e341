"""Fn::And (in Conditions): true when every one of two or more conditions is true."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.cfn_condition import check_item


def check_items(function: str, args: Any, path: tuple) -> None:
    """Fn::And and Fn::Or: a list of at least two conditions, as Heat requires."""
    if not isinstance(args, list) or len(args) < 2:
        raise TemplateError(f"{function}: expected [condition, condition, ...] (at least two)", path=path)
    for item in args:
        check_item(function, item, path)


def validate(args: Any, path: tuple) -> None:
    check_items("Fn::And", args, path)


def conditions_in(args: Any) -> list[tuple]:
    """Every item is a condition: a name, a boolean or a condition function."""
    return [(number,) for number in range(len(args))] if isinstance(args, list) else []


def values(args: list, evaluate, context) -> list[bool]:
    # Every item is resolved first, as in Heat, so a bad one is reported even after a false one.
    resolved = [evaluate(item, number) for number, item in enumerate(args)]
    return [context.condition(value) for value in resolved]


def resolve(args: Any, evaluate, context) -> bool:
    return all(values(args, evaluate, context))
