"""and (in conditions, 2016-10-14 on): true when every one of two or more conditions holds."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError


def check_arguments(function: str, args: Any, path: tuple) -> None:
    if not isinstance(args, list):
        raise TemplateError(f'Arguments to "{function}" must be a list of conditions', path=path)
    if len(args) < 2:
        raise TemplateError(f'The minimum number of condition arguments to "{function}" is 2.',
                            path=path)


def validate(args: Any, path: tuple) -> None:
    check_arguments("and", args, path)


def conditions_in(args: Any) -> list[tuple]:
    """Every item is a condition: a name, a boolean or a condition function."""
    return [(number,) for number in range(len(args))] if isinstance(args, list) else []


def values(args: list, evaluate, context) -> list[bool]:
    # Every item is resolved first, as in Heat, so a bad one is reported even after a false one.
    resolved = [evaluate(item, number) for number, item in enumerate(args)]
    return [context.condition(value) for value in resolved]


def resolve(args: Any, evaluate, context) -> bool:
    return all(values(args, evaluate, context))
