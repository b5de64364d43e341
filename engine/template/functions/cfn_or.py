"""Fn::Or (in Conditions): true when at least one of two or more conditions is true."""
from __future__ import annotations

from typing import Any

from engine.template.functions.cfn_and import check_items, conditions_in, values

__all__ = ["conditions_in", "resolve", "validate"]


def validate(args: Any, path: tuple) -> None:
    check_items("Fn::Or", args, path)


def resolve(args: Any, evaluate, context) -> bool:
    return any(values(args, evaluate, context))
