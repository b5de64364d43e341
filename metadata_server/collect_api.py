"""The POLL_TEMP_URL route: os-collect-config's `request` collector reads a server's metadata here.

No credential but the signed URL itself (engine/collect.py); HEAD answers the headers only,
so the collector can compare `Last-Modified` before it GETs.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, request

from engine import collect
from metadata_server.requests_ import service

blueprint = Blueprint("collect", __name__)


@blueprint.route("/guest/v1/servers/<server_id>/collect", methods=["GET", "HEAD"])
def collect_metadata(server_id: str):
    doc, last_modified = collect.collect(service().runtime, server_id,
                                         request.args.get("expires"), request.args.get("signature"))
    body = json.dumps(doc, sort_keys=True)
    response = Response(body, mimetype="application/json")
    response.headers["Last-Modified"] = last_modified
    response.headers["Cache-Control"] = "no-store"
    return response
