"""Fn::GetAtt: one attribute of a resource, or null while it is not available yet. Pure: asks only
the context it is given."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = "Fn::GetAtt: expected [resource, attribute]"


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(USAGE, path=path)
    # The resource must be named literally: it decides the order resources are created in.
    if not isinstance(args[0], str) or not args[0]:
        raise TemplateError("Fn::GetAtt: the resource name must be a string", path=path)
    if not ((isinstance(args[1], str) and args[1]) or is_call(args[1])):
        raise TemplateError("Fn::GetAtt: the attribute name must be a string", path=path)


def reference(args: Snippet) -> tuple[str, str]:
    return "resource", args[0]


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> Any:
    attribute = evaluate(args[1], 1)
    if not isinstance(attribute, str) or not attribute:
        raise TemplateError(f"Fn::GetAtt: the attribute name must be a string, not {type_name(attribute)}")
    return context.get_attr(args[0], attribute)
