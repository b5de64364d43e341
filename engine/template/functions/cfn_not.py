"""Fn::Not (in Conditions): the negation of one condition, given as a one-item list. Pure: asks only
the context it is given."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.functions.cfn_condition import check_item
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 1:
        raise TemplateError("Fn::Not: expected [condition]", path=path)
    check_item("Fn::Not", args[0], path)


def conditions_in(args: Snippet) -> list[Path]:
    """The one item is a condition: a name, a boolean or a condition function."""
    return [(0,)]


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    return not context.condition(evaluate(args[0], 0))
