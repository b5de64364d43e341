"""service.previews, Heat's stack and update previews: reads stack and resource rows only.

What a create or an update would do, in the shapes of Heat's stack preview and update preview.

Heat previews by building the new stack in memory: every resource of the new template is shown
as it would be before it is made (INIT, no physical id, attributes from its properties alone),
a nested stack as the list of its own resources; a resource the update would update in place or
delete is shown as it is now. With `show_nested`, an update preview also lists what changes
inside nested stacks: every resource of a nested stack deleted or replaced as deleted, every
resource of one added or replaced as added, and a nested stack updated compared resource by
resource, as Heat's preview_update_stack does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine import views
from engine.errors import StackExists
from engine.orchestration.changes import (
    changed_in_place,
    property_digests,
    replaced_when_failed,
    type_identity,
)
from engine.orchestration.definitions import Definition, Resolver
from engine.orchestration.scheduler import Scheduler
from engine.resources.heat_stack import REMOTE_STACK_TYPES
from engine.runtime import Runtime, iso
from engine.service.definitions import Definitions, parse_tags
from engine.service.operations import Operations
from engine.service.stacks import Stacks
from engine.store.models import Resource as ResourceRow, Stack

KINDS = ("added", "deleted", "replaced", "unchanged", "updated")


def identity(stack_name: str, stack_id: str, project: str, path: str = "") -> dict[str, str]:
    return {"stack_name": stack_name, "stack_id": stack_id, "tenant": project, "path": path}


def unmade(
    stack: Stack,
    name: str,
    type_name: str,
    cls,
    properties: dict,
    metadata: Any,
    required_by: list[str],
    *,
    with_properties: bool,
) -> dict:
    """A resource of the new template, as Heat shows one it has not made yet."""
    entry = {
        "resource_name": name,
        "resource_type": type_name,
        "resource_action": "INIT",
        "resource_status": "COMPLETE",
        "resource_status_reason": "",
        "physical_resource_id": "",
        "attributes": cls.preview_attributes(properties) if cls is not None else {},
        "creation_time": None,
        "updated_time": None,
        "description": "",
        "links": [],
        "metadata": metadata or {},
        "required_by": sorted(required_by),
        "resource_identity": identity(stack.name, stack.id, stack.project, f"/resources/{name}"),
        "stack_identity": identity(stack.name, stack.id, stack.project),
        "stack_name": stack.name,
    }
    if with_properties:
        entry["properties"] = properties
    if stack.owner_resource:
        entry["parent_resource"] = stack.owner_resource
    return entry


def existing(
    stack: Stack, row: ResourceRow, metadata: Any, required_by: list[str] | None = None, nested: Stack | None = None
) -> dict:
    """A resource the update would delete or update in place, as it is now."""
    entry = {
        "resource_name": row.name,
        "resource_type": row.type,
        "resource_action": row.action,
        "resource_status": row.status,
        "resource_status_reason": row.status_reason or "",
        "physical_resource_id": row.physical_id or "",
        "attributes": views.shown_attributes(row.attributes),
        "creation_time": iso(row.created_at),
        "updated_time": iso(row.updated_at or row.created_at),
        "description": "",
        "links": [],
        "metadata": metadata or {},
        "required_by": sorted(required_by or []),
        "resource_identity": identity(stack.name, stack.id, stack.project, f"/resources/{row.name}"),
        "stack_identity": identity(stack.name, stack.id, stack.project),
        "stack_name": stack.name,
    }
    if nested is not None:
        entry["nested_stack_id"] = identity(nested.name, nested.id, nested.project)
    if stack.owner_resource:
        entry["parent_resource"] = stack.owner_resource
    return entry


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


class Previews:
    """`service.previews`: Heat's stack preview and update preview; nothing is stored."""

    def __init__(
        self, runtime: Runtime, scheduler: Scheduler, definitions: Definitions, stacks: Stacks, operations: Operations
    ):
        self.runtime = runtime
        self.scheduler = scheduler
        self.definitions = definitions
        self.stacks = stacks
        self.operations = operations
        self.types = definitions.types

    # Update preview -----------------------------------------------------------------------
    def preview_update(
        self, project: str, stack_id: str, body: dict[str, Any], *, patch: bool, show_nested: bool = False
    ) -> dict:
        """What an update would do, resource by resource, as Heat's preview answers it."""
        stack = self.stacks.live_stack(project, stack_id)
        self.definitions.check_template_size(body)
        definition = self.operations.update_definition(stack, body, patch)
        self.definitions.check_stack_limits(definition)
        self.definitions.validate_resources(definition, stack)
        self.definitions.check_nesting(definition)
        changes: dict[str, list] = {kind: [] for kind in KINDS}
        current = self.definitions.get(stack)
        # Heat shows the new top-level stack under the current one's name and id.
        self._preview_stack(changes, stack, current, stack, definition, show_nested)
        return {"resource_changes": changes}

    def _preview_stack(
        self,
        changes: dict,
        stack: Stack,
        current: Definition,
        new_stack: Stack,
        definition: Definition,
        show_nested: bool,
    ) -> None:
        """Add what updating `stack` (now `current`) to `definition` would do; with
        `show_nested`, what it would do inside the nested stacks too."""
        rows = self._rows(stack)
        # As Heat's preview: the new stack is resolved before anything of it exists, so what
        # reads another resource's attribute shows as updated.
        planned = self.stacks.resolver_for(new_stack, definition, nothing_exists)
        kinds = self._update_kinds(stack, definition, rows, planned)
        new_required, old_required = required_by(definition), required_by(current)
        for kind in ("added", "replaced", "unchanged"):
            changes[kind] += [
                self._planned_entry(new_stack, definition, planned, name, new_required[name]) for name in kinds[kind]
            ]
        for kind in ("updated", "deleted"):  # Heat shows these as they are now
            changes[kind] += [
                self._existing_entry(stack, current, rows[name], old_required.get(name, [])) for name in kinds[kind]
            ]
        if not show_nested:
            return
        for name in kinds["deleted"] + kinds["replaced"]:
            self._nested_deleted(changes, stack, rows[name])
        for name in kinds["added"] + kinds["replaced"]:
            if (child := self._planned_child(new_stack, definition, planned, name)) is not None:
                self._nested_added(changes, *child)
        for name in kinds["updated"]:
            old = self._child(stack, rows[name])
            new = self._planned_child(new_stack, definition, planned, name)
            if old is not None and new is not None:
                self._preview_stack(changes, old, self.definitions.get(old), *new, show_nested=True)

    def _nested_deleted(self, changes: dict, stack: Stack, row: ResourceRow) -> None:
        """Every resource of the nested stack `row` owns (and of theirs) as deleted."""
        child = self._child(stack, row)
        if child is None:
            return
        definition = self.definitions.get(child)
        rows = self._rows(child)
        needed = required_by(definition)
        for name in definition.template.resources:
            if name in rows:
                changes["deleted"].append(self._existing_entry(child, definition, rows[name], needed[name]))
                self._nested_deleted(changes, child, rows[name])

    def _nested_added(self, changes: dict, stack: Stack, definition: Definition) -> None:
        """Every resource of a nested stack not made yet (and of theirs) as added."""
        planned = self.stacks.resolver_for(stack, definition, nothing_exists)
        needed = required_by(definition)
        for name in definition.template.resources:
            changes["added"].append(self._planned_entry(stack, definition, planned, name, needed[name]))
            if (child := self._planned_child(stack, definition, planned, name)) is not None:
                self._nested_added(changes, *child)

    def _update_kinds(
        self, stack: Stack, definition: Definition, rows: dict[str, ResourceRow], resolver
    ) -> dict[str, list]:
        kinds: dict[str, list] = {kind: [] for kind in KINDS}
        for name in definition.template.resources:
            row = rows.get(name)
            kind = "added"
            if row is not None and row.action != "INIT" and not (row.action == "DELETE" and row.status == "COMPLETE"):
                kind = self._change_kind(stack, definition, name, row, resolver)
            kinds[kind].append(name)
        kinds["deleted"] = [
            name for name, row in rows.items() if name not in definition.template.resources and row.action != "INIT"
        ]
        return kinds

    def _change_kind(self, stack: Stack, definition: Definition, name: str, row: ResourceRow, resolver) -> str:
        template = definition.template
        resource = template.resources[name]
        try:
            cls = definition.resource_class(self.types, name)
            failed = row.status == "FAILED" and replaced_when_failed(
                cls, row.action, self._child(stack, row) is not None
            )
            if failed or cls.replace_on_every_update:
                return "replaced"
            properties = cls.check_properties(
                template.resolve(resource.properties, resolver, ("resources", name, "properties"))
            )
            metadata = template.resolve(resource.metadata, resolver, ("resources", name, "metadata"))
        except Exception:  # noqa: BLE001 - depends on something not there yet: it will change
            return "updated"
        digests = property_digests(self.runtime.keyring, type_identity(cls, resource.type), properties, metadata)
        engine = row.engine or {}
        # A failed stack resource kept is compared with what it last was to be.
        old = engine.get("digests") or (engine.get("pending") if row.status == "FAILED" else None) or {}
        changed = {k for k in digests.keys() | old.keys() if digests.get(k) != old.get(k)}
        if cls.ignores_changes and "__type__" not in changed:
            return "unchanged"
        if not changed:
            # Heat updates a nested stack on every update; its own resources decide.
            return "updated" if getattr(cls, "update_on_every_update", False) else "unchanged"
        return "updated" if changed_in_place(cls, changed, properties) else "replaced"

    def _rows(self, stack: Stack) -> dict[str, ResourceRow]:
        with self.runtime.store.session() as session:
            return {r.name: r for r in session.scalars(select(ResourceRow).where(ResourceRow.stack_id == stack.id))}

    def _child(self, stack: Stack, row: ResourceRow) -> Stack | None:
        """The nested stack `row` owns now, if any (a remote stack is not one, as in Heat)."""
        if not row.physical_id or row.type in REMOTE_STACK_TYPES:
            return None
        with self.runtime.store.session() as session:
            child = session.get(Stack, row.physical_id)
        if child is None or child.owner_id != stack.id or child.deleted_at is not None:
            return None
        return child

    def _existing_entry(self, stack: Stack, definition: Definition, row: ResourceRow, needed: list[str]) -> dict:
        resource = definition.template.resources.get(row.name)
        return existing(
            stack, row, resource.metadata if resource is not None else {}, needed, nested=self._child(stack, row)
        )

    def _planned_entry(
        self,
        stack: Stack,
        definition: Definition,
        resolver,
        name: str,
        required_by: list[str],
        with_properties: bool = False,
    ) -> dict:
        resource = definition.template.resources[name]
        try:
            cls = definition.resource_class(self.types, name)
        except Exception:  # noqa: BLE001 - validated already; a preview shows what it can
            cls = None
        properties = planned_properties(definition, resolver, name, cls)
        return unmade(
            stack, name, resource.type, cls, properties, resource.metadata, required_by, with_properties=with_properties
        )

    def _planned_child(
        self, stack: Stack, definition: Definition, resolver, name: str
    ) -> tuple[Stack, Definition] | None:
        """The nested stack resource `name` of the new template would make, as Heat's preview
        builds it (named `<stack>-<resource>`, no id); None when it makes none."""
        from engine.resources.base import ResourceState
        from engine.resources.stack_resource import Parent, StackResource, child_environment

        try:
            cls = definition.resource_class(self.types, name)
            if not issubclass(cls, StackResource) or definition.template.resources[name].type in REMOTE_STACK_TYPES:
                return None
            properties = planned_properties(definition, resolver, name, cls)
            environment = {
                "resource_registry": dict(definition.environment.resource_registry),
                "parameter_defaults": dict(definition.environment.parameter_defaults),
            }
            state = ResourceState(
                stack_id=stack.id,
                stack_name=stack.name,
                project=stack.project,
                name=name,
                type=definition.template.resources[name].type,
                physical_id=None,
                data={},
                attributes={},
                stack_deadline=None,
            )
            instance = cls(self.runtime, state, cls.check_properties(properties))
            nested = instance.nested(Parent(files=definition.files, environment=environment))
            child = self.definitions.build(
                {
                    "template": nested.template,
                    "template_name": nested.template_name,
                    "files": definition.files,
                    "parameters": nested.parameters,
                    "environment": child_environment(environment, name, cls.registry_value),
                }
            )
        except Exception:  # noqa: BLE001 - a nested template a preview cannot build shows as itself
            return None
        child_stack = Stack(
            id="None",
            name=f"{stack.name}-{name}",
            project=stack.project,
            template=child.template.raw,
            action="INIT",
            status="COMPLETE",
            owner_id=stack.id,
            owner_resource=name,
        )
        return child_stack, child

    # Create preview -----------------------------------------------------------------------
    def _planned_resources(self, stack: Stack, definition: Definition) -> list:
        """A create preview's resources; a nested stack is the list of its own (Heat's shape)."""
        planned = self.stacks.resolver_for(stack, definition, nothing_exists)
        needed = required_by(definition)
        resources: list = []
        for name in definition.template.resources:
            child = self._planned_child(stack, definition, planned, name)
            resources.append(
                self._planned_resources(*child)
                if child is not None
                else self._planned_entry(stack, definition, planned, name, needed[name], with_properties=True)
            )
        return resources

    def preview_create(self, project: str, body: dict[str, Any], username: str | None = None) -> dict:
        """What a create would make, as Heat's stack preview answers it (nothing is stored)."""
        name = self.definitions.stack_name(body)
        with self.runtime.store.session() as session:
            if session.scalar(
                select(Stack.id).where(Stack.project == project, Stack.name == name, Stack.deleted_at.is_(None))
            ):
                raise StackExists(name)
        self.definitions.check_template_size(body)
        definition = self.definitions.build(body)
        self.definitions.check_stack_limits(definition)
        template = definition.template
        stack = Stack(
            id="None",
            name=name,
            project=project,
            template=template.raw,
            username=username,
            tags=parse_tags(body.get("tags") or []),
            requested_timeout_mins=body.get("timeout_mins"),
            disable_rollback=bool(body.get("disable_rollback", True)),
            action="INIT",
            status="COMPLETE",
            status_reason="",
        )
        self.definitions.validate_resources(definition, stack)  # as a create checks the values
        self.definitions.check_nesting(definition)
        resources = self._planned_resources(stack, definition)
        outputs = [
            {"output_key": k, "description": o.description or "No description given", "output_value": None}
            for k, o in template.outputs.items()
        ]
        shown = views.stack_detail(
            stack, self.runtime.api_url, definition.parameters, definition.secret_parameters, outputs
        )
        for key in ("id", "stack_status", "stack_status_reason", "links"):
            shown.pop(key, None)
        # Heat's preview stack: not stored, so no id, no project of a stack user, a time of now.
        shown.update(
            {
                "id": "None",
                "stack_user_project_id": None,
                "parent": None,
                "creation_time": iso(self.runtime.now()),
                "resources": resources,
            }
        )
        return {"stack": shown}
