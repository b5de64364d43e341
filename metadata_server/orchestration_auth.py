"""Authentication and authorisation of the orchestration, servers and admin APIs: calls
`service().admin` (tokens, audit), hands guest tokens to metadata_server.guest; nothing else.

Authentication and authorisation of the orchestration, servers and admin APIs.

Every request to `/v1/<project>/...` (and to the admin API) carries a token, as Heat's
`X-Auth-Token: T` or as `Authorization: Bearer T`. No or a bad token: 401. A project the
token's user has no role in: 403 (and, inside a project, other projects' stacks are simply
not found). The guest API (`/guest/...`, `/signal/...`) has credentials of its own and is not
touched here. Every refusal is written to the audit log, naming the token by its id (or the
first characters of an unknown one), never by its value.
"""

from __future__ import annotations

from flask import Flask, g, request

from engine.errors import Forbidden, Unauthorized
from engine.service import GUEST_TOKEN_PREFIX, GUEST_TOKEN_WRONG_TARGET
from metadata_server.guest import keystone as keystone_api, temp_url as swift_api
from metadata_server.requests_ import service

# Blueprints whose routes need a token, and the project-scoped ones among them.
PROJECT_BLUEPRINTS = ("orchestration", "servers", "swift_account", "swift_object")
# Endpoints that a Swift temp URL authorises instead of a token (engine/guest/transports/temp_url.py).
TEMP_URL_ENDPOINTS = {"swift_object.put_object"}
ADMIN_BLUEPRINT = "admin_api"
# Endpoints that only read although they are POST/PUT (validation and previews).
READ_ONLY_ENDPOINTS = {
    "orchestration.orchestration_catalog.validate_template",
    "orchestration.preview_create",
    "orchestration.preview_update",
}
# Endpoints that need the admin role in the project (issuing a server's credentials).
ADMIN_ENDPOINTS = {"servers.bootstrap"}
# The two orchestration routes a guest Keystone token may call: POLL_SERVER_HEAT's resource
# metadata and HEAT_SIGNAL's resource signal (engine/guest/transports/heat.py decides whose).
GUEST_TOKEN_ENDPOINTS = {
    "orchestration.orchestration_resources.resource_metadata": "metadata",
    "orchestration.orchestration_resources.signal_resource": "signal",
}


def presented_token() -> str | None:
    token = request.headers.get("X-Auth-Token", "").strip()
    if token:
        return token
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def register(app: Flask) -> None:
    app.before_request(check_request)


def check_request() -> None:
    """Set `g.principal` for a request to a protected API, or refuse it (401/403)."""
    blueprints = set(request.blueprints)
    project_scoped = bool(blueprints & set(PROJECT_BLUEPRINTS))
    if not project_scoped and ADMIN_BLUEPRINT not in blueprints:
        return
    if request.endpoint in TEMP_URL_ENDPOINTS and swift_api.presents_temp_url():
        return  # the view checks the temp URL's signature

    admin = service().admin
    presented = presented_token()
    if presented and presented.startswith(GUEST_TOKEN_PREFIX):
        return _guest_token_request()
    try:
        principal = admin.authenticate(presented)
    except Unauthorized as error:
        _audit("auth.failed", admin.token_actor(presented), error)
        raise
    try:
        if project_scoped:
            project = (request.view_args or {}).get("project", "")
            method = "GET" if request.endpoint in READ_ONLY_ENDPOINTS else request.method
            g.role = admin.authorize(principal, project, method, admin_only=request.endpoint in ADMIN_ENDPOINTS)
        else:
            admin.require_cloud_admin(principal)
    except Forbidden as error:
        _audit("auth.forbidden", f"token:{principal.token_id}", error, user=principal.user_name)
        raise
    g.principal = principal


def _guest_token_request():
    """A guest Keystone token (engine/guest/transports/heat.py) reaches two orchestration routes, a server
    resource's metadata and a deployment resource's signal, answered here as on the guest
    listener (metadata_server/guest/keystone.py); any other route is refused."""
    route = GUEST_TOKEN_ENDPOINTS.get(request.endpoint)
    if route is not None:
        args = request.view_args or {}
        answer = keystone_api.answer_signal if route == "signal" else keystone_api.answer_metadata
        return answer(args["project"], args["name"], str(args["uuid"]), args["resource"])
    error = Forbidden(GUEST_TOKEN_WRONG_TARGET)
    _audit("auth.forbidden", "guest keystone token", error)
    raise error


def _audit(action: str, actor: str, error: Exception, **detail) -> None:
    service().admin.record_refused(
        action, actor, f"{request.method} {request.path}", error, request.remote_addr, **detail
    )
