"""The convergence report of a stack (docs/convergence.md): calls `service().convergence`; touches
nothing else.

`GET /v1/<project>/stacks/<name>/<id>/convergence[?operation=OP]` (nested in the orchestration
blueprint): per server, when the operation's deployment entries were committed, delivered,
started and finished, and the time-to-converge distribution.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metadata_server.requests_ import service
from metadata_server.v1_request import stack_id

blueprint = Blueprint("orchestration_convergence", __name__, url_prefix="/stacks/<name>/<uuid:uuid>")


@blueprint.get("/convergence")
def convergence_report(project: str, name: str, uuid):
    report = service().convergence.report(project, stack_id(project, name, uuid), request.args.get("operation") or None)
    return jsonify(report)
