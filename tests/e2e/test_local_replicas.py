"""The local driver when replicas share a host (store on PostgreSQL, one data directory): each
agent has one supervisor, agents outlive a replica that stops, another replica adopts them, and a
delete through any replica is not undone by the supervisor. Two real LocalDrivers in one process
(flocks conflict between open files even within a process), real agent processes whose
bootstrap points at a port where nothing listens (they keep trying, which is all this needs)."""

from __future__ import annotations

import os
import signal

import pytest

from engine.compute.base import ServerSpec
from engine.compute.local import LocalDriver
from tests.e2e.test_end_to_end import agent_pids
from tests.support import free_port, wait_for

pytestmark = pytest.mark.e2e


def spec(server_id: str) -> ServerSpec:
    base = f"http://127.0.0.1:{free_port()}"
    bootstrap = {"server_id": server_id, "base_url": base, "credential": "x" * 43}
    return ServerSpec(server_id=server_id, name=server_id, bootstrap=bootstrap, properties={})


def driver(data_dir, shared=True) -> LocalDriver:
    return LocalDriver(str(data_dir), restart_delay=0.05, restart_max_delay=0.2, shared=shared)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_one_supervisor_per_agent_and_the_agents_outlive_a_replica(tmp_path):
    first, second = driver(tmp_path), driver(tmp_path)
    try:
        pid = first.create(spec("s1"))["pid"]
        # The second replica finds it supervised: it neither adopts nor starts another agent.
        assert second.resume("s1", {"pid": pid}) is None
        assert not second.supervisor.watching("s1") and agent_pids(str(tmp_path)) == [pid]

        first.shutdown()  # a rolling restart: the machine keeps running
        assert alive(pid)
        second._adopt()
        assert second.supervisor.watching("s1") and agent_pids(str(tmp_path)) == [pid]

        os.kill(pid, signal.SIGKILL)  # the adopter restarts it
        wait_for(lambda: [p for p in agent_pids(str(tmp_path)) if p != pid], 20, 0.05, "the agent to be restarted")
    finally:
        second.shutdown()
        for each in agent_pids(str(tmp_path)):
            os.killpg(each, signal.SIGKILL)


def test_a_delete_through_another_replica_is_not_undone_by_the_supervisor(tmp_path):
    supervising, deleting = driver(tmp_path), driver(tmp_path)
    try:
        data = supervising.create(spec("s2"))
        deleting.delete("s2", data)
        assert not alive(data["pid"]) and not (tmp_path / "servers" / "s2").exists()
        # The supervisor saw its agent exit and found the server gone: it restarts nothing.
        wait_for(lambda: not supervising.supervisor.watching("s2"), 20, 0.05, "the supervisor to let it go")
        assert agent_pids(str(tmp_path)) == []
    finally:
        supervising.shutdown()
        for each in agent_pids(str(tmp_path)):
            os.killpg(each, signal.SIGKILL)


def test_alone_on_sqlite_stopping_stops_the_agents(tmp_path):
    alone = driver(tmp_path, shared=False)
    pid = alone.create(spec("s3"))["pid"]
    alone.shutdown()
    assert not alive(pid)
