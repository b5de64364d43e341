"""`hearth server --guest-listen` as a real process: the guest API on its own listener, the
orchestration API only on the main one, and a stack whose agents reach only the guest listener."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import AUTH, ROOT, ServerProcess, free_port, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def split_server(tmp_path):
    """Guests on a listener of their own, and not on the main one (the secure setup)."""
    guest_port = free_port()
    server = ServerProcess(
        tmp_path,
        args=[
            "--db",
            f"sqlite:///{tmp_path}/h.db",
            "--data-dir",
            str(tmp_path / "data"),
            "--guest-listen",
            f"127.0.0.1:{guest_port}",
            "--guest-on-main",
            "no",
        ],
    )
    server.start()
    wait_for(lambda: "guest API listening" in server.log.read_text(), 30, 0.05, "the guest listener")
    yield server, f"http://127.0.0.1:{guest_port}", tmp_path / "data"
    server.stop()


def test_a_stack_completes_with_its_agents_on_the_guest_listener_alone(split_server):
    server, guest_url, data_dir = split_server
    body = {
        "stack_name": "split",
        "template": (ROOT / "examples" / "hello-world.yaml").read_text(),
        "template_name": "hello-world.yaml",
    }
    created = requests.post(f"{server.url}/v1/admin/stacks", json=body, headers=AUTH, timeout=30)
    assert created.status_code == 201, created.text
    # The API's links lead to the main listener, not to the guest one (where /v1 is 404).
    [link] = created.json()["stack"]["links"]
    assert link["href"].startswith(server.url + "/v1/admin/stacks/split/"), link

    def settled():
        stack = server.stack("split")
        return stack if not stack["stack_status"].endswith("IN_PROGRESS") else None

    stack = wait_for(settled, 120, 0.2, "the stack to settle")
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    outputs = {o["output_key"]: o.get("output_value") for o in stack["outputs"]}
    assert outputs["server_one_result"] == "Hello from server_one"
    # Every agent was given the guest listener, and nothing else answers guests here.
    bootstraps = [json.loads(p.read_text()) for p in Path(data_dir, "servers").glob("*/bootstrap.json")]
    assert len(bootstraps) == 2
    assert {b["base_url"] for b in bootstraps} == {guest_url}
    server_id = bootstraps[0]["server_id"]
    on_main = requests.get(f"{server.url}/guest/v1/servers/{server_id}/metadata", timeout=10)
    assert on_main.status_code == 404 and on_main.json()["error"]["code"] == "not_found"


def test_the_orchestration_api_is_not_on_the_guest_listener(split_server):
    server, guest_url, _ = split_server
    assert requests.get(f"{server.url}/v1/admin/stacks", headers=AUTH, timeout=10).status_code == 200
    for path in ("/v1/admin/stacks", "/admin/v1/projects", "/v1/admin/servers/x/bootstrap"):
        answer = requests.get(guest_url + path, headers=AUTH, timeout=10)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    # The guest API itself answers there (a bad credential is refused, not unknown).
    refused = requests.get(
        f"{guest_url}/guest/v1/servers/x/metadata", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert refused.status_code == 401


def test_guests_off_the_main_listener_need_a_listener_of_their_own(tmp_path):
    hearth = Path(sys.executable).parent / "hearth"
    refused = subprocess.run(
        [str(hearth), "server", "--data-dir", str(tmp_path), "--guest-on-main", "no"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--guest-listen" in refused.stderr
    bad = subprocess.run(
        [str(hearth), "server", "--data-dir", str(tmp_path), "--guest-listen", "nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
    assert not (tmp_path / "hearth.db").exists()  # refused before anything was made


STOCK_TRANSPORTS = """
heat_template_version: 2018-08-31
resources:
  cfn_server: {type: OS::Heat::DeployedServer, properties: {software_config_transport: POLL_SERVER_CFN}}
  heat_server: {type: OS::Heat::DeployedServer, properties: {software_config_transport: POLL_SERVER_HEAT}}
outputs:
  cfn: {value: {get_attr: [cfn_server, os_collect_config, cfn]}}
  heat: {value: {get_attr: [heat_server, os_collect_config, heat]}}
"""


def test_the_stock_transports_are_served_on_the_guest_listener(split_server):
    # os-collect-config's cfn and heat collectors reach the guest listener alone: the sections
    # name it, and its CFN API, Keystone and resource-metadata call answer there.
    server, guest_url, _ = split_server
    body = {"stack_name": "stock", "template": STOCK_TRANSPORTS}
    created = requests.post(f"{server.url}/v1/admin/stacks", json=body, headers=AUTH, timeout=30)
    assert created.status_code == 201, created.text
    stack = wait_for(
        lambda: (lambda s: s if s["stack_status"] != "CREATE_IN_PROGRESS" else None)(server.stack("stock")),
        60,
        0.1,
        "the stack to settle",
    )
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    outputs = {o["output_key"]: o.get("output_value") for o in stack["outputs"]}
    cfn, heat = outputs["cfn"], outputs["heat"]
    assert cfn["metadata_url"] == f"{guest_url}/v1/"
    assert heat["auth_url"] == f"{guest_url}/identity/v3"

    unsigned = requests.get(cfn["metadata_url"], params={"Action": "DescribeStackResource"}, timeout=10)
    assert unsigned.status_code == 403 and "AccessDenied" in unsigned.text  # served, and refused
    assert requests.get(heat["auth_url"], timeout=10).json()["version"]["id"].startswith("v3")
    login = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"id": heat["user_id"], "password": heat["password"]}},
            },
            "scope": {"project": {"id": heat["project_id"]}},
        }
    }
    token = requests.post(f"{heat['auth_url']}/auth/tokens", json=login, timeout=10)
    assert token.status_code == 201, token.text
    [orchestration] = [s for s in token.json()["token"]["catalog"] if s["type"] == "orchestration"]
    endpoint = next(e["url"] for e in orchestration["endpoints"] if e["interface"] == "public")
    assert endpoint == f"{guest_url}/v1/{heat['project_id']}"
    metadata = requests.get(
        f"{endpoint}/stacks/{heat['stack_id']}/resources/{heat['resource_name']}/metadata",
        headers={"X-Auth-Token": token.headers["X-Subject-Token"]},
        timeout=10,
    )
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["metadata"]["os-collect-config"]["collectors"] == ["heat", "local"]
    # The token reaches nothing else, here or on the main listener.
    other = requests.get(
        f"{server.url}/v1/admin/stacks", headers={"X-Auth-Token": token.headers["X-Subject-Token"]}, timeout=10
    )
    assert other.status_code in (401, 403)
