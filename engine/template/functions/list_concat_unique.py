"""list_concat_unique (2017-09-01 on): list_concat keeping each distinct item once, where it last occurs."""
from __future__ import annotations

from typing import Any

from engine.template.functions import list_concat


def validate(args: Any, path: tuple) -> None:
    list_concat.check_arguments("list_concat_unique", args, path)


def resolve(args: Any, evaluate, context) -> list:
    items = list_concat.concatenated("list_concat_unique", args, evaluate)
    # Items may be maps or lists, so equality decides, not hashing; the first copy stays.
    unique: list = []
    for item in items:
        if item not in unique:
            unique.append(item)
    return unique
