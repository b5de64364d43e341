"""What resolving a snippet needs from the engine (parameter values, resource ids and attributes,
files map, parent resource), as an interface; pure, touches nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from engine.errors import TemplateError
from engine.template.limits import Limits


class ResolveContext(Protocol):
    """The running stack, as seen by intrinsic functions; the engine provides it.

    `get_param` answers typed values (pseudo-parameters such as `OS::stack_name` included);
    `get_resource` a resource's reference id; `get_attr` one attribute's value, or all of a
    resource's attributes as a dict when `attribute` is None. An attribute that is not
    available yet is None, which functions pass on rather than fail on.

    `limits` (optional: engine.template.limits.Limits) bounds what resolving may build; without
    it the settings' defaults apply.

    `resource_facade(kind)` answers, for a nested stack's template, the parent resource's
    `metadata` (resolved), `deletion_policy` or `update_policy` (resolved); kind is one of
    those three words. A context for a stack without a parent may leave the method out, so it
    is not declared below (a protocol has no optional members): ConditionalContext asks for it
    by name, as it does for `limits`.
    """

    # Read only: a property, so that a context may hold any mapping or work it out.
    @property
    def files(self) -> Mapping[str, str]: ...

    def get_param(self, name: str) -> Any: ...

    def get_resource(self, name: str) -> Any: ...

    def get_attr(self, resource: str, attribute: str | None) -> Any: ...


class ParameterContext:
    """A context that knows parameter values and the files map only: what conditions (and a
    deletion_policy) are evaluated against before any resource exists. Resources are null."""

    def __init__(
        self,
        values: Mapping[str, Any],
        pseudo: Mapping[str, Any] | None = None,
        files: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._values = {**values, **(pseudo or {})}
        self.files = dict(files or {})
        self.limits = limits

    def get_param(self, name: str) -> Any:
        if name not in self._values:
            raise TemplateError(f"no value for parameter '{name}'")
        return self._values[name]

    def get_resource(self, name: str) -> Any:
        return None

    def get_attr(self, resource: str, attribute: str | None) -> Any:
        return None
