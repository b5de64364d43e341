"""str_replace_vstrict (2017-09-01 on): str_replace_strict, and no param value may be null or empty.
Pure, touches nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions import str_replace
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

NAME = "str_replace_vstrict"


def validate(args: Snippet, path: Path) -> None:
    str_replace.check_arguments(args, path, NAME)


def as_text(placeholder: str, value: Any) -> str:
    # An empty string, map or list is as empty as null: all three would vanish from the text.
    if value is None or (isinstance(value, (str, dict, list)) and not value):
        raise TemplateError(
            f"{NAME} has an undefined or empty value for param {placeholder}, must be a defined non-empty value"
        )
    return str_replace.as_text(placeholder, value, NAME)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    return str_replace.substitute(args, evaluate, as_text, context=context, function=NAME, strict=True)
