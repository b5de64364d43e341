"""Keystone v3 for guests, and the two Heat routes a guest token may call (engine/keystone.py).

`identity_blueprint` (`/identity`, `/identity/v3`, `/identity/v3/auth/tokens`) and
`heat_blueprint` (a server resource's metadata, a deployment resource's signal, under
`/v1/<project>/stacks/<name>/<id>/resources/<resource>/`) are served with the guest API: on
the guest listener, and on the main one when it serves the guest API too. On the main listener
the orchestration API owns both routes (it is registered first); there orchestration_auth
hands a guest token's request to `answer_metadata` / `answer_signal` here.

Errors under `/identity` are Keystone's `{"error": {"code", "title", "message"}}` (what
keystoneauth reads), with Hearth's envelope keys beside them.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from engine.errors import HearthError, TooManyRequests
from engine.keystone import KeystoneService, version_document
from metadata_server.errors import envelope_body
from metadata_server.requests_ import json_body, service

identity_blueprint = Blueprint("guest_identity", __name__, url_prefix="/identity")
heat_blueprint = Blueprint("guest_heat", __name__,
                           url_prefix="/v1/<project>/stacks/<name>/<uuid:uuid>/resources/<resource>")


def keystone() -> KeystoneService:
    found = current_app.extensions.get("hearth_keystone")
    if found is None:
        found = KeystoneService(service().runtime, service().guest)
        current_app.extensions["hearth_keystone"] = found
    return found


def presented_token() -> str | None:
    return request.headers.get("X-Auth-Token", "").strip() or None


def _base() -> str:
    return service().runtime.public_url


@identity_blueprint.errorhandler(HearthError)
def keystone_error(error: HearthError):
    body = envelope_body(error.status, error.code, type(error).__name__, error.message)
    body["error"] = {"code": error.status, "title": body["title"], "message": error.message}
    response = jsonify(body)
    response.status_code = error.status
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@identity_blueprint.get("", strict_slashes=False)
def versions():
    """Keystone's version list (300 Multiple Choices, as Keystone answers on its root)."""
    response = jsonify({"versions": {"values": [version_document(_base())]}})
    response.status_code = 300
    return response


@identity_blueprint.get("/v3", strict_slashes=False)
def version():
    return jsonify({"version": version_document(_base())})


@identity_blueprint.post("/v3/auth/tokens")
def issue_token():
    token, body = keystone().issue_token(json_body(64 * 1024), request.remote_addr)
    response = jsonify(body)
    response.status_code = 201
    response.headers["X-Subject-Token"] = token
    response.headers["Cache-Control"] = "no-store"
    return response


@identity_blueprint.get("/v3/auth/tokens")
def validate_token():
    subject = request.headers.get("X-Subject-Token", "").strip() or None
    response = jsonify(keystone().validate_token(presented_token(), subject, request.remote_addr))
    response.headers["X-Subject-Token"] = subject or ""
    response.headers["Cache-Control"] = "no-store"
    return response


@heat_blueprint.get("/metadata")
def resource_metadata(project: str, name: str, uuid, resource: str):
    return answer_metadata(project, name, str(uuid), resource)


def answer_metadata(project: str, name: str, stack_id: str, resource: str) -> Response:
    doc = keystone().resource_metadata(presented_token(), project, name, stack_id, resource,
                                       request.remote_addr)
    response = jsonify({"metadata": doc})
    response.headers["Cache-Control"] = "no-store"
    return response


@heat_blueprint.post("/signal")
def resource_signal(project: str, name: str, uuid, resource: str):
    return answer_signal(project, name, str(uuid), resource)


def answer_signal(project: str, name: str, stack_id: str, resource: str) -> Response:
    """Heat answers a resource signal with 200 and the body `null`."""
    body = json_body(service().runtime.config.max_signal_bytes, allow_empty=True)
    keystone().signal(presented_token(), project, name, stack_id, resource, body, request.remote_addr)
    return Response("null", status=200, mimetype="application/json")
