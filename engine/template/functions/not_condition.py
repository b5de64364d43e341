"""not (in conditions, 2016-10-14 on): true when a condition does not hold."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError


def validate(args: Any, path: tuple) -> None:
    if args is None:
        raise TemplateError('Argument to "not" must be a condition', path=path)


def conditions_in(args: Any) -> list[tuple]:
    """The argument itself is a condition."""
    return [()]


def resolve(args: Any, evaluate, context) -> bool:
    return not context.condition(evaluate(args))
