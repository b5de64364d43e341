"""Supervised agents: the local driver restarts an agent that exits (backoff, a count and the
last exit on the server resource and in the logs), stops supervising with the server and with
Hearth, re-adopts agents across a Hearth restart; and a deployment whose server's agent is gone
fails with a reason that says so, on `local` and on `deployed` servers. Real servers on
127.0.0.1, real agent processes, the real script hook."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from engine.guest import enrol
from tests.e2e.faults_support import kill_agent_and_hooks, live_members, start_agent
from tests.e2e.test_end_to_end import agent_pids
from tests.support import AUTH, ServerProcess, start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e

CAP = 3.2  # agent_restart_max_delay of the backoff test: room for a slow start under load (0.2 doubled 4 times)

SERVER_ONLY = """
heat_template_version: 2018-08-31
resources:
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any}
"""


def server_view(url: str, api_headers: dict, stack: str) -> dict:
    """`hearth resource show STACK server` as the API answers it."""
    answer = requests.get(
        f"{url}/v1/admin/stacks/{stack}/resources/server", headers=api_headers, timeout=30, allow_redirects=True
    )
    answer.raise_for_status()
    return answer.json()["resource"]


def other_agent(data_dir: str, old: int) -> int | None:
    return next((pid for pid in agent_pids(data_dir) if pid != old), None)


def test_a_killed_agent_is_restarted_with_backoff_and_shown_on_the_server_resource(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="engine.compute.local")
    hearth = start_server(tmp_path, agent_restart_delay=0.2, agent_restart_max_delay=CAP)
    try:
        hearth.create_stack("kept", SERVER_ONLY)
        assert hearth.wait_stack("kept", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"
        data_dir = hearth.config.resolved_data_dir
        home = next((Path(data_dir) / "servers").iterdir())
        (first,) = agent_pids(data_dir)
        agent = server_view(hearth.url, AUTH, "kept")["attributes"]["agent"]
        assert (agent["state"], agent["pid"], agent["restarts"], agent["last_exit"]) == ("running", first, 0, None)

        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: other_agent(data_dir, first), 30, message="the agent to be restarted")
        agent = wait_for(
            lambda: (lambda a: a if a["pid"] == second else None)(
                server_view(hearth.url, AUTH, "kept")["attributes"]["agent"]
            ),
            10,
            message="the new pid shown",
        )
        assert agent["state"] == "running" and agent["restarts"] == 1
        assert agent["last_exit"]["status"] == "killed by SIGKILL" and agent["last_exit"]["pid"] == first
        assert agent["last_seen_at"]  # it polls its metadata
        said = f"agent (pid {first}) exited (killed by SIGKILL)"
        assert any(said in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
        assert said in (home / "agent.log").read_text()

        # A broken bootstrap document: every restart exits 2 at once, so the waits double.
        good = (home / "bootstrap.json").read_text()
        (home / "bootstrap.json").write_text("{}")
        os.kill(second, signal.SIGKILL)

        def delays():
            found = re.findall(
                r"exited \(exit status 2\) after ([\d.]+) s; restart \d+ in ([\d.]+) s",
                (home / "agent.log").read_text(),
            )
            return [(float(ran), float(wait)) for ran, wait in found] if len(found) >= 4 else None

        quick = wait_for(delays, 60, message="four quick exits")
        assert all(ran < CAP for ran, _ in quick), quick  # each exit came sooner than the cap
        waits = [wait for _, wait in quick]
        assert waits[0] in (0.4, 0.8, 1.6, CAP) and waits[-1] == CAP, waits  # doubled up to the cap
        assert all(after == min(CAP, 2 * before) for before, after in itertools.pairwise(waits)), waits
        agent = server_view(hearth.url, AUTH, "kept")["attributes"]["agent"]
        assert agent["restarts"] >= 5 and agent["last_exit"]["code"] == 2
        assert agent["last_exit"]["status"] == "exit status 2"

        (home / "bootstrap.json").write_text(good)
        mended = time.time()
        wait_for(lambda: _passes_since(home, mended), 30, message="a restarted agent to work again")
        back = server_view(hearth.url, AUTH, "kept")["attributes"]["agent"]
        assert back["state"] == "running" and agent_pids(data_dir) == [back["pid"]]
        record = json.loads((home / "agent-supervision.json").read_text())
        assert record["pid"] == back["pid"] and record["restarts"] == back["restarts"]

        server_id = hearth.resources("kept")["server"]["physical_resource_id"]
        hearth.delete("kept")
        assert not agent_pids(data_dir) and not home.exists()
        assert hearth.service.runtime.compute.agent_status(server_id) is None  # not supervised
    finally:
        stop_server(hearth)


def _passes_since(home: Path, moment: float) -> bool:
    """Whether the server's agent finished a pass over its metadata after `moment`."""
    try:
        status = json.loads((home / "state" / "status.json").read_text())
    except (OSError, ValueError):
        return False
    return (status.get("pass_finished") or 0) > moment


def test_a_restarted_hearth_adopts_the_agents_running_now_and_supervises_them(tmp_path):
    server = ServerProcess(tmp_path, env={"HEARTH_AGENT_RESTART_DELAY": "0.1"})
    data_dir = str(tmp_path / "data")
    try:
        server.start()
        body = {"stack_name": "adopted", "template": SERVER_ONLY}
        assert requests.post(f"{server.url}/v1/admin/stacks", json=body, headers=AUTH, timeout=10).status_code == 201
        wait_for(lambda: server.stack("adopted")["stack_status"] == "CREATE_COMPLETE", 60, 0.1, "the create")
        (first,) = agent_pids(data_dir)

        os.kill(server.process.pid, signal.SIGKILL)  # Hearth dies; the agent lives on
        server.process.wait()
        server.start()
        wait_for(
            lambda: server_view(server.url, AUTH, "adopted")["attributes"]["agent"]["pid"] == first,
            30,
            message="the running agent to be adopted",
        )
        assert agent_pids(data_dir) == [first]  # adopted, not doubled

        os.kill(first, signal.SIGKILL)  # the adopted agent is supervised too
        second = wait_for(lambda: other_agent(data_dir, first), 30, message="the adopted agent's restart")
        agent = wait_for(
            lambda: (lambda a: a if a["pid"] == second else None)(
                server_view(server.url, AUTH, "adopted")["attributes"]["agent"]
            ),
            10,
            message="the restart shown",
        )
        assert agent["restarts"] == 1
        assert agent["last_exit"]["status"].startswith("exit status unknown")  # not Hearth's child

        # Killed again, Hearth adopts the agent that runs now, not the one it first started.
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        server.start()
        agent = wait_for(
            lambda: (lambda a: a if a["pid"] == second else None)(
                server_view(server.url, AUTH, "adopted")["attributes"]["agent"]
            ),
            30,
            message="re-adoption",
        )
        assert agent_pids(data_dir) == [second] and agent["restarts"] == 1

        stack = server.stack("adopted")
        assert (
            requests.delete(f"{server.url}/v1/admin/stacks/adopted/{stack['id']}", headers=AUTH, timeout=10).status_code
            == 204
        )
        wait_for(lambda: server.stack(stack["id"])["stack_status"] == "DELETE_COMPLETE", 30, 0.1, "the delete")
        assert not agent_pids(data_dir)
        server.stop()
        assert "agent restarted" in server.log.read_text()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        for pid in agent_pids(data_dir):  # left running only when the test failed
            os.kill(pid, signal.SIGKILL)


def test_stopping_hearth_stops_its_supervised_agents_and_they_are_not_restarted(tmp_path):
    hearth = start_server(tmp_path, agent_restart_delay=0.05, agent_restart_max_delay=0.2)
    stopped = False
    try:
        hearth.create_stack("two", SERVER_ONLY.replace("  server:", "  other:\n    type: OS::Nova::Server\n  server:"))
        assert hearth.wait_stack("two", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"
        data_dir = hearth.config.resolved_data_dir
        assert len(agent_pids(data_dir)) == 2
        stop_server(hearth)
        stopped = True
        assert not agent_pids(data_dir)
        supervisor = hearth.service.runtime.compute.supervisor
        assert supervisor._thread is None or not supervisor._thread.is_alive()
    finally:
        if not stopped:
            stop_server(hearth)


# -- a deployment whose agent is gone ------------------------------------------------------------

GONE_SETTINGS = {
    "agent_gone_grace": 1,
    "longpoll_max_wait": 1,
    "agent_restart_delay": 0.2,
    "agent_restart_max_delay": 1.0,
}

# Writes its pid where the test finds it, then waits for a file that never comes.
STUCK = """#!/bin/sh
echo $$ > "$marker"
while [ ! -e "$marker.never" ]; do sleep 0.1; done
"""


def gone_template(server_type: str) -> str:
    return json.dumps(
        {
            "heat_template_version": "2018-08-31",
            "parameters": {"marker": {"type": "string"}},
            "resources": {
                "server": {"type": server_type},
                "slow_config": {
                    "type": "OS::Heat::SoftwareConfig",
                    "properties": {"group": "script", "config": "#!/bin/sh\nsleep 5\necho slow done\n"},
                },
                # Runs longer than the patience (1 + 1 s): a live agent that keeps polling is not gone.
                "slow": {
                    "type": "OS::Heat::SoftwareDeployment",
                    "properties": {"config": {"get_resource": "slow_config"}, "server": {"get_resource": "server"}},
                },
                "stuck_config": {
                    "type": "OS::Heat::SoftwareConfig",
                    "properties": {"group": "script", "inputs": [{"name": "marker"}], "config": STUCK},
                },
                "stuck": {
                    "type": "OS::Heat::SoftwareDeployment",
                    "depends_on": ["slow"],
                    "properties": {
                        "config": {"get_resource": "stuck_config"},
                        "server": {"get_resource": "server"},
                        "input_values": {"marker": {"get_param": "marker"}},
                    },
                },
            },
        }
    )


def _failed_with_gone_agent(hearth, marker: Path, kill) -> str:
    wait_for(marker.exists, 60, message="the stuck hook to start (after the slow one completed)")
    resources = hearth.resources("gone")
    assert resources["slow"]["resource_status"] == "CREATE_COMPLETE", resources["slow"]
    kill()
    stack = hearth.wait_stack("gone", ("CREATE_FAILED",), timeout=60)
    assert stack["stack_status"] == "CREATE_FAILED"
    reason = hearth.resources("gone")["stuck"]["resource_status_reason"]
    assert "Deployment to server failed: the agent of server" in reason, reason
    print(f"failure reason: {reason}")
    assert re.search(r"is gone: not seen since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s ago", reason), reason
    return reason


def test_a_deployment_fails_when_its_local_servers_agent_is_gone(tmp_path):
    hearth = start_server(tmp_path, **GONE_SETTINGS)
    marker = tmp_path / "stuck.pid"
    try:
        hearth.create_stack("gone", gone_template("OS::Nova::Server"), parameters={"marker": str(marker)})
        data_dir = hearth.config.resolved_data_dir

        def kill():
            # The agent cannot come back: its bootstrap document is broken, every restart exits 2.
            home = next((Path(data_dir) / "servers").iterdir())
            (home / "bootstrap.json").write_text("{}")
            (pid,) = agent_pids(data_dir)
            groups = kill_agent_and_hooks(pid)
            wait_for(lambda: not live_members(groups), 10, message="the agent and its hook to die")

        reason = _failed_with_gone_agent(hearth, marker, kill)
        assert "its local agent process is" in reason and "last exit: " in reason, reason
    finally:
        stop_server(hearth)


def test_a_deployment_fails_when_its_deployed_servers_agent_is_gone(tmp_path):
    hearth = start_server(tmp_path, **GONE_SETTINGS)
    marker = tmp_path / "stuck.pid"
    agent = None
    try:
        hearth.create_stack("gone", gone_template("OS::Heat::DeployedServer"), parameters={"marker": str(marker)})
        server_id = wait_for(
            lambda: hearth.resources("gone")["server"]["physical_resource_id"], 30, message="the deployed server"
        )
        machine = tmp_path / "machine"
        machine.mkdir()
        document = enrol.issue_bootstrap(hearth.service.runtime, "admin", server_id)["bootstrap"]
        (machine / "bootstrap.json").write_text(json.dumps(document))
        agent = start_agent(machine, tmp_path / "machine-agent.log")

        def kill():
            groups = kill_agent_and_hooks(agent.pid)
            wait_for(lambda: not live_members(groups), 10, message="the agent and its hook to die")
            agent.wait(10)

        reason = _failed_with_gone_agent(hearth, marker, kill)
        assert "its local agent process" not in reason  # no supervisor on a deployed machine
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        stop_server(hearth)
