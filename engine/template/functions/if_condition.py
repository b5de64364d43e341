"""if (2021-04-16 on): one value when a condition holds, another (which may be left out) when it
does not. Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import OMITTED
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Arguments to "if" must be of the form: [condition_name, value_if_true, value_if_false]'


def check_arguments(args: Snippet, path: Path, usage: str, *, least: int) -> None:
    if not args or not isinstance(args, list) or not least <= len(args) <= 3:
        raise TemplateError(usage, path=path)


def validate(args: Snippet, path: Path) -> None:
    check_arguments(args, path, USAGE, least=2)


def conditions_in(args: Snippet) -> list[Path]:
    """The first argument is a condition: a name, a boolean or a condition function."""
    return [(0,)] if isinstance(args, list) and args else []


def branch(args: list[Snippet], holds: bool) -> int | None:
    """The argument chosen when the condition does or does not hold; None when it is left out."""
    if holds:
        return 1
    return 2 if len(args) > 2 else None


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    # Only the chosen value is resolved: the other may name a resource that is not there.
    chosen = branch(args, context.condition(evaluate(args[0], 0)))
    # Without a value for false, the key or item holding the call is left out.
    return OMITTED if chosen is None else evaluate(args[chosen], chosen)
