"""Orchestration blueprint: Heat's v1 API paths and shapes, so python-heatclient can drive Hearth."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request

from metadata_server.requests_ import int_arg, json_body, service

blueprint = Blueprint("orchestration", __name__, url_prefix="/v1/<project>")
SUBRESOURCES = "resources,events,outputs,template"


@blueprint.post("/stacks")
def create_stack(project: str):
    body = json_body()
    if not isinstance(body, dict):
        from engine.errors import InvalidRequest
        raise InvalidRequest("the request body must be a JSON object")
    return jsonify({"stack": service().create_stack(project, body)}), 201


@blueprint.get("/stacks")
def list_stacks(project: str):
    return jsonify({"stacks": service().list_stacks(project)})


@blueprint.route("/stacks/<name_or_id>", methods=["GET", "DELETE"])
@blueprint.route(f"/stacks/<name_or_id>/<any({SUBRESOURCES}):sub>", methods=["GET"])
@blueprint.route(f"/stacks/<name_or_id>/<any({SUBRESOURCES}):sub>/<path:rest>", methods=["GET"])
def lookup(project: str, name_or_id: str, sub: str | None = None, rest: str | None = None):
    """Heat's name → identity redirect, for every method and sub-path, keeping the query."""
    stack = service().find_stack(project, name_or_id)
    # Absolute, as Heat answers: python-heatclient strips its endpoint from the Location.
    target = f"{request.host_url.rstrip('/')}{request.script_root}/v1/{project}/stacks/{stack.name}/{stack.id}"
    target += f"/{sub}" if sub else ""
    target += f"/{rest}" if rest else ""
    if request.query_string:
        target += "?" + request.query_string.decode()
    return redirect(target, code=302)


def _identity(project: str, name: str, stack_id) -> str:
    stack = service().find_stack(project, str(stack_id), by_id_only=True)
    if stack.name != name:
        from engine.errors import NotFound
        raise NotFound(f"stack '{name}/{stack_id}' not found")
    return stack.id


@blueprint.get("/stacks/<name>/<uuid:stack_id>")
def show_stack(project: str, name: str, stack_id):
    resolve = request.args.get("resolve_outputs", "true").lower() not in ("false", "0", "no")
    return jsonify({"stack": service().show_stack(project, _identity(project, name, stack_id), resolve)})


@blueprint.delete("/stacks/<name>/<uuid:stack_id>")
def delete_stack(project: str, name: str, stack_id):
    service().delete_stack(project, _identity(project, name, stack_id))
    return "", 204


@blueprint.get("/stacks/<name>/<uuid:stack_id>/resources")
def list_resources(project: str, name: str, stack_id):
    return jsonify({"resources": service().list_resources(project, _identity(project, name, stack_id))})


@blueprint.get("/stacks/<name>/<uuid:stack_id>/resources/<resource>")
def show_resource(project: str, name: str, stack_id, resource: str):
    return jsonify({"resource": service().show_resource(project, _identity(project, name, stack_id), resource)})


@blueprint.get("/stacks/<name>/<uuid:stack_id>/events")
@blueprint.get("/stacks/<name>/<uuid:stack_id>/resources/<resource>/events")
def list_events(project: str, name: str, stack_id, resource: str | None = None):
    events = service().list_events(project, _identity(project, name, stack_id),
                                   marker=request.args.get("marker"), limit=int_arg("limit", None, 1),
                                   sort_dir=request.args.get("sort_dir", "asc"),
                                   wait=int_arg("wait", 0) or 0, resource=resource)
    return jsonify({"events": events})


@blueprint.get("/stacks/<name>/<uuid:stack_id>/resources/<resource>/events/<event_id>")
def show_event(project: str, name: str, stack_id, resource: str, event_id: str):
    return jsonify({"event": service().show_event(project, _identity(project, name, stack_id), resource, event_id)})


@blueprint.get("/stacks/<name>/<uuid:stack_id>/outputs")
def list_outputs(project: str, name: str, stack_id):
    return jsonify({"outputs": service().list_outputs(project, _identity(project, name, stack_id))})


@blueprint.get("/stacks/<name>/<uuid:stack_id>/outputs/<key>")
def show_output(project: str, name: str, stack_id, key: str):
    return jsonify({"output": service().show_output(project, _identity(project, name, stack_id), key)})


@blueprint.get("/stacks/<name>/<uuid:stack_id>/template")
def show_template(project: str, name: str, stack_id):
    stack = service().find_stack(project, _identity(project, name, stack_id), by_id_only=True)
    return jsonify(stack.template)
