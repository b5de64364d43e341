"""Fn::Join: the strings of a list joined with a delimiter; null items join as empty text. Pure,
touches nothing."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.template.functions.list_join import check_joined
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Incorrect arguments to "Fn::Join" should be: "Fn::Join" : [ " ", [ "str1", "str2"]]'


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(USAGE, path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    delimiter = evaluate(args[0], 0)
    if not isinstance(delimiter, str):
        raise TemplateError('"Fn::Join" delimiter must be a string')
    items = evaluate(args[1], 1)
    # A list that is not available yet (a null attribute) joins as nothing, as in Heat.
    if items is None:
        items = []
    if not isinstance(items, list):
        raise TemplateError('"Fn::Join" must operate on a list')
    budget = budget_of(context)
    budget.spend(len(items), "Fn::Join", "the items to join")
    texts = []
    for item in items:
        if item is None:
            item = ""
        if not isinstance(item, str):
            raise TemplateError(f"Items to join must be strings not {repr(item)[:200]}")
        texts.append(item)
    check_joined(budget, texts, delimiter, "Fn::Join")
    return delimiter.join(texts)
