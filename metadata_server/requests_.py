"""Request parsing shared by the blueprints: JSON bodies with clear errors, guest authentication."""
from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from engine.errors import HTTPBadRequest, InvalidRequest, PayloadTooLarge
from engine.guest import GuestAuth
from engine.service import Service


def service() -> Service:
    return current_app.extensions["hearth"]


def json_body(limit: int | None = None, allow_empty: bool = False) -> Any:
    """The request's JSON, whatever its Content-Type (cfn-signal sends an empty one)."""
    if limit is not None and (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"the body is larger than the {limit} bytes accepted here")
    raw = request.get_data(cache=True)
    if limit is not None and len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than the {limit} bytes accepted here")
    if not raw.strip():
        if allow_empty:
            return None
        raise InvalidRequest("the request needs a JSON body")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"the body is not valid JSON: {error}") from None


def guest_auth() -> GuestAuth:
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    bearer = bearer or request.headers.get("X-Auth-Token") or None
    return GuestAuth(bearer=bearer, method=request.method, expires=request.args.get("expires"),
                     signature=request.args.get("signature"))


def int_arg(name: str, default: int | None = None, minimum: int = 0) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise HTTPBadRequest(f"Only integer is acceptable by '{name}'.") from None
    if value < minimum:
        if minimum == 0:  # Heat's words
            raise HTTPBadRequest(f"Value '{raw}' is invalid for '{name}' which only accepts "
                                 "non-negative integer.")
        raise HTTPBadRequest(f"query parameter '{name}' must be at least {minimum}")
    return value
