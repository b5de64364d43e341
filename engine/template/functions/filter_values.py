"""filter (2017-02-24 on): a list without the items that appear in a list of values."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import check_list, is_call, type_name

USAGE = "filter: expected [values to remove, list]"


def validate(args: Any, path: tuple) -> None:
    check_list(args, path, USAGE, least=2, most=2)
    for number, what in ((0, "the values to remove"), (1, "the list to filter")):
        if not (args[number] is None or isinstance(args[number], list) or is_call(args[number])):
            raise TemplateError(f"filter: {what} must be a list", path=path)


def resolve(args: Any, evaluate, context) -> Any:
    sequence = evaluate(args[1], 1)
    # Heat hands back an empty or null list as it is, whatever the values.
    if not sequence:
        return sequence
    if not isinstance(sequence, list):
        raise TemplateError(f"filter: the list to filter must be a list, not {type_name(sequence)}")
    values = evaluate(args[0], 0)
    if not values:
        return sequence
    if not isinstance(values, list):
        raise TemplateError(f"filter: the values to remove must be a list, not {type_name(values)}")
    return [item for item in sequence if item not in values]
