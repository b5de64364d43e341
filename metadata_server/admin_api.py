"""The admin API under `/admin/v1/`: projects, users, roles, API tokens, delegations and the
audit log. Only a cloud admin (an admin of project `admin`) gets here (orchestration_auth)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from engine import audit, identity
from engine.errors import InvalidRequest, NotFound
from engine.store.models import ApiToken, Delegation, Membership, Project, User
from metadata_server.requests_ import integer_arg, json_body, service

blueprint = Blueprint("admin_api", __name__, url_prefix="/admin/v1")
MAX_TOKEN_LIFETIME = 10 * 365 * 24 * 3600


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# What each key of an admin body holds: its type and how to say it in a refusal.
FIELDS: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "password": (str, "a string of 8 to 1024 characters"),
    "user": (str, "a string, the user's name or id"),
    "expires_in": (int, f"a whole number of seconds from 1 to {MAX_TOKEN_LIFETIME}"),
}
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
              int: "a number", float: "a number", type(None): "null"}


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
        raise InvalidRequest(takes + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                             + (f"; missing: {', '.join(missing)}" if missing else ""))
    for key, value in body.items():
        kind, words = FIELDS[key]
        if value is None and key not in required:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidRequest(f"'{key}' must be {words}, not {JSON_TYPES.get(type(value), 'that')}")
    return body


def _record(session, action: str, subject: str | None, **detail) -> None:
    audit.record(session, action=action, actor=f"user:{g.principal.user_name}", subject=subject,
                 detail=detail or None, remote_addr=request.remote_addr, now=service().runtime.now())


def _project_view(project: Project) -> dict:
    return {"id": project.id, "name": project.name, "created_at": _iso(project.created_at)}


def _user_view(session, user: User) -> dict:
    roles = {m.project_id: m.role for m in session.scalars(select(Membership).where(Membership.user_id == user.id))}
    return {"id": user.id, "name": user.name, "created_at": _iso(user.created_at),
            "disabled_at": _iso(user.disabled_at), "roles": roles,
            "password": "set" if user.password_hash else "none",
            "password_set_at": _iso(user.password_set_at)}


def _token_view(token: ApiToken, user_name: str) -> dict:
    return {"id": token.id, "user": user_name, "name": token.name, "created_at": _iso(token.created_at),
            "expires_at": _iso(token.expires_at), "revoked_at": _iso(token.revoked_at),
            "last_used_at": _iso(token.last_used_at)}


def _delegation_view(delegation: Delegation, user_name: str) -> dict:
    return {"id": delegation.id, "user": user_name, "project": delegation.project_id,
            "stack_id": delegation.stack_id, "role": delegation.role,
            "created_at": _iso(delegation.created_at), "revoked_at": _iso(delegation.revoked_at)}


def _user_names(session) -> dict[str, str]:
    return {user.id: user.name for user in session.scalars(select(User))}


# Projects ---------------------------------------------------------------------------------

@blueprint.get("/projects")
def list_projects():
    with service().runtime.store.session() as session:
        rows = session.scalars(select(Project).order_by(Project.name))
        return jsonify({"projects": [_project_view(p) for p in rows]})


@blueprint.post("/projects")
def create_project():
    body = _body(("name",), ("name",))
    with service().runtime.store.session() as session:
        project = identity.create_project(session, body["name"], service().runtime.now())
        _record(session, "project.create", project.id)
        view = _project_view(project)
    return jsonify({"project": view}), 201


@blueprint.delete("/projects/<name>")
def delete_project(name: str):
    with service().runtime.store.session() as session:
        project = identity.delete_project(session, name)
        _record(session, "project.delete", project.id)
    return "", 204


# Users and roles --------------------------------------------------------------------------

@blueprint.get("/users")
def list_users():
    with service().runtime.store.session() as session:
        return jsonify({"users": [_user_view(session, u) for u in session.scalars(select(User).order_by(User.name))]})


@blueprint.post("/users")
def create_user():
    """`{"name": NAME, "password": P}`; with a password the user can sign in at /identity/v3."""
    body = _body(("name", "password"), ("name",))
    now = service().runtime.now()
    with service().runtime.store.session() as session:
        user = identity.create_user(session, body["name"], now)
        if "password" in body:
            identity.set_password(session, user, body["password"], now)
        session.flush()
        _record(session, "user.create", user.name, can_sign_in="password" in body)
        view = _user_view(session, user)
    return jsonify({"user": view}), 201


@blueprint.put("/users/<name>/password")
def set_password(name: str):
    """`{"password": P}`: stored as a scrypt hash; the user's signed-in tokens are revoked."""
    body = _body(("password",), ("password",))
    now = service().runtime.now()
    with service().runtime.store.session() as session:
        user = identity.find_user(session, name)
        identity.set_password(session, user, body["password"], now)
        _record(session, "user.password.set", user.name)
    return "", 204


@blueprint.delete("/users/<name>/password")
def clear_password(name: str):
    with service().runtime.store.session() as session:
        user = identity.find_user(session, name)
        identity.clear_password(session, user, service().runtime.now())
        _record(session, "user.password.clear", user.name)
    return "", 204


@blueprint.delete("/users/<name>")
def delete_user(name: str):
    with service().runtime.store.session() as session:
        user = identity.delete_user(session, name, service().runtime.now())
        _record(session, "user.delete", user.name)
    return "", 204


@blueprint.put("/projects/<project>/users/<user>/roles/<role>")
def add_role(project: str, user: str, role: str):
    with service().runtime.store.session() as session:
        identity.add_role(session, user, project, role)
        _record(session, "role.add", f"{user}@{project}", role=role)
    return "", 204


@blueprint.delete("/projects/<project>/users/<user>/roles/<role>")
def remove_role(project: str, user: str, role: str):
    with service().runtime.store.session() as session:
        identity.remove_role(session, user, project, role)
        _record(session, "role.remove", f"{user}@{project}", role=role)
    return "", 204


# Tokens -----------------------------------------------------------------------------------

@blueprint.get("/tokens")
def list_tokens():
    query = select(ApiToken).order_by(ApiToken.created_at)
    with service().runtime.store.session() as session:
        if request.args.get("user"):
            query = query.where(ApiToken.user_id == identity.find_user(session, request.args["user"]).id)
        names = _user_names(session)
        return jsonify({"tokens": [_token_view(t, names.get(t.user_id, t.user_id)) for t in session.scalars(query)]})


@blueprint.post("/tokens")
def create_token():
    """`{"user": NAME, "name": LABEL, "expires_in": SECONDS}`; the answer holds the token, once."""
    body = _body(("user", "name", "expires_in"), ("user",))
    now = service().runtime.now()
    expires_at = None
    if body.get("expires_in") is not None:
        seconds = body["expires_in"]
        if not 0 < seconds <= MAX_TOKEN_LIFETIME:
            raise InvalidRequest(f"'expires_in' must be {FIELDS['expires_in'][1]}, not {seconds}")
        expires_at = now + dt.timedelta(seconds=seconds)
    name = body.get("name") or ""
    if len(name) > 255:
        raise InvalidRequest("'name' must be a string of at most 255 characters")
    with service().runtime.store.session() as session:
        user = identity.find_user(session, body["user"])
        token, secret = identity.issue_token(session, user, now, name=name, expires_at=expires_at)
        _record(session, "token.issue", token.id, user=user.name)
        view = {**_token_view(token, user.name), "token": secret}
    response = jsonify({"token": view})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.delete("/tokens/<token_id>")
def revoke_token(token_id: str):
    with service().runtime.store.session() as session:
        token = identity.revoke_token(session, token_id, service().runtime.now())
        _record(session, "token.revoke", token.id)
    return "", 204


# Delegations ------------------------------------------------------------------------------

@blueprint.get("/delegations")
def list_delegations():
    query = select(Delegation).order_by(Delegation.created_at)
    if request.args.get("stack_id"):
        query = query.where(Delegation.stack_id == request.args["stack_id"])
    with service().runtime.store.session() as session:
        names = _user_names(session)
        return jsonify({"delegations": [_delegation_view(d, names.get(d.user_id, d.user_id))
                                        for d in session.scalars(query)]})


@blueprint.delete("/delegations/<delegation_id>")
def revoke_delegation(delegation_id: str):
    with service().runtime.store.session() as session:
        delegation = session.get(Delegation, delegation_id)
        if delegation is None:
            raise NotFound(f"delegation '{delegation_id}' not found")
        if delegation.revoked_at is None:
            delegation.revoked_at = service().runtime.now()
        _record(session, "delegation.revoke", delegation.id, stack_id=delegation.stack_id)
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
            raise InvalidRequest("'since' must be an ISO 8601 time from year 1 to 9999, "
                                 "e.g. 2026-11-22T12:00:00") from None
    with service().runtime.store.session() as session:
        events = audit.list_events(session, action=request.args.get("action") or None, since=since,
                                   limit=integer_arg("limit", 100, 1), marker=integer_arg("marker", None, 1))
        return jsonify({"events": [audit.as_dict(e) for e in events]})
