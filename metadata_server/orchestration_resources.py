"""Resource, event and output views: call `service().resources`, `.operations` (mark unhealthy,
signal), `.stacks` (outputs) and `.event_sinks`, and read one setting; touch nothing else.

A stack's resources (list, show, mark unhealthy, signal), events, outputs and event sinks
(docs/webhooks.md), under `/v1/<project>/stacks/<name>/<id>/` (nested in the orchestration
blueprint).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from engine.errors import HTTPBadRequest
from metadata_server.requests_ import integer_arg, json_body, number_arg, service
from metadata_server.v1_request import bool_arg, filter_args, object_body, stack_id

blueprint = Blueprint("orchestration_resources", __name__, url_prefix="/stacks/<name>/<uuid:uuid>")
RESOURCE_FILTERS = ("type", "status", "name", "action", "id", "physical_resource_id")
MARK_KEYS = ("mark_unhealthy", "resource_status_reason")
EVENT_FILTERS = ("resource_status", "resource_action", "resource_name", "resource_type")


@blueprint.get("/resources")
def list_resources(project: str, name: str, uuid):
    unknown = sorted(set(request.args) - set(RESOURCE_FILTERS) - {"nested_depth", "with_detail"})
    if unknown:
        raise HTTPBadRequest(f"Invalid filter parameters {unknown}")
    resources = service().resources.list_resources(
        project,
        stack_id(project, name, uuid),
        nested_depth=integer_arg("nested_depth", 0),
        with_detail=bool_arg("with_detail"),
        filters=filter_args(RESOURCE_FILTERS) or None,
    )
    return jsonify({"resources": resources})


@blueprint.get("/resources/<resource>")
def show_resource(project: str, name: str, uuid, resource: str):
    return jsonify({"resource": service().resources.show_resource(project, stack_id(project, name, uuid), resource)})


@blueprint.patch("/resources/<resource>")
def mark_unhealthy(project: str, name: str, uuid, resource: str):
    """Heat's `{"mark_unhealthy": true, "resource_status_reason": "..."}`."""
    body = object_body()
    if "mark_unhealthy" not in body:
        raise HTTPBadRequest("Missing mandatory (mark_unhealthy) key from mark unhealthy request")
    unknown = sorted(set(body) - set(MARK_KEYS))
    if unknown:
        raise HTTPBadRequest(f"Invalid keys in resource mark unhealthy {', '.join(unknown)}")
    reason = body.get("resource_status_reason") or ""
    if not isinstance(reason, str):
        raise HTTPBadRequest("'resource_status_reason' must be a string")
    mark = body["mark_unhealthy"]
    if not isinstance(mark, bool):
        if str(mark).lower() not in ("true", "false"):
            raise HTTPBadRequest(
                f'Unrecognized value "{mark}" for "mark_unhealthy", acceptable values are: true, false.'
            )
        mark = str(mark).lower() == "true"
    service().operations.mark_unhealthy(project, stack_id(project, name, uuid), resource, mark, reason)
    return "", 200


@blueprint.post("/resources/<resource>/signal")
def signal_resource(project: str, name: str, uuid, resource: str):
    """Any JSON (or nothing) is the signal's details; `{"unset_hook": "pre-create"}` clears a
    breakpoint."""
    details = json_body(service().runtime.config.max_signal_bytes, allow_empty=True)
    service().operations.signal_resource(project, stack_id(project, name, uuid), resource, details)
    return jsonify(None), 200  # Heat answers `null`; heatclient warns on an empty body


@blueprint.get("/resources/<resource>/metadata")
def resource_metadata(project: str, name: str, uuid, resource: str):
    return jsonify(
        {"metadata": service().resources.resource_metadata(project, stack_id(project, name, uuid), resource)}
    )


@blueprint.get("/events")
@blueprint.get("/resources/<resource>/events")
def list_events(project: str, name: str, uuid, resource: str | None = None):
    filters = {key: request.args.getlist(key) for key in EVENT_FILTERS if key in request.args}
    # Heat: newest first unless a sort is asked for (sort_keys alone sorts oldest first).
    sort_dir = request.args.get("sort_dir") or ("asc" if request.args.get("sort_keys") else "desc")
    events = service().resources.list_events(
        project,
        stack_id(project, name, uuid),
        marker=request.args.get("marker"),
        limit=integer_arg("limit", None),
        sort_dir=sort_dir,
        wait=number_arg("wait"),
        resource=resource,
        filters=filters,
        nested_depth=integer_arg("nested_depth", 0),
    )
    return jsonify({"events": events})


@blueprint.get("/resources/<resource>/events/<event_id>")
def show_event(project: str, name: str, uuid, resource: str, event_id: str):
    return jsonify(
        {"event": service().resources.show_event(project, stack_id(project, name, uuid), resource, event_id)}
    )


@blueprint.get("/outputs")
def list_outputs(project: str, name: str, uuid):
    return jsonify({"outputs": service().stacks.list_outputs(project, stack_id(project, name, uuid))})


@blueprint.get("/outputs/<key>")
def show_output(project: str, name: str, uuid, key: str):
    return jsonify({"output": service().stacks.show_output(project, stack_id(project, name, uuid), key)})


@blueprint.get("/event_sinks")
def list_event_sinks(project: str, name: str, uuid):
    return jsonify({"event_sinks": service().event_sinks.list_sinks(project, stack_id(project, name, uuid))})


@blueprint.post("/event_sinks/<int:index>/replay")
def replay_dead_letters(project: str, name: str, uuid, index: int):
    """`{}` replays all the sink's dead letters, `{"sequences": [N, ...]}` those numbered so."""
    body = json_body(allow_empty=True) or {}
    if not isinstance(body, dict) or set(body) - {"sequences"}:
        raise HTTPBadRequest('the body is {} or {"sequences": [event sequence numbers]}')
    marked = service().event_sinks.replay(project, stack_id(project, name, uuid), index, body.get("sequences"))
    return jsonify({"replaying": marked}), 202
