"""Condition (in Conditions): the value of another named condition; also how the boolean functions
check their items. Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, str) or not args:
        raise TemplateError("Condition: expected the name of a condition", path=path)


def reference(args: Snippet) -> tuple[str, str]:
    return "condition", args


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    return context.condition(args)


def check_item(function: str, item: Any, path: Path) -> None:
    """An item of Fn::Not, Fn::And or Fn::Or: a condition name, a boolean or a function.

    A string names a condition, as in Heat; the template checks that it exists.
    """
    if not (isinstance(item, bool) or (isinstance(item, str) and item) or is_call(item)):
        raise TemplateError(
            f"{function}: each item must be a condition name, true, false or a condition function", path=path
        )
