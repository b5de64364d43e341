"""str_split (2015-10-15 on): split a string by a delimiter into a list, or pick one item of it by index."""
from __future__ import annotations

import re
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import check_list, check_text, is_call, type_name

USAGE = "str_split: expected [delimiter, string] or [delimiter, string, index]"
_INDEX = re.compile(r"[+-]?[0-9]+")


def validate(args: Any, path: tuple) -> None:
    check_list(args, path, USAGE, least=2, most=3)
    check_text("str_split", "the delimiter", args[0], path)
    if not (args[1] is None or isinstance(args[1], str) or is_call(args[1])):
        raise TemplateError("str_split: the string to split must be a string", path=path)
    if len(args) == 3 and _index(args[2]) is None and not is_call(args[2]):
        raise TemplateError("str_split: the index must be an integer", path=path)


def _index(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INDEX.fullmatch(value.strip()):
        return int(value)
    return None


def resolve(args: Any, evaluate, context) -> Any:
    delimiter = evaluate(args[0], 0)
    if not isinstance(delimiter, str) or not delimiter:
        raise TemplateError("str_split: the delimiter must be a non-empty string, "
                            f"not {type_name(delimiter) if delimiter != '' else 'an empty one'}")
    text = evaluate(args[1], 1)
    # A string that is not available yet (a null attribute) splits into null, as in Heat.
    if text is None:
        return None
    if not isinstance(text, str):
        raise TemplateError("str_split: the string to split must be a string, "
                            f"not {type_name(text)}")
    items = text.split(delimiter)
    if len(args) < 3:
        return items
    index = _index(evaluate(args[2], 2))
    if index is None:
        raise TemplateError("str_split: the index must be an integer")
    if not -len(items) <= index < len(items):
        raise TemplateError(f"str_split: index {index} is out of range: the string splits into "
                            f"{len(items)} items (0 to {len(items) - 1})")
    return items[index]
