"""not (in conditions, 2016-10-14 on): true when a condition does not hold. Pure: asks only the
context it is given."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if args is None:
        raise TemplateError('Argument to "not" must be a condition', path=path)


def conditions_in(args: Snippet) -> list[Path]:
    """The argument itself is a condition."""
    return [()]


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    return not context.condition(evaluate(args))
