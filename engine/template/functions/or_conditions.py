"""or (in conditions, 2016-10-14 on): true when at least one of two or more conditions holds. Pure,
touches nothing."""

from __future__ import annotations

from engine.template.functions import and_conditions
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    and_conditions.check_arguments("or", args, path)


conditions_in = and_conditions.conditions_in


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> bool:
    return any(and_conditions.values(args, evaluate, context))
