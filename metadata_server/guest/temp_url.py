"""POLL_TEMP_URL and TEMP_URL_SIGNAL routes (signed URLs): call `service().guest` alone
(engine/guest/transports/temp_url.py) and read one setting; touch nothing else.

`collect_blueprint`: os-collect-config's `request` collector reads a server's metadata at
`/guest/v1/servers/<id>/collect`, with no credential but the signed URL itself; HEAD answers the
headers only, so the collector can compare `Last-Modified` before it GETs.

The corner of Swift's API that heatclient's TEMP_URL_SIGNAL uses, under `/v1/AUTH_<project>`:
the account's HEAD and POST, a container's PUT and an object's PUT for a user's token, and an
object's PUT through a temp URL, which is a deployment's signal. `account_blueprint` needs a
user token (orchestration_auth); `object_blueprint` takes either a token or a temp URL
(`temp_url_sig`), so it is also served on a guest-only listener, where only the temp URL is
accepted.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, g, request

from engine.errors import Unauthorized
from engine.service import TEMP_URL_KEY_HEADER
from metadata_server.requests_ import json_body, service

collect_blueprint = Blueprint("collect", __name__)
account_blueprint = Blueprint("swift_account", __name__, url_prefix="/v1/AUTH_<project>")
object_blueprint = Blueprint("swift_object", __name__, url_prefix="/v1/AUTH_<project>")
TEMP_URL_ARGS = ("temp_url_sig", "temp_url_expires")


@collect_blueprint.route("/guest/v1/servers/<server_id>/collect", methods=["GET", "HEAD"])
def collect_metadata(server_id: str):
    doc, last_modified = service().guest.collect(server_id, request.args.get("expires"), request.args.get("signature"))
    body = json.dumps(doc, sort_keys=True)
    response = Response(body, mimetype="application/json")
    response.headers["Last-Modified"] = last_modified
    response.headers["Cache-Control"] = "no-store"
    return response


def presents_temp_url() -> bool:
    return any(name in request.args for name in TEMP_URL_ARGS)


@account_blueprint.route("", methods=["HEAD"], strict_slashes=False)
def head_account(project: str):
    """Swift's account HEAD: what heatclient reads is the temp URL key (Hearth's own)."""
    response = Response(status=204)
    response.headers[TEMP_URL_KEY_HEADER] = service().guest.temp_url_key(project)
    response.headers["X-Account-Container-Count"] = "0"
    response.headers["X-Account-Object-Count"] = "0"
    response.headers["Cache-Control"] = "no-store"
    return response


@account_blueprint.post("", strict_slashes=False)
def post_account(project: str):
    """Accepted and ignored: the account's temp URL key is derived, not set
    (engine/guest/transports/temp_url.py)."""
    return Response(status=204)


@account_blueprint.put("/<container>")
def put_container(project: str, container: str):
    return Response(status=201)


@object_blueprint.put("/<container>/<path:obj>")
def put_object(project: str, container: str, obj: str):
    """With a user's token: accepted (heatclient creates the signal object empty). Through a
    temp URL: the signal of the deployment that names the URL."""
    if not presents_temp_url():
        if getattr(g, "principal", None) is None:  # a guest-only listener checks no token
            raise Unauthorized("this listener takes a Swift object only through a temp URL")
        return Response(status=201)
    guest = service().guest
    guest.verify_temp_url(
        project, "PUT", request.path, request.args.get("temp_url_sig"), request.args.get("temp_url_expires")
    )
    body = json_body(service().runtime.config.max_signal_bytes, allow_empty=True)
    guest.temp_url_signal(project, request.path, body)
    return Response(status=201)
