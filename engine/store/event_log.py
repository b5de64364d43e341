"""Event log: owns the order of the event stream (docs/events.md): every event's project, its
number in the project's sequence and its operation, stamped as the unit of work that added it
commits; and the reads and cursors of the stream's consumers.

Why at commit: a reader that follows the stream (`since=N`) must never see event N+2 before
N+1 is visible, or it skips N+1 for good. A database sequence hands numbers out in the order
transactions ask, not the order they commit. So the numbers are given last, just before the
commit, under the project's row in `event_sequences` (`UPDATE ... SET last = last + n`): the
row lock is held to the commit, so a project's transactions commit in the order of their
numbers, and a number seen implies every smaller one is visible. A transaction that rolls
back gives its numbers back (the UPDATE rolls back too): the sequence has no gaps. Projects
are stamped in sorted order, and the lock is the transaction's last one, so stamping cannot
deadlock with anything else it holds.

Writers need do nothing: an `Event` added through the ORM is noticed when it is flushed; a
batched Core insert (the journal's) names its event ids with `track`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.store.models import Event, EventCursor, EventSequence, Stack

# session.info keys: the ids of the events this unit of work added and not yet stamped; and,
# once stamped, {project: its newest number}, announced after the commit (Store.on_events).
TRACKED = "hearth.events"
STAMPED = "hearth.events.stamped"


def track(session: Session, event_ids: Iterable[str]) -> None:
    """Stamp these events (inserted by a Core statement) when `session` commits."""
    session.info.setdefault(TRACKED, []).extend(event_ids)


def collect(session: Session, _flush_context: object, _instances: object) -> None:
    """before_flush: remember the events the ORM is about to insert."""
    added = [o.id for o in session.new if isinstance(o, Event)]
    if added:
        track(session, added)


def stamp(session: Session) -> None:
    """before_commit: number the unit of work's events in their projects' sequences."""
    session.flush()  # what commit flushes next anyway: the events added since are tracked by it
    ids = session.info.pop(TRACKED, None)
    if not ids:
        return
    rows = session.execute(
        select(Event.seq, Event.stack_id, Stack.project, Stack.operation)
        .join(Stack, Stack.id == Event.stack_id)
        .where(Event.id.in_(ids))
        .order_by(Event.seq)
    ).all()
    by_project: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_project[row.project].append(row)
    stamped = []
    for project in sorted(by_project):
        events = by_project[project]
        last = _advance(session, project, len(events))
        first = last - len(events) + 1
        stamped += [
            {"seq": e.seq, "project": project, "project_seq": first + i, "operation": f"{e.stack_id}:{e.operation}"}
            for i, e in enumerate(events)
        ]
    if stamped:
        session.execute(update(Event), stamped)  # the ORM's bulk UPDATE by primary key (seq)
        newest = session.info.setdefault(STAMPED, {})
        for each in stamped:
            newest[each["project"]] = max(each["project_seq"], newest.get(each["project"], 0))


def committed(session: Session) -> dict[str, int]:
    """after_commit: {project: newest number} of the events just committed (and forgotten)."""
    return session.info.pop(STAMPED, None) or {}


def rolled_back(session: Session) -> None:
    """after_rollback: nothing of the unit of work was stored; nothing to stamp or announce."""
    session.info.pop(TRACKED, None)
    session.info.pop(STAMPED, None)


def _advance(session: Session, project: str, count: int) -> int:
    """Take `count` numbers of the project's sequence (its row locked to the commit); the last."""
    bump = (
        update(EventSequence)
        .where(EventSequence.project == project)
        .values(last=EventSequence.last + count)
        .returning(EventSequence.last)
        .execution_options(synchronize_session=False)
    )
    last = session.execute(bump).scalar()
    if last is None:  # the project's first event: its row, made once whoever races to make it
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(EventSequence).values(project=project, last=0).on_conflict_do_nothing())
        last = session.execute(bump).scalar_one()
    return int(last)


def last_number(session: Session, project: str) -> int:
    """The project's newest event number (0 when it has none)."""
    return int(session.scalar(select(EventSequence.last).where(EventSequence.project == project)) or 0)


def read_since(session: Session, project: str, since: int, limit: int) -> list[Event]:
    """The project's events numbered above `since`, in order, at most `limit`."""
    query = (
        select(Event)
        .where(Event.project == project, Event.project_seq > since)
        .order_by(Event.project_seq)
        .limit(limit)
    )
    return list(session.scalars(query))


def behind(session: Session, consumer: str) -> dict[str, tuple[int, int]]:
    """The projects whose events `consumer` has not all delivered: {project: (its position,
    the project's last number)}. One read of two small tables, however long the log."""
    query = (
        select(EventSequence.project, EventSequence.last, EventCursor.position)
        .outerjoin(EventCursor, (EventCursor.project == EventSequence.project) & (EventCursor.consumer == consumer))
        .where(EventSequence.last > func.coalesce(EventCursor.position, 0))
    )
    return {project: (int(position or 0), int(last)) for project, last, position in session.execute(query)}


def advance_cursor(session: Session, consumer: str, project: str, position: int, now: dt.datetime) -> None:
    """Record that `consumer` delivered the project's events up to `position` (never backwards)."""
    cursor = session.get(EventCursor, (consumer, project), with_for_update=True)
    if cursor is None:
        session.add(EventCursor(consumer=consumer, project=project, position=position, updated_at=now))
    elif position > cursor.position:
        cursor.position, cursor.updated_at = position, now
