"""A deployment to an id no server has, run by a machine enrolled later under that id, end to end:
`hearth server` as a process, a stack whose SoftwareDeployment names `rack-7-node-2` (it waits,
as in Heat), `hearth server bootstrap rack-7-node-2 --new`, and a real `hearth-agent` started
with that document runs it through the real script hook and signals it; a deployment made after
the enrolment, by another stack, reaches the same agent through its long-poll."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import AUTH, ServerProcess, wait_for

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
MACHINE = "rack-7-node-2"

TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  server: {type: string}
  who: {type: string}
  transport: {type: string, default: CFN_SIGNAL}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: who}]
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        printf 'hello %s from %s' "$who" "$deploy_server_id" > "$heat_outputs_path.result"
        printf '%s' "$who" > "$MARKERS/$who"
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_param: server}
      input_values: {who: {get_param: who}}
      signal_transport: {get_param: transport}
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(tmp_path)
    process.env["HEARTH_URL"] = process.url
    process.start()
    yield process
    process.stop()


def hearth(server, *args) -> str:
    done = subprocess.run([str(BIN / "hearth"), *args], env=server.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def settled(server, name: str) -> dict:
    return wait_for(
        lambda: (lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None)(server.stack(name)),
        60,
        0.1,
        f"stack {name} to settle",
    )


def test_a_machine_enrolled_later_under_the_id_runs_what_waited_for_it(server, tmp_path):
    template = tmp_path / "any.yaml"
    template.write_text(TEMPLATE)
    hearth(
        server,
        "stack",
        "create",
        "early",
        "-t",
        str(template),
        "--parameter",
        f"server={MACHINE}",
        "--parameter",
        "who=ann",
    )
    # As in Heat: the deployment waits for its signal; its entry waits under the id.
    entries = wait_for(
        lambda: requests.get(
            f"{server.url}/v1/admin/software_deployments/metadata/{MACHINE}", headers=AUTH, timeout=30
        ).json()["metadata"],
        30,
        message="the entry kept under the id",
    )
    assert [e["group"] for e in entries] == ["script"]
    assert server.stack("early")["stack_status"] == "CREATE_IN_PROGRESS"

    document = json.loads(hearth(server, "server", "bootstrap", MACHINE, "--new", "-f", "json"))
    assert document["server_id"] == MACHINE
    target = tmp_path / "bootstrap.json"
    target.write_text(json.dumps(document))
    target.chmod(0o600)
    markers = tmp_path / "markers"
    markers.mkdir()
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen(
        [str(BIN / "hearth-agent"), "--bootstrap", str(target), "--state-dir", str(tmp_path / "agent-state")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**server.env, "MARKERS": str(markers)},
    )
    try:
        stack = settled(server, "early")
        assert stack["stack_status"] == "CREATE_COMPLETE", (tmp_path / "agent.log").read_text()
        outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
        assert outputs["result"] == f"hello ann from {MACHINE}"

        # Made after the enrolment by another stack: the agent's long-poll brings it at once.
        hearth(
            server,
            "stack",
            "create",
            "later",
            "-t",
            str(template),
            "--parameter",
            f"server={MACHINE}",
            "--parameter",
            "who=bob",
            "--parameter",
            "transport=NO_SIGNAL",
        )
        assert settled(server, "later")["stack_status"] == "CREATE_COMPLETE"
        wait_for((markers / "bob").exists, 60, message="the agent to run the later deployment")
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        log.close()
    assert document["credential"] not in (tmp_path / "agent.log").read_text()
    listed = requests.get(
        f"{server.url}/v1/admin/software_deployments", params={"server_id": MACHINE}, headers=AUTH, timeout=30
    ).json()["software_deployments"]
    assert sorted(d["status"] for d in listed) == ["COMPLETE", "COMPLETE"]
