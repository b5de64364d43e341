"""engine.errors: the tree drawn in the module's docstring is the tree of its classes."""

from __future__ import annotations

import inspect
import re

from engine import errors


def drawn() -> list[tuple[int, str, int]]:
    """(depth, class name, status) for each line of the docstring's drawing."""
    rows = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^( *)(\w+) \[(\d{3})\]", line)
        if match:
            rows.append((len(match.group(1)) // 4 - 1, match.group(2), int(match.group(3))))
    return rows


def actual() -> list[tuple[int, str, int]]:
    classes = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.HearthError) and c.__module__ == errors.__name__
    ]
    order = {c.__name__: inspect.getsourcelines(c)[1] for c in classes}
    rows: list[tuple[int, str, int]] = []

    def walk(cls: type[errors.HearthError], depth: int) -> None:
        rows.append((depth, cls.__name__, cls.status))
        for child in sorted((c for c in classes if c.__base__ is cls), key=lambda c: order[c.__name__]):
            walk(child, depth + 1)

    walk(errors.HearthError, 0)
    return rows


def test_the_drawn_tree_is_the_class_tree():
    assert drawn() == actual()
    assert len(drawn()) > 10  # the drawing was found at all
