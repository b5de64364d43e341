"""Fleets that run themselves, end to end: real servers on 127.0.0.1, real agent processes, the
real script hook. A member whose agent is killed and kept down is found by the group's health
check, replaced (the new member first) and the group converges, its deployment complete."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests

from tests.e2e.test_end_to_end import agent_pids
from tests.support import AUTH, start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e

NODE = """
heat_template_version: 2018-08-31
parameters:
  index: {type: string}
resources:
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: index}]
      outputs: [{name: report}]
      config: |
        #!/bin/sh
        printf 'node %s serving' "$index" > "$heat_outputs_path.report"
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {index: {get_param: index}}
outputs:
  report: {value: {get_attr: [deployment, report]}}
  server: {value: {get_resource: server}}
"""

HEALING = {
    "heat_template_version": "2018-08-31",
    "resources": {
        "pool": {
            "type": "OS::Heat::ResourceGroup",
            "properties": {
                "count": 2,
                "resource_def": {"type": "node.yaml", "properties": {"index": "%index%"}},
                "health_check": {"grace_period": 1, "unhealthy_threshold": 2, "interval": 1},
            },
        }
    },
    "outputs": {
        "reports": {"value": {"get_attr": ["pool", "report"]}},
        "servers": {"value": {"get_attr": ["pool", "server"]}},
    },
}


def agent_of(hearth, server_id: str) -> int:
    """The pid of the agent the local driver runs for `server_id`."""
    for pid in agent_pids(hearth.config.resolved_data_dir):
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if server_id.encode() in cmdline.read():
                return pid
    raise AssertionError(f"no agent runs for server {server_id}")


def group_events(hearth, stack: dict) -> list[str]:
    answer = hearth.http.get(f"{hearth.api}/stacks/heal/{stack['id']}/resources/pool/events", timeout=30)
    answer.raise_for_status()
    return [e["resource_status_reason"] for e in answer.json()["events"]]


def test_a_member_whose_agent_is_killed_and_kept_down_is_replaced_and_the_group_converges(tmp_path):
    # Agents gone after 4 s (a 2 s long-poll + 2 s grace); the supervisor would restart a killed
    # agent only after an hour: it stays down.
    hearth = start_server(tmp_path, longpoll_max_wait=2, agent_gone_grace=2, agent_restart_delay=3600)
    try:
        body = {
            "stack_name": "heal",
            "template": json.dumps(HEALING),
            "files": {"node.yaml": NODE},
            "template_name": "heal.yaml",
        }
        assert hearth.http.post(f"{hearth.api}/stacks", json=body, timeout=30).status_code == 201
        stack = hearth.wait_stack("heal", ("CREATE_COMPLETE",), timeout=120)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        before = hearth.outputs("heal")
        assert before["reports"] == ["node 0 serving", "node 1 serving"]
        victim, survivor = before["servers"]

        os.kill(agent_of(hearth, victim), signal.SIGKILL)
        killed = time.monotonic()

        def converged():
            out = hearth.outputs("heal")
            done = out["servers"][0] != victim and out["reports"] == ["node 0 serving", "node 1 serving"]
            return out if done and any("replaced (it was unhealthy" in r for r in group_events(hearth, stack)) else None

        after = wait_for(converged, 120, 0.2, "the dead member to be replaced and the group to converge")
        took = time.monotonic() - killed
        assert after["servers"][1] == survivor  # the healthy member was left alone
        reasons = group_events(hearth, stack)
        unhealthy = [r for r in reasons if r.startswith("Member '0' is unhealthy")]
        assert unhealthy and f"the agent of server {victim} has not been seen for" in unhealthy[0]
        # The dead member's server is gone once its replacement exists.
        answer = requests.get(f"{hearth.api}/stacks/heal", headers=AUTH, timeout=30)
        assert answer.json()["stack"]["stack_status"] == "CREATE_COMPLETE"
        # The replacement's agent is alive and polling: the next checks find nothing to do.
        assert agent_of(hearth, after["servers"][0]) > 0
        print(f"agent death to replacement COMPLETE: {took:.1f} s")
    finally:
        stop_server(hearth)
