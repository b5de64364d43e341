"""str_replace before 2015-10-15: as str_replace, but param values must be strings or numbers. Pure,
touches nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions import str_replace
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    str_replace.check_arguments(args, path)


def as_text(placeholder: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        # Maps and lists became JSON text in 2015-10-15; before that Heat refused them.
        raise TemplateError(f'"str_replace" params must be strings or numbers, param {placeholder} is not valid')
    return str_replace.as_text(placeholder, value)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    return str_replace.substitute(args, evaluate, as_text, context=context)
