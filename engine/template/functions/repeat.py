"""repeat (2017-09-01 on): a copy of a template for each combination of for_each values, or (permutations: false) for each position."""
from __future__ import annotations

import itertools
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name

NAME = "repeat"
USAGE = "repeat: expected {template: <body>, for_each: {<placeholder>: <list>, ...}}"


def check_arguments(args: Any, path: tuple, *, maps: bool, permutations: bool) -> None:
    """Check `{template, for_each[, permutations]}`; `maps` lets for_each values be maps."""
    allowed = {"template", "for_each", "permutations"} if permutations else {"template", "for_each"}
    if not isinstance(args, dict) or not {"template", "for_each"} <= set(args):
        raise TemplateError(USAGE, path=path)
    for key in args:
        if key not in allowed:
            later = " (it needs heat_template_version 2017-09-01)" if key == "permutations" else ""
            raise TemplateError(f"repeat: unknown key {key!r}{later}", path=path)
    if not isinstance(args.get("permutations", True), bool):
        raise TemplateError("repeat: permutations must be true or false", path=path)
    for_each = args["for_each"]
    if is_call(for_each):
        # {get_param: loops} and {"%x%": <values>} look alike here: checked when resolved.
        return
    if not isinstance(for_each, dict) or not for_each:
        raise TemplateError("repeat: for_each must be a map of placeholders to lists", path=path)
    for placeholder, values in for_each.items():
        if not isinstance(placeholder, str) or not placeholder:
            raise TemplateError(f"repeat: placeholder {placeholder!r} must be a non-empty string",
                                path=path)
        if not (values is None or isinstance(values, list) or is_call(values) or
                maps and isinstance(values, dict)):
            raise TemplateError(f"repeat: the values of '{placeholder}' must be "
                                f"{'a list or a map' if maps else 'a list'}", path=path)


def validate(args: Any, path: tuple) -> None:
    check_arguments(args, path, maps=True, permutations=True)


def resolve(args: Any, evaluate, context) -> list:
    return repeat(args, evaluate, maps=True)


def repeat(args: dict, evaluate, *, maps: bool) -> list:
    """The template body, resolved once, with each combination of values substituted in."""
    for_each = evaluate(args["for_each"], "for_each")
    if not isinstance(for_each, dict) or not for_each:
        raise TemplateError("repeat: for_each must be a map of placeholders to lists, "
                            f"not {type_name(for_each) if for_each != {} else 'an empty map'}")
    nested = args.get("permutations", True)
    placeholders, columns = [], []
    for placeholder, values in for_each.items():
        if not isinstance(placeholder, str) or not placeholder:
            raise TemplateError(f"repeat: placeholder {placeholder!r} must be a non-empty string")
        # Values that are not available yet (a null attribute) repeat nothing, as in Heat.
        if values is None:
            values = []
        elif isinstance(values, dict) and maps and nested:
            values = list(values)  # a map stands for its keys
        elif not isinstance(values, list):
            wanted = "a list or a map" if maps and nested else "a list"
            raise TemplateError(f"repeat: the values of '{placeholder}' must be {wanted}, "
                                f"not {type_name(values)}")
        placeholders.append(placeholder)
        columns.append([_as_text(placeholder, value) for value in values])
    if not nested and len({len(column) for column in columns if column}) > 1:
        raise TemplateError("repeat: with permutations false, every list in for_each must have "
                            "the same length")
    rows = itertools.product(*columns) if nested else zip(*columns)
    body = evaluate(args["template"], "template")
    return [_substitute(body, list(zip(placeholders, row))) for row in rows]


def _as_text(placeholder: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TemplateError(f"repeat: the values of '{placeholder}' must be strings or numbers, "
                        f"not {type_name(value)}")


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
