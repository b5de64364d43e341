"""Admin API views under `/admin/v1/`: each calls `service().admin` alone and touches nothing else.

The admin API under `/admin/v1/`: projects, users, roles, API tokens, delegations and the audit log.
Only a cloud admin (an admin of project `admin`) gets here (orchestration_auth).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify, request

from engine.errors import InvalidRequest
from engine.service import Caller
from metadata_server.requests_ import integer_arg, json_body, service

blueprint = Blueprint("admin_api", __name__, url_prefix="/admin/v1")
MAX_TOKEN_LIFETIME = 10 * 365 * 24 * 3600


# What each key of an admin body holds: its type and how to say it in a refusal.
FIELDS: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "password": (str, "a string of 8 to 1024 characters"),
    "user": (str, "a string, the user's name or id"),
    "expires_in": (int, f"a whole number of seconds from 1 to {MAX_TOKEN_LIFETIME}"),
}
JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _body(keys: tuple[str, ...], required: tuple[str, ...]) -> dict:
    """The request's JSON object, holding only `keys`, every one of `required` (not empty),
    each of its type (an optional one may be null); else a 400 that says what it takes."""
    body = json_body(64 * 1024, allow_empty=not required) or {}
    takes = f"the body takes {', '.join(keys)}" + (f" (required: {', '.join(required)})" if required else "")
    if not isinstance(body, dict):
        raise InvalidRequest(f"the request body must be a JSON object: {takes}")
    unknown = sorted(set(body) - set(keys))
    missing = [key for key in required if body.get(key) in (None, "")]
    if unknown or missing:
        raise InvalidRequest(
            takes
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    for key, value in body.items():
        kind, words = FIELDS[key]
        if value is None and key not in required:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidRequest(f"'{key}' must be {words}, not {JSON_TYPES.get(type(value), 'that')}")
    return body


def _caller() -> Caller:
    return Caller(g.principal.user_name, request.remote_addr)


# Projects ---------------------------------------------------------------------------------


@blueprint.get("/projects")
def list_projects():
    return jsonify({"projects": service().admin.list_projects()})


@blueprint.post("/projects")
def create_project():
    body = _body(("name",), ("name",))
    return jsonify({"project": service().admin.create_project(_caller(), body["name"])}), 201


@blueprint.delete("/projects/<name>")
def delete_project(name: str):
    service().admin.delete_project(_caller(), name)
    return "", 204


# Users and roles --------------------------------------------------------------------------


@blueprint.get("/users")
def list_users():
    return jsonify({"users": service().admin.list_users()})


@blueprint.post("/users")
def create_user():
    """`{"name": NAME, "password": P}`; with a password the user can sign in at /identity/v3."""
    body = _body(("name", "password"), ("name",))
    user = service().admin.create_user(_caller(), body["name"], body.get("password"), password_given="password" in body)
    return jsonify({"user": user}), 201


@blueprint.put("/users/<name>/password")
def set_password(name: str):
    """`{"password": P}`: stored as a scrypt hash; the user's signed-in tokens are revoked."""
    body = _body(("password",), ("password",))
    service().admin.set_password(_caller(), name, body["password"])
    return "", 204


@blueprint.delete("/users/<name>/password")
def clear_password(name: str):
    service().admin.clear_password(_caller(), name)
    return "", 204


@blueprint.delete("/users/<name>")
def delete_user(name: str):
    service().admin.delete_user(_caller(), name)
    return "", 204


@blueprint.put("/projects/<project>/users/<user>/roles/<role>")
def add_role(project: str, user: str, role: str):
    service().admin.add_role(_caller(), project, user, role)
    return "", 204


@blueprint.delete("/projects/<project>/users/<user>/roles/<role>")
def remove_role(project: str, user: str, role: str):
    service().admin.remove_role(_caller(), project, user, role)
    return "", 204


# Tokens -----------------------------------------------------------------------------------


@blueprint.get("/tokens")
def list_tokens():
    return jsonify({"tokens": service().admin.list_tokens(request.args.get("user") or None)})


@blueprint.post("/tokens")
def create_token():
    """`{"user": NAME, "name": LABEL, "expires_in": SECONDS}`; the answer holds the token, once."""
    body = _body(("user", "name", "expires_in"), ("user",))
    seconds = body.get("expires_in")
    if seconds is not None and not 0 < seconds <= MAX_TOKEN_LIFETIME:
        raise InvalidRequest(f"'expires_in' must be {FIELDS['expires_in'][1]}, not {seconds}")
    name = body.get("name") or ""
    if len(name) > 255:
        raise InvalidRequest("'name' must be a string of at most 255 characters")
    response = jsonify({"token": service().admin.issue_token(_caller(), body["user"], name, seconds)})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.delete("/tokens/<token_id>")
def revoke_token(token_id: str):
    service().admin.revoke_token(_caller(), token_id)
    return "", 204


# Delegations ------------------------------------------------------------------------------


@blueprint.get("/delegations")
def list_delegations():
    return jsonify({"delegations": service().admin.list_delegations(request.args.get("stack_id") or None)})


@blueprint.delete("/delegations/<delegation_id>")
def revoke_delegation(delegation_id: str):
    service().admin.revoke_delegation(_caller(), delegation_id)
    return "", 204


# Audit ------------------------------------------------------------------------------------


@blueprint.get("/audit")
def list_audit():
    since = None
    if request.args.get("since"):
        try:
            since = dt.datetime.fromisoformat(request.args["since"])
            if since.tzinfo is not None:  # the store keeps naive UTC
                since = since.astimezone(dt.UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):  # OverflowError: a time zone past year 1 or 9999
            raise InvalidRequest(
                "'since' must be an ISO 8601 time from year 1 to 9999, e.g. 2026-11-22T12:00:00"
            ) from None
    events = service().admin.list_audit(
        action=request.args.get("action") or None,
        since=since,
        limit=integer_arg("limit", 100, 1),
        marker=integer_arg("marker", None, 1),
    )
    return jsonify({"events": events})
