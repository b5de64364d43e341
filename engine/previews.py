"""What a create or an update would do, in the shapes of Heat's stack preview and update preview.

Heat previews by building the new stack in memory: every resource of the new template is shown
as it would be before it is made (INIT, no physical id, attributes from its properties alone),
a nested stack as the list of its own resources; only a resource the update would delete is
shown as it is now.
"""
from __future__ import annotations

from typing import Any

from engine import views
from engine.stacks import Definition, Resolver
from engine.store.models import Resource as ResourceRow, Stack


def identity(stack_name: str, stack_id: str, project: str, path: str = "") -> dict[str, str]:
    return {"stack_name": stack_name, "stack_id": stack_id, "tenant": project, "path": path}


def unmade(stack: Stack, name: str, type_name: str, cls, properties: dict, metadata: Any,
           required_by: list[str], *, with_properties: bool, parent: str | None = None) -> dict:
    """A resource of the new template, as Heat shows one it has not made yet."""
    entry = {"resource_name": name, "resource_type": type_name, "resource_action": "INIT",
             "resource_status": "COMPLETE", "resource_status_reason": "", "physical_resource_id": "",
             "attributes": cls.preview_attributes(properties) if cls is not None else {},
             "creation_time": None, "updated_time": None, "description": "", "links": [],
             "metadata": metadata or {}, "required_by": sorted(required_by),
             "resource_identity": identity(stack.name, stack.id, stack.project, f"/resources/{name}"),
             "stack_identity": identity(stack.name, stack.id, stack.project), "stack_name": stack.name}
    if with_properties:
        entry["properties"] = properties
    if parent is not None:
        entry["parent_resource"] = parent
    return entry


def existing(stack: Stack, row: ResourceRow, metadata: Any, required_by: list[str] | None = None) -> dict:
    """A resource the update would delete or update in place, as it is now."""
    return {"resource_name": row.name, "resource_type": row.type, "resource_action": row.action,
            "resource_status": row.status, "resource_status_reason": row.status_reason or "",
            "physical_resource_id": row.physical_id or "",
            "attributes": views.shown_attributes(row.attributes), "creation_time": views.iso(row.created_at),
            "updated_time": views.iso(row.updated_at or row.created_at), "description": "", "links": [],
            "metadata": metadata or {}, "required_by": sorted(required_by or []),
            "resource_identity": identity(stack.name, stack.id, stack.project, f"/resources/{row.name}"),
            "stack_identity": identity(stack.name, stack.id, stack.project), "stack_name": stack.name}


def planned_properties(definition: Definition, resolver: Resolver, name: str, cls) -> dict:
    """The resource's properties as they would be resolved before anything exists: every
    property of its schema, an attribute of another resource as null."""
    template = definition.template
    resource = template.resources[name]
    try:
        raw = template.resolve(resource.properties, resolver, ("resources", name, "properties"))
    except Exception:  # noqa: BLE001 - what cannot be known yet shows as nothing
        raw = {}
    if cls is None or getattr(cls, "open_properties", False):
        return dict(raw or {})
    return {key: (raw or {}).get(key, prop.default) for key, prop in cls.properties_schema.items()}


def nothing_exists(name: str):
    return None


def required_by(definition: Definition) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {n: [] for n in definition.template.resources}
    for name, deps in definition.template.dependencies().items():
        for dep in deps:
            result.setdefault(dep, []).append(name)
    return result
