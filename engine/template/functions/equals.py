"""equals (in conditions, 2016-10-14 on): whether two resolved values are equal."""
from __future__ import annotations

from typing import Any

from engine.template.functions.args import check_list


def validate(args: Any, path: tuple) -> None:
    check_list(args, path, "equals: expected [value, value]", least=2, most=2)


def resolve(args: Any, evaluate, context) -> bool:
    return evaluate(args[0], 0) == evaluate(args[1], 1)
