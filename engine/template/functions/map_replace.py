"""map_replace (2016-10-14 on): a map with some keys renamed and some values replaced."""
from __future__ import annotations

from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import check_list, is_call, type_name

USAGE = "map_replace: expected [<map>, {keys: {<old>: <new>}, values: {<old>: <new>}}]"


def validate(args: Any, path: tuple) -> None:
    check_list(args, path, USAGE, least=2, most=2)
    for number, item in enumerate(args):
        if not (item is None or isinstance(item, dict)):
            raise TemplateError(f"map_replace: argument {number} must be a map", path=path)
    replacements = args[1]
    # {keys: {...}} looks like a call; a key other than keys or values is taken for one.
    if isinstance(replacements, dict) and (not is_call(replacements) or
                                           next(iter(replacements)) in ("keys", "values")):
        _check_replacements(replacements, path)


def _check_replacements(replacements: dict, path: tuple = ()) -> None:
    for key, value in replacements.items():
        if key not in ("keys", "values"):
            raise TemplateError(f"map_replace: unknown key {key!r} in the replacements "
                                "(allowed: keys, values)", path=path)
        if not (value is None or isinstance(value, dict)):
            raise TemplateError(f"map_replace: '{key}' must be a map", path=path)


def _map(what: str, value: Any) -> dict:
    # A map that is not available yet (a null attribute) counts as empty, as in Heat.
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"map_replace: {what} must be a map, not {type_name(value)}")
    return value


def resolve(args: Any, evaluate, context) -> dict:
    source = _map("the map to change", evaluate(args[0], 0))
    replacements = _map("the replacements", evaluate(args[1], 1))
    _check_replacements(replacements)
    new_keys = _map("'keys'", replacements.get("keys"))
    new_values = _map("'values'", replacements.get("values"))
    result: dict = {}
    for key, value in source.items():
        new_key = new_keys.get(key)
        if new_key is None:
            new_key = key
        elif new_key != key and new_key in source:
            raise TemplateError(f"map_replace: key replacement '{new_key}' collides with a key "
                                "in the input map")
        elif new_key in result:
            raise TemplateError(f"map_replace: key replacement '{new_key}' collides with a key "
                                "in the output map")
        try:
            value = new_values.get(value, value)
        except TypeError:
            pass  # a map or list value cannot be a replacement key: it stays as it is
        result[new_key] = value
    return result
