"""map_replace (2016-10-14 on): a map with some keys renamed and some values replaced. Pure, touches
nothing."""

from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.limits import budget_of
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

EXAMPLE = '"map_replace" : [ { "key1": "val1" }, {"keys": {"key1": "key2"}, "values": {"val1": "val2"}}]'
USAGE = f'Incorrect arguments to "map_replace" should be: {EXAMPLE}'


def validate(args: Snippet, path: Path) -> None:
    """Heat checks map_replace's arguments only when it resolves them."""


def _map(value: Any) -> dict[Any, Snippet]:
    # A map that is not available yet (a null attribute) counts as empty, as in Heat.
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(
            f'Incorrect arguments: to "map_replace", arguments must be a list of maps. Example:  {EXAMPLE}'
        )
    return value


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> dict[Any, Snippet]:
    args = evaluate(args)
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(USAGE)
    source, replacements = _map(args[0]), _map(args[1])
    if any(key not in ("keys", "values") for key in replacements):
        raise TemplateError(USAGE)
    new_keys = _map(replacements.get("keys"))
    new_values = _map(replacements.get("values"))
    budget_of(context).spend(len(source), "map_replace", "the entries to replace")
    result: dict[Any, Snippet] = {}
    for key, value in source.items():
        new_key = new_keys.get(key)
        if isinstance(new_key, (dict, list)):
            # A map or list cannot be a key (Heat fails here with a Python TypeError).
            raise TemplateError(f"key replacement {new_key!r:.200} must be a string or a number")
        if new_key is None:
            new_key = key
        elif new_key != key and new_key in source:
            raise TemplateError(f"key replacement {new_key} collides with a key in the input map")
        elif new_key in result:
            raise TemplateError(f"key replacement {new_key} collides with a key in the output map")
        try:
            value = new_values.get(value, value)
        except TypeError:
            pass  # a map or list value cannot be a replacement key: it stays as it is
        result[new_key] = value
    return result
