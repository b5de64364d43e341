"""Render stacks, resources, events, outputs and software deployments (rows it is given) in the
JSON shapes of Heat's v1 API; pure: opens no session and touches nothing."""

from __future__ import annotations

import json
from typing import Any

from engine.orchestration.definitions import is_cfn, shown_pseudo_parameters
from engine.runtime import iso
from engine.secrets import HIDDEN, masked
from engine.store.models import Deployment, Event, Resource, Stack


def stack_link(base: str, stack: Stack) -> str:
    return f"{base}/v1/{stack.project}/stacks/{stack.name}/{stack.id}"


def _common(stack: Stack, base: str) -> dict[str, Any]:
    return {
        "id": stack.id,
        "stack_name": stack.name,
        "links": [{"href": stack_link(base, stack), "rel": "self"}],
        "stack_status": f"{stack.action}_{stack.status}",
        "stack_status_reason": stack.status_reason,
        "creation_time": iso(stack.created_at),
        "updated_time": iso(stack.updated_at),
        "deletion_time": iso(stack.deleted_at or stack.resources_deleted_at),
        "stack_owner": stack.username,
        "stack_user_project_id": stack.project,
        "parent": stack.owner_id,
    }


def stack_summary(stack: Stack, base: str) -> dict[str, Any]:
    """A stack in a list, as Heat lists it: no template description, tags None when none."""
    return {
        **_common(stack, base),
        "description": "",
        "project": stack.project,
        "tags": list(stack.tags) if stack.tags else None,
    }


def template_description(template: dict | None) -> str:
    """The template's description as Heat shows it ("No description" when it has none)."""
    key = "Description" if is_cfn(template) else "description"
    value = (template or {}).get(key, "No description")
    return value if isinstance(value, str) else str(value)


def stack_detail(
    stack: Stack, base: str, parameters: dict[str, Any], hidden: set[str], outputs: list[dict] | None
) -> dict[str, Any]:
    """A stack as Heat's stack show gives it. `outputs` None leaves the key out (a deleted stack)."""
    shown = {k: (HIDDEN if k in hidden else parameter_text(v)) for k, v in parameters.items()}
    shown.update(shown_pseudo_parameters(stack))
    timeout = stack.requested_timeout_mins
    description = template_description(stack.template)
    detail = {
        **_common(stack, base),
        "description": description,
        "template_description": description,
        "parameters": shown,
        "tags": list(stack.tags or []),
        "timeout_mins": int(timeout) if timeout is not None and timeout == int(timeout) else timeout,
        "disable_rollback": stack.disable_rollback,
        "capabilities": [],
        "notification_topics": [],
    }
    if outputs is not None:
        detail["outputs"] = outputs
    return detail


def parameter_text(value: Any) -> str:
    """A parameter's value as Heat's stack show prints it: Python's str() of the typed value,
    a list joined with commas, JSON as JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def resource_view(
    row: Resource, stack: Stack, base: str, required_by: list[str], nested: Stack | None = None
) -> dict[str, Any]:
    """A resource as Heat lists it: a `nested` link when it owns a nested stack, and
    `parent_resource` when its own stack is a nested one."""
    link = stack_link(base, stack)
    links = [{"href": f"{link}/resources/{row.name}", "rel": "self"}, {"href": link, "rel": "stack"}]
    if nested is not None:
        links.append({"href": stack_link(base, nested), "rel": "nested"})
    view = {
        "resource_name": row.name,
        "logical_resource_id": row.name,
        "physical_resource_id": row.physical_id or "",
        "resource_type": row.type,
        "resource_status": f"{row.action}_{row.status}",
        "resource_status_reason": row.status_reason,
        "creation_time": iso(row.created_at),
        "updated_time": iso(row.updated_at or row.created_at),
        "required_by": required_by,
        "links": links,
    }
    if stack.owner_resource:
        view["parent_resource"] = stack.owner_resource
    return view


def event_view(
    event: Event, stack: Stack, base: str, detail: bool = False, root: Stack | None = None
) -> dict[str, Any]:
    """An event as Heat lists it; `detail` (one event's show) adds its resource type; `root`
    (a listing with nested_depth) adds the link to the root stack."""
    link = stack_link(base, stack)
    roots = [{"href": stack_link(base, root), "rel": "root_stack"}] if root is not None else []
    view = {
        "id": event.id,
        "event_time": iso(event.created_at),
        "resource_name": event.resource_name,
        "logical_resource_id": event.resource_name,
        "physical_resource_id": event.physical_id or "",
        "resource_status": f"{event.action}_{event.status}",
        "resource_status_reason": event.reason,
        "links": [
            {"href": f"{link}/resources/{event.resource_name}/events/{event.id}", "rel": "self"},
            {"href": f"{link}/resources/{event.resource_name}", "rel": "resource"},
            {"href": link, "rel": "stack"},
        ]
        + roots,
    }
    if detail:
        view["resource_type"] = event.resource_type
    return view


def stream_event_view(event: Event, stack: Stack, base: str) -> dict[str, Any]:
    """An event as the project's event stream gives it (docs/events.md): Heat's event fields and
    its resource type, plus its number in the project's sequence, its operation and its stack."""
    return {
        **event_view(event, stack, base, detail=True),
        "sequence": event.project_seq,
        "operation": event.operation,
        "project": event.project,
        "stack_id": stack.id,
        "stack_name": stack.name,
    }


def shown_attributes(attributes: dict) -> dict:
    """A resource's stored attributes as the API shows them: sealed values (a signed URL kept
    encrypted at rest) appear as HIDDEN; get_attr still gives them opened."""
    return masked(dict(attributes or {}))


def deployment_view(row: Deployment) -> dict:
    """Heat's format_software_deployment. An action or status never set is stored as "" and
    shown null, as Heat shows it; so are output values before any arrived."""
    view = {
        "id": row.id,
        "server_id": row.server_id,
        "config_id": row.config_id,
        "input_values": masked(dict(row.input_values or {})),
        "output_values": masked(dict(row.output_values)) if row.output_values else None,
        "action": row.action or None,
        "status": row.status or None,
        "status_reason": row.status_reason,
        "creation_time": iso(row.created_at),
    }
    if row.updated_at:
        view["updated_time"] = iso(row.updated_at)
    return view
