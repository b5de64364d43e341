"""get_attr before 2015-10-15: as get_attr, but the attribute name is required."""
from __future__ import annotations

from typing import Any

from engine.template.functions import get_attr


def validate(args: Any, path: tuple) -> None:
    get_attr.check_arguments(args, path, minimum=2)


reference = get_attr.reference
resolve = get_attr.resolve
