"""Zaqar's queue API under the `messaging` endpoint: ZAQAR_MESSAGE and ZAQAR_SIGNAL for guest
tokens (`service().guest.queues`, engine/guest/queues.py), and a project's own queues for
people (`service().user_queues`, engine/user_queues.py), which zaqar-queue event sinks fill;
read one setting and the app's SIGN_IN.

os-collect-config's `zaqar` collector pops (`DELETE /v2/queues/<q>/messages?pop=1`);
heat-config-notify posts (`POST /v1.1/queues/<q>/messages`). Both send `X-Auth-Token` (a guest
token from /identity/v3), `X-Project-Id` and `Client-ID`, which Zaqar requires (a UUID, dashed
or not). A person's token (Keystone's from /identity/v3, or a Hearth API token) reaches its
project's own queues instead: create, exists, post, list (`?echo=&limit=&marker=`, with
Zaqar's `next` link), read and delete by id, pop. Guest queues are served where the guest API
is, people's where the orchestration API is. Errors are Zaqar's `{"title", "description"}`
(what zaqarclient reads), with the envelope's keys beside them.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from engine.errors import Forbidden, HearthError, InvalidRequest, NotFound, TooManyRequests
from engine.service import GUEST_TOKEN_PREFIX
from metadata_server.errors import envelope_body
from metadata_server.guest.keystone import SIGN_IN
from metadata_server.requests_ import json_body, service

blueprint = Blueprint("guest_zaqar", __name__, url_prefix="/messaging/<version>/queues/<queue>")
VERSIONS = ("v2", "v1.1")
QUEUE_NAME_MAX = 64


NOT_LISTED = (
    "a guest token pops its own queue (DELETE .../messages?pop=1) or posts its signal; listing and "
    "reading by id are for a project's own queues, with a person's token"
)
TRUE = ("true", "1", "yes", "on")  # Zaqar's (falcon's) words for a true query flag


def queues():
    return service().guest.queues


def users():
    return service().user_queues


def _guest() -> bool:
    """Whether this request is a guest's (a guest token, or any token where people are not
    served); a guest token where guests are not served is refused."""
    served = current_app.config.get(SIGN_IN) or {}
    guest = (_token() or "").startswith(GUEST_TOKEN_PREFIX) or not served.get("people")
    if guest and not served.get("guests"):
        raise Forbidden("guest tokens reach their queues on the guest API's listener")
    return guest


def _project(queue: str) -> str:
    """The project of a person's request (X-Project-Id, or the token's one project)."""
    return users().project_for(_token(), _project_header(), request.method, queue, request.remote_addr)


def _client() -> str:
    return uuid.UUID(request.headers["Client-ID"]).hex


def _href(version: str, queue: str, message: dict) -> dict:
    """Zaqar's message with its `href`, relative to the messaging endpoint (as Zaqar's are)."""
    return {**message, "href": f"/{version}/queues/{queue}/messages/{message['id']}"}


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


def _project_header() -> str | None:
    return request.headers.get("X-Project-Id", "").strip() or None


@blueprint.route("", methods=["PUT", "HEAD", "GET"], strict_slashes=False)
def queue(version: str, queue: str):
    """Create (PUT: 204), exists (HEAD: 204, a person's missing queue 404) or read (GET: its
    metadata, none kept). A guest's queue exists for the token that reaches it."""
    if _guest():
        queues().exists(_token(), _project_header(), queue, request.remote_addr)
    elif request.method == "PUT":
        users().create(_project(queue), queue)
    else:
        users().exists(_project(queue), queue)
    if request.method == "GET":
        return jsonify({})
    return Response(status=204)


@blueprint.get("/messages")
def listed(version: str, queue: str):
    """A person's listing: `?ids=` (404 when none is there), or the unexpired messages after
    `marker`, at most `limit`, with a `next` link while a page is not empty."""
    if _guest():
        raise Forbidden(NOT_LISTED)
    project = _project(queue)
    if "ids" in request.args:
        found = users().by_ids(project, queue, request.args["ids"].split(","))
        if not found:
            raise NotFound(f"No messages with IDs: {request.args['ids']} found in the queue {queue}.")
        return jsonify({"messages": [_href(version, queue, m) for m in found]})
    echo = request.args.get("echo", "").lower() in TRUE
    limit = request.args.get("limit")
    messages, after = users().listed(
        project, queue, _client(), marker=request.args.get("marker"), limit=limit, echo=echo
    )
    links = []
    if after is not None:
        query = urlencode({"marker": after, "limit": limit or len(messages), "echo": str(echo).lower()})
        links = [{"rel": "next", "href": f"/{version}/queues/{queue}/messages?{query}"}]
    return jsonify({"messages": [_href(version, queue, m) for m in messages], "links": links})


@blueprint.delete("/messages")
def pop(version: str, queue: str):
    """`?pop=N`: 200 `{"messages": [...]}`; `?ids=`: 204. On a guest's queue deleting by ids
    changes nothing; on a person's queue both delete."""
    if _guest():
        if "pop" not in request.args:
            queues().exists(_token(), _project_header(), queue, request.remote_addr)
            return Response(status=204)
        messages = queues().pop(_token(), _project_header(), queue, request.args.get("pop"), request.remote_addr)
    elif "pop" in request.args and "ids" in request.args:
        raise InvalidRequest("ids parameter and pop parameter can not be used together in the request.")
    elif "pop" in request.args:
        messages = users().pop(_project(queue), queue, request.args.get("pop"))
    elif "ids" in request.args:
        users().delete(_project(queue), queue, request.args["ids"].split(","))
        return Response(status=204)
    else:
        raise InvalidRequest("pop and id parameters can not be empty: send ?pop=N or ?ids=ID,...")
    response = jsonify({"messages": messages})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/messages")
def post(version: str, queue: str):
    """201 `{"resources": [hrefs]}`: a guest's messages once each is taken as its deployment's
    signal; a person's once stored on the queue (made if missing)."""
    body = json_body(service().runtime.config.max_signal_bytes)
    if _guest():
        ids = queues().post(_token(), _project_header(), queue, body, request.remote_addr)
        base = request.path
    else:
        ids = users().post(_project(queue), queue, body, _client())
        base = f"/{version}/queues/{queue}/messages"
    response = jsonify({"resources": [f"{base}/{i}" for i in ids]})
    response.status_code = 201
    response.headers["Location"] = f"{request.path}?ids={','.join(ids)}"
    return response


@blueprint.route("/messages/<message_id>", methods=["GET", "DELETE"])
def message(version: str, queue: str, message_id: str):
    """A person's message by id (GET: 404 when gone or expired; DELETE: 204 either way)."""
    if _guest():
        raise Forbidden(NOT_LISTED)
    project = _project(queue)
    if request.method == "DELETE":
        users().delete(project, queue, [message_id])
        return Response(status=204)
    found = users().by_ids(project, queue, [message_id])
    if not found:
        raise NotFound(f"Message {message_id} does not exist in queue {queue} (popped, deleted or expired).")
    return jsonify(_href(version, queue, found[0]))
