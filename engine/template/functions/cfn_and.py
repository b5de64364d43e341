"""Fn::And (in Conditions): true when every one of two or more conditions is true. Pure, touches
nothing."""

from __future__ import annotations

from engine.errors import TemplateError

# Evaluated exactly as HOT's `and`.
from engine.template.functions.and_conditions import conditions_in, resolve, values
from engine.template.functions.cfn_condition import check_item
from engine.template.snippets import Path, Snippet

__all__ = ["check_item", "check_items", "conditions_in", "resolve", "validate", "values"]


def check_items(function: str, args: Snippet, path: Path) -> None:
    """Fn::And and Fn::Or: a list of at least two conditions, as Heat requires."""
    if not isinstance(args, list) or len(args) < 2:
        raise TemplateError(f"{function}: expected [condition, condition, ...] (at least two)", path=path)
    for item in args:
        check_item(function, item, path)


def validate(args: Snippet, path: Path) -> None:
    check_items("Fn::And", args, path)
