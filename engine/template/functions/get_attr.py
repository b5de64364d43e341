"""get_attr (2015-10-15 on): a resource attribute walked into by a path, or all attributes when none
is named. Pure: asks only the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import check_path, resolved_path, type_name, walk
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

NOT_A_LIST = 'Argument to "get_attr" must be a list'
FORM = 'Arguments to "get_attr" must be of the form [resource_name, attribute, (path), ...]'


def check_arguments(args: Snippet, path: Path, *, minimum: int) -> None:
    """Check `[resource, attribute, key or index, ...]` (with `minimum` 1, `[resource]` too)."""
    if minimum == 1 and not args:
        raise TemplateError(
            'Arguments to "get_attr" can be of the next forms: [resource_name] '
            "or [resource_name, attribute, (path), ...]",
            path=path,
        )
    # A text is a sequence to Heat: "v" names resource "v"; longer text is refused below.
    if minimum == 1 and isinstance(args, (list, str)) and len(args) == 1:
        return
    if not isinstance(args, list):
        raise TemplateError(NOT_A_LIST, path=path)
    if len(args) < 2:
        raise TemplateError(FORM, path=path)
    # The resource must be named literally: it decides the order resources are created in.
    if not isinstance(args[0], str) or not args[0]:
        raise TemplateError("get_attr: the resource name must be a string", path=path)
    check_path("get_attr", args[2:], 2, path)


def validate(args: Snippet, path: Path) -> None:
    check_arguments(args, path, minimum=1)


def reference(args: Snippet) -> tuple[str, str] | None:
    """The resource this call needs, for dependencies and the reference check."""
    name = args[0] if isinstance(args, (list, str)) and args else None
    return ("resource", name) if isinstance(name, str) else None


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    if isinstance(args, str):
        args = [args]
    if len(args) == 1:
        return context.get_attr(args[0], None)
    attribute = evaluate(args[1], 1)
    if not isinstance(attribute, str):
        raise TemplateError(f"get_attr: the attribute name must be a string, not {type_name(attribute)}")
    keys = resolved_path("get_attr", args[2:], evaluate, 2)
    # The engine's context applies the path itself, so that a type can say how a path reaches
    # into it (a group's `[group, attr, key]` takes the key from each member, as Heat's does).
    at = getattr(context, "get_attr_at", None)
    if keys and at is not None:
        return at(args[0], attribute, keys)
    # Heat answers null for an attribute that is not available yet and for a path that leads
    # nowhere, so that outputs can be shown while a stack is still being built.
    return walk(context.get_attr(args[0], attribute), keys)
