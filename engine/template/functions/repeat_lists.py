"""repeat before 2016-10-14: for_each values must be lists, and every combination of them is
repeated. Pure, touches nothing."""

from __future__ import annotations

from engine.template.functions import repeat
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    repeat.check_arguments(args, path, maps=False, permutations=False)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[Snippet]:
    return repeat.repeat(args, evaluate, context, maps=False, permutations=False)
