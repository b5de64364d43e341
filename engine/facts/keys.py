"""Fact keys and values: the rules every write passes, a server's own prefix, and which facts a
template's resources read; pure: no store, no clock, no I/O.

A key is one or more segments joined by "/" (`servers/head/address`), each of letters, digits
and `. _ - : @ + =`, neither "." nor ".."; at most KEY_MAX characters. A value is any JSON
value, measured as its compact UTF-8 JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from engine.errors import InvalidRequest, PayloadTooLarge

KEY_MAX = 512  # the column's size
FACTS_TYPE = "OS::Hearth::Facts"
EVERY_KEY = "*"  # a read or a change that may concern any key
PENDING_MAX = 100  # changed keys remembered one by one; beyond, every key counts as changed
_SEGMENT = re.compile(r"[A-Za-z0-9._:@+=-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@+=-]")
KEY_RULE = "segments of letters, digits and . _ - : @ + = joined by '/'"


def check_key(key: Any, where: str = "key") -> str:
    """The key, or a 400 that says what a key may be."""
    if not isinstance(key, str) or not key:
        raise InvalidRequest(f"{where}: a fact key must be a non-empty string ({KEY_RULE})")
    if len(key) > KEY_MAX:
        raise InvalidRequest(f"{where}: a fact key is at most {KEY_MAX} characters, not {len(key)}")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            raise InvalidRequest(f"{where}: '{key[:80]}' is not a fact key: use {KEY_RULE}")
    return key


def check_prefix(prefix: Any) -> str:
    """A prefix to list under: empty (everything), or a key with or without its trailing '/'."""
    if prefix in (None, ""):
        return ""
    if not isinstance(prefix, str):
        raise InvalidRequest("prefix: must be a string")
    check_key(prefix.removesuffix("/"), "prefix")
    return prefix


def server_prefix(server_name: str) -> str:
    """The prefix a server's own credential may write under: `servers/<name>/`, its name with
    any character a key may not hold replaced by '_' (a readable name stays as it is)."""
    name = _UNSAFE.sub("_", server_name or "") or "_"
    return f"servers/{name.strip('.') or '_'}/"


def encoded_size(value: Any) -> int:
    """The value's size as it is measured against fact_max_value_bytes: compact JSON, UTF-8."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_value(value: Any, limit: int) -> Any:
    size = encoded_size(value)
    if limit >= 0 and size > limit:
        raise PayloadTooLarge(
            f"this fact's value is {size} bytes of JSON; at most {limit} are accepted "
            "(fact_max_value_bytes): keep large data elsewhere and store where it is"
        )
    return value


def remember(pending: list[str], keys: Iterable[str]) -> list[str]:
    """The changed keys not yet re-run, with `keys` added; [EVERY_KEY] once there are too many."""
    if EVERY_KEY in pending:
        return [EVERY_KEY]
    merged = list(dict.fromkeys([*pending, *keys]))
    return [EVERY_KEY] if len(merged) > PENDING_MAX else merged


def concerns(changed: Iterable[str], read: Iterable[str]) -> bool:
    """Whether a change of the `changed` keys reaches a resource that reads the `read` ones."""
    changed, read = set(changed), set(read)
    if not changed or not read:
        return False
    return EVERY_KEY in changed or EVERY_KEY in read or bool(changed & read)


def keys_read(template: Any) -> set[str]:
    """The fact keys a stack's resources read through `get_attr: [F, KEY, ...]` (or
    `Fn::GetAtt`) of one of its OS::Hearth::Facts resources F, from its stored template; a key
    that is not a literal string, or `get_attr: [F]` (every fact), reads EVERY_KEY."""
    resources = template.get("resources") or template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return set()
    holders = {
        name
        for name, body in resources.items()
        if isinstance(body, dict) and body.get("type", body.get("Type")) == FACTS_TYPE
    }
    if not holders:
        return set()
    found: set[str] = set()
    for name, body in resources.items():
        if name in holders or not isinstance(body, dict):
            continue
        for part in ("properties", "Properties", "metadata", "Metadata"):
            _collect(body.get(part), holders, found)
    return found


def _collect(snippet: Any, holders: set[str], found: set[str]) -> None:
    if isinstance(snippet, list):
        for item in snippet:
            _collect(item, holders, found)
        return
    if not isinstance(snippet, dict):
        return
    if len(snippet) == 1:
        ((function, args),) = snippet.items()
        if (
            function in ("get_attr", "Fn::GetAtt")
            and isinstance(args, list)
            and args
            and isinstance(args[0], str)
            and args[0] in holders
        ):
            found.add(args[1] if len(args) > 1 and isinstance(args[1], str) else EVERY_KEY)
    for value in snippet.values():
        _collect(value, holders, found)
