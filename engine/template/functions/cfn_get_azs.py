"""Fn::GetAZs: the availability zones of the installation, whatever region is named."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call


def validate(args: Any, path: tuple) -> None:
    if not (isinstance(args, str) or is_call(args)):
        raise TemplateError("Fn::GetAZs: expected a region name (it may be empty)", path=path)


def resolve(args: Any, evaluate, context) -> list[str]:
    evaluate(args)  # the region is checked by resolving it, but, as in Heat, not used
    return context.availability_zones()
