"""repeat before 2016-10-14: for_each values must be lists, and every combination of them is repeated."""
from __future__ import annotations

from typing import Any

from engine.template.functions import repeat


def validate(args: Any, path: tuple) -> None:
    repeat.check_arguments(args, path, maps=False, permutations=False)


def resolve(args: Any, evaluate, context) -> list:
    return repeat.repeat(args, evaluate, context, maps=False, permutations=False)
