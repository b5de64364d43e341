"""Fn::MemberListToMap: AWS query-style `.member.N.<name>=<value>` strings turned into a map. Pure,
touches nothing."""

from __future__ import annotations

import re
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

USAGE = (
    "Fn::MemberListToMap: expected [key name, value name, "
    "['.member.0.<key name>=<key>', '.member.0.<value name>=<value>', ...]]"
)
_MEMBER = re.compile(r"\.member\.([0-9]+)\.(.*)", re.DOTALL)


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, list) or len(args) != 3:
        raise TemplateError(USAGE, path=path)
    for number, word in ((0, "key"), (1, "value")):
        if not isinstance(args[number], str) or not args[number]:
            raise TemplateError(f"Fn::MemberListToMap: the {word} name must be a string", path=path)
    if not (isinstance(args[2], list) or is_call(args[2])):
        raise TemplateError("Fn::MemberListToMap: the member list must be a list", path=path)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> dict[Any, Snippet]:
    key_name, value_name = args[0], args[1]
    items = evaluate(args[2], 2)
    if not isinstance(items, list):
        raise TemplateError(f"Fn::MemberListToMap: the member list must be a list, not {type_name(items)}")
    fields: dict[str, str] = {}
    for number, item in enumerate(items):
        if not isinstance(item, str) or "=" not in item:
            raise TemplateError(
                f"Fn::MemberListToMap: item {number} must be a string of the form '.member.<n>.<name>=<value>'"
            )
        name, value = item.split("=", 1)
        fields[name] = value  # a repeated name keeps its last value
    members: dict[int, dict[str, str]] = {}
    for name, value in fields.items():
        match = _MEMBER.match(name)
        if match:  # other names are ignored, as in Heat
            members.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return {
        member[key_name]: member[value_name]
        for _, member in sorted(members.items())
        if key_name in member and value_name in member
    }
