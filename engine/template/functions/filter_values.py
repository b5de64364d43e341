"""filter (2017-02-24 on): a list without the items that appear in a list of values. Pure, touches
nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list):
        raise TemplateError('Argument to "filter" must be a list', path=path)
    if len(args) != 2:
        raise TemplateError(
            f'"filter" expected 2 arguments of the form [values, sequence] but got {len(args)} arguments instead',
            path=path,
        )


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    sequence = evaluate(args[1], 1)
    # Heat hands back an empty or null list as it is, whatever the values.
    if not sequence:
        return sequence
    if not isinstance(sequence, list):
        raise TemplateError('"filter" only works with lists')
    values = evaluate(args[0], 0)
    if not values:
        return sequence
    if not isinstance(values, list):
        raise TemplateError('"filter" filters a list of values')
    budget = budget_of(context)
    budget.spend(len(sequence) + len(values), "filter", "the items to filter")
    # `item not in values`, with strings, numbers, booleans and null found by hashing (which
    # agrees with equality for them) and maps and lists compared one by one, as work.
    scalars = {value for value in values if _hashable(value)}
    collections = [value for value in values if not _hashable(value)]
    kept = []
    for item in sequence:
        if _hashable(item):
            if item not in scalars:
                kept.append(item)
            continue
        budget.spend(len(collections), "filter", "the comparisons of maps and lists")
        if item not in collections:
            kept.append(item)
    return kept


def _hashable(item: Any) -> bool:
    if isinstance(item, (dict, list)):
        return False
    try:
        hash(item)
    except TypeError:
        return False
    return True
