"""or (in conditions, 2016-10-14 on): true when at least one of two or more conditions holds."""
from __future__ import annotations

from typing import Any

from engine.template.functions import and_conditions


def validate(args: Any, path: tuple) -> None:
    and_conditions.check_arguments("or", args, path)


conditions_in = and_conditions.conditions_in


def resolve(args: Any, evaluate, context) -> bool:
    return any(and_conditions.values(args, evaluate, context))
