"""Asked: owns what users ask of a stack's operation in progress that only the replica driving
it can do (cancel it; clear a breakpoint a resource is paused on), kept in `stack_requests`.

The request is published to the replicas as well (Scheduler.cancel / unset_hook), which is how
the driving replica hears of it at once. The stored row is what makes it survive: the replica
that takes the operation over after a node loss, and a replica whose messages were missed (its
bridge reconnected), read the rows of the operations they drive and do what they ask. Doing a
request twice is harmless (a cancelled run is cancelled; a breakpoint no longer held is not
cleared again), so rows stay until a later operation of the stack has a request of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.store.models import Stack, StackRequest

CANCEL = "cancel"


def hook_key(hook: str, resource: str) -> str:
    return f"hook:{hook}:{resource}"


def keep(session: Session, stack: Stack, key: str, detail: dict[str, Any], now: dt.datetime) -> None:
    """Store a request for the stack's current operation; the caller holds the stack's row lock
    (FOR UPDATE), so two requests for one key never race."""
    session.execute(
        delete(StackRequest).where(StackRequest.stack_id == stack.id, StackRequest.operation < stack.operation)
    )
    row = session.scalar(
        select(StackRequest).where(
            StackRequest.stack_id == stack.id, StackRequest.operation == stack.operation, StackRequest.key == key
        )
    )
    if row is None:
        session.add(StackRequest(stack_id=stack.id, operation=stack.operation, key=key, detail=detail, created_at=now))
    else:
        row.detail, row.created_at = detail, now


def messages(session: Session, operations: dict[str, int]) -> list[tuple]:
    """The scheduler's inbox messages for what was asked of these stacks' operations
    ({stack id: operation}), in the order asked."""
    if not operations:
        return []
    rows = session.scalars(
        select(StackRequest).where(StackRequest.stack_id.in_(list(operations))).order_by(StackRequest.id)
    )
    found = []
    for row in rows:
        if operations.get(row.stack_id) != row.operation:
            continue
        detail = row.detail or {}
        if row.key == CANCEL:
            found.append(("cancel", row.stack_id, bool(detail.get("rollback"))))
        elif row.key.startswith("hook:") and detail.get("resource") and detail.get("hook"):
            found.append(("hook", row.stack_id, detail["resource"], detail["hook"]))
    return found
