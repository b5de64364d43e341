"""Heat's resource types that stand for a cloud service Hearth does not offer (Nova's flavors,
Neutron, Cinder, Swift, ...): read once from the packaged unavailable.json; no other I/O.

Heat's answer for them is ResourceTypeUnavailable.

A template written for a cloud names such types; Hearth refuses it as Heat refuses it where the
service is missing, naming the service, instead of calling the type unknown. The names and
services were recorded from Heat 27.0.1 (tests/heat_reference/unavailable_types.py).
"""

from __future__ import annotations

import functools
import json
from importlib import resources

PREFIX = "HEAT-E99001 Service"


@functools.cache
def unavailable() -> dict[str, dict[str, str]]:
    """Type name -> {"service": "nova", "endpoint": "nova compute"}."""
    return json.loads(resources.files("engine.resources").joinpath("unavailable.json").read_text())


def show_message(type_name: str) -> str | None:
    """What Heat answers for `resource_types/TYPE`, or None when the type is not one of these."""
    entry = unavailable().get(type_name)
    if entry is None:
        return None
    return (
        f"{PREFIX} {entry['service']} is not available for resource type {type_name}, "
        "reason: Service endpoint not in service catalog."
    )


def create_message(type_name: str) -> str | None:
    """What Heat answers for a stack with a resource of TYPE, or None when not one of these."""
    entry = unavailable().get(type_name)
    if entry is None:
        return None
    return (
        f"{PREFIX} {entry['service']} is not available for resource type {type_name}, "
        f"reason: {entry['endpoint']} endpoint is not in service catalog."
    )
