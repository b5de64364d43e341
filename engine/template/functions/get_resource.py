"""get_resource: the reference id (physical id) of another resource in the same template."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError


def validate(args: Any, path: tuple) -> None:
    """Heat checks get_resource's argument when it looks the resource up."""


def reference(args: Any) -> tuple[str, str] | None:
    """The resource this call needs, for dependencies and the reference check."""
    return ("resource", args) if isinstance(args, str) else None


def resolve(args: Any, evaluate, context) -> Any:
    name = evaluate(args)
    if not isinstance(name, str):
        raise TemplateError(f'The specified reference "{name}" (in unknown) is incorrect.')
    return context.get_resource(name)
