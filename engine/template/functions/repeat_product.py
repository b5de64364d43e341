"""repeat in 2016-10-14 and 2017-02-24: for_each values may be lists or maps (their keys); every combination is repeated."""
from __future__ import annotations

from typing import Any

from engine.template.functions import repeat


def validate(args: Any, path: tuple) -> None:
    repeat.check_arguments(args, path, maps=True, permutations=False)


def resolve(args: Any, evaluate, context) -> list:
    return repeat.repeat(args, evaluate, context, maps=True, permutations=False)
