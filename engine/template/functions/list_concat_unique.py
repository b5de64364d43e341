"""list_concat_unique (2017-09-01 on): list_concat keeping each distinct item once, where it last
occurs. Pure, touches nothing."""

from __future__ import annotations

from typing import Any

from engine.template.functions import list_concat
from engine.template.limits import Budget, budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    list_concat.check_arguments("list_concat_unique", args, path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[Snippet]:
    items = list_concat.concatenated("list_concat_unique", args, evaluate, context)
    return unique_items(items, budget_of(context), "list_concat_unique")


def unique_items(items: list[Snippet], budget: Budget, function: str) -> list[Snippet]:
    """Each distinct item once, the first copy kept, as `item not in unique` would keep them.

    Strings, numbers, booleans and null are found by hashing, which agrees with equality for
    them (1, 1.0 and true are one value, as they are equal); maps and lists are compared with
    the maps and lists kept so far, each comparison one item of work.
    """
    unique: list[Snippet] = []
    scalars: set[Snippet] = set()
    collections: list[Snippet] = []
    for item in items:
        if isinstance(item, (dict, list)) or not _hashable(item):
            budget.spend(len(collections), function, "the comparisons of maps and lists")
            if item in collections:
                continue
            collections.append(item)
        else:
            if item in scalars:
                continue
            scalars.add(item)
        unique.append(item)
    return unique


def _hashable(item: Any) -> bool:
    try:
        hash(item)
    except TypeError:
        return False
    return True
