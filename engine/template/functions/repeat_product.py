"""repeat in 2016-10-14 and 2017-02-24: for_each values may be lists or maps (their keys); every
combination is repeated. Pure, touches nothing."""

from __future__ import annotations

from engine.template.functions import repeat
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    repeat.check_arguments(args, path, maps=True, permutations=False)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[Snippet]:
    return repeat.repeat(args, evaluate, context, maps=True, permutations=False)
