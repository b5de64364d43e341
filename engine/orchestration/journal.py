"""Journal: the scheduler's pending writes (transitions, events, stack status; a deleted stack's
guest credentials revoked); one store transaction per flush, then publishes.

Journal: owns the scheduler's pending writes (resource transitions, events, stack status) and what
events must not quote.

Writes are kept until that transaction commits, so a failed write is retried, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy import delete, insert, update

from engine import secrets
from engine.guest import credentials
from engine.orchestration.events import event_row
from engine.runtime import Runtime
from engine.store.models import Event, Resource as ResourceRow, Stack

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._events: list[dict] = []
        self._stacks: dict[str, Stack] = {}
        self._after_commit: list[Callable[[], None]] = []
        self._removed: list[int] = []
        # Per stack, the texts of secrets its events and reasons must not quote.
        self._kept_out: dict[str, set[str]] = {}

    def keep_out(self, stack_id: str, texts) -> None:
        """From now on, `texts` (secret values) are redacted from the stack's events and reason."""
        self._kept_out.setdefault(stack_id, set()).update(t for t in texts if t)

    def forget(self, stack_id: str) -> None:
        self._kept_out.pop(stack_id, None)

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

    def remove_resources(self, row_ids: list[int]) -> None:
        """Forget resources an update removed (and deleted)."""
        self._removed.extend(row_ids)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once everything recorded so far is stored (e.g. start a handler)."""
        self._after_commit.append(callback)

    @property
    def backlog(self) -> int:
        return len(self._events)

    def flush(self, snaps: Iterable) -> bool:
        """Store dirty snaps, stack changes and events in one transaction; False if it failed."""
        changed = [s for s in snaps if s.dirty]
        stacks, events, removed = list(self._stacks.values()), list(self._events), list(self._removed)
        if changed or stacks or events or removed:
            now = self.runtime.now()
            try:
                with self.runtime.store.session() as session:
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
            except Exception:
                log.exception("could not store %d transitions and %d events; retrying", len(changed), len(events))
                return False
            for snap in changed:
                snap.dirty = False
            del self._events[: len(events)]
            del self._removed[: len(removed)]
            self._stacks.clear()
            for stack_id in {e["stack_id"] for e in events} | {s.id for s in stacks}:
                self.runtime.publish_stack(stack_id)
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
        return True
