"""if from 2016-10-14 to 2018-08-31: one value when a condition holds, the other when it does not;
both are required. Pure, touches nothing."""

from __future__ import annotations

from engine.template.functions import if_condition
from engine.template.snippets import Path, Snippet

USAGE = if_condition.USAGE


def validate(args: Snippet, path: Path) -> None:
    if_condition.check_arguments(args, path, USAGE, least=3)


conditions_in = if_condition.conditions_in
branch = if_condition.branch
resolve = if_condition.resolve
