"""Guest blueprint: what agents and boot scripts call (see docs/guest-api.md)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from metadata_server.requests_ import guest_auth, int_arg, json_body, service

blueprint = Blueprint("guest", __name__)


@blueprint.get("/guest/v1/servers/<server_id>/metadata")
def metadata(server_id: str):
    since = int_arg("since")
    match = request.headers.get("If-None-Match", "").strip('"')
    if since is None and match.isdigit():
        since = int(match)
    answer = service().guest.metadata(guest_auth(), server_id, since, int_arg("wait", 0) or 0)
    if answer is None:
        response = jsonify({})
        response.status_code = 304
        response.headers["ETag"] = f'"{since}"'
        return response
    version, doc = answer
    response = jsonify({"version": version, "metadata": doc})
    response.headers["ETag"] = f'"{version}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/guest/v1/deployments/<entry_id>/signal")
@blueprint.put("/guest/v1/deployments/<entry_id>/signal")
def deployment_signal(entry_id: str):
    limit = service().runtime.config.max_signal_bytes
    result = service().guest.signal_deployment(guest_auth(), entry_id, json_body(limit, allow_empty=True))
    return jsonify(result)


@blueprint.post("/guest/v1/deployments/<entry_id>/progress")
def deployment_progress(entry_id: str):
    service().guest.progress(guest_auth(), entry_id, json_body(64 * 1024))
    return jsonify({"accepted": True}), 202


@blueprint.post("/guest/v1/handles/<handle_id>/signal")
@blueprint.put("/guest/v1/handles/<handle_id>/signal")
def handle_signal(handle_id: str):
    return _handle(handle_id, f"/guest/v1/handles/{handle_id}/signal")


@blueprint.post("/signal/<handle_id>")
@blueprint.put("/signal/<handle_id>")
def presigned_handle_signal(handle_id: str):
    return _handle(handle_id, f"/signal/{handle_id}")


def _handle(handle_id: str, path: str):
    limit = service().runtime.config.max_signal_bytes
    body = json_body(limit, allow_empty=True)
    return jsonify(service().guest.signal_handle(guest_auth(), handle_id, body, path))
