"""list_join (2015-10-15 on): join the items of one or more lists with a delimiter; maps and lists
become JSON. Pure, touches nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import to_json
from engine.template.limits import Budget, budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = 'Incorrect arguments to "list_join" should be: "list_join" : [ " ", [ "str1", "str2"] ...]'


def check_arguments(args: Snippet, path: Path, *, usage: str, most: int | None) -> None:
    """Check `[delimiter, list, ...]` with at most `most` lists; the rest is checked resolved."""
    if not isinstance(args, list) or len(args) < 2 or (most is not None and len(args) > most + 1):
        raise TemplateError(usage, path=path)


def validate(args: Snippet, path: Path) -> None:
    check_arguments(args, path, usage=USAGE, most=None)


def as_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, (dict, list)):
        return to_json("list_join", item)
    # Heat refuses numbers here too; a template that joins them would not work there.
    raise TemplateError(f"Items to join must be string, map or list not {repr(item)[:200]}")


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    return join(args, evaluate, as_text, context)


def join(
    args: list[Snippet], evaluate: Evaluate, render: Callable[[Any], str], context: FunctionContext | None = None
) -> str:
    """Join every item of every list argument, rendering each item as text.

    The text is put together only once its length is known: items may be the same long text
    many times over.
    """
    budget = budget_of(context)
    delimiter = evaluate(args[0], 0)
    texts: list[str] = []
    for number, snippet in enumerate(args[1:], 1):
        items = evaluate(snippet, number)
        # A list that is not available yet (a null attribute) joins as nothing, as in Heat.
        if not items:
            continue
        if not isinstance(items, list):
            raise TemplateError('"list_join" must operate on a list')
        budget.spend(len(items), "list_join", "the items to join")
        for item in items:
            if isinstance(item, (dict, list)):
                # Measured before it is rendered as JSON: it may share parts the text repeats.
                budget.size_of(item, "list_join", "an item as JSON")
        # A null item (an attribute not available yet) joins as an empty string, as in Heat.
        texts.extend("" if item is None else render(item) for item in items)
    if not isinstance(delimiter, str):
        raise TemplateError('"list_join" delimiter must be a string')
    check_joined(budget, texts, delimiter, "list_join")
    return delimiter.join(texts)


def check_joined(budget: Budget, texts: list[str], delimiter: str, function: str) -> None:
    """Refuse a joined text too long for the budget, before it is joined."""
    length = sum(len(text) for text in texts) + len(delimiter) * max(len(texts) - 1, 0)
    budget.check_size(length + 2, f"{function}: the joined text")
