"""Fn::Equals (in Conditions): whether two resolved values are equal."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError


def validate(args: Any, path: tuple) -> None:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError('Arguments to "Fn::Equals" must be of the form: [value_1, value_2]',
                            path=path)


def resolve(args: Any, evaluate, context) -> bool:
    return evaluate(args[0], 0) == evaluate(args[1], 1)
