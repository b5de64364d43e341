"""Fn::FindInMap: the value at [mapping, key, second-level key] in the template's Mappings. Pure:
asks only the context it is given."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.snippets import Evaluate, Path, Snippet

if TYPE_CHECKING:
    from engine.template.cfn import CfnContext

USAGE = 'Arguments to "Fn::FindInMap" must be of the form [mapping name, key, second-level key]'


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 3:
        raise TemplateError(USAGE, path=path)
    for number, item in enumerate(args):
        if not (_is_key(item) or is_call(item)):
            raise TemplateError(f"Fn::FindInMap: argument {number} must be a string", path=path)


def _is_key(value: Any) -> bool:
    # YAML reads a key such as 2012 as a number; it is still a key.
    return (isinstance(value, str) and value != "") or (isinstance(value, int) and not isinstance(value, bool))


def reference(args: Snippet) -> tuple[str, str] | None:
    """The mapping this call reads when it is named literally, for the template's check."""
    return ("mapping", args[0]) if isinstance(args[0], str) else None


def resolve(args: Snippet, evaluate: Evaluate, context: CfnContext) -> Any:
    names = [evaluate(item, number) for number, item in enumerate(args)]
    for number, name in enumerate(names):
        if not _is_key(name):
            raise TemplateError(f"Fn::FindInMap: argument {number} must resolve to a string, not {type_name(name)}")
    mapping_name, key, second = names
    # Heat answers a key it cannot find with the key alone, quoted (its KeyError); the rest of
    # each message says where it was looked for.
    mapping = context.mappings.get(mapping_name)
    if mapping is None:
        raise TemplateError(f"'{mapping_name}' is not a mapping in Mappings")
    entry = _lookup(mapping, key)
    if entry is None:
        raise TemplateError(f"'{key}' is not a key of mapping '{mapping_name}'")
    value = _lookup(entry, second)
    if value is None:
        raise TemplateError(f"'{second}' is not a key of '{key}' in mapping '{mapping_name}'")
    return value


def _lookup(mapping: dict[Any, Snippet], key: Any) -> Any:
    if key in mapping:
        return mapping[key]
    # `2012` written in the template and '2012' from a parameter name the same key.
    for candidate, value in mapping.items():
        if str(candidate) == str(key):
            return value
    return None
