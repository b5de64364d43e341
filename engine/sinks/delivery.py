"""The delivery loop: one thread that hands each sink with work to a bounded pool (one job per
sink at a time, so a slow receiver holds up only its own sink), woken when a stack's events
commit (the notifier's `stack:` topics, from any replica through the bridge) and by a sweep
every event_sink_sweep_seconds; touches the store, the notifier and, through
engine.sinks.targets, the network.

A job delivers the sink's events in sequence order, one try each: a success moves the sink's
cursor; a failure stores when to try again (backoff with jitter) and ends the job; the
`attempts`-th failure puts the event among the sink's dead letters and moves on, so a dead
event never blocks the ones after it. The cursor moves only after the receiver answered, so
a server killed between the two sends that event again: receivers dedupe by sequence.

Replicas: one replica delivers at a time, the holder of the lease `event-sinks` (claimed at
each round that has work, renewed by the scheduler's heartbeat, as the alarm evaluator's);
every write of a job commits only while the lease is still this replica's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from engine import secrets
from engine.orchestration.lease import LeaseLost, Leases
from engine.outbound import Pool
from engine.sinks import records, wire
from engine.sinks.targets import DELIVERERS, Attempt, Failed, Outbound, Unavailable
from engine.store import event_log
from engine.store.models import Event, EventSink, Stack
from engine.store.notify import EVERYTHING
from engine.telemetry import instruments as telemetry
from engine.user_queues import UserQueues

if TYPE_CHECKING:
    from engine.runtime import Runtime

log = logging.getLogger(__name__)

LEASE = "event-sinks"
BATCH = 200  # events one job reads at a time
# Delivered events whose cursor move is stored in one transaction: a server killed in between
# sends at most these again (receivers dedupe by sequence), and a busy sink writes 1/20 as often.
STORE_EVERY = 20
REPLAYS = 50  # dead letters one job replays at most


class Progress:
    """How far one job has got: `position`, the last event dealt with (delivered or passed
    over); `stored`, the cursor as stored; `delivered`, events delivered since then."""

    def __init__(self, stored: int):
        self.position = self.stored = stored
        self.delivered = 0


class SinkGone(Exception):
    """The sink's row went away during a job."""


def body_of(event: Event) -> dict:
    return wire.event_body(
        event_id=event.id,
        stack_id=event.stack_id,
        resource_name=event.resource_name,
        resource_type=event.resource_type,
        physical_id=event.physical_id,
        action=event.action,
        status=event.status,
        reason=event.reason,
        created_at=event.created_at.isoformat(),
        sequence=int(event.project_seq or 0),
        project=event.project or "",
        operation=event.operation,
    )


class SinkDelivery:
    """Delivers every active sink's events while this replica holds the lease `event-sinks`."""

    def __init__(self, runtime: Runtime, leases: Leases, outbound: Outbound | None = None):
        self.runtime = runtime
        self.leases = leases
        config = runtime.config
        self.outbound = outbound or Outbound(timeout=config.event_sink_timeout, queues=UserQueues(runtime))
        self._wake = threading.Event()
        # A job's end wakes the loop once its sink is free again: more may have come meanwhile.
        self.pool = Pool(config.event_sink_concurrency, config.event_sink_concurrency, "event-sink", self._wake.set)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        self._none_until = 0.0  # monotonic time until which no active sink is known to exist

    # The loop -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.runtime.config.event_sink_sweep_seconds <= 0:
            return
        self.runtime.notifier.subscribe("stack:", self._heard)
        self.runtime.notifier.subscribe(records.TOPIC, self._heard)
        self._thread = threading.Thread(target=self._run, name="event-sinks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.pool.stop()

    def _heard(self, topic: str) -> None:
        # On the publishing thread: only hand it on.
        if topic in (records.TOPIC, EVERYTHING):
            self._none_until = 0.0
        self._wake.set()

    def _run(self) -> None:
        sweep = float(self.runtime.config.event_sink_sweep_seconds)
        wait = 0.0  # the first round at once: a restarted replica resumes where its sinks stopped
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                wait = self.round()
            except Exception:  # the next round tries again
                log.exception("event sink delivery failed; trying again in %s s", sweep)
                wait = sweep

    def round(self) -> float:
        """Hand every sink with work to the pool; the seconds until the next round is due."""
        sweep = float(self.runtime.config.event_sink_sweep_seconds)
        now, clock = self.runtime.now(), time.monotonic()
        if clock < self._none_until:  # none a moment ago, and none recorded since: no read
            return self._none_until - clock
        with self.runtime.store.session() as session:
            if not records.any_active(session):
                # One read per sweep, no lease: an installation without sinks writes nothing
                # for them, and a busy one's stack publishes cost no query.
                self._none_until = clock + sweep
                return sweep
            waiting = [c for c in records.due(session, now) if not self.pool.busy(c)]
            retry = records.next_retry(session)
        # Claimed once and then renewed by the heartbeat: a round that holds it writes nothing.
        if waiting and (self.leases.holds(LEASE) or self.leases.claim([LEASE])):
            for name in waiting:
                self.pool.submit(self._job, name, key=name)
        if retry is not None and retry > now:
            return max(min(sweep, (retry - now).total_seconds()), 0.01)
        return sweep

    # One sink's job -------------------------------------------------------------------------
    def _job(self, name: str) -> None:
        try:
            with self.leases.acting_for(LEASE):
                self._deliver(name)
        except LeaseLost:
            log.info("event sink %s: the lease %s was taken over; the new holder delivers", name, LEASE)
        except SinkGone:
            log.info("event sink %s was removed while it delivered", name)

    def _deliver(self, name: str) -> None:
        store = self.runtime.store
        with store.session() as session:
            sink = session.get(EventSink, name)
            if sink is None or sink.state != "active":
                return
            stored = records.position(session, sink)
            session.expunge(sink)
        settings = secrets.open_sinks(self.runtime.keyring, [sink.settings])[0]
        if not self._replay(sink, settings):
            return
        progress = Progress(stored)
        while not self._stop.is_set():
            with store.session() as session:
                stack = session.get(Stack, sink.stack_id)
                over = stack is None or (stack.action, stack.status) == ("DELETE", "COMPLETE")
                events = event_log.read_since(session, sink.project, progress.position, BATCH)
                # Read after the events: every stack they name is visible by now.
                ours = records.tree(session, sink.stack_id) if events else set()
                session.expunge_all()
            for event in events:
                if event.stack_id in ours and not self._send(sink, settings, event, progress):
                    return
                progress.position = int(event.project_seq or 0)
                if progress.delivered >= STORE_EVERY:
                    self._record(sink, progress)
            self._record(sink, progress)
            if len(events) < BATCH:
                if over and not events:
                    with self._row(sink) as (_session, row):
                        row.state = "finished"
                return

    def _send(self, sink: EventSink, settings: dict, event: Event, progress: Progress) -> bool:
        """Try the event once; whether the job goes on to the next one."""
        body = body_of(event)
        attempt = Attempt(body, body["sequence"], event.id, sink.attempts + 1)
        try:
            DELIVERERS[sink.kind](self.outbound, settings, attempt)
        except Unavailable as missing:
            reason, now = str(missing), self.runtime.now()
            retry = now + dt.timedelta(seconds=self.runtime.config.event_sink_sweep_seconds)
            self._record(sink, progress, lambda _s, row: records.failed(row, reason, now, retry, counted=False))
            telemetry.SINK_DELIVERIES.labels(sink.kind, "failed").inc()
            return False
        except Failed as error:
            telemetry.SINK_DELIVERIES.labels(sink.kind, "failed").inc()
            return self._failed(sink, settings, body, str(error), progress)
        telemetry.SINK_DELIVERIES.labels(sink.kind, "ok").inc()
        sink.attempts = 0
        progress.delivered += 1
        return True

    def _failed(self, sink: EventSink, settings: dict, body: dict, error: str, progress: Progress) -> bool:
        """Record a failed try: dead-letter the event after its last try (the job goes on),
        else store when to try again (the job ends)."""
        config = self.runtime.config
        most = int(settings.get("attempts") or config.event_sink_attempts)
        now = self.runtime.now()
        tries = sink.attempts + 1
        if tries >= most:
            log.warning(
                "event sink %s (%s): event %d dead-lettered after %d tries: %s",
                sink.consumer,
                sink.target,
                body["sequence"],
                tries,
                error,
            )
            self._record(sink, progress, lambda session, row: records.dead_letter(session, row, body, error, now))
            telemetry.SINK_DELIVERIES.labels(sink.kind, "dead_lettered").inc()
            progress.stored = body["sequence"]  # dead_letter moved the cursor past it
            sink.attempts = 0
            return True
        jitter = self._random.uniform(0.5, 1.0)
        delay = wire.backoff(tries, config.event_sink_backoff, config.event_sink_backoff_most, jitter)
        log.info(
            "event sink %s (%s): event %d, try %d of %d failed (%s); next in %.2f s",
            sink.consumer,
            sink.target,
            body["sequence"],
            tries,
            most,
            error,
            delay,
        )
        retry = now + dt.timedelta(seconds=delay)
        self._record(sink, progress, lambda _s, row: records.failed(row, error, now, retry))
        return False

    def _record(self, sink: EventSink, progress: Progress, change=None) -> None:
        """Store in one transaction what the job did since it last stored: the events delivered
        and passed over (the cursor), then `change(session, row)`; nothing when nothing is new."""
        if progress.position <= progress.stored and change is None:
            return
        with self._row(sink) as (session, row):
            now = self.runtime.now()
            if progress.delivered:
                records.delivered(session, row, progress.position, now, progress.delivered)
            elif progress.position > progress.stored:
                records.passed(session, row, progress.position, now)
            if change is not None:
                change(session, row)
        progress.stored, progress.delivered = progress.position, 0

    def _replay(self, sink: EventSink, settings: dict) -> bool:
        """Deliver the dead letters the owner asked for, one try each (a failure leaves the
        letter dead, its error updated); whether the job goes on."""
        with self.runtime.store.session() as session:
            letters = records.replays(session, sink, REPLAYS)
            session.expunge_all()
        for letter in letters:
            attempt = Attempt(letter.body, letter.sequence, letter.event_id, letter.attempts + 1)
            try:
                DELIVERERS[sink.kind](self.outbound, settings, attempt)
            except Unavailable:
                return False
            except Failed as error:
                outcome = str(error)
            else:
                outcome = ""
            with self._row(sink) as (session, row):
                records.replayed(session, row, letter.id, outcome)
        return True

    @contextlib.contextmanager
    def _row(self, sink: EventSink) -> Iterator[tuple[Session, EventSink]]:
        """The sink's row, locked, in one transaction that commits only while the lease is
        ours (the job acts for it)."""
        with self.runtime.store.session() as session:
            row = session.get(EventSink, sink.consumer, with_for_update=True)
            if row is None:  # its stack's rows were purged meanwhile: nothing left to record
                raise SinkGone(sink.consumer)
            yield session, row
