"""Fn::If: the second argument when the named condition is true, else the third; only that one is
resolved. Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Arguments to "Fn::If" must be of the form: [condition_name, value_if_true, value_if_false]'


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 3:
        raise TemplateError(USAGE, path=path)
    if not (isinstance(args[0], bool) or (isinstance(args[0], str) and args[0])):
        raise TemplateError(f'Invalid condition "{args[0]}"', path=path)


def reference(args: Snippet) -> tuple[str, str] | None:
    return ("condition", args[0]) if isinstance(args[0], str) else None


def conditions_in(args: Snippet) -> list[Path]:
    """The first argument is a condition: a name or a boolean."""
    return [(0,)]


def branch(args: list[Snippet], holds: bool) -> int:
    """The argument chosen when the condition does or does not hold."""
    return 1 if holds else 2


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    # Only the chosen value is resolved: the other may name a resource that is not there.
    chosen = branch(args, context.condition(args[0]))
    return evaluate(args[chosen], chosen)
