"""Fn::Base64: the string unchanged; Heat takes user data as plain text, so nothing is encoded."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name


def validate(args: Any, path: tuple) -> None:
    if not (isinstance(args, str) or is_call(args)):
        raise TemplateError("Fn::Base64: expected a string", path=path)


def resolve(args: Any, evaluate, context) -> str:
    value = evaluate(args)
    if not isinstance(value, str):
        raise TemplateError(f"Fn::Base64: expected a string, not {type_name(value)}")
    return value
