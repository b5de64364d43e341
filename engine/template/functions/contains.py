"""contains (2017-09-01 on, also in conditions): whether a value is an item of a list, or a substring of a string."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import check_list, type_name

USAGE = "contains: expected [value, list]"


def validate(args: Any, path: tuple) -> None:
    check_list(args, path, USAGE, least=2, most=2)
    if not isinstance(args[1], (list, str, dict)):
        raise TemplateError("contains: the second argument must be a list", path=path)


def resolve(args: Any, evaluate, context) -> bool:
    value, sequence = evaluate(args[0], 0), evaluate(args[1], 1)
    if isinstance(sequence, list):
        return value in sequence
    if isinstance(sequence, str):
        # Heat searches any sequence, and a string is one: for a string, a substring.
        if not isinstance(value, str):
            raise TemplateError("contains: a string can only contain a string, "
                                f"not {type_name(value)}")
        return value in sequence
    raise TemplateError(f"contains: the second argument must be a list, not {type_name(sequence)}")
