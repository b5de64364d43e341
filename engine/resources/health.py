"""The `health_check` property Hearth adds to the group types (engine/service/healing.py acts on
it); a schema only, no I/O."""

from __future__ import annotations

from engine.resources.schema import Prop

# Hearth's own property of the group types: hidden from their published schema, which stays Heat's.
HEALTH_CHECK = Prop(
    "map",
    "Hearth: replace unhealthy members by themselves (sources failed, deployments, heartbeat; "
    "grace_period, unhealthy_threshold, interval in seconds)",
    hidden=True,
    update_allowed=True,
    fields={
        "failed": Prop("boolean", "a FAILED member (resource, wait condition, deployment inside it) is unhealthy"),
        "deployments": Prop("boolean", "a member with a FAILED deployment to one of its servers is unhealthy"),
        "heartbeat": Prop("boolean", "a member whose server's agent is gone is unhealthy"),
        "grace_period": Prop("integer", "seconds a new member is not judged", min=0),
        "unhealthy_threshold": Prop("integer", "checks in a row that must find a member unhealthy", min=1),
        "interval": Prop("integer", "seconds between two checks", min=1),
    },
)
