"""get_resource: the reference id (physical id) of another resource in the same template. Pure: asks
only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    """Heat checks get_resource's argument when it looks the resource up."""


def reference(args: Snippet) -> tuple[str, str] | None:
    """The resource this call needs, for dependencies and the reference check."""
    return ("resource", args) if isinstance(args, str) else None


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    name = evaluate(args)
    if not isinstance(name, str):
        raise TemplateError(f'The specified reference "{name}" (in unknown) is incorrect.')
    return context.get_resource(name)
