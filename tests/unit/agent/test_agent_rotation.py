"""The agent's credential rotation (agent/rotation.py) against a real Hearth server on 127.0.0.1,
and end to end: a real server with 6-second credentials and real agent processes that keep
working for several lifetimes by rotating on their own.

The unit tests give the Rotation a clock they move (its only notion of time); the end-to-end
test replaces nothing.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from agent.replicas import Replicas
from agent.rotation import Rotation
from engine import audit
from tests.support import ROOT, free_port, start_server, stop_server, wait_for

SERVER_ONLY = """
heat_template_version: 2018-08-31
resources:
  server: {type: OS::Nova::Server, properties: {image: any, flavor: any}}
"""


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def enrol(tmp_path, ttl: int):
    """A real server (deployed driver) and a bootstrap file for one of its servers."""
    hearth = start_server(tmp_path, compute="deployed", credential_ttl=ttl, credential_rotation_overlap=60)
    hearth.create_stack("rot", SERVER_ONLY)
    hearth.wait_stack("rot", ("CREATE_COMPLETE",))
    server_id = hearth.resources("rot")["server"]["physical_resource_id"]
    answer = hearth.http.post(f"{hearth.api}/servers/{server_id}/bootstrap", timeout=30)
    document = answer.json()["bootstrap"]
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return hearth, path, document, requests.Session()


@pytest.fixture
def enrolled(tmp_path):
    """With 1-hour credentials."""
    hearth, path, document, session = enrol(tmp_path, 3600)
    yield hearth, path, document, session
    session.close()
    stop_server(hearth)


@pytest.fixture
def short_lived(tmp_path):
    """With 60-second credentials."""
    hearth, path, document, session = enrol(tmp_path, 60)
    yield hearth, path, document, session
    session.close()
    stop_server(hearth)


def make_rotation(path, document, session, clock, rotated):
    rotation = Rotation(
        session,
        path,
        base_url=document["base_url"],
        credential=document["credential"],
        on_rotated=rotated.append,
        remaining_fraction=1 / 3,
        clock=clock,
        jitter=lambda: 0.0,
    )
    session.hooks["response"].append(rotation.observe)
    return rotation


def fetch(session, document, credential):
    return session.get(document["metadata_url"], timeout=30, headers={"Authorization": f"Bearer {credential}"})


def test_rotates_when_a_third_of_the_lifetime_is_left_and_writes_the_bootstrap(enrolled):
    _hearth, path, document, session = enrolled
    clock, rotated = Clock(), []
    rotation = make_rotation(path, document, session, clock, rotated)
    assert rotation.step() is None  # nothing learned yet: no request is made to learn it
    assert fetch(session, document, document["credential"]).status_code == 200
    wait = rotation.step()
    assert 2395 <= wait <= 2400  # 3600 s lifetime, rotate with 1200 s left
    clock.now += wait - 1
    assert rotation.step() == pytest.approx(1) and rotated == []
    clock.now += 1
    assert rotation.step() == pytest.approx(2400, abs=5)
    assert len(rotated) == 1 and rotated[0] != document["credential"]
    stored = json.loads(path.read_text())
    assert stored == {**document, "credential": rotated[0]}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".bootstrap.json.")]
    assert fetch(session, document, rotated[0]).status_code == 200
    assert fetch(session, document, document["credential"]).status_code == 200  # overlap


def test_answers_made_with_another_credential_teach_nothing(enrolled):
    _hearth, path, document, session = enrolled
    rotation = make_rotation(path, document, session, Clock(), [])
    rotation.use("hgs_not-the-one-in-use")
    assert fetch(session, document, document["credential"]).status_code == 200
    assert rotation.step() is None


def test_a_failed_rotation_backs_off_and_keeps_the_current_credential(enrolled):
    hearth, path, document, session = enrolled
    clock, rotated = Clock(), []
    rotation = make_rotation(path, document, session, clock, rotated)
    fetch(session, document, document["credential"])
    before = path.read_text()
    hearth.http.post(
        f"{hearth.api}/servers/{document['server_id']}/bootstrap", json={"revoke_previous": True}, timeout=30
    )  # the operator revoked it
    clock.now += 3600
    delays = [rotation.step() for _ in range(4)]
    assert delays == [1.0, 2.0, 4.0, 8.0]
    assert rotated == [] and path.read_text() == before


def test_a_rotation_that_cannot_reach_a_base_is_retried_at_the_next(enrolled):
    _hearth, path, document, session = enrolled
    dead = f"http://127.0.0.1:{free_port()}"
    replicas = Replicas([dead, document["base_url"]])
    clock, rotated = Clock(), []
    rotation = Rotation(
        session,
        path,
        base_url=replicas,
        credential=document["credential"],
        on_rotated=rotated.append,
        remaining_fraction=1 / 3,
        clock=clock,
        jitter=lambda: 0.0,
    )
    session.hooks["response"].append(rotation.observe)
    fetch(session, document, document["credential"])
    clock.now += 3600
    assert rotation.step() == 1.0 and rotated == []  # refused at the first base: backoff
    assert replicas.current == document["base_url"]
    rotation.step()
    assert len(rotated) == 1 and json.loads(path.read_text())["credential"] == rotated[0]


def test_a_once_run_rotates_when_due_and_leaves_the_new_credential_in_the_bootstrap(short_lived):
    """A real ``python -m agent.main --once`` process; with 60-second credentials,
    --rotate-remaining 0.99 makes the rotation due as soon as the expiry is known (at most
    59 of 60 seconds are announced as left)."""
    _hearth, path, document, session = short_lived
    state = path.parent / "state"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.main",
            "--bootstrap",
            str(path),
            "--state-dir",
            str(state),
            "--once",
            "--rotate-remaining",
            "0.99",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    stored = json.loads(path.read_text())["credential"]
    assert stored != document["credential"] and stored.startswith("hgs_")
    assert fetch(session, document, stored).status_code == 200
    assert stored not in run.stdout + run.stderr  # the secret is never logged
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.e2e
def test_agents_rotate_by_themselves_and_keep_working_for_several_lifetimes(tmp_path):
    """credential_ttl 6 s, overlap 3 s: real agent processes started by the local driver."""
    hearth = start_server(tmp_path, credential_ttl=6, credential_rotation_overlap=3)
    guest = requests.Session()
    try:
        hearth.create_stack("busy", DEPLOYED, parameters={"colour": "blue"})
        assert hearth.wait_stack("busy", ("CREATE_COMPLETE",), 60)["stack_status"] == "CREATE_COMPLETE"
        server_id = hearth.resources("busy")["server"]["physical_resource_id"]
        bootstrap = Path(hearth.config.resolved_data_dir) / "servers" / server_id / "bootstrap.json"

        def rotations() -> int:
            with hearth.service.runtime.store.session() as session:
                return sum(
                    1
                    for e in audit.list_events(session, action="credential.rotate", limit=1000)
                    if (e.detail or {}).get("subject_id") == server_id
                )

        # A signal sent with the old credential during the overlap still succeeds.
        old = json.loads(bootstrap.read_text())["credential"]
        wait_for(
            lambda: json.loads(bootstrap.read_text())["credential"] != old,
            20,
            0.01,
            "the agent to rotate its credential",
        )
        entry = hearth.service.resources.show_resource("admin", hearth.stack("busy")["id"], "deploy")
        runs = [e["id"] for e in metadata(guest, hearth, server_id, old)["deployments"]]
        answer = guest.post(
            f"{hearth.url}/guest/v1/deployments/{runs[0]}/progress",
            json={"message": "late", "percent": 99},
            timeout=10,
            headers={"Authorization": f"Bearer {old}"},
        )
        assert answer.status_code == 202, answer.text
        assert entry["resource_status"] == "CREATE_COMPLETE"
        # Several lifetimes later the agent still deploys (each rotation every ~4 s).
        wait_for(lambda: rotations() >= 5, 60, 0.2, "five rotations (about four lifetimes)")
        stack = hearth.stack("busy")
        update = hearth.http.patch(
            f"{hearth.api}/stacks/busy/{stack['id']}", json={"parameters": {"colour": "green"}}, timeout=30
        )
        assert update.status_code == 202, update.text
        done = hearth.wait_stack("busy", ("UPDATE_COMPLETE",), 60)
        assert done["stack_status"] == "UPDATE_COMPLETE", done["stack_status_reason"]
        assert hearth.outputs("busy")["result"] == "green"
        assert stat.S_IMODE(os.stat(bootstrap).st_mode) == 0o600
        assert "Traceback" not in (bootstrap.parent / "agent.log").read_text()
        hearth.delete("busy")
    finally:
        guest.close()
        stop_server(hearth)


def metadata(session, hearth, server_id, credential) -> dict:
    answer = session.get(
        f"{hearth.url}/guest/v1/servers/{server_id}/metadata",
        timeout=10,
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["metadata"]


DEPLOYED = """
heat_template_version: 2018-08-31
parameters:
  colour: {type: string}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: colour}]
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        printf '%s' "$colour" > "$heat_outputs_path.result"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {colour: {get_param: colour}}
      actions: [CREATE, UPDATE]
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""
