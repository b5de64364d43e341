"""Fn::Split: a string split into a list at every occurrence of a literal delimiter. Pure, touches
nothing."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = "Fn::Split: expected [delimiter, string]"


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(USAGE, path=path)
    # Heat reads the delimiter as written, without resolving it.
    if not isinstance(args[0], str) or not args[0]:
        raise TemplateError("Fn::Split: the delimiter must be a non-empty string", path=path)
    if not (isinstance(args[1], str) or is_call(args[1])):
        raise TemplateError("Fn::Split: the text to split must be a string", path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> list[str]:
    text = evaluate(args[1], 1)
    if not isinstance(text, str):
        raise TemplateError(f"Fn::Split: the text to split must be a string, not {type_name(text)}")
    # Counted before splitting: each item is a string of its own, however short.
    budget_of(context).spend(text.count(args[0]) + 1, "Fn::Split", "the items to split into")
    return text.split(args[0])
