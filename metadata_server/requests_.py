"""Request parsing shared by the blueprints: JSON bodies with clear errors, guest authentication
headers; reads only the request and `service().runtime.config`."""

from __future__ import annotations

from typing import Any, overload

from flask import current_app, request

from engine.errors import InvalidRequest, PayloadTooLarge
from engine.service import GuestAuth, Service
from metadata_server import strict


def service() -> Service:
    return current_app.extensions["hearth"]


def json_body(limit: int | None = None, allow_empty: bool = False) -> Any:
    """The request's JSON, whatever its Content-Type (cfn-signal sends an empty one), parsed
    strictly (metadata_server/strict.py: standard JSON, nested at most max_json_depth deep)."""
    if limit is not None and (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"the body is larger than the {limit} bytes accepted here")
    raw = request.get_data(cache=True)
    if limit is not None and len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than the {limit} bytes accepted here")
    if not raw.strip():
        if allow_empty:
            return None
        raise InvalidRequest("the request needs a JSON body")
    return strict.json_document(raw, service().runtime.config.max_json_depth)


def guest_auth() -> GuestAuth:
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    bearer = bearer or request.headers.get("X-Auth-Token") or None
    return GuestAuth(
        bearer=bearer,
        method=request.method,
        expires=request.args.get("expires"),
        signature=request.args.get("signature"),
    )


@overload
def integer_arg(name: str, default: int, minimum: int = 0, maximum: int = strict.MAX_INTEGER) -> int: ...
@overload
def integer_arg(name: str, default: None = None, minimum: int = 0, maximum: int = strict.MAX_INTEGER) -> int | None: ...
def integer_arg(
    name: str, default: int | None = None, minimum: int = 0, maximum: int = strict.MAX_INTEGER
) -> int | None:
    """A whole-number query parameter (absent or empty: `default`), or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return strict.integer(name, raw, minimum=minimum, maximum=maximum)


def number_arg(name: str, default: float = 0.0, minimum: float = 0) -> float:
    """A number-of-seconds query parameter such as `wait` (decimals allowed; absent or empty:
    `default`), or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return strict.number(name, raw, minimum=minimum)
