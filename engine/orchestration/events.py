"""Event rows: owns their one shape and id scheme; touches nothing (no session, no clock).

Two writers use it: the journal, which batches the scheduler's events into one insert
(`event_row`), and the callers that add an event inside their own transaction (a stack
operation's start, a guest's or a user's signal, marking a resource unhealthy), which add the
`Event` that `stack_event` or `resource_event` builds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from engine.store.models import Event, Stack

STACK_TYPE = "OS::Heat::Stack"


def new_event_id() -> str:
    return str(uuid.uuid4())


def event_row(
    stack_id: str,
    resource_name: str,
    resource_type: str,
    physical_id: str | None,
    action: str,
    status: str,
    reason: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """The columns of one Event row (for a batched insert)."""
    return {
        "id": new_event_id(),
        "stack_id": stack_id,
        "resource_name": resource_name,
        "resource_type": resource_type,
        "physical_id": physical_id,
        "action": action,
        "status": status,
        "reason": reason,
        "created_at": at,
    }


def stack_event(stack: Stack, action: str, status: str, reason: str, at: dt.datetime) -> Event:
    """An event of the stack itself (its resource is the stack, by name and id)."""
    return Event(**event_row(stack.id, stack.name, STACK_TYPE, stack.id, action, status, reason, at))


def resource_event(
    stack_id: str,
    name: str,
    type_name: str,
    physical_id: str | None,
    action: str,
    status: str,
    reason: str,
    at: dt.datetime,
) -> Event:
    """An event of the stack's resource `name`."""
    return Event(**event_row(stack_id, name, type_name, physical_id, action, status, reason, at))
