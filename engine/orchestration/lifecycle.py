"""Starting and ending stack operations: owns the stack row's operation fields and their events;
touches only the caller's session (it never commits, never reads the clock, never wakes anyone).

Every operation starts through `start_operation` (a create's too: its row is made at operation
0 and started like any other), after `prepare_rows` made the resource rows
match the template it runs to; a failed create or update turns into a rollback through
`begin_rollback`; the scheduler ends one through `end_operation`. `check_cancel` says whether
a user may cancel what is in progress, and `abandon` forgets a stack.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from engine.errors import NotSupported
from engine.orchestration.definitions import DEFINITION_FIELDS
from engine.orchestration.events import stack_event
from engine.store.models import Resource as ResourceRow, Stack
from engine.template import Template


def prepare_rows(session, stack_id: str, template: Template, now: dt.datetime) -> None:
    """Make the stack's resource rows match `template`: new names get INIT rows, kept ones
    their new type and requirements; rows of removed resources stay until they are deleted."""
    requires = {n: sorted(r) for n, r in template.dependencies().items()}
    rows = {r.name: r for r in session.scalars(select(ResourceRow).where(ResourceRow.stack_id == stack_id))}
    new = []
    for name, resource in template.resources.items():
        row = rows.get(name)
        if row is None:
            new.append(
                {
                    "stack_id": stack_id,
                    "name": name,
                    "type": resource.type,
                    "requires": requires[name],
                    "action": "INIT",
                    "status": "COMPLETE",
                    "status_reason": "",
                    "data": {},
                    "attributes": {},
                    "engine": {},
                    "waiting": False,
                    "created_at": now,
                }
            )
        else:
            if row.type != resource.type and row.action != "INIT":
                # What it was made as, for deleting it once the new type's resource exists.
                row.engine = {**(row.engine or {}), "old_type": (row.engine or {}).get("old_type", row.type)}
            row.type, row.requires = resource.type, requires[name]
    if new:
        session.execute(insert(ResourceRow), new)


def begin_rollback(session, stack: Stack, template: Template | None, now: dt.datetime) -> None:
    """Turn a failed (or cancelled) create or update into a rollback, in the caller's transaction.

    An update rolls back to the definition it started from (`template` is that one, parsed);
    a create rolls back by deleting what it made.
    """
    if template is not None and stack.previous and "template" in stack.previous:
        for key in DEFINITION_FIELDS:
            setattr(stack, key, stack.previous[key])
        if "disable_rollback" in stack.previous:  # Heat rolls back to the old stack's flag too
            stack.disable_rollback = stack.previous["disable_rollback"]
        stack.description = template.description
        prepare_rows(session, stack.id, template, now)
        stack.previous = {"rollback": "update"}
        start_operation(session, stack, "ROLLBACK", now)
    else:
        stack.previous = {"rollback": "create"}
        # Heat rolls a create back by deleting, and says when its delete started.
        start_operation(session, stack, "ROLLBACK", now, f"Stack ROLLBACK started at {_when(now)}")


# The operations that set a stack's updated_time when they start, as Heat's do (a create, a
# delete and a rollback leave it as it was).
# Heat 27 keeps updated_time as it was through check, suspend and resume (recorded: nested/suspend-resume).
UPDATED_BY = ("UPDATE",)


def start_operation(session, stack: Stack, action: str, now: dt.datetime, reason: str | None = None) -> None:
    """Record the start of a stack operation: new operation number, deadline and event."""
    reason = reason or f"Stack {action} started"
    stack.action, stack.status, stack.status_reason = action, "IN_PROGRESS", reason
    stack.operation += 1
    stack.deadline = now + dt.timedelta(minutes=stack.timeout_mins)
    if action in UPDATED_BY:
        stack.updated_at = now
    _record_start(session, stack, now)


def _record_start(session, stack: Stack, now: dt.datetime) -> None:
    """The event of the operation the stack's row says has started."""
    session.add(stack_event(stack, stack.action, "IN_PROGRESS", stack.status_reason, now))


def start_delete(session, stack: Stack, now: dt.datetime) -> None:
    """Record the start of the stack's delete (Heat says when its delete started)."""
    start_operation(session, stack, "DELETE", now, f"Stack DELETE started at {_when(now)}")


def check_cancel(stack: Stack, rollback: bool) -> None:
    """Refuse to cancel what is not a create or update in progress (Heat's cancel_update, which
    rolls back, cancels only an update). What is under way then finishes, and the operation
    fails; an update rolls back when asked to (or when the stack has rollback enabled)."""
    allowed = ("UPDATE",) if rollback else ("UPDATE", "CREATE")
    if stack.status != "IN_PROGRESS" or stack.action not in allowed:
        raise NotSupported(f"Cancelling update when stack is {stack.action}_{stack.status}")


def end_operation(stack: Stack, status: str, reason: str, now: dt.datetime) -> None:
    """The operation ended (COMPLETE or FAILED); a completed delete leaves the stack deleted.
    The caller records the stack's event and stores the row."""
    stack.status, stack.status_reason, stack.deadline = status, reason, None
    if stack.action == "DELETE" and status == "COMPLETE":
        stack.deleted_at = now


def abandon(stack: Stack, now: dt.datetime) -> None:
    """Forget the stack (and what runs of it: a new operation number) but leave what it made;
    no event, as in Heat."""
    stack.action, stack.status, stack.status_reason = "ABANDON", "COMPLETE", "Stack abandoned"
    stack.operation += 1
    stack.deleted_at = stack.updated_at = now


def _when(now: dt.datetime) -> str:
    return now.replace(tzinfo=None).isoformat()
