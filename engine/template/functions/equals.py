"""equals (in conditions, 2016-10-14 on): whether two resolved values are equal. Pure, touches
nothing."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if not args or not isinstance(args, list) or len(args) != 2:
        raise TemplateError('Arguments to "equals" must be of the form: [value_1, value_2]', path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    # Plain data compare to a bool; typed here, as the values are Any to mypy.
    equal: bool = evaluate(args[0], 0) == evaluate(args[1], 1)
    return equal
