"""Enrolling a pre-provisioned machine end to end: `hearth server` as a process, a stack with an
OS::Heat::DeployedServer and a deployment to it, `hearth server bootstrap`'s one-liner run by a
real shell, and a real `hearth-agent` started with the document it wrote completes the
deployment through the real script hook.

The one-liner's `sudo` and `systemctl` are stand-ins on PATH (no root, no systemd here): sudo
runs its command, systemctl records its arguments, and the test starts the agent with the
arguments of packaging/systemd/hearth-agent.service's ExecStart, the document path changed.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from tests.support import AUTH, ServerProcess, wait_for
from tests.unit.cli.test_cli_bootstrap import stand_ins

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent

TEMPLATE = """heat_template_version: 2018-08-31
resources:
  box: {type: OS::Heat::DeployedServer}
  other: {type: OS::Heat::DeployedServer}
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: who}]
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        printf 'enrolled %s' "$who" > "$heat_outputs_path.result"
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: box}
      input_values: {who: box}
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


def test_bootstrap_oneline_enrols_a_real_agent_that_completes_the_deployment(server, tmp_path):
    template = tmp_path / "enrol.yaml"
    template.write_text(TEMPLATE)
    created = subprocess.run(
        [str(BIN / "hearth"), "stack", "create", "enrol", "-t", str(template)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    wait_for(
        lambda: server.stack("enrol")["stack_status"] == "CREATE_IN_PROGRESS" and _physical(server, "box"),
        30,
        message="the DeployedServer to exist",
    )

    target = tmp_path / "etc" / "hearth" / "bootstrap.json"
    printed = subprocess.run(
        [str(BIN / "hearth"), "server", "bootstrap", "box", "--stack", "enrol", "--path", str(target)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    ran = subprocess.run(
        ["sh", "-c", printed.stdout], env=stand_ins(tmp_path), capture_output=True, text=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "reload-or-restart hearth-agent.service" in (tmp_path / "systemctl.log").read_text()
    document = json.loads(target.read_text())
    assert document["server_id"] == _physical(server, "box")

    state = tmp_path / "agent-state"
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen(
        [str(BIN / "hearth-agent"), "--bootstrap", str(target), "--state-dir", str(state)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        stack = wait_for(
            lambda: (lambda s: s if not s["stack_status"].endswith("IN_PROGRESS") else None)(server.stack("enrol")),
            60,
            0.1,
            "the deployment to complete",
        )
        assert stack["stack_status"] == "CREATE_COMPLETE", (tmp_path / "agent.log").read_text()
        outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
        assert outputs["result"] == "enrolled box"
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        log.close()

    # The credential reaches this server's metadata and no other server's.
    headers = {"Authorization": f"Bearer {document['credential']}"}
    mine = requests.get(document["metadata_url"], headers=headers, timeout=30)
    assert mine.status_code == 200
    assert [d["group"] for d in mine.json()["metadata"]["deployments"]] == ["script"]
    other = _physical(server, "other")
    theirs = requests.get(f"{server.url}/guest/v1/servers/{other}/metadata", headers=headers, timeout=30)
    assert theirs.status_code == 403
    assert document["credential"] not in (tmp_path / "agent.log").read_text()


def test_hearth_server_entry_point_prints_cloud_init_that_enrols_the_server(server, tmp_path):
    template = tmp_path / "enrol.yaml"
    template.write_text(TEMPLATE)
    subprocess.run(
        [str(BIN / "hearth"), "stack", "create", "ci", "-t", str(template)],
        env=server.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    box = wait_for(lambda: _physical(server, "box", "ci"), 30, message="the DeployedServer to exist")
    user_data = subprocess.run(
        [str(BIN / "hearth-server"), "bootstrap", box, "-f", "cloud-init"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert user_data.returncode == 0, user_data.stderr
    assert user_data.stdout.startswith("#cloud-config\n")
    (entry,) = yaml.safe_load(user_data.stdout)["write_files"]
    document = json.loads(base64.b64decode(entry["content"]))
    assert document["server_id"] == box and entry["path"] == "/etc/hearth/bootstrap.json"
    answer = requests.get(
        document["metadata_url"], headers={"Authorization": f"Bearer {document['credential']}"}, timeout=30
    )
    assert answer.status_code == 200


def _physical(server, resource: str, stack: str = "enrol") -> str | None:
    found = server.stack(stack)
    answer = requests.get(
        f"{server.url}/v1/admin/stacks/{stack}/{found['id']}/resources/{resource}", headers=AUTH, timeout=30
    )
    return answer.json()["resource"].get("physical_resource_id") or None if answer.ok else None
