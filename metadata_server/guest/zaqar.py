"""ZAQAR_MESSAGE and ZAQAR_SIGNAL routes: the part of Zaqar's v2 (and v1.1) queue API the stock
clients use, under the `messaging` endpoint of a guest token's catalog; call
`service().guest.queues` alone (engine/guest/queues.py) and read one setting.

os-collect-config's `zaqar` collector pops (`DELETE /v2/queues/<q>/messages?pop=1`);
heat-config-notify posts (`POST /v1.1/queues/<q>/messages`). Both send `X-Auth-Token` (a guest
token from /identity/v3), `X-Project-Id` and `Client-ID`, which Zaqar requires (a UUID, dashed
or not). Errors are Zaqar's `{"title", "description"}` (what zaqarclient reads), with the
envelope's keys beside them.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, request

from engine.errors import HearthError, InvalidRequest, TooManyRequests
from metadata_server.errors import envelope_body
from metadata_server.requests_ import json_body, service

blueprint = Blueprint("guest_zaqar", __name__, url_prefix="/messaging/<version>/queues/<queue>")
VERSIONS = ("v2", "v1.1")
QUEUE_NAME_MAX = 64


def queues():
    return service().guest.queues


@blueprint.errorhandler(HearthError)
def zaqar_error(error: HearthError):
    body = envelope_body(error.status, error.code, type(error).__name__, error.message)
    body["description"] = error.message
    response = jsonify(body)
    response.status_code = error.status
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@blueprint.url_value_preprocessor
def checked(_endpoint, values):
    """Zaqar's own checks, in its order: the API version, the queue name, a Client-ID."""
    version, queue = values["version"], values["queue"]
    if version not in VERSIONS:
        raise InvalidRequest(f"Zaqar API version '{version}' is not served here: use v2 (or v1.1 to post)")
    if len(queue) > QUEUE_NAME_MAX:
        raise InvalidRequest(f"Queue names may not be more than {QUEUE_NAME_MAX} characters long.")
    if not all(c.isascii() and (c.isalnum() or c in "_-") for c in queue):
        raise InvalidRequest("Queue names may only contain ASCII letters, digits, underscores, and dashes.")
    client_id = request.headers.get("Client-ID", "")
    if not client_id:
        raise InvalidRequest("the Client-ID header is missing: send a UUID naming this client, as Zaqar requires")
    try:
        uuid.UUID(client_id)
    except ValueError:
        raise InvalidRequest("Client-ID: malformed hexadecimal UUID") from None


def _token() -> str | None:
    return request.headers.get("X-Auth-Token", "").strip() or None


def _project() -> str | None:
    return request.headers.get("X-Project-Id", "").strip() or None


@blueprint.route("", methods=["PUT", "HEAD", "GET"], strict_slashes=False)
def queue(version: str, queue: str):
    """Create (PUT: 204, it exists), exists (HEAD: 204) or read (GET: its metadata, none)."""
    queues().exists(_token(), _project(), queue, request.remote_addr)
    if request.method == "GET":
        return jsonify({})
    return Response(status=204)


@blueprint.delete("/messages")
def pop(version: str, queue: str):
    """`?pop=N`: 200 `{"messages": [...]}`. Deleting by `ids` is accepted and changes nothing."""
    if "pop" not in request.args:
        queues().exists(_token(), _project(), queue, request.remote_addr)
        return Response(status=204)
    messages = queues().pop(_token(), _project(), queue, request.args.get("pop"), request.remote_addr)
    response = jsonify({"messages": messages})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/messages")
def post(version: str, queue: str):
    """201 `{"resources": [hrefs]}` once every message is taken as the deployment's signal."""
    body = json_body(service().runtime.config.max_signal_bytes)
    ids = queues().post(_token(), _project(), queue, body, request.remote_addr)
    path = request.path
    response = jsonify({"resources": [f"{path}/{i}" for i in ids]})
    response.status_code = 201
    response.headers["Location"] = f"{path}?ids={','.join(ids)}"
    return response
