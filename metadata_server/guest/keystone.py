"""Keystone v3 for guests and people, and the two Heat routes a guest token may call; call
`service().guest.keystone` alone (and read one setting), touch nothing else.

`identity_blueprint` (`/identity`, `/identity/v3`, `/identity/v3/auth/tokens`) is served by
every listener: a listener with the guest API signs in guest credentials, one with the
orchestration API signs in people (`SIGN_IN` in the app's config says which), so a guest-only
listener never checks a person's password. `heat_blueprint` (a server resource's metadata, a
deployment resource's signal, under `/v1/<project>/stacks/<name>/<id>/resources/<resource>/`)
is served with the guest API: on the guest listener, and on the main one when it serves the
guest API too. On the main listener the orchestration API owns both routes (it is registered
first); there orchestration_auth hands a guest token's request to `answer_metadata` /
`answer_signal` here.

Errors under `/identity` are Keystone's `{"error": {"code", "title", "message"}}` (what
keystoneauth reads), with Hearth's envelope keys beside them.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from engine.errors import HearthError, NotFound, TooManyRequests
from metadata_server.errors import envelope_body
from metadata_server.requests_ import json_body, service

identity_blueprint = Blueprint("guest_identity", __name__, url_prefix="/identity")
heat_blueprint = Blueprint(
    "guest_heat", __name__, url_prefix="/v1/<project>/stacks/<name>/<uuid:uuid>/resources/<resource>"
)


def keystone():
    """The engine's Keystone (engine.guest.transports.heat.KeystoneService), one per service."""
    return service().guest.keystone


def presented_token() -> str | None:
    return request.headers.get("X-Auth-Token", "").strip() or None


SIGN_IN = "HEARTH_KEYSTONE_SIGN_IN"  # app.config: {"guests": bool, "people": bool}


def _base() -> str:
    """This listener's own root, as the client reached it: where discovery points back to."""
    return request.host_url.rstrip("/") + request.script_root


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
    response = jsonify({"versions": {"values": [keystone().version_document(_base())]}})
    response.status_code = 300
    return response


@identity_blueprint.get("/v3", strict_slashes=False)
def version():
    return jsonify({"version": keystone().version_document(_base())})


@identity_blueprint.post("/v3/auth/tokens")
def issue_token():
    signs_in = current_app.config.get(SIGN_IN) or {}
    token, body = keystone().issue_token(
        json_body(64 * 1024),
        request.remote_addr,
        guests=signs_in.get("guests", False),
        people=signs_in.get("people", False),
    )
    response = jsonify(body)
    response.status_code = 201
    response.headers["X-Subject-Token"] = token
    response.headers["Cache-Control"] = "no-store"
    return response


def subject_token() -> str | None:
    return request.headers.get("X-Subject-Token", "").strip() or None


@identity_blueprint.get("/v3/auth/tokens")
def validate_token():
    """Keystone's token validation (HEAD too: the same checks, no body)."""
    subject = subject_token()
    response = jsonify(keystone().validate_token(presented_token(), subject, request.remote_addr))
    response.headers["X-Subject-Token"] = subject or ""
    response.headers["Cache-Control"] = "no-store"
    return response


@identity_blueprint.delete("/v3/auth/tokens")
def revoke_token():
    keystone().revoke_token(presented_token(), subject_token(), request.remote_addr)
    return "", 204


# Application credentials (a person's own; served where people sign in) -----------------------


def credentials_service():
    if not (current_app.config.get(SIGN_IN) or {}).get("people"):
        raise NotFound("application credentials are served on the orchestration API's listener")
    return keystone().application_credentials


CREDENTIALS = "/v3/users/<user_id>/application_credentials"


@identity_blueprint.post(CREDENTIALS)
def create_application_credential(user_id: str):
    body = credentials_service().create(presented_token(), user_id, json_body(64 * 1024), _base() + "/identity/v3")
    response = jsonify(body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@identity_blueprint.get(CREDENTIALS)
def list_application_credentials(user_id: str):
    return jsonify(
        credentials_service().list(presented_token(), user_id, request.args.get("name"), _base() + "/identity/v3")
    )


@identity_blueprint.get(CREDENTIALS + "/<credential_id>")
def show_application_credential(user_id: str, credential_id: str):
    return jsonify(credentials_service().show(presented_token(), user_id, credential_id, _base() + "/identity/v3"))


@identity_blueprint.delete(CREDENTIALS + "/<credential_id>")
def delete_application_credential(user_id: str, credential_id: str):
    credentials_service().delete(presented_token(), user_id, credential_id)
    return "", 204


@heat_blueprint.get("/metadata")
def resource_metadata(project: str, name: str, uuid, resource: str):
    return answer_metadata(project, name, str(uuid), resource)


def answer_metadata(project: str, name: str, stack_id: str, resource: str) -> Response:
    doc = keystone().resource_metadata(presented_token(), project, name, stack_id, resource, request.remote_addr)
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
