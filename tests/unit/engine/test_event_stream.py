"""The event stream's order (engine.store.event_log) on real stores: every event numbered in its
project's sequence as its unit of work commits, in commit order, with no gap and no repeat,
whatever the writers race; a reader that follows the numbers never skips one."""

from __future__ import annotations

import random
import threading

from sqlalchemy import select

from engine.orchestration.events import resource_event
from engine.store import event_log
from engine.store.models import Event
from tests.support import create, settle, wait_for

CHAIN = """heat_template_version: 2018-08-31
resources:
  first: {type: OS::Heat::Value, properties: {value: one}}
  second: {type: OS::Heat::Value, properties: {value: {get_attr: [first, value]}}}
"""


def numbered(service, project="admin"):
    with service.runtime.store.session() as session:
        return event_log.read_since(session, project, 0, 100_000)


def test_a_stacks_events_are_numbered_in_order_with_their_operation(service):
    stack_id = create(service, "numbered", CHAIN)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    events = numbered(service)
    assert [e.project_seq for e in events] == list(range(1, len(events) + 1))
    assert [e.seq for e in events] == sorted(e.seq for e in events)  # one writer: stored order
    shown = [e["id"] for e in service.resources.list_events("admin", stack_id)]
    assert [e.id for e in events] == shown  # every event of the stack, none else
    create_ops = {e.operation for e in events if e.action == "CREATE"}
    delete_ops = {e.operation for e in events if e.action == "DELETE"}
    assert create_ops == {f"{stack_id}:1"} and delete_ops == {f"{stack_id}:2"}
    with service.runtime.store.session() as session:
        assert event_log.last_number(session, "admin") == len(events)
        assert event_log.last_number(session, "nobody") == 0


def test_projects_have_their_own_sequences(service):
    first = create(service, "mine", CHAIN)
    other = service.stacks.create_stack("other", {"stack_name": "theirs", "template": CHAIN})["id"]
    settle(service, first)
    wait_for(lambda: service.stacks.show_stack("other", other)["stack_status"] == "CREATE_COMPLETE", 30)
    for project, stack_id in (("admin", first), ("other", other)):
        events = numbered(service, project)
        assert {e.stack_id for e in events} == {stack_id}
        assert [e.project_seq for e in events] == list(range(1, len(events) + 1))


def test_a_rolled_back_unit_of_work_gives_its_numbers_back(service):
    stack_id = create(service, "rolled", CHAIN)
    settle(service, stack_id)
    before = numbered(service)
    store = service.runtime.store
    try:
        with store.session() as session:
            session.add(resource_event(stack_id, "first", "OS::Heat::Value", None, "SIGNAL", "COMPLETE", "x", _now()))
            session.flush()
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    with store.session() as session:
        session.add(resource_event(stack_id, "first", "OS::Heat::Value", None, "SIGNAL", "COMPLETE", "y", _now()))
    after = numbered(service)
    assert len(after) == len(before) + 1
    assert (after[-1].project_seq, after[-1].reason) == (len(before) + 1, "y")


def test_racing_writers_commit_in_number_order_and_a_follower_never_skips(service):
    """Eight threads each add events in units of work that wait a random moment between the
    insert and the commit (so a later insert often commits first); a follower reads `since`
    its last number all along. The numbers are 1..N, each once, and every read the follower
    made began right after the last number it had seen."""
    stack_id = create(service, "raced", CHAIN)
    settle(service, stack_id)
    store = service.runtime.store
    base = len(numbered(service))
    writers, per_writer = 8, 15
    rng = random.Random(7)
    pauses = [[rng.uniform(0, 0.01) for _ in range(per_writer)] for _ in range(writers)]
    done = threading.Event()
    gaps: list[tuple[int, int]] = []
    seen: list[int] = []

    def write(index: int) -> None:
        for pause in pauses[index]:
            with store.session() as session:
                for _ in range(rng.randint(1, 3) if index % 2 else 1):
                    event = resource_event(stack_id, "first", "OS::Heat::Value", None, "SIGNAL", "COMPLETE", "", _now())
                    session.add(event)
                session.flush()
                done.wait(pause)  # hold the transaction open a random moment (nothing sets it early)

    def follow() -> None:
        last = base
        while True:
            finished = done.is_set()
            with store.session() as session:
                batch = [e.project_seq for e in event_log.read_since(session, "admin", last, 50)]
            if batch:
                if batch[0] != last + 1 or batch != list(range(batch[0], batch[0] + len(batch))):
                    gaps.append((last, batch[0]))
                seen.extend(batch)
                last = batch[-1]
            elif finished:
                return

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    follower = threading.Thread(target=follow)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    follower.join(timeout=60)
    assert not follower.is_alive()
    events = numbered(service)
    numbers = [e.project_seq for e in events]
    assert numbers == list(range(1, len(numbers) + 1)), "the sequence has a gap or a repeat"
    assert len(numbers) > base + writers * per_writer
    assert not gaps, f"the follower skipped numbers: {gaps[:5]}"
    assert seen == numbers[base:]


def test_a_consumers_cursor_tells_what_it_has_not_delivered(service):
    stack_id = create(service, "cursor", CHAIN)
    settle(service, stack_id)
    store, now = service.runtime.store, _now()
    with store.session() as session:
        last = event_log.last_number(session, "admin")
        assert event_log.behind(session, "webhook") == {"admin": (0, last)}
        event_log.advance_cursor(session, "webhook", "admin", 2, now)
    with store.session() as session:
        assert event_log.behind(session, "webhook") == {"admin": (2, last)}
        event_log.advance_cursor(session, "webhook", "admin", 1, now)  # never backwards
        event_log.advance_cursor(session, "webhook", "admin", last, now)
    with store.session() as session:
        assert event_log.behind(session, "webhook") == {}
        assert event_log.behind(session, "other") == {"admin": (0, last)}
        assert session.scalar(select(Event.project_seq).where(Event.project_seq.is_(None))) is None


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
