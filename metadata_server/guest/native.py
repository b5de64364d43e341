"""Hearth's own guest routes (docs/guest-api.md): call `service().guest` alone
(engine/guest/service.py) and read one setting; touch nothing else."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from engine.service import GuestAuth
from metadata_server.requests_ import guest_auth, integer_arg, json_body, number_arg, service

blueprint = Blueprint("guest", __name__)


AGENT = re.compile(r"hearth-agent/([A-Za-z0-9.+_-]{1,64})")


def _auth() -> GuestAuth:
    auth = guest_auth()
    auth.remote_addr = request.remote_addr
    named = AGENT.match(request.headers.get("User-Agent", ""))
    auth.agent = named.group(1) if named else None
    return auth


@blueprint.get("/guest/v1/servers/<server_id>/metadata")
def metadata(server_id: str):
    since = integer_arg("since")
    if since is None:
        since = _etag_version(request.headers.get("If-None-Match", ""))
    auth = _auth()
    answer = service().guest.metadata(auth, server_id, since, number_arg("wait"))
    if answer is None:
        response = jsonify({})
        response.status_code = 304
        response.headers["ETag"] = f'"{since}"'
    else:
        version, doc = answer
        response = jsonify({"version": version, "metadata": doc})
        response.headers["ETag"] = f'"{version}"'
        response.headers["Cache-Control"] = "no-store"
    _announce_expiry(response, auth)
    return response


def _etag_version(header: str) -> int | None:
    """The version an If-None-Match names (an ETag we gave is `"VERSION"`); None for any
    other value, which, as an ETag we never gave, matches nothing."""
    tag = header.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) <= 10 else None


def _announce_expiry(response, auth: GuestAuth) -> None:
    """Tell the agent when its credential expires, so it rotates in time."""
    response.headers.update(service().guest.credential_headers(auth))


@blueprint.post("/guest/v1/servers/<server_id>/metrics")
def metrics(server_id: str):
    body = json_body(service().runtime.config.max_body_bytes)
    return jsonify(service().guest.report_metrics(_auth(), server_id, body))


@blueprint.post("/guest/v1/credentials/rotate")
def rotate_credential():
    response = jsonify(service().guest.rotate_credential(_auth()))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/guest/v1/deployments/<entry_id>/signal")
@blueprint.put("/guest/v1/deployments/<entry_id>/signal")
def deployment_signal(entry_id: str):
    limit = service().runtime.config.max_signal_bytes
    result = service().guest.signal_deployment(_auth(), entry_id, json_body(limit, allow_empty=True))
    return jsonify(result)


@blueprint.post("/guest/v1/deployments/<entry_id>/progress")
def deployment_progress(entry_id: str):
    service().guest.progress(_auth(), entry_id, json_body(64 * 1024))
    return jsonify({"accepted": True}), 202


@blueprint.post("/guest/v1/handles/<handle_id>/signal")
@blueprint.put("/guest/v1/handles/<handle_id>/signal")
def handle_signal(handle_id: str):
    return _handle(handle_id, f"/guest/v1/handles/{handle_id}/signal")


@blueprint.post("/v1/signal/<path:arn>")
@blueprint.put("/v1/signal/<path:arn>")
def policy_signal(arn: str):
    """A scaling policy's alarm_url, shaped as Heat's (the CFN API's signal of a resource, with
    an EC2-style key id and signature): an alarm's webhook body, or nothing."""
    body = json_body(service().runtime.config.max_signal_bytes, allow_empty=True)
    access_key, signature = request.args.get("AWSAccessKeyId", ""), request.args.get("Signature", "")
    return jsonify(service().scaling.signal_alarm_url(arn, access_key, signature, body))


@blueprint.post("/signal/<handle_id>")
@blueprint.put("/signal/<handle_id>")
def presigned_handle_signal(handle_id: str):
    return _handle(handle_id, f"/signal/{handle_id}")


def _handle(handle_id: str, path: str):
    limit = service().runtime.config.max_signal_bytes
    body = json_body(limit, allow_empty=True)
    return jsonify(service().guest.signal_handle(_auth(), handle_id, body, path))
