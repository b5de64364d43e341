"""Fn::Replace: substitute each key of a map by its value in a string; longer keys win, as in Heat.
Pure, touches nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.functions.str_replace import replace
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = "Fn::Replace: expected [{<placeholder>: <value>, ...}, string]"


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(USAGE, path=path)
    if not isinstance(args[0], dict):
        raise TemplateError("Fn::Replace: the first argument must be a map of placeholders", path=path)
    _check_placeholders(args[0], path)
    if not (isinstance(args[1], str) or is_call(args[1])):
        raise TemplateError("Fn::Replace: the second argument must be a string", path=path)


def _check_placeholders(params: dict[Any, Snippet], path: Path = ()) -> None:
    for key in params:
        if not isinstance(key, str) or not key:
            raise TemplateError(f"Fn::Replace: placeholder {key!r} must be a non-empty string", path=path)


def as_text(placeholder: str, value: Any) -> str:
    """Strings as they are, numbers and booleans written out, null as nothing (Heat's rules)."""
    if value is None:
        return ""
    if isinstance(value, (str, bool, int, float)):
        return str(value)
    raise TemplateError(
        f"Fn::Replace: the value for '{placeholder}' must be a string or a number, not {type_name(value)}"
    )


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    template = evaluate(args[1], 1)
    if not isinstance(template, str):
        raise TemplateError(f"Fn::Replace: the second argument must be a string, not {type_name(template)}")
    params = evaluate(args[0], 0)
    if not isinstance(params, dict):
        raise TemplateError(f"Fn::Replace: the first argument must be a map, not {type_name(params)}")
    _check_placeholders(params)
    return replace(
        template, {key: as_text(key, value) for key, value in params.items()}, budget_of(context), "Fn::Replace"
    )
