"""Ref (CFN): a resource's reference id when it names a resource, else a parameter's value (pseudo
parameters included). Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, str) or not args:
        raise TemplateError("Ref: expected the name of a parameter or a resource", path=path)


def reference(args: Snippet) -> tuple[str, str]:
    """A resource or a parameter: the template decides which, as it knows both."""
    return "ref", args


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    # A name is looked up among the resources first, as in Heat.
    if context.is_resource(args):
        return context.get_resource(args)
    return context.get_param(args)
