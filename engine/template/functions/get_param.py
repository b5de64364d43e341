"""get_param: a parameter's value, or a value found inside it by a path of keys and list indices.
Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import step
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    """Heat checks get_param's arguments only when it resolves them."""


def reference(args: Snippet) -> tuple[str, str] | None:
    """The parameter this call reads, when it is named literally."""
    name = args if isinstance(args, str) else args[0] if isinstance(args, list) and args else None
    return ("parameter", name) if isinstance(name, str) else None


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    args = [evaluate(item, number) for number, item in enumerate(args)] if isinstance(args, list) else evaluate(args)
    if not args:
        raise TemplateError('Function "get_param" must have arguments')
    if isinstance(args, str):
        return context.get_param(args)
    if not isinstance(args, list):
        raise TemplateError('Argument to "get_param" must be string or list')
    if not isinstance(args[0], str):
        raise TemplateError('Parameter name in "get_param" must be string')
    keys = args[1:]
    value = context.get_param(args[0])
    try:
        for key in keys:
            value = step(value, key)
    except (LookupError, TypeError):
        # Heat answers an empty string when a path leads nowhere, and templates rely on it to
        # read optional keys of json parameters.
        return ""
    return value
