"""Render stacks, resources, events and outputs in the JSON shapes of Heat's v1 API."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from engine.stacks import pseudo_parameters
from engine.store.models import Event, Resource, Stack
from engine.store.crypto import is_encrypted

HIDDEN = "******"


def new_id() -> str:
    return str(uuid.uuid4())


def iso(moment: dt.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def stack_link(base: str, stack: Stack) -> str:
    return f"{base}/v1/{stack.project}/stacks/{stack.name}/{stack.id}"


def stack_summary(stack: Stack, base: str) -> dict[str, Any]:
    return {
        "id": stack.id, "stack_name": stack.name, "description": stack.description,
        "stack_status": f"{stack.action}_{stack.status}", "stack_status_reason": stack.status_reason,
        "creation_time": iso(stack.created_at), "updated_time": iso(stack.updated_at),
        "deletion_time": iso(stack.deleted_at), "project": stack.project,
        "stack_user_project_id": stack.project, "parent": stack.owner_id, "stack_owner": None,
        "tags": list(stack.tags) if stack.tags else None, "links": [{"href": stack_link(base, stack), "rel": "self"}],
    }


def stack_detail(stack: Stack, base: str, parameters: dict[str, Any], hidden: set[str],
                 outputs: list[dict]) -> dict[str, Any]:
    shown = {k: (HIDDEN if k in hidden else _param_text(v)) for k, v in parameters.items()}
    shown.update(pseudo_parameters(stack))
    return {**stack_summary(stack, base), "parameters": shown, "outputs": outputs,
            "timeout_mins": int(stack.timeout_mins) if stack.timeout_mins == int(stack.timeout_mins)
            else stack.timeout_mins, "disable_rollback": stack.disable_rollback,
            "template_description": stack.description, "capabilities": [],
            "notification_topics": []}


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, bool):
        return str(value)  # Heat prints a boolean parameter as Python does: True, False
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def resource_view(row: Resource, stack: Stack, base: str, required_by: list[str]) -> dict[str, Any]:
    link = stack_link(base, stack)
    return {
        "resource_name": row.name, "logical_resource_id": row.name,
        "physical_resource_id": row.physical_id or "", "resource_type": row.type,
        "resource_status": f"{row.action}_{row.status}", "resource_status_reason": row.status_reason,
        "creation_time": iso(row.created_at), "updated_time": iso(row.updated_at),
        "required_by": required_by,
        "links": [{"href": f"{link}/resources/{row.name}", "rel": "self"}, {"href": link, "rel": "stack"}],
    }


def event_view(event: Event, stack: Stack, base: str) -> dict[str, Any]:
    link = stack_link(base, stack)
    return {
        "id": event.id, "event_time": iso(event.created_at), "resource_name": event.resource_name,
        "logical_resource_id": event.resource_name, "physical_resource_id": event.physical_id or "",
        "resource_status": f"{event.action}_{event.status}", "resource_status_reason": event.reason,
        "resource_type": event.resource_type,
        "links": [{"href": f"{link}/resources/{event.resource_name}/events/{event.id}", "rel": "self"},
                  {"href": f"{link}/resources/{event.resource_name}", "rel": "resource"},
                  {"href": link, "rel": "stack"}],
    }


def masked(value: Any) -> Any:
    """`value` as the API shows it: every sealed (encrypted at rest) part replaced by HIDDEN."""
    if is_encrypted(value):
        return HIDDEN
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def shown_attributes(attributes: dict) -> dict:
    """A resource's stored attributes as the API shows them: sealed values (a signed URL kept
    encrypted at rest) appear as HIDDEN; get_attr still gives them opened."""
    return masked(dict(attributes or {}))

