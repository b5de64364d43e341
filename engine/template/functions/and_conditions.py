"""and (in conditions, 2016-10-14 on): true when every one of two or more conditions holds. Pure:
asks only the context it is given."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def check_arguments(function: str, args: Snippet, path: Path) -> None:
    if not isinstance(args, list):
        raise TemplateError(f'Arguments to "{function}" must be a list of conditions', path=path)
    if len(args) < 2:
        raise TemplateError(f'The minimum number of condition arguments to "{function}" is 2.', path=path)


def validate(args: Snippet, path: Path) -> None:
    check_arguments("and", args, path)


def conditions_in(args: Snippet) -> list[Path]:
    """Every item is a condition: a name, a boolean or a condition function."""
    return [(number,) for number in range(len(args))] if isinstance(args, list) else []


def values(args: list[Snippet], evaluate: Evaluate, context: FunctionContext) -> list[bool]:
    # Every item is resolved first, as in Heat, so a bad one is reported even after a false one.
    resolved = [evaluate(item, number) for number, item in enumerate(args)]
    return [context.condition(value) for value in resolved]


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    return all(values(args, evaluate, context))
