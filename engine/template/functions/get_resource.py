"""get_resource: the reference id (physical id) of another resource in the same template."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError


def validate(args: Any, path: tuple) -> None:
    if not isinstance(args, str) or not args:
        raise TemplateError("get_resource: expected a resource name", path=path)


def reference(args: Any) -> tuple[str, str]:
    """The resource this call needs, for dependencies and the reference check."""
    return "resource", args


def resolve(args: Any, evaluate, context) -> Any:
    return context.get_resource(args)
