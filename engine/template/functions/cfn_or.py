"""Fn::Or (in Conditions): true when at least one of two or more conditions is true. Pure, touches
nothing."""

from __future__ import annotations

from engine.template.functions.cfn_and import check_items, conditions_in, values
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

__all__ = ["conditions_in", "resolve", "validate"]


def validate(args: Snippet, path: Path) -> None:
    check_items("Fn::Or", args, path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    return any(values(args, evaluate, context))
