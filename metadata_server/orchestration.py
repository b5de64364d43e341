"""Stack views of Heat's v1 API: each calls `service().stacks`, `.operations`, `.previews` or
`.admin` (a stack's delegations) and touches nothing else.

Orchestration blueprint: Heat's v1 API paths and shapes, so python-heatclient can drive Hearth.

This module serves the stacks themselves; resources, events and outputs are in
orchestration_resources, resource types, template versions and validation in
orchestration_catalog (registered below as nested blueprints under the same prefix).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, g, jsonify, redirect, request

from engine.errors import HTTPBadRequest
from engine.service import Caller
from metadata_server import (
    orchestration_catalog,
    orchestration_convergence,
    orchestration_facts,
    orchestration_resources,
    orchestration_software,
)
from metadata_server.requests_ import integer_arg, json_body, number_arg, service
from metadata_server.v1_request import (
    arn_path,
    bool_arg,
    filter_args,
    list_arg,
    object_body,
    stack_id,
)

blueprint = Blueprint("orchestration", __name__, url_prefix="/v1/<project>")
blueprint.register_blueprint(orchestration_resources.blueprint)
blueprint.register_blueprint(orchestration_catalog.blueprint)
blueprint.register_blueprint(orchestration_software.blueprint)
blueprint.register_blueprint(orchestration_facts.blueprint)
blueprint.register_blueprint(orchestration_convergence.blueprint)

# Sub-paths of a stack that the name -> id redirect serves (Hearth: every method, any depth).
SUBPATHS = "resources,events,outputs,template,environment,files,actions,preview,abandon,facts,event_sinks,convergence"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ACTIONS = ("suspend", "resume", "check", "cancel_update", "cancel_without_rollback")
LIST_FILTERS = (
    "id",
    "name",
    "status",
    "action",
    "stack_name",
    "stack_status",
    "stack_action",
    "parent",
    "owner_id",
    "tenant",
    "project",
    "username",
)
LIST_BOOLEANS = ("show_deleted", "show_nested", "show_hidden")
LIST_TAGS = ("tags", "tags_any", "not_tags", "not_tags_any")
ONE = "/stacks/<name>/<uuid:uuid>"


@blueprint.get("/events")
def event_stream(project: str):
    """The project's event stream (docs/events.md): the events numbered above `since`, oldest
    first; `wait` long-polls for the next ones. The ASGI front serves `wait` without holding a
    thread, and `Accept: text/event-stream` as Server-Sent Events (metadata_server/event_stream.py)."""
    return jsonify(
        service().events.read(
            project,
            since=integer_arg("since", 0),
            limit=integer_arg("limit", None),
            wait=number_arg("wait"),
        )
    )


@blueprint.post("/stacks")
def create_stack(project: str):
    """Create the stack and, in its transaction, the delegation the engine later acts under
    (Heat's trust)."""
    stack = service().stacks.create_stack(project, object_body(), username=g.principal.user_name, delegate=g.principal)
    return jsonify({"stack": stack}), 201


@blueprint.post("/stacks/preview")
def preview_create(project: str):
    return jsonify(service().previews.preview_create(project, object_body(), username=g.principal.user_name))


@blueprint.get("/stacks")
def list_stacks(project: str):
    filters: dict[str, Any] = filter_args(LIST_FILTERS)
    filters.update({key: bool_arg(key) for key in LIST_BOOLEANS if key in request.args})
    filters.update({key: list_arg(key) for key in LIST_TAGS if key in request.args})
    if "sort_keys" in request.args:
        filters["sort_keys"] = list_arg("sort_keys")
    for key in ("sort_dir", "marker"):
        if request.args.get(key):
            filters[key] = request.args[key]
    if request.args.get("limit"):
        filters["limit"] = integer_arg("limit")
    stacks = service().stacks.list_stacks(project, filters=filters)
    answer: dict = {"stacks": stacks}
    if filters.get("limit") and stacks and len(stacks) == filters["limit"]:
        # Heat's next page: the same query, with the last stack as the marker.
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "marker"]
        query.append(("marker", stacks[-1]["id"]))
        answer["links"] = [
            {
                "href": f"{request.host_url.rstrip('/')}{request.script_root}{request.path}?{urlencode(query)}",
                "rel": "next",
            }
        ]
    return jsonify(answer)


@blueprint.route("/stacks/<name_or_id>", methods=METHODS)
@blueprint.route(f"/stacks/<name_or_id>/<any({SUBPATHS}):sub>", methods=METHODS)
@blueprint.route(f"/stacks/<name_or_id>/<any({SUBPATHS}):sub>/<path:rest>", methods=METHODS)
def lookup(project: str, name_or_id: str, sub: str | None = None, rest: str | None = None):
    """Heat's name → identity redirect, for every method and sub-path, keeping the query."""
    stack = service().stacks.find_stack(project, name_or_id)
    # Absolute, as Heat answers: python-heatclient strips its endpoint from the Location.
    target = f"{request.host_url.rstrip('/')}{request.script_root}/v1/{project}/stacks/{stack.name}/{stack.id}"
    target += f"/{sub}" if sub else ""
    target += f"/{rest}" if rest else ""
    if request.query_string:
        target += "?" + request.query_string.decode()
    return redirect(target, code=302)


@blueprint.route("/stacks/arn:<path:rest>", methods=METHODS)
def lookup_arn(project: str, rest: str):
    """A stack's ARN (what get_resource gives of a nested stack's owner), with any sub-path
    after it: Heat redirects to the URL it names without looking the stack up."""
    path = arn_path("arn:" + rest)
    if path is None:  # Heat then takes the whole text as a stack's name
        return lookup(project, "arn:" + rest)
    target = f"{request.host_url.rstrip('/')}{request.script_root}/v1/{path}"
    if request.query_string:
        target += "?" + request.query_string.decode()
    return redirect(target, code=302)


@blueprint.get(ONE)
def show_stack(project: str, name: str, uuid):
    resolve = bool_arg("resolve_outputs", True)
    return jsonify({"stack": service().stacks.show_stack(project, stack_id(project, name, uuid), resolve)})


@blueprint.route(ONE, methods=["PUT", "PATCH"])
def update_stack(project: str, name: str, uuid):
    service().operations.update_stack(
        project, stack_id(project, name, uuid), object_body(), patch=request.method == "PATCH"
    )
    return "", 202


@blueprint.route(f"{ONE}/preview", methods=["PUT", "PATCH"])
def preview_update(project: str, name: str, uuid):
    return jsonify(
        service().previews.preview_update(
            project,
            stack_id(project, name, uuid),
            object_body(),
            patch=request.method == "PATCH",
            show_nested=bool_arg("show_nested"),
        )
    )


@blueprint.delete(ONE)
def delete_stack(project: str, name: str, uuid):
    """Delete the stack; its delegations end with it (the delete itself was asked for by the
    user, so a delete resumed after a restart does not need them)."""
    found = stack_id(project, name, uuid)
    service().stacks.delete_stack(project, found)
    service().admin.revoke_stack_delegations(Caller(g.principal.user_name, request.remote_addr), found)
    return "", 204


@blueprint.delete(f"{ONE}/abandon")
def abandon_stack(project: str, name: str, uuid):
    return jsonify(service().operations.abandon_stack(project, stack_id(project, name, uuid)))


@blueprint.post(f"{ONE}/actions")
def stack_action(project: str, name: str, uuid):
    """The body names one action: `{"suspend": null}`, `{"cancel_update": null}`, ..."""
    body = json_body()
    if not isinstance(body, dict) or not body:
        raise HTTPBadRequest(
            "the body must be a map with exactly one of the actions: "
            + ", ".join(ACTIONS)
            + ' (for example {"suspend": null})'
        )
    if len(body) != 1:
        raise HTTPBadRequest("Multiple actions specified")
    if next(iter(body)) not in ACTIONS:
        raise HTTPBadRequest(f"Invalid action {next(iter(body))} specified")
    service().operations.stack_action(project, stack_id(project, name, uuid), next(iter(body)))
    return "", 200


@blueprint.get(f"{ONE}/template")
def show_template(project: str, name: str, uuid):
    return jsonify(service().stacks.find_stack(project, stack_id(project, name, uuid), by_id_only=True).template)


@blueprint.get(f"{ONE}/environment")
def show_environment(project: str, name: str, uuid):
    return jsonify(service().stacks.show_environment(project, stack_id(project, name, uuid)))


@blueprint.get(f"{ONE}/files")
def show_files(project: str, name: str, uuid):
    return jsonify(service().stacks.show_files(project, stack_id(project, name, uuid)))
