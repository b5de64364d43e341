"""get_param: a parameter's value, or a value found inside it by a path of keys and list indices."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import check_path, resolved_path, step

USAGE = "get_param: expected a parameter name or [name, key or index, ...]"


def validate(args: Any, path: tuple) -> None:
    if isinstance(args, str) and args:
        return
    if not isinstance(args, list) or not args:
        raise TemplateError(USAGE, path=path)
    if not isinstance(args[0], str) or not args[0]:
        raise TemplateError("get_param: the parameter name must be a string", path=path)
    check_path("get_param", args[1:], 1, path)


def reference(args: Any) -> tuple[str, str]:
    """The parameter this call reads, for the template's reference check."""
    return "parameter", args if isinstance(args, str) else args[0]


def resolve(args: Any, evaluate, context) -> Any:
    if isinstance(args, str):
        return context.get_param(args)
    keys = resolved_path("get_param", args[1:], evaluate, 1)
    value = context.get_param(args[0])
    try:
        for key in keys:
            value = step(value, key)
    except (LookupError, TypeError):
        # Heat answers an empty string when a path leads nowhere, and templates rely on it to
        # read optional keys of json parameters.
        return ""
    return value
