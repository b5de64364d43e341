"""Nested stacks as resources see them: the ChildStacks operations a stack resource calls.

A nested stack is a real stack (its own row, resources and events) whose `owner_id` is the
parent stack and whose `owner_resource` is the resource that made it; its id is that
resource's physical id. When a nested stack's operation ends (COMPLETE or FAILED), the
scheduler wakes the owning resource, whose `check_waiting` then reads `state(child_id)`.
"""
from __future__ import annotations

from typing import Any, Protocol


class ChildStacks(Protocol):
    """`runtime.stacks`: what a resource handler may do with the stacks it owns."""

    def create(self, parent_stack_id: str, resource: str, *, template: dict | str,
               files: dict[str, str] | None = None, environment: dict | None = None,
               parameters: dict[str, Any] | None = None, template_name: str = "template",
               timeout_mins: float | None = None, adopt_data: dict | None = None,
               shown_timeout: float | None = None, secret_parameters: frozenset[str] = frozenset()) -> str:
        """Start creating a nested stack; returns its id at once (the create runs on its own).

        `secret_parameters` name the parameters whose values derive from a secret (the owner's
        resolution says so): stored sealed and shown as ******, as hidden ones are.

        `environment` is the parent's merged environment as a dict (resource_registry,
        parameter_defaults), which nested stacks inherit as Heat's do. Template errors raise
        TemplateError naming the nested template's file.
        """

    def update(self, child_id: str, *, template: dict | str, files: dict[str, str] | None = None,
               environment: dict | None = None, parameters: dict[str, Any] | None = None,
               template_name: str = "template", timeout_mins: float | None = None,
               keep_environment: bool = False, shown_timeout: float | None = None,
               secret_parameters: frozenset[str] = frozenset()) -> None:
        """Start updating the nested stack to a new template and parameters; with
        `keep_environment`, to a new template only (its environment, files and parameters kept)."""

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

    def outputs(self, child_id: str) -> dict[str, Any]:
        """The nested stack's resolved outputs by key, `OS::stack_id` included."""

    def resource_reference(self, child_id: str, name: str) -> Any:
        """What get_resource answers for the nested stack's resource `name` (None if unknown)."""

    def resource_attribute(self, child_id: str, name: str, attribute: str | None) -> Any:
        """What get_attr answers for the nested stack's resource `name` (all attributes when
        `attribute` is None; None if unknown). `attribute` may itself be a nested
        `resource.NAME.attr` path, which is followed into deeper stacks."""

    def resource_names(self, child_id: str) -> list[str]:
        """The nested stack's resource names, in creation order."""
