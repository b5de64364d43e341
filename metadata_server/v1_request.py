"""What the v1 views read from a request (the stack a path or ARN names, Heat's query parameters);
calls `service().stacks.find_stack` alone, touches nothing else.

What the v1 views read from a request: the stack a `{name}/{id}` path (or a stack ARN) names, and
Heat's boolean, list and filter query parameters, each refused with a 400 that names it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

from flask import request

from engine.errors import EntityNotFound, InvalidRequest, NotFound
from metadata_server.requests_ import json_body, service

# What follows `arn:openstack:heat::<tenant>:` in a stack's ARN (Heat's HeatIdentifier.path_re).
_ARN_PATH = re.compile(r"stacks/([^/]+)/([^/]+)(.*)")

# Heat's strict booleans (oslo strutils.bool_from_string with strict=True).
TRUE = ("1", "t", "true", "on", "y", "yes")
FALSE = ("0", "f", "false", "off", "n", "no")


def stack_id(project: str, name: str, uuid) -> str:
    """The id of the stack `{name}/{uuid}`; 404 when the name is not that stack's."""
    try:
        stack = service().stacks.find_stack(project, str(uuid), by_id_only=True)
    except NotFound:
        stack = None
    if stack is None or stack.name != name:
        raise EntityNotFound("Stack", name)  # Heat names the stack as the path does
    return stack.id


def arn_path(arn: str) -> str | None:
    """The URL path (`<tenant>/stacks/<name>/<id><rest>`) a stack's ARN names, as Heat's
    HeatIdentifier.from_arn reads one (`rest` may be a sub-path: `/resources/NAME`); None when
    it is not a Heat stack ARN."""
    fields = arn.split(":")
    if len(fields) < 6 or fields[0].lower() != "arn" or fields[1:3] != ["openstack", "heat"]:
        return None
    path = _ARN_PATH.match(":".join(fields[5:]))
    if path is None:
        return None
    tenant, name, uuid, rest = (unquote(part) for part in (fields[4], *path.groups()))
    return f"{quote(tenant, '')}/stacks/{quote(name, '')}/{quote(uuid, '')}{quote(rest)}"


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise InvalidRequest(f"'{name}' must be a boolean ({', '.join(TRUE + FALSE)}), not {value!r}")


def bool_arg(name: str, default: bool = False) -> bool:
    raw = request.args.get(name)
    return default if raw is None or raw == "" else as_bool(name, raw)


def list_arg(name: str) -> list[str] | None:
    """A comma-separated (or repeated) query parameter as a list, or None when absent."""
    if name not in request.args:
        return None
    return [item.strip() for raw in request.args.getlist(name) for item in raw.split(",") if item.strip()]


def filter_args(keys: tuple[str, ...]) -> dict[str, str | list[str]]:
    """Heat's "mixed" filters: one value as a string, a repeated key as a list."""
    found = {}
    for key in keys:
        values = request.args.getlist(key)
        if values:
            found[key] = values[0] if len(values) == 1 else values
    return found


def object_body(limit: int | None = None) -> dict:
    body = json_body(limit)
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body
