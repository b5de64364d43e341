"""filter (2017-02-24 on): a list without the items that appear in a list of values."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError

def validate(args: Any, path: tuple) -> None:
    if not isinstance(args, list):
        raise TemplateError('Argument to "filter" must be a list', path=path)
    if len(args) != 2:
        raise TemplateError('"filter" expected 2 arguments of the form [values, sequence] but got '
                            f"{len(args)} arguments instead", path=path)


def resolve(args: Any, evaluate, context) -> Any:
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
    return [item for item in sequence if item not in values]
