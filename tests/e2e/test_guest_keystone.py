"""POLL_SERVER_HEAT and HEAT_SIGNAL against Hearth's guest Keystone (engine/guest/transports/heat.py), with
the real clients: os-collect-config 14.1.0's `heat` collector (keystoneclient + heatclient) and
heat-agents 13.0.0's `heat-config-notify`, run with the os-collect-config venv's python (it has
keystoneclient and heatclient). Both peers come from PyPI through tests/peers.py; without them
these tests fail under CI and skip elsewhere. Nothing is mocked: a real Hearth server on
127.0.0.1, real stacks, the clients as processes.

Stand-in, said where it is used: the DeployedServer's own guest credential is issued with
engine.guest.credentials, as `hearth server bootstrap` does, to read the HEAT_SIGNAL entry.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests import peers
from tests.e2e.occ import BOTH, FIRST_ONLY, configs, create, polled, run_occ, update
from tests.support import start_server, stop_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

SIGNALLED = """
heat_template_version: 2018-08-31
resources:
  machine:
    type: OS::Heat::DeployedServer
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      outputs: [{name: greeting}]
      config: "#!/bin/sh\\necho hi\\n"
  one:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: machine},
                 signal_transport: HEAT_SIGNAL}
  two:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: machine},
                 signal_transport: HEAT_SIGNAL}
outputs:
  greeting: {value: {get_attr: [one, greeting]}}
"""


@pytest.fixture(scope="module")
def occ_bin() -> Path:
    return peers.require("os-collect-config")


def test_os_collect_config_heat_collector_reads_the_server_and_sees_an_update(tmp_path, occ_bin):
    hearth = start_server(tmp_path)
    try:
        stack = create(hearth, "occheat", "POLL_SERVER_HEAT")
        occ = hearth.outputs("occheat")["occ"]
        assert occ["collectors"] == ["ec2", "heat", "local"]
        heat = occ["heat"]
        assert heat["auth_url"] == f"{hearth.url}/identity/v3"
        assert heat["stack_id"] == f"occheat/{stack['id']}" and heat["resource_name"] == "server"
        assert heat["project_id"] == "admin" and heat["password"].startswith("hgs_")

        result, doc, first_run = run_occ(occ_bin, "heat", heat, tmp_path / "occ")
        assert doc is not None, result.stderr[-3000:]
        assert configs(doc) == FIRST_ONLY and doc["os-collect-config"]["heat"] == heat, doc
        assert heat["password"] not in result.stderr + result.stdout

        update(hearth, "occheat", stack["id"], "POLL_SERVER_HEAT")
        assert hearth.outputs("occheat")["occ"]["heat"] == heat  # the guest's user lives on

        result, doc, second_run = run_occ(occ_bin, "heat", heat, tmp_path / "occ")
        assert doc is not None and configs(doc) == BOTH, result.stderr[-3000:]
        print(f"os-collect-config heat collector runs: {first_run:.2f} s, {second_run:.2f} s")
    finally:
        stop_server(hearth)


def machine_entries(hearth, stack: str) -> dict[str, dict]:
    """The DeployedServer's deployment entries by resource name, from the guest API.
    Stand-in: the machine's credential is issued as `hearth server bootstrap` does."""
    from engine.guest import credentials

    server_id = wait_for(
        lambda: hearth.resources(stack)["machine"]["physical_resource_id"], 30, message="the machine's id"
    )
    runtime = hearth.service.runtime
    with runtime.store.session() as session:
        secret = credentials.issue(
            session, kind="server", subject_id=server_id, stack_id=None, now=runtime.now(), ttl_seconds=600
        )
    url = f"{hearth.url}/guest/v1/servers/{server_id}/metadata"

    def both():
        entries = hearth.http.get(url, headers={"Authorization": f"Bearer {secret}"}, timeout=10).json()["metadata"][
            "deployments"
        ]
        named = {inputs(entry)["deploy_resource_name"]: entry for entry in entries}
        return named if len(named) == 2 else None

    return wait_for(both, 30, message="two deployments in the machine's metadata")


def inputs(entry: dict) -> dict:
    return {item["name"]: item["value"] for item in entry["inputs"]}


def login(hearth, user_id: str, password: str, project: str = "admin") -> requests.Response:
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {"id": user_id, "password": password}}},
            "scope": {"project": {"id": project}},
        }
    }
    return requests.post(f"{hearth.url}/identity/v3/auth/tokens", json=body, timeout=10)


def test_heat_config_notify_signals_a_heat_signal_deployment_to_complete(tmp_path, occ_bin):
    heat_agents = peers.require("heat-agents")
    hearth = start_server(tmp_path / "hearth")
    try:
        hearth.create_stack("notified", SIGNALLED)
        entry = machine_entries(hearth, "notified")["one"]
        values = inputs(entry)
        # Heat's HEAT_SIGNAL inputs, and no signal URL (notify would use it instead of Keystone).
        assert "deploy_signal_id" not in values and "deploy_signal_verb" not in values
        assert values["deploy_auth_url"] == f"{hearth.url}/identity/v3"
        assert values["deploy_project_id"] == "admin"
        for key in ("deploy_username", "deploy_user_id", "deploy_password"):
            assert values[key], key
        config = tmp_path / "deployed.json"
        config.write_text(json.dumps(entry))
        signal = {
            "greeting": "hello over keystone",
            "deploy_stdout": "hi\n",
            "deploy_stderr": "",
            "deploy_status_code": 0,
        }
        notify = heat_agents / "heat-config" / "bin" / "heat-config-notify"
        started = time.monotonic()
        result = subprocess.run(
            [str(occ_bin / "python"), str(notify), str(config)],
            input=json.dumps(signal),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr[-3000:]
        assert values["deploy_password"] not in result.stderr
        wait_for(
            lambda: hearth.resources("notified")["one"]["resource_status"] == "CREATE_COMPLETE",
            30,
            message="deployment `one` to complete",
        )
        assert hearth.outputs("notified")["greeting"] == "hello over keystone"
        assert hearth.resources("notified")["two"]["resource_status"] == "CREATE_IN_PROGRESS"
        print(f"heat-config-notify HEAT_SIGNAL run: {elapsed:.2f} s")
    finally:
        stop_server(hearth)


def test_guest_tokens_reach_their_own_target_and_nothing_else(tmp_path):
    """The refusal matrix, with real HTTP against a real server (no peer needed for it)."""
    hearth = start_server(tmp_path / "hearth")
    try:
        hearth.create_stack("a", polled(), parameters={"transport": "POLL_SERVER_HEAT"})
        hearth.create_stack("b", polled(), parameters={"transport": "POLL_SERVER_HEAT"})
        hearth.create_stack("signals", SIGNALLED)
        stacks = {name: hearth.wait_stack(name, ("CREATE_COMPLETE",), timeout=90) for name in ("a", "b")}
        heat_a, heat_b = (hearth.outputs(name)["occ"]["heat"] for name in ("a", "b"))
        entries = machine_entries(hearth, "signals")
        one, two = inputs(entries["one"]), inputs(entries["two"])
        signals_id = hearth.stack("signals")["id"]

        def token(user_id, password):
            answer = login(hearth, user_id, password)
            assert answer.status_code == 201, answer.text
            return answer.headers["X-Subject-Token"]

        def metadata(stack, tok, resource="server"):
            return requests.get(
                f"{hearth.url}/v1/admin/stacks/{stack}/{stacks[stack]['id']}/resources/{resource}/metadata",
                headers={"X-Auth-Token": tok},
                timeout=10,
            )

        def signal(resource, tok):
            return requests.post(
                f"{hearth.url}/v1/admin/stacks/signals/{signals_id}/resources/{resource}/signal",
                json={"deploy_status_code": 0},
                headers={"X-Auth-Token": tok},
                timeout=10,
            )

        # A wrong password, another server's password, a wrong project: 401 in Keystone's shape.
        for user, password, project in (
            (heat_a["user_id"], "hgs_wrong", "admin"),
            (heat_a["user_id"], heat_b["password"], "admin"),
            (heat_a["user_id"], heat_a["password"], "other"),
        ):
            refused = login(hearth, user, password, project)
            assert refused.status_code == 401, refused.text
            error = refused.json()["error"]
            assert (error["code"], error["title"]) == (401, "Unauthorized") and error["message"]
            assert heat_a["password"] not in refused.text and heat_b["password"] not in refused.text

        token_a, token_b = token(heat_a["user_id"], heat_a["password"]), token(heat_b["user_id"], heat_b["password"])
        token_one, token_two = (
            token(one["deploy_user_id"], one["deploy_password"]),
            token(two["deploy_user_id"], two["deploy_password"]),
        )
        assert metadata("a", token_a).status_code == 200
        assert metadata("a", token_a).json()["metadata"]["os-collect-config"]["heat"] == heat_a
        assert metadata("a", token_b).status_code == 403  # another server's token
        assert metadata("a", token_one).status_code == 403  # a deployment's token
        assert metadata("a", "hgk_forged").status_code == 401
        # Another deployment's token for signal; a server's token for signal.
        assert signal("one", token_two).status_code == 403
        assert signal("one", token_a).status_code == 403
        # Any other orchestration route.
        for method, path in (
            ("GET", "/stacks"),
            ("GET", f"/stacks/signals/{signals_id}"),
            ("GET", f"/stacks/signals/{signals_id}/resources"),
            ("DELETE", f"/stacks/signals/{signals_id}"),
        ):
            answer = requests.request(method, f"{hearth.api}{path}", headers={"X-Auth-Token": token_one}, timeout=10)
            assert answer.status_code in (401, 403), (method, path, answer.text)
        assert hearth.stack("signals")["stack_status"] == "CREATE_IN_PROGRESS"
        # The right token signals its own deployment (Heat answers null).
        answer = signal("one", token_one)
        assert answer.status_code == 200 and answer.json() is None, answer.text
        wait_for(
            lambda: hearth.resources("signals")["one"]["resource_status"] == "CREATE_COMPLETE",
            30,
            message="deployment `one` to complete",
        )

        # The transport switched away: the server's heat user is no longer named, refused.
        update(hearth, "a", stacks["a"]["id"], "POLL_TEMP_URL", second=False)
        assert hearth.outputs("a")["occ"]["heat"]["user_id"] is None
        assert metadata("a", token_a).status_code == 403
        # The server deleted: its credential is revoked, its token and its login refused.
        hearth.delete("b")
        assert metadata("b", token_b).status_code in (401, 403)
        assert login(hearth, heat_b["user_id"], heat_b["password"]).status_code == 401
    finally:
        stop_server(hearth)
