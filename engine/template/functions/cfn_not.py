"""Fn::Not (in Conditions): the negation of one condition, given as a one-item list."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.cfn_condition import check_item


def validate(args: Any, path: tuple) -> None:
    if not isinstance(args, list) or len(args) != 1:
        raise TemplateError("Fn::Not: expected [condition]", path=path)
    check_item("Fn::Not", args[0], path)


def conditions_in(args: Any) -> list[tuple]:
    """The one item is a condition: a name, a boolean or a condition function."""
    return [(0,)]


def resolve(args: Any, evaluate, context) -> bool:
    return not context.condition(evaluate(args[0], 0))
