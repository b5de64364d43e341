"""Fn::ResourceFacade: in a provider (nested) template, the parent resource's Metadata,
DeletionPolicy or UpdatePolicy. Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

ATTRIBUTES = ("Metadata", "DeletionPolicy", "UpdatePolicy")


def validate(args: Snippet, path: Path) -> None:
    if args not in ATTRIBUTES:
        raise TemplateError(f"Fn::ResourceFacade: expected one of: {', '.join(ATTRIBUTES)}", path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    return context.resource_facade(args)
