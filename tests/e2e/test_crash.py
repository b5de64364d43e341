"""The engine survives a crash mid-stack: kill -9 the server while a hook runs, start it again."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests

from tests.e2e.test_end_to_end import agent_pids
from tests.support import AUTH, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  flag: {type: string}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: flag}]
      outputs: [{name: said}]
      config: |
        #!/bin/sh
        while [ ! -e "$flag" ]; do sleep 0.05; done
        printf 'after the crash' > "$heat_outputs_path.said"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {flag: {get_param: flag}}
outputs:
  said: {value: {get_attr: [deploy, said]}}
"""


def test_kill_9_mid_deployment_then_restart_completes_the_stack(tmp_path):
    server = ServerProcess(tmp_path)
    server.start()
    flag = tmp_path / "go"
    body = {"stack_name": "crash", "template": TEMPLATE, "parameters": {"flag": str(flag)}}
    assert requests.post(f"{server.url}/v1/admin/stacks", json=body, headers=AUTH, timeout=10).status_code == 201

    def hook_running():
        resources = requests.get(f"{server.url}/v1/admin/stacks/crash/resources", headers=AUTH, timeout=10).json()[
            "resources"
        ]
        states = {r["resource_name"]: r["resource_status"] for r in resources}
        return states.get("deploy") == "CREATE_IN_PROGRESS" and list(
            (tmp_path / "data" / "servers").glob("*/state/runs/*/*/input.json")
        )

    wait_for(hook_running, 30, 0.05, "the hook to start")

    os.kill(server.process.pid, signal.SIGKILL)  # the engine dies mid-stack
    server.process.wait()
    data_dir = str(tmp_path / "data")
    assert len(agent_pids(data_dir)) == 1  # the guest lives on, as a VM would
    flag.touch()  # the hook finishes while the server is down; its signal waits in the outbox

    server.start()
    stack = wait_for(
        lambda: (lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None)(server.stack("crash")),
        60,
        0.1,
        "the stack to finish after the restart",
    )
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert {o["output_key"]: o["output_value"] for o in stack["outputs"]} == {"said": "after the crash"}
    runs = list((tmp_path / "data" / "servers").glob("*/state/runs/*/*"))
    assert len(runs) == 1  # the hook ran once

    assert (
        requests.delete(f"{server.url}/v1/admin/stacks/crash/{stack['id']}", headers=AUTH, timeout=10).status_code
        == 204
    )
    wait_for(lambda: server.stack(stack["id"])["stack_status"] == "DELETE_COMPLETE", 30, 0.1, "the delete")
    wait_for(lambda: not agent_pids(data_dir), 10, message="the agent left by the killed server to stop")
    server.stop()


def test_graceful_restart_stops_agents_and_brings_them_back(tmp_path):
    server = ServerProcess(tmp_path)
    server.start()
    flag = tmp_path / "go"
    flag.touch()
    body = {"stack_name": "again", "template": TEMPLATE, "parameters": {"flag": str(flag)}}
    assert requests.post(f"{server.url}/v1/admin/stacks", json=body, headers=AUTH, timeout=10).status_code == 201
    wait_for(lambda: server.stack("again")["stack_status"] == "CREATE_COMPLETE", 60, 0.1, "the create")
    data_dir = str(tmp_path / "data")
    server.stop()
    assert not agent_pids(data_dir)  # stopping the server stops its local servers
    restarted = time.time()
    server.start()
    wait_for(lambda: len(agent_pids(data_dir)) == 1, 30, message="the agent to be started again")

    def agent_looked_again():
        status = next((tmp_path / "data" / "servers").glob("*/state/status.json"))
        return (json.loads(status.read_text()).get("pass_finished") or 0) > restarted

    wait_for(agent_looked_again, 30, message="the restarted agent to go through its deployments")
    stack = server.stack("again")
    assert stack["stack_status"] == "CREATE_COMPLETE"
    runs = list((tmp_path / "data" / "servers").glob("*/state/runs/*/*"))
    assert len(runs) == 1  # the restarted agent did not run the finished deployment again
    requests.delete(f"{server.url}/v1/admin/stacks/again/{stack['id']}", headers=AUTH, timeout=10)
    wait_for(lambda: server.stack(stack["id"])["stack_status"] == "DELETE_COMPLETE", 30, 0.1, "the delete")
    wait_for(lambda: not agent_pids(data_dir), 10, message="the agent to stop")
    server.stop()
