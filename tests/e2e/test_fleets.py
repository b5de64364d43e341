"""Fleets that run themselves, end to end: real servers on 127.0.0.1, real agent processes, the
real script hook. A member whose agent is killed and kept down is found by the group's health
check, replaced (the new member first) and the group converges, its deployment complete."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.test_end_to_end import agent_pids
from tests.support import AUTH, start_server, stop_server, wait_for

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent

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
        hearth.create_stack("heal", json.dumps(HEALING), files={"node.yaml": NODE})
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


SCALED_NODE = """
heat_template_version: 2018-08-31
parameters:
  group: {type: string}
resources:
  server:
    type: OS::Nova::Server
    properties:
      image: any
      flavor: any
      user_data_format: SOFTWARE_CONFIG
      metadata: {"metering.stack": {get_param: group}}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      outputs: [{name: report}]
      config: |
        #!/bin/sh
        printf 'serving' > "$heat_outputs_path.report"
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: server}}
outputs:
  report: {value: {get_attr: [deployment, report]}}
  server: {value: {get_resource: server}}
"""


def alarm(meter: str, operator: str, threshold: float, policy: str) -> dict:
    return {
        "type": "OS::Aodh::Alarm",
        "properties": {
            "meter_name": meter,
            "statistic": "avg",
            # Long enough that a sample the agent delivers a few seconds late is still inside it.
            "period": 5,
            "evaluation_periods": 1,
            "threshold": threshold,
            "comparison_operator": operator,
            "alarm_actions": [{"get_attr": [policy, "alarm_url"]}],
            "matching_metadata": {"metadata.user_metadata.stack": {"get_param": "OS::stack_id"}},
        },
    }


def policy(adjustment: int) -> dict:
    return {
        "type": "OS::Heat::ScalingPolicy",
        "properties": {
            "auto_scaling_group_id": {"get_resource": "web"},
            "adjustment_type": "change_in_capacity",
            "scaling_adjustment": adjustment,
            "cooldown": 4,
        },
    }


AUTOSCALING = {
    "heat_template_version": "2018-08-31",
    "resources": {
        "web": {
            "type": "OS::Heat::AutoScalingGroup",
            "properties": {
                "min_size": 1,
                "max_size": 3,
                "resource": {"type": "node.yaml", "properties": {"group": {"get_param": "OS::stack_id"}}},
            },
        },
        "up": policy(1),
        "down": policy(-1),
        "load_high": alarm("load", "gt", 50, "up"),
        "load_low": alarm("load", "lt", 20, "down"),
    },
    "outputs": {
        "size": {"value": {"get_attr": ["web", "current_size"]}},
        "reports": {"value": {"get_attr": ["web", "outputs_list", "report"]}},
        "servers": {"value": {"get_attr": ["web", "outputs_list", "server"]}},
    },
}


def metric_put(hearth, server_id: str, name: str, value: float, gone_ok: bool = False) -> None:
    state = f"{hearth.config.resolved_data_dir}/servers/{server_id}/state"
    if gone_ok and not os.path.isdir(state):
        return  # the member was just scaled in: its server's folder is gone
    done = subprocess.run(
        [str(BIN / "hearth-agent"), "metric", "put", name, str(value), "--state-dir", state],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if gone_ok and done.returncode != 0 and not os.path.isdir(state):
        return  # scaled in while the command ran
    assert done.returncode == 0, done.stderr


def test_a_metric_over_the_threshold_grows_the_group_and_under_it_shrinks_it_after_cooldown(tmp_path):
    hearth = start_server(tmp_path, alarm_evaluation_interval=0.5)
    try:
        hearth.create_stack("scale", json.dumps(AUTOSCALING), files={"node.yaml": SCALED_NODE})
        stack = hearth.wait_stack("scale", ("CREATE_COMPLETE",), timeout=120)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        first = hearth.outputs("scale")
        assert (first["size"], first["reports"]) == (1, ["serving"])
        (server,) = first["servers"]

        # The member's agent reports load 90: the alarm fires the up policy's alarm_url, the
        # group grows, and the new member's deployment completes.
        crossed = time.monotonic()
        metric_put(hearth, server, "load", 90)
        grown = wait_for(
            lambda: (lambda o: o if o["size"] == 2 and o["reports"] == ["serving", "serving"] else None)(
                hearth.outputs("scale")
            ),
            120,
            0.1,
            "the group to grow and the new member's deployment to complete",
        )
        to_complete = time.monotonic() - crossed
        assert grown["servers"][0] == server  # the first member stays; the new one comes last

        # Load falls on every member: the down policy shrinks the group once the cooldown of the
        # last resize is over (the alarm repeats its action until then), the oldest leaving.
        def shrunk():
            for member in hearth.outputs("scale")["servers"]:
                if member:
                    metric_put(hearth, member, "load", 5, gone_ok=True)
            out = hearth.outputs("scale")
            return out if out["size"] == 1 else None

        after = wait_for(shrunk, 120, 0.5, "the group to shrink after its cooldown")
        assert after["servers"] == [grown["servers"][1]]

        def reasons_when_scaled_in():
            events = hearth.http.get(
                f"{hearth.api}/stacks/scale/{stack['id']}/events", params={"limit": 1000}, timeout=30
            ).json()["events"]
            said = [(e["resource_name"], e["resource_status_reason"]) for e in events]
            return said if ("web", "Scaled from 2 to 1 members") in said else None

        reasons = wait_for(reasons_when_scaled_in, 60, 0.2, "the scale-in to end")
        assert any(n == "up" and r.startswith("alarm state changed from") for n, r in reasons)
        assert any(n == "down" and r.startswith("Scaling refused: the group 'web' is in cooldown") for n, r in reasons)
        assert any(n == "web" and "terminated: scaling in by policy 'down'" in r for n, r in reasons), reasons
        print(f"threshold crossed to new member's deployment COMPLETE: {to_complete:.1f} s")
    finally:
        stop_server(hearth)


ROLLED_NODE = """
heat_template_version: 2018-08-31
parameters:
  index: {type: string}
  version: {type: string}
resources:
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: index}, {name: version}]
      outputs: [{name: report}]
      config: |
        #!/bin/sh
        if [ "$version" = broken ]; then echo "version $version does not start" >&2; exit 1; fi
        printf '%s %s' "$index" "$version" > "$heat_outputs_path.report"
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {index: {get_param: index}, version: {get_param: version}}
outputs:
  report: {value: {get_attr: [deployment, report]}}
"""

ROLLED = """
heat_template_version: 2018-08-31
parameters:
  version: {type: string, default: v1}
resources:
  pool:
    type: OS::Heat::ResourceGroup
    update_policy:
      rolling_update: {max_batch_size: 2}
    properties:
      count: 6
      resource_def:
        type: node.yaml
        properties: {index: "%index%", version: {get_param: version}}
outputs:
  reports: {value: {get_attr: [pool, report]}}
"""


def test_a_rolling_update_of_six_members_goes_in_three_batches_and_a_failing_batch_stops_it(tmp_path):
    hearth = start_server(tmp_path)
    try:
        hearth.create_stack("roll", ROLLED, files={"node.yaml": ROLLED_NODE})
        stack = hearth.wait_stack("roll", ("CREATE_COMPLETE",), timeout=180)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        assert hearth.outputs("roll")["reports"] == [f"{i} v1" for i in range(6)]

        def update(version: str) -> dict:
            body = {
                "template": ROLLED,
                "files": {"node.yaml": ROLLED_NODE},
                "parameters": {"version": version},
                "disable_rollback": True,
            }
            answer = hearth.http.put(f"{hearth.api}/stacks/roll/{stack['id']}", json=body, timeout=30)
            assert answer.status_code == 202, answer.text
            return hearth.wait_stack("roll", ("UPDATE_COMPLETE", "UPDATE_FAILED"), timeout=240)

        seen = len(nested_events(hearth, stack))
        assert update("v2")["stack_status"] == "UPDATE_COMPLETE"
        assert hearth.outputs("roll")["reports"] == [f"{i} v2" for i in range(6)]
        # Three batches of two, highest index first, each done before the next starts: the
        # members' deployments (a member itself, a nested stack, is updated at every update of
        # its group, as in Heat; its deployment only when its definition changes).
        moves = deployment_moves(nested_events(hearth, stack)[seen:])
        started = [m for m, status in moves if status == "UPDATE_IN_PROGRESS"]
        assert [sorted(started[i : i + 2]) for i in (0, 2, 4)] == [["4", "5"], ["2", "3"], ["0", "1"]]
        last = {m: i for i, (m, status) in enumerate(moves) if status == "UPDATE_COMPLETE"}
        first = {m: i for i, (m, status) in reversed(list(enumerate(moves))) if status == "UPDATE_IN_PROGRESS"}
        for finished, following in ((("4", "5"), ("2", "3")), (("2", "3"), ("0", "1"))):
            assert max(last[m] for m in finished) < min(first[m] for m in following)

        # A version whose deployments fail: the first batch fails and the rollout stops there.
        failed = update("broken")
        assert failed["stack_status"] == "UPDATE_FAILED"
        assert "rolling update batch 1 of 3 stopped the rollout" in failed["stack_status_reason"]
        reports = hearth.outputs("roll")["reports"]
        assert reports[:4] == [f"{i} v2" for i in range(4)]  # the later batches never started
    finally:
        stop_server(hearth)


def nested_events(hearth, stack: dict) -> list[dict]:
    """The stack's events and its nested stacks', oldest first."""
    answer = hearth.http.get(
        f"{hearth.api}/stacks/roll/{stack['id']}/events",
        params={"nested_depth": 2, "limit": 1000, "sort_dir": "asc"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["events"]


def deployment_moves(events: list[dict]) -> list[tuple[str, str]]:
    """(member index, status) of each member's deployment update event, in order; the member
    is read from its nested stack's name (`roll-pool-<id>-<index>-<short id>`)."""
    moves = []
    for event in events:
        if event["resource_name"] != "deployment" or not event["resource_status"].startswith("UPDATE_"):
            continue
        stack_link = next(link["href"] for link in event["links"] if link["rel"] == "stack")
        member = re.search(r"/stacks/roll-pool-[0-9a-z]+-(\d)-", stack_link)
        assert member, stack_link
        moves.append((member.group(1), event["resource_status"]))
    return moves
