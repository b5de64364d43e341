"""Shared rules for intrinsic-function arguments: what may stand in for a literal, walking paths,
rendering text. Pure, touches nothing."""

from __future__ import annotations

import json
import re
from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, Path, Segment, Snippet

_INDEX = re.compile(r"-?[0-9]+")


class _Omitted:
    """What `if` answers when its condition is false and it has no value for that case."""

    def __repr__(self) -> str:
        return "OMITTED"


# The key or item holding an omitted value is left out of the map or list around it; where
# a value is required it is null, as in Heat.
OMITTED: Any = _Omitted()


def is_call(value: Any) -> bool:
    """Whether `value` has the shape of a function call (a one-key mapping).

    Arguments are checked before anything runs, so where a literal is expected a call is
    accepted on its shape; what it returns is checked when it is resolved.
    """
    return isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value)), str)


def is_path_key(value: Any) -> bool:
    """Whether `value` can be a key or index in a path (`[name, key, 0, ...]`)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_path(function: str, keys: list[Snippet], first: int, path: Path) -> None:
    """Check the path items of a call, numbered from `first` in the messages."""
    for number, key in enumerate(keys, first):
        if not (is_path_key(key) or is_call(key)):
            raise TemplateError(f"{function}: argument {number} must be a key, an index or a function", path=path)


def step(collection: Any, key: Any) -> Any:
    """One step down a path: a mapping key, or a list index given as an integer or its text.

    A string is walked as the list of its characters, as Heat walks any sequence. Raises
    LookupError when the step leads nowhere; each function decides what that means.
    """
    if isinstance(collection, dict):
        return collection[key]
    if isinstance(collection, (list, str)):
        if isinstance(key, str) and _INDEX.fullmatch(key):
            key = int(key)
        if isinstance(key, int) and not isinstance(key, bool):
            return collection[key]
    raise LookupError(key)


def walk(value: Snippet, path: list[Snippet]) -> Any:
    """`value` followed down `path`; None where it leads nowhere, as Heat's get_attr answers
    (an attribute not available yet, or a path that does not exist in it)."""
    try:
        for key in path:
            if value is None:
                return None
            value = step(value, key)
    except (LookupError, TypeError):
        return None
    return value


def resolved_path(function: str, keys: list[Snippet], evaluate: Evaluate, first: int) -> list[Segment]:
    """Evaluate path items (which may be calls) and check each is a key or an index."""
    resolved: list[Segment] = []
    for number, key in enumerate(keys, first):
        value = evaluate(key, number)
        if not is_path_key(value):
            raise TemplateError(
                f"{function}: argument {number} must resolve to a key or an index, not {type_name(value)}"
            )
        resolved.append(value)
    return resolved


def check_list(args: Snippet, path: Path, usage: str, *, least: int = 0, most: int | None = None) -> None:
    """Check that `args` is a list of `least` to `most` items, else raise `usage` at `path`."""
    if not isinstance(args, list) or len(args) < least or (most is not None and len(args) > most):
        raise TemplateError(usage, path=path)


def check_text(function: str, what: str, value: Any, path: Path) -> None:
    """Check that a literal argument is a string (or a call that may resolve to one)."""
    if not (isinstance(value, str) or is_call(value)):
        raise TemplateError(f"{function}: {what} must be a string", path=path)


def to_json(function: str, value: Any) -> str:
    """JSON text for a map or list, with sorted keys so that equal data renders equally."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        raise TemplateError(
            f"{function}: {type_name(value)} holding non-JSON data cannot be rendered as text"
        ) from None


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
