"""Leases: several engine replicas on one PostgreSQL database drive each stack operation once
(engine/orchestration/lease.py, scheduler.py, journal.py); SQLite takes one engine process.

Replicas are two Services built as tests/conftest.py's `service` fixture builds one, on one
database, with distinct node names and one Notifier object between them (standing in for the
LISTEN/NOTIFY bridge that carries publishes between real processes).
"""

from __future__ import annotations

import collections
import threading
import time
import uuid

import pytest
import sqlalchemy
from sqlalchemy import select

from engine.config import Config
from engine.guest.service import GuestAuth
from engine.orchestration.lease import EngineLocked, Leases
from engine.service import build_service
from engine.store.models import Event, Lease, Resource as ResourceRow, Stack
from engine.store.notify import Notifier
from tests.support import create, settle, wait_for

TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: a}
  count: {type: number, default: 1}
resources:
  one: {type: Test::Counted, properties: {v: {get_param: v}}}
  two: {type: Test::Counted, depends_on: one, properties: {v: {get_param: v}}}
  three: {type: Test::Counted, depends_on: two, properties: {v: {get_param: v}}}
"""

WAITING = """heat_template_version: 2018-08-31
parameters:
  v: {type: string, default: a}
  count: {type: number, default: 1}
resources:
  one: {type: Test::Counted, properties: {v: {get_param: v}}}
  handle: {type: OS::Heat::WaitConditionHandle}
  wait:
    type: OS::Heat::WaitCondition
    depends_on: one
    properties: {handle: {get_resource: handle}, count: {get_param: count}, timeout: 600}
outputs:
  token: {value: {get_attr: [handle, token]}}
"""


class Counted:
    """A resource type run on the handler pool that notes (node, action, stack, resource) of
    each handler call, so a test sees which replica ran it and how often."""

    @staticmethod
    def install(service, calls: list) -> None:
        from engine.resources.base import Done, Resource
        from engine.resources.schema import Prop

        node = service.runtime.config.node_name

        class Counted(Resource):
            type_name = "Test::Counted"
            inline = False
            properties_schema = {"v": Prop("string", "any text", update_allowed=True)}

            def _note(self, action: str) -> None:
                calls.append((node, action, self.state.stack_id, self.state.name))

            def create(self):
                self._note("create")
                return Done(physical_id=f"counted-{self.state.name}-{uuid.uuid4().hex[:6]}")

            def update(self):
                self._note("update")
                return Done(physical_id=self.state.physical_id)

            def delete(self):
                self._note("delete")

        service.types["Test::Counted"] = Counted


def _fresh(url: str) -> None:
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


class Replicas:
    """Engine replicas on one database, sharing one notifier and one handler-call log."""

    def __init__(self, url: str, tmp_path, count: int = 2, roles: tuple[str, ...] = (), **settings):
        self.notifier = Notifier()
        self.calls: list = []
        self.services = []
        for i in range(count):
            config = Config.from_env(
                {},
                db_url=url,
                data_dir=str(tmp_path / "data"),  # one key: what one signs, any verifies
                compute="deployed",
                node_name=f"node-{i}",
                role=roles[i] if i < len(roles) else "all",
                **settings,
            )
            service = build_service(config)
            service.runtime.notifier = self.notifier
            Counted.install(service, self.calls)
            self.services.append(service)
        for service in self.services:
            service.start()

    def stop(self) -> None:
        for service in self.services:
            service.stop()
            service.runtime.store.dispose()

    def owner(self, stack_id: str) -> str | None:
        with self.services[0].runtime.store.session() as session:
            return session.scalar(select(Lease.owner).where(Lease.name == f"stack:{stack_id}"))

    def by_node(self, node: str):
        return next(s for s in self.services if s.runtime.config.node_name == node)

    def owner_and_other(self, stack_id: str):
        node = wait_for(lambda: self.owner(stack_id), 10, message="a replica to claim the stack")
        owner = self.by_node(node)
        return owner, next(s for s in self.services if s is not owner)


@pytest.fixture
def pg_url(postgres_server_url):
    _fresh(postgres_server_url)
    return postgres_server_url


@pytest.fixture
def replicas(pg_url, tmp_path):
    running = Replicas(pg_url, tmp_path)
    yield running
    running.stop()


def events(service, stack_id) -> list[tuple[str, str, str]]:
    with service.runtime.store.session() as session:
        rows = session.execute(
            select(Event.resource_name, Event.action, Event.status).where(Event.stack_id == stack_id)
        ).all()
    return [tuple(r) for r in rows]


def no_duplicates(rows: list) -> bool:
    return all(n == 1 for n in collections.Counter(rows).values())


def waiting(service, stack_id) -> str:
    """The wait condition's token once the wait is stored as waiting for its signal."""

    def ready():
        with service.runtime.store.session() as session:
            row = session.scalar(
                select(ResourceRow).where(ResourceRow.stack_id == stack_id, ResourceRow.name == "wait")
            )
            if row is None or not row.waiting:
                return None
        return service.stacks.show_output("admin", stack_id, "token")["output_value"]

    return wait_for(ready, 10, message="the wait condition to wait")


def signal(service, stack_id, token: str, signal_id: str = "1") -> None:
    handle_id = service.resources.show_resource("admin", stack_id, "handle")["physical_resource_id"]
    service.guest.signal_handle(GuestAuth(bearer=token), handle_id, {"id": signal_id, "data": "ok"}, "")


def test_a_create_is_driven_by_exactly_one_replica(replicas):
    a, b = replicas.services
    stack_ids = [create(a if i % 2 else b, f"once{i}", TEMPLATE) for i in range(4)]
    for stack_id in stack_ids:
        stack = settle(a, stack_id)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        calls = [c for c in replicas.calls if c[2] == stack_id]
        # Each handler ran once, all on one replica.
        assert sorted(c[1:] for c in calls) == sorted(("create", stack_id, n) for n in ("one", "two", "three"))
        assert len({c[0] for c in calls}) == 1
        rows = events(a, stack_id)
        assert no_duplicates(rows), rows
        assert len(rows) == 2 + 2 * 3  # the stack's and each resource's IN_PROGRESS and COMPLETE
    # A finished operation's lease is given up.
    wait_for(lambda: all(replicas.owner(i) is None for i in stack_ids), 5, message="the leases to be released")


def test_a_signal_through_another_replica_reaches_the_owner(replicas):
    stack_id = create(replicas.services[0], "signalled", WAITING)
    owner, other = replicas.owner_and_other(stack_id)
    token = waiting(owner, stack_id)
    assert stack_id in owner.scheduler.driving() and stack_id not in other.scheduler.driving()
    signal(other, stack_id, token)
    stack = settle(other, stack_id, timeout=10)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert no_duplicates(events(owner, stack_id))
    assert {c[0] for c in replicas.calls if c[2] == stack_id} == {owner.runtime.config.node_name}


def test_a_replica_that_dies_loses_its_operation_to_another_within_a_lease_period(pg_url, tmp_path):
    replicas = Replicas(pg_url, tmp_path, lease_seconds=1.5)
    try:
        stack_id = create(replicas.services[0], "orphan", WAITING)
        owner, other = replicas.owner_and_other(stack_id)
        token = waiting(owner, stack_id)
        before = events(owner, stack_id)
        owner.scheduler.stop(release=False)  # it dies: its lease is left to expire
        died = time.monotonic()
        wait_for(lambda: stack_id in other.scheduler.driving(), 1.5 + 3, message="the other replica to take over")
        assert time.monotonic() - died <= 1.5 + 3
        assert replicas.owner(stack_id) == other.runtime.config.node_name
        signal(other, stack_id, token)
        stack = settle(other, stack_id, timeout=10)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        rows = events(other, stack_id)
        assert no_duplicates(rows), rows
        assert rows[: len(before)] == before
        # The resource created before the death was not created again.
        assert [c[1] for c in replicas.calls if c[2] == stack_id] == ["create"]
    finally:
        replicas.stop()


def _steal(service, stack_id: str) -> None:
    """Another replica's claim, written over this lease."""
    with service.runtime.store.session() as session:
        session.execute(
            sqlalchemy.text(
                "UPDATE leases SET owner = 'intruder', expires_at = timezone('UTC', now()) + interval '1 hour' "
                "WHERE name = :name"
            ),
            {"name": f"stack:{stack_id}"},
        )


def _engine_rows(service, stack_id):
    with service.runtime.store.session() as session:
        stack = session.get(Stack, stack_id)
        wait = session.scalar(select(ResourceRow).where(ResourceRow.stack_id == stack_id, ResourceRow.name == "wait"))
        return (stack.status, wait.action, wait.status, wait.waiting)


def test_a_replica_whose_lease_was_taken_writes_nothing_more_for_the_stack(pg_url, tmp_path):
    # Long leases: no renewal comes in the test, so only the flush's guard can notice.
    replicas = Replicas(pg_url, tmp_path, lease_seconds=60)
    try:
        stack_id = create(replicas.services[0], "stolen", WAITING)
        owner, other = replicas.owner_and_other(stack_id)
        token = waiting(owner, stack_id)
        before, rows_before = events(owner, stack_id), _engine_rows(owner, stack_id)
        _steal(owner, stack_id)
        signal(owner, stack_id, token)  # the owner wakes, completes the wait, and tries to store it
        wait_for(lambda: stack_id not in owner.scheduler.driving(), 5, message="the old owner to drop the run")
        assert [e for e in events(owner, stack_id) if e[0] != "handle"] == [e for e in before if e[0] != "handle"]
        assert _engine_rows(owner, stack_id) == rows_before == ("IN_PROGRESS", "CREATE", "IN_PROGRESS", True)
        assert stack_id not in other.scheduler.driving()  # the intruder's lease is unexpired
    finally:
        replicas.stop()


def test_a_lease_lost_at_renewal_stops_the_run_and_the_next_owner_finishes(pg_url, tmp_path):
    replicas = Replicas(pg_url, tmp_path, lease_seconds=1.5)
    try:
        stack_id = create(replicas.services[0], "renewed", WAITING)
        owner, _other = replicas.owner_and_other(stack_id)
        token = waiting(owner, stack_id)
        _steal(owner, stack_id)
        wait_for(lambda: stack_id not in owner.scheduler.driving(), 3, message="the renewal to find the lease lost")
        before = events(owner, stack_id)
        # The intruder goes away: one of the replicas takes the operation over and finishes it.
        with owner.runtime.store.session() as session:
            session.execute(sqlalchemy.delete(Lease).where(Lease.name == f"stack:{stack_id}"))
        wait_for(lambda: replicas.owner(stack_id) not in (None, "intruder"), 3, message="a take-over")
        signal(owner, stack_id, token)
        stack = settle(owner, stack_id, timeout=10)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        rows = events(owner, stack_id)
        assert no_duplicates(rows), rows
        assert rows[: len(before)] == before
    finally:
        replicas.stop()


def test_an_update_and_a_delete_through_another_replica_are_driven_by_the_owner(replicas):
    first = replicas.services[0]
    stack_id = create(first, "changed", WAITING)
    token = waiting(first, stack_id)
    signal(first, stack_id, token)
    assert settle(first, stack_id)["stack_status"] == "CREATE_COMPLETE"
    replicas.calls.clear()
    first.operations.update_stack("admin", stack_id, {"parameters": {"v": "b", "count": "2"}}, patch=True)
    owner, other = replicas.owner_and_other(stack_id)
    wait_for(lambda: stack_id in owner.scheduler.driving(), 5, message="the owner to drive the update")
    waiting(owner, stack_id)  # the update waits for a second signal
    other.stacks.delete_stack("admin", stack_id)  # through the replica that does not drive it
    stack = settle(owner, stack_id, timeout=10)
    assert stack["stack_status"] == "DELETE_COMPLETE", stack["stack_status_reason"]
    node = owner.runtime.config.node_name
    assert sorted(replicas.calls) == sorted([(node, "update", stack_id, "one"), (node, "delete", stack_id, "one")])
    assert no_duplicates(events(owner, stack_id))


def test_an_api_only_replica_drives_nothing(pg_url, tmp_path):
    replicas = Replicas(pg_url, tmp_path, roles=("all", "api"))
    try:
        engine, api = replicas.services
        stack_id = create(api, "elsewhere", TEMPLATE)
        assert settle(api, stack_id)["stack_status"] == "CREATE_COMPLETE"
        assert {c[0] for c in replicas.calls} == {engine.runtime.config.node_name}
        assert api.scheduler.leases.held() == set()
    finally:
        replicas.stop()


def test_a_second_engine_on_one_sqlite_file_refuses_to_start(tmp_path):
    config = Config.from_env(
        {}, db_url=f"sqlite:///{tmp_path}/one.db", data_dir=str(tmp_path / "data"), compute="deployed"
    )
    first, second = build_service(config), build_service(config)
    first.start()
    try:
        with pytest.raises(EngineLocked, match=r"pid \d+.*use PostgreSQL"):
            second.start()
    finally:
        first.stop()
        first.runtime.store.dispose()
    second.start()  # the first has gone: the file is free
    second.stop()
    second.runtime.store.dispose()


def test_claims_race_and_exactly_one_wins(pg_url):
    from engine.store.db import Store

    store = Store(pg_url)
    store.migrate()
    contenders = [Leases(store, f"n{i}", 30) for i in range(4)]
    names = [f"stack:{i}" for i in range(20)]
    start = threading.Barrier(len(contenders))
    won: dict[int, set] = {}

    def claim(i):
        start.wait()
        won[i] = contenders[i].claim(names)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(contenders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert collections.Counter(n for w in won.values() for n in w) == dict.fromkeys(names, 1)
    store.dispose()


def test_a_handler_write_on_a_stack_s_behalf_commits_only_while_its_lease_is_held(db_url):
    """What a handler writes itself (a deployment's push into a server's metadata, a nested
    stack) is guarded like the journal's flush: refused once another replica has the lease."""
    from engine.orchestration.lease import LeaseLost
    from engine.store.db import Store
    from engine.store.models import AuditEvent

    store = Store(db_url)
    store.migrate()
    mine, theirs = Leases(store, "mine", 30), Leases(store, "theirs", 30)
    assert mine.claim(["stack:held"]) == {"stack:held"} and theirs.claim(["stack:taken"]) == {"stack:taken"}

    def write(name: str, action: str) -> None:
        with mine.acting_for(name), store.session() as session:
            session.add(AuditEvent(**_audit(action)))

    write("stack:held", "kept")
    with pytest.raises(LeaseLost, match="stack:taken is driven by another replica"):
        write("stack:taken", "refused")
    with store.session() as session:
        assert list(session.scalars(select(AuditEvent.action))) == ["kept"]
    store.dispose()


def _audit(action: str) -> dict:
    import datetime as dt

    at = dt.datetime(2026, 1, 1)  # noqa: DTZ001 - naive UTC, as the store keeps times
    return {"at": at, "actor": "test", "action": action, "outcome": "ok"}
