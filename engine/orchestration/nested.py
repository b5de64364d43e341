"""Nested stacks: owns the ChildStacks protocol handlers call and its implementation over the
facade's public stack operations; touches the store only to read stack and resource rows.

A nested stack is a real stack (its own row, resources and events) whose `owner_id` is the
parent stack and whose `owner_resource` is the resource that made it; its id is that
resource's physical id. When a nested stack's operation ends (COMPLETE or FAILED), the
scheduler wakes the owning resource, whose `check_waiting` then reads `state(child_id)`.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy import select

from engine import secrets
from engine.errors import HearthError, NotFound
from engine.limits import check_nested_stack
from engine.store.models import Resource, Stack

# The output a nested template may declare to set what get_resource answers for its owner.
STACK_ID_OUTPUT = "OS::stack_id"
# The request key naming the parameters whose values derive from a secret (engine.service).
SECRET_PARAMETERS = "_hearth_secret_parameters"


class ChildStacks(Protocol):
    """`runtime.stacks`: what a resource handler may do with the stacks it owns."""

    def create(
        self,
        parent_stack_id: str,
        resource: str,
        *,
        template: dict | str,
        files: dict[str, str] | None = None,
        environment: dict | None = None,
        parameters: dict[str, Any] | None = None,
        template_name: str = "template",
        timeout_mins: float | None = None,
        adopt_data: dict | None = None,
        shown_timeout: float | None = None,
        secret_parameters: frozenset[str] = frozenset(),
    ) -> str:
        """Start creating a nested stack; returns its id at once (the create runs on its own).

        `secret_parameters` name the parameters whose values derive from a secret (the owner's
        resolution says so): stored sealed and shown as ******, as hidden ones are.

        `environment` is the parent's merged environment as a dict (resource_registry,
        parameter_defaults), which nested stacks inherit as Heat's do. Template errors raise
        TemplateError naming the nested template's file.
        """

    def update(
        self,
        child_id: str,
        *,
        template: dict | str,
        files: dict[str, str] | None = None,
        environment: dict | None = None,
        parameters: dict[str, Any] | None = None,
        template_name: str = "template",
        timeout_mins: float | None = None,
        keep_environment: bool = False,
        shown_timeout: float | None = None,
        secret_parameters: frozenset[str] = frozenset(),
    ) -> None:
        """Start updating the nested stack to a new template and parameters; with
        `keep_environment`, to a new template only (its environment, files and parameters kept)."""

    def check_members(self, parent_stack_id: str, count: int, child_id: str | None = None) -> None:
        """Refuse (LimitExceeded) a nested stack of `count` resources in `parent_stack_id` (or
        `child_id`, updated) that the depth and resources limits would refuse once built."""

    def template(self, child_id: str) -> dict | None:
        """The nested stack's template as stored."""

    def delete(self, child_id: str) -> None:
        """Start deleting the nested stack; nothing happens if it is gone already."""

    def act(self, child_id: str, action: str) -> None:
        """Start SUSPEND, RESUME or CHECK on the nested stack."""

    def state(self, child_id: str) -> tuple[str, str, str] | None:
        """(action, status, reason) of the nested stack; None once it is deleted or unknown."""

    def show(self, child_id: str) -> dict | None:
        """The nested stack as stack show gives it."""

    def arn(self, child_id: str) -> str | None:
        """The nested stack's ARN (`arn:openstack:heat::PROJECT:stacks/NAME/ID`)."""

    def outputs(self, child_id: str, sealed: bool = False) -> dict[str, Any]:
        """The nested stack's resolved outputs by key, `OS::stack_id` included; with `sealed`,
        those derived from a secret come sealed, to be stored as they are."""

    def resource_reference(self, child_id: str, name: str) -> Any:
        """What get_resource answers for the nested stack's resource `name` (None if unknown)."""

    def resource_attribute(self, child_id: str, name: str, attribute: str | None) -> Any:
        """What get_attr answers for the nested stack's resource `name` (all attributes when
        `attribute` is None; None if unknown). `attribute` may itself be a nested
        `resource.NAME.attr` path, which is followed into deeper stacks."""

    def resource_names(self, child_id: str) -> list[str]:
        """The nested stack's resource names, in creation order."""

    def resource_states(self, child_id: str) -> dict[str, tuple[str, str, str]]:
        """{name: (action, status, reason)} of the nested stack's resources, in creation order."""


class Children:
    """ChildStacks carried out by the facade (`service`: engine.service.Service, through its
    public stack operations). Nested stacks share their parent's project and are hidden from
    lists."""

    def __init__(self, service):
        self._service = service

    def _parent(self, stack_id: str) -> Stack:
        with self._service.runtime.store.session() as session:
            stack = session.get(Stack, stack_id)
        if stack is None:
            raise NotFound(f"stack '{stack_id}' not found")
        return stack

    def _child(self, child_id: str) -> Stack | None:
        with self._service.runtime.store.session() as session:
            return session.get(Stack, child_id)

    def create(
        self,
        parent_stack_id: str,
        resource: str,
        *,
        template,
        files=None,
        environment=None,
        parameters=None,
        template_name: str = "template",
        timeout_mins=None,
        adopt_data=None,
        shown_timeout: float | None = None,
        secret_parameters=frozenset(),
    ) -> str:
        parent = self._parent(parent_stack_id)
        name = f"{parent.name}-{resource}-{uuid.uuid4().hex[:12]}"[-255:]
        if not name[0].isalpha():
            name = "n" + name[1:]
        body = {
            "stack_name": name,
            "template": template,
            "files": dict(files or {}),
            "environment": environment or {},
            "parameters": dict(parameters or {}),
            "template_name": template_name,
            "timeout_mins": timeout_mins or parent.timeout_mins,
            "disable_rollback": True,
            "adopt_stack_data": adopt_data,
            # What the nested stack shows: its own timeout, else its parent's, as in Heat.
            "requested_timeout_mins": shown_timeout if shown_timeout is not None else parent.requested_timeout_mins,
            SECRET_PARAMETERS: sorted(secret_parameters),
        }
        return self._service.stacks.make(parent.project, body, owner=(parent.id, resource), username=parent.username).id

    def update(
        self,
        child_id: str,
        *,
        template,
        files=None,
        environment=None,
        parameters=None,
        template_name: str = "template",
        timeout_mins=None,
        keep_environment: bool = False,
        shown_timeout: float | None = None,
        secret_parameters=frozenset(),
    ) -> None:
        child = self._child(child_id)
        if child is None:
            raise NotFound(f"nested stack '{child_id}' not found")
        if shown_timeout is None and child.owner_id:
            parent = self._child(child.owner_id)
            shown_timeout = parent.requested_timeout_mins if parent is not None else None
        if keep_environment:
            body = {
                "template": template,
                "template_name": template_name,
                "timeout_mins": timeout_mins or child.timeout_mins,
                "requested_timeout_mins": shown_timeout,
            }
            self._service.operations.update_stack(child.project, child.id, body, patch=True)
            return
        body = {
            "template": template,
            "files": dict(files or {}),
            "environment": environment or {},
            "parameters": dict(parameters or {}),
            "template_name": template_name,
            "timeout_mins": timeout_mins or child.timeout_mins,
            "requested_timeout_mins": shown_timeout,
            SECRET_PARAMETERS: sorted(secret_parameters),
        }
        self._service.operations.update_stack(child.project, child.id, body, patch=False)

    def check_members(self, parent_stack_id: str, count: int, child_id: str | None = None) -> None:
        """Before a group builds the template of a nested stack of `count` resources in
        `parent_stack_id` (or of `child_id`, updated): the depth and resources limits
        (engine.limits), which making that stack would check once it is built."""
        with self._service.runtime.store.session() as session:
            check_nested_stack(self._service.runtime.config, session, parent_stack_id, count, child_id)

    def template(self, child_id: str) -> dict | None:
        """The nested stack's template as stored (a group's members' definitions)."""
        child = self._child(child_id)
        return dict(child.template) if child is not None and isinstance(child.template, dict) else None

    def delete(self, child_id: str) -> None:
        child = self._child(child_id)
        if child is None or child.deleted_at is not None:
            return
        self._service.stacks.delete_stack(child.project, child.id)

    def act(self, child_id: str, action: str) -> None:
        child = self._child(child_id)
        if child is None or child.deleted_at is not None:
            raise NotFound(f"nested stack '{child_id}' not found")
        self._service.operations.stack_action(child.project, child.id, action.lower())

    def state(self, child_id: str) -> tuple[str, str, str] | None:
        child = self._child(child_id)
        if child is None or child.deleted_at is not None:
            return None
        return child.action, child.status, child.status_reason

    def show(self, child_id: str) -> dict | None:
        """The nested stack as stack show gives it (None once it is gone)."""
        child = self._child(child_id)
        if child is None or child.deleted_at is not None:
            return None
        return self._service.stacks.show_stack(child.project, child.id)

    def arn(self, child_id: str) -> str | None:
        """The nested stack's id as Heat writes it in an ARN (what get_resource gives of the
        resource that owns it)."""
        child = self._child(child_id)
        if child is None:
            return None
        return f"arn:openstack:heat::{child.project}:stacks/{child.name}/{child.id}"

    def outputs(self, child_id: str, sealed: bool = False) -> dict[str, Any]:
        """The nested stack's outputs. Those derived from a secret taint the resolution reading
        them (if any), and with `sealed` come sealed, to be stored as they are."""
        child = self._child(child_id)
        if child is None:
            return {}
        derived: set[str] = set()
        values = {o["output_key"]: o.get("output_value") for o in self._service.stacks.outputs(child, derived=derived)}
        keyring = self._service.runtime.keyring
        for key in derived:
            secrets.report(values[key])
            if sealed:
                values[key] = secrets.seal_value(keyring, values[key])
        values.setdefault(STACK_ID_OUTPUT, child.id)
        return values

    def _row(self, child: Stack, name: str):
        service = self._service
        definition = service.definitions.get(child)
        with service.runtime.store.session() as session:
            row = session.scalar(select(Resource).where(Resource.stack_id == child.id, Resource.name == name))
        if row is None or (row.physical_id is None and not row.data):
            return None
        return definition.class_for(service.types, name, row.type), row

    def resource_reference(self, child_id: str, name: str) -> Any:
        child = self._child(child_id)
        found = self._row(child, name) if child is not None else None
        if found is None:
            return None
        cls, row = found
        runtime = self._service.runtime
        return secrets.open_tree(runtime.keyring, cls.reference_id(runtime, row.physical_id, row.data or {}))

    def resource_attribute(self, child_id: str, name: str, attribute: str | None) -> Any:
        child = self._child(child_id)
        found = self._row(child, name) if child is not None else None
        if found is None:
            return None
        cls, row = found
        runtime = self._service.runtime
        try:
            # Opened here: the resolution reading it (if any) is tainted by what was sealed.
            return secrets.open_tree(
                runtime.keyring,
                cls.attribute(runtime, attribute, row.physical_id, row.attributes or {}, row.data or {}),
            )
        except HearthError:
            return None

    def resource_names(self, child_id: str) -> list[str]:
        with self._service.runtime.store.session() as session:
            return list(
                session.scalars(select(Resource.name).where(Resource.stack_id == child_id).order_by(Resource.id))
            )

    def resource_states(self, child_id: str) -> dict[str, tuple[str, str, str]]:
        with self._service.runtime.store.session() as session:
            rows = session.execute(
                select(Resource.name, Resource.action, Resource.status, Resource.status_reason)
                .where(Resource.stack_id == child_id)
                .order_by(Resource.id)
            )
            return {name: (action, status, reason or "") for name, action, status, reason in rows}
