"""The store's side of event sinks: a stack's sinks recorded as its create or update commits
(`sync`), the sinks with work (`due`), each delivery's outcome (`delivered`, `failed`,
`dead_letter`), and what the owner sees and asks (`describe`, `ask_replay`); touches the
store only, in the session it is given, and seals settings through engine.secrets.

A sink is one entry of a top-level stack's `event_sinks`, named `sink:<stack id>:<index>`,
and that name is its consumer of the project's event stream (engine.store.event_log): its
cursor is how far it has dealt with the project's events (its own tree's delivered or
dead-lettered, the others' passed over). A new sink starts at the project's last number when
it is recorded, before its stack's first event: it receives its stack's events from the first.
Nested stacks inherit `event_sinks` in their environments (as in Heat), but only the top-level
stack's sinks deliver, so each event reaches each sink once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update

from engine import secrets
from engine.errors import NotFound
from engine.runtime import iso
from engine.sinks.targets import target
from engine.store import event_log
from engine.store.crypto import Keyring
from engine.store.models import EventCursor, EventDeadLetter, EventSequence, EventSink, Stack

# Published after a commit that recorded sinks, so delivery loops that found none look again.
TOPIC = "event-sinks"
SHOWN_DEAD_LETTERS = 100  # dead letters an answer lists per sink (the newest); all are counted


def consumer(stack_id: str, index: int) -> str:
    return f"sink:{stack_id}:{index}"


def sync(session, keyring: Keyring, stack: Stack, sinks: list[dict[str, Any]], now: dt.datetime) -> None:
    """Record a top-level stack's sinks as its environment now gives them (a create's or an
    update's): new ones start at the project's last number, changed ones keep their place,
    ones the update left out stop (their dead letters stay visible)."""
    if stack.owner_id is not None:
        return
    rows = {row.index: row for row in session.scalars(select(EventSink).where(EventSink.stack_id == stack.id))}
    start = event_log.last_number(session, stack.project) if len(sinks) > len(rows) else 0
    for index, sink in enumerate(sinks):
        settings = secrets.seal_sinks(keyring, [dict(sink)])[0]
        row = rows.pop(index, None)
        if row is None:
            name = consumer(stack.id, index)
            session.add(
                EventSink(
                    consumer=name,
                    stack_id=stack.id,
                    project=stack.project,
                    index=index,
                    kind=sink["type"],
                    target=target(sink),
                    settings=settings,
                    state="active",
                    attempts=0,
                    last_error="",
                    delivered=0,
                    created_at=now,
                )
            )
            event_log.advance_cursor(session, name, stack.project, start, now)
        else:
            row.kind, row.target, row.settings, row.state = sink["type"], target(sink), settings, "active"
    for row in rows.values():
        row.state = "removed"


def due(session, now: dt.datetime) -> list[str]:
    """The active sinks with work now: events past their cursor, or dead letters to replay;
    none waiting for a retry's time."""
    position = func.coalesce(EventCursor.position, 0)
    replays = exists().where(EventDeadLetter.consumer == EventSink.consumer, EventDeadLetter.replay.is_(True))
    query = (
        select(EventSink.consumer)
        .outerjoin(
            EventCursor, and_(EventCursor.consumer == EventSink.consumer, EventCursor.project == EventSink.project)
        )
        .outerjoin(EventSequence, EventSequence.project == EventSink.project)
        .where(
            EventSink.state == "active",
            or_(EventSink.next_attempt_at.is_(None), EventSink.next_attempt_at <= now),
            or_(func.coalesce(EventSequence.last, 0) > position, replays),
        )
        .order_by(EventSink.consumer)
    )
    return list(session.scalars(query))


def next_retry(session) -> dt.datetime | None:
    """The earliest time an active sink waits for (a retry, or a service that was missing)."""
    return session.scalar(select(func.min(EventSink.next_attempt_at)).where(EventSink.state == "active"))


def any_active(session) -> bool:
    return bool(session.scalar(select(exists().where(EventSink.state == "active"))))


def tree(session, stack_id: str) -> set[str]:
    """The stack and every stack nested under it, at any depth (one query per level)."""
    found, level = {stack_id}, [stack_id]
    while level:
        level = [i for i in session.scalars(select(Stack.id).where(Stack.owner_id.in_(level))) if i not in found]
        found.update(level)
    return found


def position(session, sink: EventSink) -> int:
    cursor = session.get(EventCursor, (sink.consumer, sink.project))
    return int(cursor.position) if cursor is not None else 0


def delivered(session, sink: EventSink, sequence: int, now: dt.datetime, count: int = 1) -> None:
    """`count` events up to the one numbered `sequence` reached the sink (the ones between
    them that are not the sink's were passed over)."""
    event_log.advance_cursor(session, sink.consumer, sink.project, sequence, now)
    sink.attempts, sink.next_attempt_at = 0, None
    sink.delivered, sink.delivered_at = sink.delivered + count, now


def passed(session, sink: EventSink, sequence: int, now: dt.datetime) -> None:
    """Events up to `sequence` are not the sink's (other stacks of the project)."""
    event_log.advance_cursor(session, sink.consumer, sink.project, sequence, now)


def failed(sink: EventSink, error: str, now: dt.datetime, retry_at: dt.datetime, *, counted: bool = True) -> None:
    """A try of the head event failed (`counted`), or the sink had nothing to deliver to."""
    if counted:
        sink.attempts += 1
    sink.last_error, sink.last_error_at, sink.next_attempt_at = error[:2000], now, retry_at


def dead_letter(session, sink: EventSink, body: dict[str, Any], error: str, now: dt.datetime) -> None:
    """Give up on the head event: keep it among the sink's dead letters and move past it."""
    session.add(
        EventDeadLetter(
            consumer=sink.consumer,
            sequence=body["sequence"],
            event_id=body["id"],
            body=body,
            attempts=sink.attempts + 1,
            last_error=error[:2000],
            failed_at=now,
            replay=False,
        )
    )
    event_log.advance_cursor(session, sink.consumer, sink.project, body["sequence"], now)
    sink.attempts, sink.next_attempt_at = 0, None
    sink.last_error, sink.last_error_at = error[:2000], now


def replays(session, sink: EventSink, limit: int) -> list[EventDeadLetter]:
    query = (
        select(EventDeadLetter)
        .where(EventDeadLetter.consumer == sink.consumer, EventDeadLetter.replay.is_(True))
        .order_by(EventDeadLetter.sequence)
        .limit(limit)
    )
    return list(session.scalars(query))


def replayed(session, sink: EventSink, letter_id: int, outcome: str) -> None:
    """A replayed dead letter: gone once delivered (`outcome` empty), else dead again with
    its new error."""
    row = session.get(EventDeadLetter, letter_id)
    if row is None:
        return
    if outcome:
        row.replay, row.attempts, row.last_error = False, row.attempts + 1, outcome[:2000]
    else:
        session.delete(row)
        sink.delivered += 1


def describe(session, stack_id: str) -> list[dict[str, Any]]:
    """Each sink of the stack with its state, position, last error and dead letters."""
    sinks = list(session.scalars(select(EventSink).where(EventSink.stack_id == stack_id).order_by(EventSink.index)))
    return [_view(session, sink) for sink in sinks]


def _view(session, sink: EventSink) -> dict[str, Any]:
    letters = list(
        session.scalars(
            select(EventDeadLetter)
            .where(EventDeadLetter.consumer == sink.consumer)
            .order_by(EventDeadLetter.sequence.desc())
            .limit(SHOWN_DEAD_LETTERS)
        )
    )
    count = session.scalar(select(func.count()).where(EventDeadLetter.consumer == sink.consumer))
    return {
        "index": sink.index,
        "type": sink.kind,
        "target": sink.target,
        "state": _shown_state(sink),
        "position": position(session, sink),
        "latest": event_log.last_number(session, sink.project),
        "attempts": sink.attempts,
        "next_attempt_at": iso(sink.next_attempt_at),
        "last_error": sink.last_error or None,
        "last_error_at": iso(sink.last_error_at),
        "delivered": sink.delivered,
        "delivered_at": iso(sink.delivered_at),
        "dead_letter_count": count,
        "dead_letters": [
            {
                "sequence": letter.sequence,
                "event_id": letter.event_id,
                "attempts": letter.attempts,
                "last_error": letter.last_error,
                "failed_at": iso(letter.failed_at),
                "replay_requested": letter.replay,
                "event": letter.body,
            }
            for letter in reversed(letters)
        ],
    }


def _shown_state(sink: EventSink) -> str:
    """active, retrying (the head event failed), waiting (nothing delivers to this kind here),
    removed (an update left it out) or finished (its stack is deleted and all delivered)."""
    if sink.state != "active":
        return sink.state
    if sink.attempts:
        return "retrying"
    if sink.next_attempt_at is not None and sink.last_error:
        return "waiting"
    return "active"


def ask_replay(session, stack_id: str, index: int, sequences: Iterable[int] | None = None) -> int:
    """Mark the sink's dead letters (those numbered `sequences`, or all) to be delivered again;
    how many were marked."""
    sink = session.scalar(select(EventSink).where(EventSink.stack_id == stack_id, EventSink.index == index))
    if sink is None:
        raise NotFound(f"the stack has no event sink {index} (GET its event_sinks lists them)")
    condition = EventDeadLetter.consumer == sink.consumer
    if sequences is not None:
        condition = and_(condition, EventDeadLetter.sequence.in_(list(sequences)))
    marked = session.execute(update(EventDeadLetter).where(condition).values(replay=True)).rowcount
    if marked and sink.state == "finished":
        sink.state = "active"  # a finished sink delivers its replays, then finishes again
    sink.next_attempt_at = None
    return int(marked or 0)
