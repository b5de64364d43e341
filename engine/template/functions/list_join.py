"""list_join (2015-10-15 on): join the items of one or more lists with a delimiter; maps and lists become JSON."""
from __future__ import annotations

from typing import Any, Callable

from engine.errors import TemplateError
from engine.template.functions.args import is_call, to_json, type_name

USAGE = "list_join: expected [delimiter, list, more lists...]"


def check_arguments(args: Any, path: tuple, *, usage: str, most: int | None) -> None:
    """Check `[delimiter, list, ...]` with at most `most` lists."""
    if not isinstance(args, list) or len(args) < 2 or (most is not None and len(args) > most + 1):
        raise TemplateError(usage, path=path)
    if not (isinstance(args[0], str) or is_call(args[0])):
        raise TemplateError("list_join: the delimiter must be a string", path=path)
    for number, joined in enumerate(args[1:], 1):
        if not (isinstance(joined, list) or is_call(joined)):
            raise TemplateError(f"list_join: argument {number} must be a list", path=path)


def validate(args: Any, path: tuple) -> None:
    check_arguments(args, path, usage=USAGE, most=None)


def as_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, (dict, list)):
        return to_json("list_join", item)
    # Heat refuses numbers here too; a template that joins them would not work there.
    raise TemplateError(f"list_join: items must be strings, maps or lists, not {type_name(item)}")


def resolve(args: Any, evaluate, context) -> str:
    return join(args, evaluate, as_text)


def join(args: list, evaluate, render: Callable[[Any], str]) -> str:
    """Join every item of every list argument, rendering each item as text."""
    delimiter = evaluate(args[0], 0)
    if not isinstance(delimiter, str):
        raise TemplateError("list_join: the delimiter must be a string, "
                            f"not {type_name(delimiter)}")
    texts = []
    for number, snippet in enumerate(args[1:], 1):
        items = evaluate(snippet, number)
        # A list that is not available yet (a null attribute) joins as nothing, as in Heat.
        if items is None:
            continue
        if not isinstance(items, list):
            raise TemplateError(f"list_join: argument {number} must be a list, "
                                f"not {type_name(items)}")
        # A null item (an attribute not available yet) joins as an empty string, as in Heat.
        texts.extend("" if item is None else render(item) for item in items)
    return delimiter.join(texts)
