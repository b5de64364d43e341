"""Fn::ResourceFacade: in a provider (nested) template, the parent resource's Metadata, DeletionPolicy or UpdatePolicy."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError

ATTRIBUTES = ("Metadata", "DeletionPolicy", "UpdatePolicy")


def validate(args: Any, path: tuple) -> None:
    if args not in ATTRIBUTES:
        raise TemplateError(f"Fn::ResourceFacade: expected one of: {', '.join(ATTRIBUTES)}", path=path)


def resolve(args: Any, evaluate, context) -> Any:
    return context.resource_facade(args)
