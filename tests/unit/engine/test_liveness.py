"""engine/guest/liveness.py on a real SQLite store with an injected clock: when a server's agent counts
as seen, and which waiting deployments fail because their agent is gone (and which do not)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.compute.deployed import DeployedDriver
from engine.config import Config
from engine.guest import liveness
from engine.runtime import Runtime
from engine.store.crypto import Keyring
from engine.store.db import Store
from engine.store.models import Deployment, Server
from engine.store.notify import Notifier

START = dt.datetime(2026, 11, 22, 12, 0, 0)  # noqa: DTZ001 - naive UTC, as the store keeps times
GRACE, LONGPOLL = 30, 10  # gone after 40 s unseen


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def world(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/l.db")
    store.migrate()
    clock, woken = Clock(), []
    runtime = Runtime(
        config=Config.from_env({}, agent_gone_grace=GRACE, longpoll_max_wait=LONGPOLL),
        store=store,
        keyring=Keyring("test-key"),
        notifier=Notifier(),
        compute=DeployedDriver(),
        clock=clock,
    )
    runtime.wake = lambda stack_id, resource=None: woken.append((stack_id, resource))
    yield runtime, clock, woken
    store.dispose()


def add(runtime, server_id: str, seen: dt.datetime | None, status: str = "IN_PROGRESS") -> None:
    with runtime.store.session() as session:
        session.add(
            Server(
                id=server_id,
                name=f"name-{server_id}",
                stack_id="st",
                resource_name="srv",
                project="admin",
                driver="deployed",
                created_at=START,
                last_seen_at=seen,
                first_contact_at=seen,
            )
        )
        session.add(
            Deployment(
                id=f"dep-{server_id}",
                server_id=server_id,
                stack_id="st",
                resource_name=f"deploy-{server_id}",
                project="admin",
                action="CREATE",
                status=status,
                status_reason="Deploy data available",
                created_at=START,
            )
        )


def deployment(runtime, server_id: str) -> Deployment:
    with runtime.store.session() as session:
        return session.get(Deployment, f"dep-{server_id}")


def test_seen_records_first_contact_and_writes_at_most_every_few_seconds(world):
    runtime, clock, _ = world
    server = Server(id="s", name="s", project="admin", driver="deployed", created_at=START)
    assert liveness.seen(runtime, server, clock()) is True
    assert server.first_contact_at == server.last_seen_at == START
    clock.advance(2)
    assert liveness.seen(runtime, server, clock()) is False
    assert server.last_seen_at == START  # within the resolution: no write
    clock.advance(4)
    liveness.seen(runtime, server, clock())
    assert server.last_seen_at == clock() and server.first_contact_at == START


def test_only_deployments_of_agents_unseen_past_the_grace_fail_and_the_reason_says_since_when(world):
    runtime, clock, woken = world
    clock.advance(3600)  # the engine has run long enough
    watch = liveness.GoneAgents(runtime)
    watch.started_at = START
    add(runtime, "gone", clock() - dt.timedelta(seconds=GRACE + LONGPOLL + 1))
    add(runtime, "alive", clock() - dt.timedelta(seconds=GRACE + LONGPOLL - 1))
    add(runtime, "never", None)  # never enrolled: may still be on its way
    add(runtime, "done", clock() - dt.timedelta(hours=1), status="COMPLETE")
    assert watch.sweep() == 1
    failed = deployment(runtime, "gone")
    assert failed.status == "FAILED"
    assert failed.status_reason.startswith(
        "the agent of server 'name-gone' (gone) is gone: not seen since 2026-11-22T12:59:19Z (41 s ago"
    )
    assert "agent_gone_grace, 30 s" in failed.status_reason
    assert woken == [("st", "deploy-gone")]
    for other, status in (("alive", "IN_PROGRESS"), ("never", "IN_PROGRESS"), ("done", "COMPLETE")):
        assert deployment(runtime, other).status == status, other
    assert watch.sweep() == 0  # not before SWEEP_EVERY; and nothing left to fail anyway


def test_a_freshly_started_engine_gives_every_agent_the_whole_patience_again(world):
    runtime, clock, _ = world
    add(runtime, "old", START - dt.timedelta(hours=2))  # seen long before this engine started
    watch = liveness.GoneAgents(runtime)
    clock.advance(GRACE + LONGPOLL - 1)
    assert watch.sweep() == 0 and deployment(runtime, "old").status == "IN_PROGRESS"
    watch._next = 0.0
    clock.advance(2)
    assert watch.sweep() == 1 and deployment(runtime, "old").status == "FAILED"


def test_zero_grace_turns_the_check_off(world, tmp_path):
    runtime, clock, _ = world
    off = Runtime(
        config=Config.from_env({}, agent_gone_grace=0),
        store=runtime.store,
        keyring=runtime.keyring,
        notifier=runtime.notifier,
        compute=runtime.compute,
        clock=clock,
    )
    add(runtime, "gone", START - dt.timedelta(days=1))
    watch = liveness.GoneAgents(off)
    clock.advance(86400)
    assert watch.sweep() == 0 and deployment(runtime, "gone").status == "IN_PROGRESS"


def test_health_is_the_gone_agent_rule_as_a_word():
    """What the console shows for an agent: the same patience as the sweep that fails its deployments."""
    config = Config.from_env({}, agent_gone_grace=GRACE, longpoll_max_wait=LONGPOLL)
    assert liveness.health(config, None, None, START) == "never seen"
    assert liveness.health(config, START, START, START + dt.timedelta(seconds=40)) == "alive"
    assert liveness.health(config, START, START, START + dt.timedelta(seconds=41)) == "gone"
    assert liveness.health(config, START, None, START + dt.timedelta(seconds=41)) == "gone"  # first contact only
    off = Config.from_env({}, agent_gone_grace=0)
    assert liveness.health(off, START, START, START + dt.timedelta(days=9)) == "alive"
