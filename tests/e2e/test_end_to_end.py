"""End to end: a real server on 127.0.0.1, real agent processes, the real script hook, SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.support import ROOT, wait_for

pytestmark = pytest.mark.e2e


def agent_pids(data_dir: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().split()[2]
        except OSError:
            continue
        if "agent.main" in cmdline and data_dir in cmdline and state != "Z":
            pids.append(int(proc.name))
    return pids


def bootstrap(hearth, server_id: str) -> dict:
    path = Path(hearth.config.resolved_data_dir) / "servers" / server_id / "bootstrap.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    return json.loads(path.read_text())


def test_hello_world_completes_with_both_outputs_and_delete_leaves_nothing(hearth_on):
    hearth = hearth_on
    hearth.create_stack("hello", ROOT / "examples" / "hello-world.yaml")
    stack = hearth.wait_stack("hello", ("CREATE_COMPLETE",), timeout=90)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    outputs = hearth.outputs("hello")
    assert outputs["server_one_result"] == "Hello from server_one"
    assert outputs["server_two_result"] == "Hello from server_two"
    assert json.loads(outputs["ready_data"]) == {
        "server_one": "server_one is ready",
        "server_two": "server_two is ready",
    }
    data_dir = hearth.config.resolved_data_dir
    assert len(agent_pids(data_dir)) == 2
    hearth.delete("hello")
    assert hearth.stack(stack["id"])["stack_status"] == "DELETE_COMPLETE"
    wait_for(lambda: not agent_pids(data_dir), 10, message="agents to exit")
    assert not any((Path(data_dir) / "servers").iterdir())


FAILING = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: |
        #!/bin/sh
        echo "about to fail"
        echo "the disk is full" >&2
        exit 3
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
"""


def test_failing_script_fails_deployment_and_stack_with_stderr_in_reason(hearth):
    hearth.create_stack("broken", FAILING)
    stack = hearth.wait_stack("broken", ("CREATE_FAILED",), timeout=60)
    assert stack["stack_status"] == "CREATE_FAILED"
    reason = stack["stack_status_reason"]
    assert "deploy" in reason and "non-zero status code: 3" in reason
    assert "the disk is full" in reason
    resources = hearth.resources("broken")
    assert resources["deploy"]["resource_status"] == "CREATE_FAILED"
    assert resources["server"]["resource_status"] == "CREATE_COMPLETE"
    hearth.delete("broken")


WAIT = """
heat_template_version: 2018-08-31
parameters:
  timeout: {type: number, default: 60}
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: 2
      timeout: {get_param: timeout}
outputs:
  token: {value: {get_attr: [handle, token]}}
  endpoint: {value: {get_attr: [handle, endpoint]}}
  data: {value: {get_attr: [wait, data]}}
"""


def _handle(hearth, name: str) -> tuple[str, str]:
    wait_for(lambda: hearth.outputs(name).get("token"), 30, message="the handle's token")
    outputs = hearth.outputs(name)
    return outputs["endpoint"], outputs["token"]


def test_wait_condition_completes_on_two_signals(hearth):
    hearth.create_stack("waiting", WAIT)
    endpoint, token = _handle(hearth, "waiting")
    headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
    first = requests.post(endpoint, headers=headers, json={"status": "SUCCESS", "data": "a"}, timeout=10)
    assert first.status_code == 200, first.text
    assert hearth.stack("waiting")["stack_status"] == "CREATE_IN_PROGRESS"
    second = requests.post(endpoint, headers=headers, json={"id": "x", "data": "b"}, timeout=10)
    assert second.status_code == 200
    stack = hearth.wait_stack("waiting", ("CREATE_COMPLETE",))
    assert stack["stack_status"] == "CREATE_COMPLETE"
    assert json.loads(hearth.outputs("waiting")["data"]) == {"1": "a", "x": "b"}


def test_wait_condition_fails_on_failure_signal(hearth):
    hearth.create_stack("refused", WAIT)
    endpoint, token = _handle(hearth, "refused")
    response = requests.post(
        endpoint,
        headers={"X-Auth-Token": token},
        json={"status": "FAILURE", "reason": "database did not start"},
        timeout=10,
    )
    assert response.status_code == 200
    stack = hearth.wait_stack("refused", ("CREATE_FAILED",))
    assert "database did not start" in stack["stack_status_reason"]


def test_wait_condition_times_out_with_count_in_reason(hearth):
    hearth.create_stack("late", WAIT, parameters={"timeout": 1})
    endpoint, token = _handle(hearth, "late")
    requests.post(endpoint, headers={"X-Auth-Token": token}, json={"reason": "one is up"}, timeout=10)
    stack = hearth.wait_stack("late", ("CREATE_FAILED",), timeout=30)
    assert "1 of 2 received" in stack["stack_status_reason"]
    assert "one is up" in stack["stack_status_reason"]


def test_cfn_signal_json_on_presigned_url(hearth):
    template = WAIT.replace(
        "type: OS::Heat::WaitConditionHandle",
        "type: OS::Heat::WaitConditionHandle\n    properties: {signal_transport: CFN_SIGNAL}",
    )
    template += "  url: {value: {get_attr: [handle, signal, alarm_url]}}\n"
    hearth.create_stack("cfn", template)
    url = wait_for(lambda: hearth.outputs("cfn").get("url"), 30, message="the pre-signed URL")
    for unique in ("a", "b"):
        # cfn-signal sends PUT with an empty Content-Type
        body = json.dumps({"Status": "SUCCESS", "Reason": "ok", "UniqueId": unique, "Data": unique})
        response = requests.put(url, data=body, headers={"Content-Type": ""}, timeout=10)
        assert response.status_code == 200, response.text
    assert hearth.wait_stack("cfn", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"
    forged = url.replace("signature=", "signature=x")
    assert requests.put(forged, data="{}", timeout=10).status_code == 403


TWO_SERVERS = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho done\\n"
  one:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  two:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy_one:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: one}}
"""


def test_server_credential_reaches_only_its_own_server(hearth):
    hearth.create_stack("pair", TWO_SERVERS)
    hearth.wait_stack("pair", ("CREATE_COMPLETE",))
    resources = hearth.resources("pair")
    one, two = resources["one"]["physical_resource_id"], resources["two"]["physical_resource_id"]
    one_secret = bootstrap(hearth, one)["credential"]
    two_secret = bootstrap(hearth, two)["credential"]
    auth = {"Authorization": f"Bearer {two_secret}"}
    own = requests.get(f"{hearth.url}/guest/v1/servers/{two}/metadata", headers=auth, timeout=10)
    assert own.status_code == 200
    other = requests.get(f"{hearth.url}/guest/v1/servers/{one}/metadata", headers=auth, timeout=10)
    assert other.status_code == 403
    assert other.json()["error"]["message"]
    entry = requests.get(
        f"{hearth.url}/guest/v1/servers/{one}/metadata", headers={"Authorization": f"Bearer {one_secret}"}, timeout=10
    ).json()
    entry_id = entry["metadata"]["deployments"][0]["id"]
    signal = requests.post(
        f"{hearth.url}/guest/v1/deployments/{entry_id}/signal", headers=auth, json={"deploy_status_code": 0}, timeout=10
    )
    assert signal.status_code == 403
    nobody = requests.get(
        f"{hearth.url}/guest/v1/servers/{one}/metadata", headers={"Authorization": "Bearer forged"}, timeout=10
    )
    assert nobody.status_code == 401
    hearth.delete("pair")
    revoked = requests.get(
        f"{hearth.url}/guest/v1/servers/{one}/metadata", headers={"Authorization": f"Bearer {one_secret}"}, timeout=10
    )
    assert revoked.status_code == 401


def test_dependency_cycle_is_reported_with_its_members(hearth):
    template = """heat_template_version: 2018-08-31
resources:
  a: {type: OS::Heat::Value, properties: {value: {get_attr: [b, value]}}}
  b: {type: OS::Heat::Value, properties: {value: {get_attr: [c, value]}}}
  c: {type: OS::Heat::Value, properties: {value: {get_resource: a}}}
  d: {type: OS::Heat::None}
"""
    response = hearth.create_stack("cycle", template, template_name="cycle.yaml", expect=400)
    message = response.json()["error"]["message"]
    assert "cycle" in message
    assert all(name in message for name in ("a", "b", "c")) and " d " not in message
    assert message.startswith("cycle.yaml")


def test_template_error_names_file_line_and_path(hearth):
    template = """heat_template_version: 2018-08-31
resources:
  web:
    type: OS::Nova::Server
    properties:
      image: debian
      flavor: [not, a, string]
"""
    response = hearth.create_stack("bad", template, template_name="web.yaml", expect=400)
    body = response.json()
    assert body["code"] == 400
    # Where Hearth found it, then Heat's words (recorded from Heat 27.0.1).
    assert body["error"]["message"] == (
        "web.yaml:7: Property error: resources.web.properties.flavor: "
        "Value must be a string; got ['not', 'a', 'string']"
    )
    assert body["error"]["type"] == "StackValidationFailed"


ENV_PROBE = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      outputs: [{name: environment}]
      config: "#!/bin/sh\\nenv > $heat_outputs_path.environment\\n"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: server}}
outputs:
  environment: {value: {get_attr: [deploy, environment]}}
"""


def test_server_settings_never_reach_guest_scripts(tmp_path, monkeypatch):
    from tests.support import start_server, stop_server

    monkeypatch.setenv("HEARTH_SECRET_KEY", "leak-canary-key")
    monkeypatch.setenv("HEARTH_DB_URL", "postgresql://user:leak-canary-password@db/x")
    hearth = start_server(tmp_path)
    try:
        hearth.create_stack("probe", ENV_PROBE)
        assert hearth.wait_stack("probe", ("CREATE_COMPLETE",))["stack_status"] == "CREATE_COMPLETE"
        environment = hearth.outputs("probe")["environment"]
        assert "heat_outputs_path=" in environment and "deploy_action=CREATE" in environment
        assert "leak-canary" not in environment
        # The agent's own variables for hooks (the stack's facts, docs/facts.md) are all a
        # guest script sees of HEARTH_*: none of the server's settings.
        given = {line.split("=", 1)[0] for line in environment.splitlines() if line.startswith("HEARTH_")}
        assert given <= {"HEARTH_FACTS_FILE", "HEARTH_FACTS_PREFIX", "HEARTH_AGENT_BOOTSTRAP"}, given
        data = Path(hearth.config.resolved_data_dir)
        assert oct(data.stat().st_mode & 0o777) == "0o700"
        assert oct((tmp_path / "hearth.db").stat().st_mode & 0o777) == "0o600"
    finally:
        stop_server(hearth)
