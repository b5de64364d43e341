"""What resolving a snippet needs from the engine: parameter values, resource ids and attributes, and the files map."""
from __future__ import annotations

from typing import Any, Mapping, Protocol


class ResolveContext(Protocol):
    """The running stack, as seen by intrinsic functions; the engine provides it.

    `get_param` answers typed values (pseudo-parameters such as `OS::stack_name` included);
    `get_resource` a resource's reference id; `get_attr` one attribute's value, or all of a
    resource's attributes as a dict when `attribute` is None. An attribute that is not
    available yet is None, which functions pass on rather than fail on.
    """

    files: Mapping[str, str]

    def get_param(self, name: str) -> Any: ...

    def get_resource(self, name: str) -> Any: ...

    def get_attr(self, resource: str, attribute: str | None) -> Any: ...
