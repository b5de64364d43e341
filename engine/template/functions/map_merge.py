"""map_merge (2016-04-08 on): one map from a list of maps, later keys overriding earlier ones. Pure,
touches nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import type_name
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Incorrect arguments to "map_merge" should be: "map_merge" : [ { "key1": "val1" }, { "key2": "val2" } ]'


def validate(args: Snippet, path: Path) -> None:
    """Heat checks map_merge's arguments only when it resolves them."""


def items_of(function: str, args: Snippet, evaluate: Evaluate, usage: str | None = None) -> list[Snippet]:
    """The resolved items of a list argument that may itself be a call."""
    if isinstance(args, list):
        return [evaluate(item, number) for number, item in enumerate(args)]
    items = evaluate(args)
    if not isinstance(items, list):
        raise TemplateError(usage or f"{function}: expected a list, not {type_name(items)}")
    return items


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> dict[Any, Snippet]:
    merged: dict[Any, Snippet] = {}
    budget = budget_of(context)
    for item in items_of("map_merge", args, evaluate, USAGE):
        # A map that is not available yet (a null attribute) merges as nothing, as in Heat.
        if item is None:
            continue
        if not isinstance(item, dict):
            raise TemplateError(
                "Incorrect arguments: Items to merge must be maps. "
                f"{_shown(item)} is type {type(item)} instead of a dict"
            )
        budget.spend(len(item), "map_merge", "the entries to merge")
        merged.update(item)
    return merged


def _shown(item: Any) -> str:
    # The first 200 characters only: a long list is not turned into text whole first.
    if isinstance(item, list) and len(item) > 200:
        return repr(item[:200])[:200]
    return repr(item)[:200]
