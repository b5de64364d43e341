"""The notification delivery loop: on the one replica holding the lease `notifications`, reads
the event stream past the consumer `notifications`' cursors (engine.store.event_log), publishes
each event that is a Heat notification (engine.notifications.messages) on the bus, and moves
the project's cursor after the broker confirmed; touches the store, the bus and the notifier
(to be woken).

Delivery is at least once, in order within a project: a cursor moves only past what the broker
confirmed, so a bus outage loses nothing (the loop backs off and retries the same events), and
a replica that dies between a publish and its cursor's move leaves the next holder of the lease
to publish those events again; consumers dedupe by `message_id` (the event's id) or by
`hearth_sequence` within `_context_project_id` (docs/notifications.md).

Woken as events commit (the `stack:` topics `runtime.publish_stack` announces, from this replica
or through the PostgreSQL bridge from the others), and every notification_sweep_seconds in
case a wake was missed. Enabling notifications publishes what happens from then on: the first
start records where each project's stream stood (the `*` cursor marks that it did), so history
is not replayed.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.notifications import messages
from engine.notifications.bus import Bus, BusUnavailable
from engine.orchestration.lease import LeaseLost, Leases
from engine.store import event_log
from engine.store.models import Event, EventCursor, EventSequence, Stack

if TYPE_CHECKING:
    from engine.runtime import Runtime

log = logging.getLogger(__name__)

LEASE = "notifications"
CONSUMER = "notifications"
ENABLED_MARK = "*"  # the cursor row (project "*") saying the consumer has been set up
BACKOFF_FIRST, BACKOFF_MOST = 0.5, 15.0


class NotificationDelivery:
    """Publishes the event stream's notifications on a thread of its own, under the lease."""

    def __init__(self, runtime: Runtime, leases: Leases, bus: Bus | None = None):
        self.runtime = runtime
        self.leases = leases
        config = runtime.config
        self.enabled = bool(config.notification_transport_url)
        self.bus = bus or (Bus(config.notification_transport_url) if self.enabled else None)
        self.topics = [t.strip() for t in config.notification_topics.split(",") if t.strip()]
        self.publisher_id = config.notification_publisher_id or f"{messages.SERVICE}.{socket.gethostname()}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.enabled or self.bus is None:
            return
        self._mark_enabled()
        self.runtime.notifier.subscribe("stack:", lambda _topic: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="notification-delivery", daemon=True)
        self._thread.start()
        log.info("publishing notifications on %s (topics %s)", self.bus.shown, ",".join(self.topics))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.bus is not None:
            self.bus.close()

    def _run(self) -> None:
        sweep = max(float(self.runtime.config.notification_sweep_seconds), 0.1)
        backoff = 0.0
        while not self._stop.is_set():
            if backoff:
                self._stop.wait(backoff)  # an outage: wakes do not hurry the next try
            else:
                self._wake.wait(sweep)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.round()
                backoff = 0.0
            except BusUnavailable as error:
                backoff = min(max(backoff * 2, BACKOFF_FIRST), BACKOFF_MOST)
                log.warning("notifications not delivered, trying again in %.1f s: %s", backoff, error)
            except Exception:  # the next round tries again
                backoff = BACKOFF_FIRST
                log.exception("notification delivery failed; trying again in %.1f s", backoff)

    def _mark_enabled(self) -> None:
        """On the first start ever: the cursors at each project's last event (no history)."""
        now = self.runtime.now()
        with self.runtime.store.session() as session:
            if session.get(EventCursor, (CONSUMER, ENABLED_MARK)) is not None:
                return
            for project, last in session.execute(select(EventSequence.project, EventSequence.last)).all():
                event_log.advance_cursor(session, CONSUMER, project, int(last), now)
            event_log.advance_cursor(session, CONSUMER, ENABLED_MARK, 0, now)
            try:
                session.commit()
            except IntegrityError:  # another replica starting at the same moment did it
                session.rollback()

    def round(self) -> int:
        """Publish what is behind, if this replica holds the lease; the number published."""
        with self.runtime.store.session() as session:
            behind = event_log.behind(session, CONSUMER)
        if not behind or not self.leases.claim([LEASE]):
            return 0
        published = 0
        try:
            for project, (position, last) in sorted(behind.items()):
                while position < last and not self._stop.is_set():
                    position, count = self._batch(project, position)
                    published += count
        except LeaseLost:
            log.info("the lease %s was taken over; the new holder publishes from its cursors", LEASE)
        return published

    def _batch(self, project: str, position: int) -> tuple[int, int]:
        """Publish the project's next events after `position`; the new position and count."""
        most = max(int(self.runtime.config.notification_batch_size), 1)
        with self.runtime.store.session() as session:
            events = event_log.read_since(session, project, position, most)
            ids = {e.stack_id for e in events}
            stacks = {s.id: s for s in session.scalars(select(Stack).where(Stack.id.in_(ids)))} if ids else {}
            batch = [(_event_facts(e), _stack_facts(stacks.get(e.stack_id))) for e in events]
        if not batch:
            return position, 0
        count = 0
        for event, stack in batch:
            note = messages.notification_of(event, stack)
            if note is None:
                continue
            message = messages.envelope(note, event, self.publisher_id)
            level = "error" if note.priority == "ERROR" else "info"
            for topic in self.topics:
                self.bus.publish(f"{topic}.{level}", message)  # type: ignore[union-attr]
            count += 1
        with self.leases.acting_for(LEASE), self.runtime.store.session() as session:
            event_log.advance_cursor(session, CONSUMER, project, batch[-1][0].project_seq, self.runtime.now())
            session.commit()
        return batch[-1][0].project_seq, count


def _event_facts(event: Event) -> messages.EventFacts:
    return messages.EventFacts(
        id=event.id,
        stack_id=event.stack_id,
        project=event.project or "",
        project_seq=int(event.project_seq or 0),
        resource_name=event.resource_name,
        resource_type=event.resource_type,
        physical_id=event.physical_id,
        action=event.action,
        status=event.status,
        reason=event.reason,
        created_at=event.created_at,
        detail=event.detail,
    )


def _stack_facts(stack: Stack | None) -> messages.StackFacts | None:
    if stack is None:
        return None
    return messages.StackFacts(
        id=stack.id,
        name=stack.name,
        project=stack.project,
        username=stack.username,
        description=stack.description or "No description",
        tags=list(stack.tags or []),
        created_at=stack.created_at,
        updated_at=stack.updated_at,
        action=stack.action,
        status=stack.status,
        status_reason=stack.status_reason,
    )
