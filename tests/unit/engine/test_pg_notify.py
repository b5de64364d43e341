"""PgBridge: two Notifier+bridge pairs in this process, on a PostgreSQL database of the test's own,
hear each other's publishes (and not their own), survive a killed connection and stop promptly."""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import psycopg
import pytest
import sqlalchemy

from engine.config import Config
from engine.guest import enrol
from engine.service import GuestAuth, Service, build_service
from engine.store import notify
from engine.store.models import Server
from engine.store.notify import Notifier
from engine.store.pg_notify import PAYLOAD_LIMIT, PgBridge, conninfo, decode, encode
from tests.support import PG_URL, wait_for


@pytest.fixture
def pg_url():
    """A database of this test's own: notifications are per database, so nothing else is heard."""
    admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = "hearth_notify_" + uuid.uuid4().hex[:12]
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {error}")
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


@pytest.fixture
def replica(pg_url):
    """make(node) -> (notifier, bridge), started; every one is stopped at the end."""
    bridges: list[PgBridge] = []

    def make(node: str) -> tuple[Notifier, PgBridge]:
        notifier = Notifier()
        bridge = PgBridge(pg_url, node, notifier)
        assert notifier.bridge is bridge
        assert bridge.start(), "the bridge did not start listening"
        bridges.append(bridge)
        return notifier, bridge

    yield make
    for bridge in bridges:
        bridge.stop()


def heard(notifier: Notifier, prefix: str = "") -> list[str]:
    topics: list[str] = []
    notifier.subscribe(prefix, topics.append)
    return topics


def test_a_waiter_on_b_wakes_when_a_publishes_and_gets_the_version_hint(replica):
    a, _ = replica("node-a")
    b, _ = replica("node-b")
    woken: list[bool] = []
    waiter = threading.Thread(
        target=lambda: woken.append(b.wait("server:s1", lambda: b.hint("server:s1") == 7, timeout=10))
    )
    waiter.start()
    a.publish("server:s1", (7, {"deployments": []}))
    waiter.join(15)
    assert woken == [True]
    assert b.latest("server:s1") is None  # the document stays on A: B's waiters read the store


def test_own_publish_is_not_heard_back(replica):
    a, _ = replica("node-a")
    b, _ = replica("node-b")
    on_a, on_b = heard(a, "stack:"), heard(b, "stack:")
    a.publish("stack:mine")
    wait_for(lambda: on_b == ["stack:mine"], timeout=10, message="B hears A's publish")
    # B answers after hearing it; PostgreSQL delivers in commit order, so an echo of A's own
    # NOTIFY would reach A before B's answer does.
    b.publish("stack:answer")
    wait_for(lambda: "stack:answer" in on_a, timeout=10, message="A hears B's answer")
    assert on_a == ["stack:mine", "stack:answer"]


def test_a_prefix_subscriber_on_b_hears_wake_topics_exactly(replica):
    a, _ = replica("node-a")
    b, _ = replica("node-b")
    wakes = heard(b, "wake:")
    everything = heard(b)
    # A resource name may hold spaces and other characters: the topic arrives as it was sent.
    a.publish("stack:s1")
    a.publish("wake:s1:web server 2")
    a.publish("wake:s1:ünïcode%20")
    wait_for(lambda: len(everything) == 3, timeout=10, message="three topics on B")
    assert wakes == ["wake:s1:web server 2", "wake:s1:ünïcode%20"]


def test_a_burst_of_10000_topics_is_heard_complete(replica):
    a, _ = replica("node-a")
    b, _ = replica("node-b")
    got: set[str] = set()
    b.subscribe("server:", got.add)
    topics = [f"server:{uuid.uuid4()}" for _ in range(10_000)]
    started = time.monotonic()
    for number, topic in enumerate(topics):
        a.publish(topic, hint=number)
    wait_for(lambda: len(got) == len(topics), timeout=30, interval=0.005, message="all 10,000 topics on B")
    elapsed = time.monotonic() - started
    print(f"\n10,000 topics from A's first publish to B's last: {elapsed * 1000:.0f} ms")
    assert got == set(topics)
    assert b.hint(topics[1234]) == 1234
    assert elapsed < 10


def test_b_reconnects_after_its_listener_is_killed_and_republishes_everything(replica, pg_url, caplog):
    caplog.set_level("INFO", logger="engine.store.pg_notify")
    a, _ = replica("node-a")
    b, _ = replica("node-b")
    on_b = heard(b)
    with psycopg.connect(conninfo(pg_url), autocommit=True) as third:
        killed = third.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hearth listen node-b'"
        ).fetchall()
    assert killed == [(True,)]
    wait_for(lambda: notify.EVERYTHING in on_b, timeout=10, message="B publishes everything after reconnecting")
    a.publish("stack:after")
    wait_for(lambda: "stack:after" in on_b, timeout=10, message="B hears A again")
    said = [record.getMessage() for record in caplog.records]
    assert sum("lost the connection" in message for message in said) == 1  # once per outage
    assert sum("listening for other replicas' changes again" in message for message in said) == 1


def test_a_publish_made_while_the_sender_was_killed_is_not_lost(replica, pg_url):
    a, _ = replica("node-a")
    b, _ = replica("node-b")
    on_b = heard(b)
    with psycopg.connect(conninfo(pg_url), autocommit=True) as third:
        third.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hearth send node-a'"
        )
    a.publish("stack:during")  # goes out on a dead connection: retried on a new one
    wait_for(lambda: "stack:during" in on_b, timeout=10, message="B hears what A sent after losing its sender")
    assert notify.EVERYTHING not in on_b  # B's own connection never went away


def test_stop_is_prompt_and_sends_what_was_queued(replica):
    a, bridge = replica("node-a")
    b, _ = replica("node-b")
    on_b = heard(b)
    for number in range(100):
        a.publish(f"stack:{number}")
    started = time.monotonic()
    bridge.stop()
    assert time.monotonic() - started < 2
    wait_for(lambda: len(on_b) == 100, timeout=10, message="what A queued before stopping")
    a.publish("stack:after-stop")  # no bridge any more: this process only
    assert a.bridge is None


def test_payloads_stay_under_postgresqls_limit_and_decode_back():
    items = [(f"wake:{uuid.uuid4()}:resource {number}\n", number if number % 3 else None) for number in range(2_000)]
    payloads = encode("node/ab12", items)
    assert all(len(payload.encode()) < PAYLOAD_LIMIT for payload in payloads)
    assert len(payloads) < 30  # many topics share a NOTIFY
    decoded = [decode(payload) for payload in payloads]
    assert {origin for origin, _ in decoded} == {"node/ab12"}
    assert [item for _, part in decoded for item in part] == items


def test_conninfo_carries_every_part_of_the_url():
    parts = psycopg.conninfo.conninfo_to_dict(
        conninfo("postgresql+psycopg://hearth:s3cr%40t@db.example:6432/hearthdb?sslmode=require")
    )
    assert parts["user"] == "hearth" and parts["password"] == "s3cr@t"
    assert (parts["host"], parts["port"], parts["dbname"]) == ("db.example", "6432", "hearthdb")
    assert parts["sslmode"] == "require"
    with pytest.raises(ValueError, match="PostgreSQL"):
        conninfo("sqlite:///x.db")


def test_latency_from_a_to_a_waiter_on_b(replica):
    """Measures (pytest -s): one publish on A until a thread waiting on B returns."""
    a, _ = replica("node-a")
    b, _ = replica("node-b")
    samples = []
    for run in range(200):
        topic = f"server:{run}"
        ready, done = threading.Event(), threading.Event()

        def waiter(topic=topic, ready=ready, done=done):
            seen = b.counter(topic)
            ready.set()
            b.wait(topic, lambda topic=topic, seen=seen: b.counter(topic) != seen, timeout=10)
            done.set()

        thread = threading.Thread(target=waiter)
        thread.start()
        ready.wait()
        started = time.perf_counter()
        a.publish(topic, hint=run)
        assert done.wait(10)
        samples.append(time.perf_counter() - started)
        thread.join()
    samples.sort()
    median, p99 = statistics.median(samples) * 1000, samples[int(len(samples) * 0.99) - 1] * 1000
    print(f"\npublish on A -> waiter on B woken, 200 runs: median {median:.2f} ms, p99 {p99:.2f} ms")
    assert p99 < 150


def test_an_agent_long_polling_b_costs_a_read_only_for_a_newer_version_from_a(pg_url, tmp_path):
    """Two engine services on one database: A's publishes wake an agent's long-poll on B, which
    reads the server row only when the version A announces is one the agent lacks."""
    a = running(pg_url, tmp_path / "a")
    b = running(pg_url, tmp_path / "b")
    try:
        secret = enrol.issue_bootstrap(b.runtime, "admin", "rack-1", new=True)["bootstrap"]["credential"]
        auth = GuestAuth(bearer=secret)
        version, _ = b.guest.metadata(auth, "rack-1", None, 0)
        reads: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            if "FROM servers" in statement and threading.current_thread().name == "poll":
                reads.append(statement)

        sqlalchemy.event.listen(b.runtime.store.engine, "before_cursor_execute", count)
        answers: list[object] = []

        def poll(wait: float) -> threading.Thread:
            thread = threading.Thread(
                target=lambda: answers.append(b.guest.metadata(auth, "rack-1", version, wait)), name="poll"
            )
            thread.start()
            wait_for(lambda: len(reads) == 1, message="the poll's own read of the server")
            return thread

        # A wake announcing the version the agent has: the poll runs out without another read.
        waiting = poll(2)
        before = b.runtime.notifier.counter("server:rack-1")
        a.runtime.notifier.publish("server:rack-1", hint=version)
        wait_for(lambda: b.runtime.notifier.counter("server:rack-1") > before, message="B hears A")
        assert waiting.is_alive(), "the poll ended before the wake reached it: nothing was measured"
        waiting.join(15)
        assert answers == [None] and len(reads) == 1

        # A newer version: one read (it is not in the row yet), then one more once it is.
        answers.clear()
        reads.clear()
        waiting = poll(20)
        a.runtime.notifier.publish("server:rack-1", hint=version + 1)
        wait_for(lambda: len(reads) == 2, message="a read for the newer version")
        with a.runtime.store.session() as session:
            session.execute(sqlalchemy.update(Server).where(Server.id == "rack-1").values(metadata_version=version + 1))
        a.runtime.publish_server("rack-1", (version + 1, {}))
        waiting.join(15)
        assert [answer[0] for answer in answers] == [version + 1]  # type: ignore[index]
        # One more read for the row's change; none if that change landed while the second read
        # was under way (it then found the new version itself): never one per wake regardless.
        assert len(reads) in (2, 3)
    finally:
        for service in (a, b):
            service.stop()
            service.runtime.store.dispose()


def running(db_url: str, data_dir) -> Service:
    service = build_service(Config.from_env({}, db_url=db_url, data_dir=str(data_dir), compute="deployed"))
    service.start()
    assert service.bridge is not None
    return service
