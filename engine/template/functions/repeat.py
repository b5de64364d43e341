"""repeat (2017-09-01 on): a copy of a template for each combination of for_each values, or
(permutations: false) for each position. Pure, touches nothing."""

from __future__ import annotations

import itertools
import math
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

NAME = "repeat"
# Heat raises a KeyError with this text, and prints the KeyError: quoted, newlines escaped.
_SYNTAX = """repeat:
              template: This is %var%
              for_each:
                %var%: ['a', 'b', 'c']"""


def check_arguments(args: Snippet, path: Path, *, maps: bool, permutations: bool) -> None:
    """Check `{template, for_each[, permutations]}` as Heat does before resolving (other keys
    are ignored, as in Heat); `maps` and `permutations` say what the version reads."""
    if not isinstance(args, dict):
        raise TemplateError('Arguments to "repeat" must be a map', path=path)
    if "template" not in args or "for_each" not in args:
        raise TemplateError(repr(f'"repeat" syntax should be {_SYNTAX}'), path=path)
    if permutations and not isinstance(args.get("permutations", True), bool):
        raise TemplateError('"permutations" should be boolean type for repeat function.', path=path)
    if not (is_call(args["for_each"]) or isinstance(args["for_each"], dict)):
        raise TemplateError('The "for_each" argument to "repeat" must contain a map', path=path)


def validate(args: Snippet, path: Path) -> None:
    check_arguments(args, path, maps=True, permutations=True)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[Snippet]:
    return repeat(args, evaluate, context, maps=True)


def repeat(
    args: dict[str, Snippet], evaluate: Evaluate, context: FunctionContext, *, maps: bool, permutations: bool = True
) -> list[Snippet]:
    """The template body, resolved once, with each combination of values substituted in.

    How many copies it makes is known from the lengths of the values before any is made: too
    many for the budget (engine.template.limits) is refused then, and the copies are measured
    as they are made.
    """
    budget = budget_of(context)
    for_each = evaluate(args["for_each"], "for_each")
    if not isinstance(for_each, dict):
        raise TemplateError('The "for_each" argument to "repeat" must contain a map')
    nested = args.get("permutations", True) if permutations else True
    placeholders, columns = [], []
    for placeholder, values in for_each.items():
        # Values that are not available yet (a null attribute) repeat nothing, as in Heat.
        if values is None:
            values = []
        elif isinstance(values, dict) and maps and nested:
            values = list(values)  # a map stands for its keys
        elif not isinstance(values, list):
            wanted = "lists or maps" if maps and nested else "lists"
            raise TemplateError(f'The values of the "for_each" argument to "repeat" must be {wanted}')
        placeholders.append(placeholder)
        columns.append([_as_text(placeholder, value) for value in values])
    if not nested and len({len(column) for column in columns if column}) > 1:
        raise TemplateError("For repeat, the length of for_each values should be equal if no nested loop.")
    if nested:
        copies = math.prod(len(column) for column in columns)
    else:
        copies = min((len(column) for column in columns), default=0)
    budget.spend(copies, NAME, "the copies of its template to make")
    rows = itertools.product(*columns) if nested else zip(*columns, strict=False)
    body = evaluate(args["template"], "template")
    if copies:
        # Each copy is the body with some text replaced: its nodes are the work of a copy.
        nodes = _nodes(body)
        budget.spend(copies * (nodes - 1), NAME, "the items of its template's copies to make")
    result, size = [], 1
    for row in rows:
        copy = _substitute(body, list(zip(placeholders, row, strict=False)))
        size += budget.size_of(copy, NAME, "its copies", charge=False) + 1
        budget.check_size(size, f"{NAME}: its copies")
        result.append(copy)
    return result


def _nodes(body: Any) -> int:
    """How many strings, numbers, lists and maps `body` holds (itself included)."""
    count, stack = 0, [body]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _as_text(placeholder: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TemplateError(f"repeat: the values of '{placeholder}' must be strings or numbers, not {type_name(value)}")


def _substitute(body: Any, pairs: list[tuple[str, str]]) -> Any:
    """`body` with each placeholder replaced in strings, map keys included, one after another."""
    if isinstance(body, str):
        for placeholder, value in pairs:
            body = body.replace(placeholder, value)
        return body
    if isinstance(body, list):
        return [_substitute(item, pairs) for item in body]
    if isinstance(body, dict):
        return {_substitute(key, pairs): _substitute(value, pairs) for key, value in body.items()}
    return body
