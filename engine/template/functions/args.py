"""Shared rules for intrinsic-function arguments: what may stand in for a literal, walking paths, rendering text."""
from __future__ import annotations

import json
import re
from typing import Any

from engine.errors import TemplateError

_INDEX = re.compile(r"-?[0-9]+")


def is_call(value: Any) -> bool:
    """Whether `value` has the shape of a function call (a one-key mapping).

    Arguments are checked before anything runs, so where a literal is expected a call is
    accepted on its shape; what it returns is checked when it is resolved.
    """
    return isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value)), str)


def is_path_key(value: Any) -> bool:
    """Whether `value` can be a key or index in a path (`[name, key, 0, ...]`)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_path(function: str, keys: list, first: int, path: tuple) -> None:
    """Check the path items of a call, numbered from `first` in the messages."""
    for number, key in enumerate(keys, first):
        if not (is_path_key(key) or is_call(key)):
            raise TemplateError(f"{function}: argument {number} must be a key, an index "
                                "or a function", path=path)


def step(collection: Any, key: Any) -> Any:
    """One step down a path: a mapping key, or a list index given as an integer or its text.

    Raises LookupError when the step leads nowhere; each function decides what that means.
    """
    if isinstance(collection, dict):
        return collection[key]
    if isinstance(collection, list):
        if isinstance(key, str) and _INDEX.fullmatch(key):
            key = int(key)
        if isinstance(key, int) and not isinstance(key, bool):
            return collection[key]
    raise LookupError(key)


def resolved_path(function: str, keys: list, evaluate, first: int) -> list:
    """Evaluate path items (which may be calls) and check each is a key or an index."""
    resolved = []
    for number, key in enumerate(keys, first):
        value = evaluate(key, number)
        if not is_path_key(value):
            raise TemplateError(f"{function}: argument {number} must resolve to a key or an index, "
                                f"not {type_name(value)}")
        resolved.append(value)
    return resolved


def to_json(function: str, value: Any) -> str:
    """JSON text for a map or list, with sorted keys so that equal data renders equally."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        raise TemplateError(f"{function}: {type_name(value)} holding non-JSON data cannot be "
                            "rendered as text") from None


def type_name(value: Any) -> str:
    """A person's word for the type of a plain-data value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
