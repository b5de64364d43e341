"""Journal: the scheduler's pending writes (transitions, events, stack status; a deleted stack's
guest credentials revoked); one store transaction per flush, then publishes.

Journal: owns the scheduler's pending writes (resource transitions, events, stack status) and what
events must not quote.

Writes are kept until that transaction commits, so a failed write is retried, never lost. A
stack's writes are stored only while this replica holds the stack's lease, checked (and the
lease row locked) in the same transaction: the writes of a stack whose lease another replica
took over are dropped, never stored, and its id is kept in `lost` for the scheduler.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable

from sqlalchemy import delete, insert, update

from engine import secrets
from engine.guest import credentials
from engine.orchestration.events import event_row
from engine.orchestration.lease import Leases, stack_lease
from engine.runtime import Runtime
from engine.store import event_log
from engine.store.models import Event, Resource as ResourceRow, Stack

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, runtime: Runtime, leases: Leases | None = None):
        self.runtime = runtime
        self._leases = leases  # None: every stack's writes are stored (no replicas to race)
        self._events: list[dict] = []
        self._stacks: dict[str, Stack] = {}
        # (stack id or None, callback): a stack's callbacks are dropped with its writes.
        self._after_commit: list[tuple[str | None, Callable[[], None]]] = []
        self._removed: list[tuple[str, int]] = []
        # Stacks whose lease a flush found taken over (the scheduler drops their runs).
        self.lost: set[str] = set()
        # Per stack, the texts of secrets its events and reasons must not quote.
        self._kept_out: dict[str, set[str]] = {}

    def keep_out(self, stack_id: str, texts) -> None:
        """From now on, `texts` (secret values) are redacted from the stack's events and reason."""
        self._kept_out.setdefault(stack_id, set()).update(t for t in texts if t)

    def forget(self, stack_id: str) -> None:
        self._kept_out.pop(stack_id, None)

    def drop(self, stack_id: str) -> None:
        """Discard everything pending for the stack: another replica drives it now."""
        self._events = [e for e in self._events if e["stack_id"] != stack_id]
        self._stacks.pop(stack_id, None)
        self._removed = [r for r in self._removed if r[0] != stack_id]
        self._after_commit = [c for c in self._after_commit if c[0] != stack_id]
        self.forget(stack_id)

    def redacted(self, stack_id: str, text: str) -> str:
        return secrets.redact(text, self._kept_out.get(stack_id, ()))

    def event(
        self, stack: Stack, name: str, type_name: str, physical_id, action: str, status: str, reason: str
    ) -> None:
        self._events.append(
            event_row(
                stack.id,
                name,
                type_name,
                physical_id,
                action,
                status,
                self.redacted(stack.id, reason),
                self.runtime.now(),
            )
        )

    def stack_changed(self, stack: Stack) -> None:
        self._stacks[stack.id] = stack

    def remove_resources(self, stack_id: str, row_ids: list[int]) -> None:
        """Forget resources an update removed (and deleted)."""
        self._removed.extend((stack_id, i) for i in row_ids)

    def after_commit(self, callback: Callable[[], None], stack_id: str | None = None) -> None:
        """Run `callback` once everything recorded so far is stored (e.g. start a handler); one
        on a stack's behalf (`stack_id`) only if that stack's writes were stored."""
        self._after_commit.append((stack_id, callback))

    @property
    def backlog(self) -> int:
        return len(self._events)

    def flush(self, snaps: Iterable) -> bool:
        """Store dirty snaps, stack changes and events in one transaction; False if it failed."""
        changed = [s for s in snaps if s.dirty]
        stacks, events, removed = list(self._stacks.values()), list(self._events), list(self._removed)
        callbacks = list(self._after_commit)
        touched = (
            {s.stack_id for s in changed}
            | {e["stack_id"] for e in events}
            | {s.id for s in stacks}
            | {r[0] for r in removed}
            | {c[0] for c in callbacks if c[0]}
        )
        lost: set[str] = set()
        if touched:
            now = self.runtime.now()
            # The flush guards each stack itself (its commit is not a handler's write on one
            # stack's behalf, whatever the caller acts for).
            unguarded = self._leases.acting_for(None) if self._leases is not None else contextlib.nullcontext()
            try:
                with unguarded, self.runtime.store.session() as session:
                    if self._leases is not None:
                        held = self._leases.guard(session, [stack_lease(i) for i in touched])
                        lost = {i for i in touched if stack_lease(i) not in held}
                    self._write(
                        session,
                        now,
                        [s for s in changed if s.stack_id not in lost],
                        [s for s in stacks if s.id not in lost],
                        [r[1] for r in removed if r[0] not in lost],
                        [e for e in events if e["stack_id"] not in lost],
                    )
            except Exception:
                log.exception("could not store %d transitions and %d events; retrying", len(changed), len(events))
                return False
            for snap in changed:
                snap.dirty = False
            del self._events[: len(events)]
            del self._removed[: len(removed)]
            self._stacks.clear()
            for stack_id in ({e["stack_id"] for e in events} | {s.id for s in stacks}) - lost:
                self.runtime.publish_stack(stack_id)
        del self._after_commit[: len(callbacks)]
        for stack_id in lost:
            dropped = sum(1 for e in events if e["stack_id"] == stack_id)
            log.warning("stack %s is driven by another replica now: %d of its events not stored", stack_id, dropped)
            self.drop(stack_id)
        self.lost |= lost
        for stack_id, callback in callbacks:
            if stack_id not in lost:
                callback()
        return True

    def _write(self, session, now, changed: list, stacks: list[Stack], removed: list[int], events: list[dict]) -> None:
        if changed:
            session.execute(
                update(ResourceRow),
                [
                    {
                        "id": s.row_id,
                        "action": s.action,
                        "status": s.status,
                        "status_reason": self.redacted(s.stack_id, s.reason),
                        "physical_id": s.physical_id,
                        "attributes": s.attributes,
                        "data": s.data,
                        "engine": s.engine,
                        "waiting": s.waiting,
                        "deadline": s.deadline,
                        "updated_at": now,
                    }
                    for s in changed
                ],
            )
        for stack in stacks:
            # Guarded by the operation number: a superseded operation never overwrites.
            session.execute(
                update(Stack)
                .where(Stack.id == stack.id, Stack.operation == stack.operation)
                .values(
                    status=stack.status,
                    status_reason=self.redacted(stack.id, stack.status_reason),
                    deadline=stack.deadline,
                    updated_at=stack.updated_at,
                    deleted_at=stack.deleted_at,
                    resources_deleted_at=stack.resources_deleted_at,
                    previous=stack.previous,
                )
            )
            if stack.deleted_at is not None:
                credentials.revoke_stack(session, stack.id, now)
        if removed:
            session.execute(delete(ResourceRow).where(ResourceRow.id.in_(removed)))
        if events:
            # render_nulls keeps rows with and without a physical id in one batch.
            session.execute(insert(Event).execution_options(render_nulls=True), events)
            event_log.track(session, [e["id"] for e in events])
