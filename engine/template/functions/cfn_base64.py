"""Fn::Base64: the string unchanged; Heat takes user data as plain text, so nothing is encoded.
Pure, touches nothing."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if not (isinstance(args, str) or is_call(args)):
        raise TemplateError("Fn::Base64: expected a string", path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    value = evaluate(args)
    if not isinstance(value, str):
        raise TemplateError(f"Fn::Base64: expected a string, not {type_name(value)}")
    return value
