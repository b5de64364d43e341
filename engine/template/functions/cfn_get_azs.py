"""Fn::GetAZs: the availability zones of the installation, whatever region is named. Pure: asks only
the context it is given."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.functions.args import is_call
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet


def validate(args: Snippet, path: Path) -> None:
    if not (isinstance(args, str) or is_call(args)):
        raise TemplateError("Fn::GetAZs: expected a region name (it may be empty)", path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[str]:
    evaluate(args)  # the region is checked by resolving it, but, as in Heat, not used
    return context.availability_zones()
