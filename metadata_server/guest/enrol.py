"""Servers blueprint: enrolment of pre-provisioned machines under `/v1/<project>/servers/`; calls
`service().guest` alone (engine/guest/enrol.py), touches nothing else."""

from __future__ import annotations

from flask import Blueprint, jsonify

from engine.errors import InvalidRequest
from metadata_server.requests_ import json_body, service
from metadata_server.v1_request import as_bool

blueprint = Blueprint("servers", __name__, url_prefix="/v1/<project>")
BOOTSTRAP_KEYS = ("revoke_previous", "new")


@blueprint.post("/servers/<server_id>/bootstrap")
def bootstrap(project: str, server_id: str):
    """A new server credential in a bootstrap document; `{"revoke_previous": true}` also
    revokes the server's earlier credentials (an enrolled agent then loses access);
    `{"new": true}` enrols a machine under an id no server has yet (engine/guest/enrol.py)."""
    body = json_body(64 * 1024, allow_empty=True) or {}
    if not isinstance(body, dict) or set(body) - set(BOOTSTRAP_KEYS):
        raise InvalidRequest("the body is optional and takes only 'revoke_previous' and 'new' (booleans)")
    revoke = as_bool("revoke_previous", body.get("revoke_previous", False))
    new = as_bool("new", body.get("new", False))
    answer = service().guest.issue_bootstrap(project, server_id, revoke_previous=revoke, new=new)
    response = jsonify(answer)
    response.status_code = 201
    # The answer holds a live secret: no cache or proxy may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response
