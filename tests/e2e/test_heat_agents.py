"""heat-agents 13.0.0 and Hearth, each running the other's code: their hooks under hearth-agent,
Hearth's hooks under their 55-heat-config and heat-config-notify, against a real server.

heat-agents is fetched from PyPI by tests/peers.py (never committed); without it these tests
fail under CI and skip elsewhere. Nothing is mocked, with one stand-in said where it is used:
the deployed-server enrolment command does not exist yet, so test 2 issues the machine's
guest credential through the engine's credentials module, as that command will.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import peers
from tests.support import ROOT, start_server, stop_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.peers]

HOOK_FILES = {
    "script": "heat-config-script/install.d/hook-script.py",
    "json-file": "heat-config-json-file/install.d/hook-json-file.py",
}
THEIR_LOG = "(heat-config) [INFO] Completed "  # their hook-script's last log line


@pytest.fixture(scope="module")
def heat_agents() -> Path:
    """The unpacked heat-agents sdist."""
    return peers.require("heat-agents")


def install_their_hooks(source: Path, directory: Path) -> Path:
    """Their hook files as executables named after their groups, as their install.d does."""
    directory.mkdir(parents=True)
    for group, relative in HOOK_FILES.items():
        shutil.copyfile(source / relative, directory / group)
        (directory / group).chmod(0o755)
    return directory


def reach(hearth, name: str, status: str, timeout: float = 90) -> dict:
    """The stack once it is ``status``; on anything else, the agents' logs say why."""
    try:
        stack = hearth.wait_stack(name, (status,), timeout=timeout)
        assert stack["stack_status"] == status, stack["stack_status_reason"]
    except AssertionError as exc:
        logs = sorted((Path(hearth.config.resolved_data_dir) / "servers").glob("*/agent.log"))
        tails = "".join(f"\n--- {log}\n" + log.read_text()[-4000:] for log in logs)
        raise AssertionError(f"{exc}{tails}") from None
    return stack


def agent_state(server, stack: str, resource: str = "server") -> Path:
    server_id = server.resources(stack)[resource]["physical_resource_id"]
    return Path(server.config.resolved_data_dir) / "servers" / server_id / "state"


def runs_by_group(state: Path) -> dict[str, tuple[str, Path]]:
    """Group -> (entry id, run dir), from the agent's own run artifacts (a run dir is
    the one holding input.json, at whatever depth the agent's layout puts it under runs/)."""
    found = {}
    for entry_file in (state / "runs").rglob("input.json"):
        entry = json.loads(entry_file.read_text())
        found[entry["group"]] = (entry["id"], entry_file.parent)
    return found


THEIR_HOOKS = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: who}]
      outputs: [{name: greeting}, {name: parent}]
      config: |
        #!/bin/sh
        echo "hello $who"
        tr '\\000' ' ' < /proc/$PPID/cmdline > "$heat_outputs_path.parent"
        printf 'greetings, %s' "$who" > "$heat_outputs_path.greeting"
  settings:
    type: OS::Heat::StructuredConfig
    properties:
      group: json-file
      inputs: [{name: port}]
      config:
        "SETTINGS_PATH": {port: {get_input: port}, name: app}
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  greet:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {who: world}
  configure:
    type: OS::Heat::StructuredDeployment
    properties:
      config: {get_resource: settings}
      server: {get_resource: server}
      input_values: {port: 8080}
outputs:
  greeting: {value: {get_attr: [greet, greeting]}}
  parent: {value: {get_attr: [greet, parent]}}
  stdout: {value: {get_attr: [greet, deploy_stdout]}}
  configured: {value: {get_attr: [configure, deploy_status_code]}}
"""


@pytest.mark.parametrize("named_by", ["HEAT_CONFIG_HOOKS", "--hooks-path"])
def test_their_script_and_json_file_hooks_run_under_the_hearth_agent(named_by, heat_agents, tmp_path, monkeypatch):
    """Their hook-script.py and hook-json-file.py, installed as `script` and `json-file` in a
    directory the agent is told about, apply the deployments instead of Hearth's own hooks."""
    hooks = install_their_hooks(heat_agents, tmp_path / "their-hooks")
    settings_path = tmp_path / "etc" / "app.json"
    monkeypatch.delenv("HEAT_CONFIG_HOOKS", raising=False)
    if named_by == "HEAT_CONFIG_HOOKS":
        monkeypatch.setenv("HEAT_CONFIG_HOOKS", str(hooks))  # the local driver's agents inherit it
        hearth = start_server(tmp_path / "hearth")
    else:
        hearth = start_server(tmp_path / "hearth", hooks_dir=str(hooks))  # becomes --hooks-path
    try:
        hearth.create_stack("theirs", THEIR_HOOKS.replace("SETTINGS_PATH", str(settings_path)))
        reach(hearth, "theirs", "CREATE_COMPLETE", timeout=90)
        outputs = hearth.outputs("theirs")
        assert outputs["greeting"] == "greetings, world"
        assert outputs["stdout"] == "hello world\n"
        assert outputs["configured"] == 0
        # The config script's parent process was their hook, from the directory we named.
        assert f"{hooks / 'script'} " in outputs["parent"], outputs["parent"]

        state = agent_state(hearth, "theirs")
        runs = runs_by_group(state)
        entry_id, run = runs["script"]
        working = state / "hooks-work" / "heat-config-script"
        # Their hook honoured the HEAT_SCRIPT_* dirs the agent passed: it wrote the config there
        # and (unlike Hearth's hook, which removes them) left its output files behind.
        assert (working / entry_id).read_text().startswith('#!/bin/sh\necho "hello $who"')
        left = state / "hooks-outputs" / "heat-config-script" / f"{entry_id}.greeting"
        assert left.read_text() == "greetings, world"
        assert THEIR_LOG + str(working / entry_id) in (run / "stderr").read_text()

        # Their json-file hook wrote the file in its layout (4-space indent, sorted keys) and
        # answered with empty streams, where Hearth's json-file reports "wrote PATH".
        assert settings_path.read_text() == '{\n    "name": "app",\n    "port": 8080\n}'
        assert json.loads((runs["json-file"][1] / "result.json").read_text()) == {
            "deploy_stdout": "",
            "deploy_stderr": "",
            "deploy_status_code": 0,
        }
    finally:
        stop_server(hearth)


UNDER_55 = """
heat_template_version: 2018-08-31
resources:
  machine:
    type: OS::Heat::DeployedServer
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: who}]
      outputs: [{name: greeting}]
      config: |
        #!/bin/sh
        echo "running for $who"
        printf 'hello %s via %s' "$who" "$deploy_signal_transport" > "$heat_outputs_path.greeting"
  cfn:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: machine}
      signal_transport: CFN_SIGNAL
      input_values: {who: cfn}
  temp_url:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: machine}
      signal_transport: TEMP_URL_SIGNAL
      input_values: {who: swift}
  settings:
    type: OS::Heat::StructuredConfig
    properties:
      group: json-file
      inputs: [{name: port}]
      config:
        "SETTINGS_PATH": {port: {get_input: port}}
  configure:
    type: OS::Heat::StructuredDeployment
    properties:
      config: {get_resource: settings}
      server: {get_resource: machine}
      input_values: {port: 8080}
outputs:
  cfn: {value: {get_attr: [cfn, greeting]}}
  cfn_stdout: {value: {get_attr: [cfn, deploy_stdout]}}
  temp_url: {value: {get_attr: [temp_url, greeting]}}
  configured: {value: {get_attr: [configure, deploy_stdout]}}
"""


def machine_metadata(hearth, stack: str) -> dict:
    """The DeployedServer's metadata from the guest API, once its three deployments are in it.

    Stand-in: `hearth server bootstrap` does not exist yet, so the machine's credential is
    issued here with engine.guest.credentials, as that command would.
    """
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
    auth = {"Authorization": f"Bearer {secret}"}

    def complete():
        metadata = hearth.http.get(url, headers=auth, timeout=10).json()["metadata"]
        return metadata if len(metadata["deployments"]) == 3 else None

    return wait_for(complete, 30, message="three deployments in the machine's metadata")


def test_hearth_hooks_run_under_their_55_heat_config_and_heat_config_notify(heat_agents, tmp_path):
    """Their dispatcher finds Hearth's `script` and `json-file` hooks through HEAT_CONFIG_HOOKS,
    and their notifier signals the real server, for a CFN_SIGNAL (POST) and a TEMP_URL_SIGNAL
    (PUT) deployment alike; the stack completes with the outputs Hearth's hooks produced."""
    hearth = start_server(tmp_path / "hearth")
    settings_path = tmp_path / "etc" / "app.json"
    try:
        hearth.create_stack("dispatched", UNDER_55.replace("SETTINGS_PATH", str(settings_path)))
        metadata = machine_metadata(hearth, "dispatched")
        shell_config = tmp_path / "heat-config"  # what os-apply-config renders from {{deployments}}
        shell_config.write_text(json.dumps(metadata["deployments"]))
        shell_config.chmod(0o600)
        deployed = tmp_path / "deployed"
        venv_bin = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),  # notify's python3
            "HEAT_SHELL_CONFIG": str(shell_config),
            "HEAT_CONFIG_HOOKS": str(ROOT / "hooks"),
            "HEAT_CONFIG_DEPLOYED": str(deployed),
            "HEAT_CONFIG_NOTIFY": str(heat_agents / "heat-config" / "bin" / "heat-config-notify"),
            "HEAT_SCRIPT_WORKING": str(tmp_path / "script-work"),
            "HEAT_SCRIPT_OUTPUTS": str(tmp_path / "script-outputs"),
        }
        dispatcher = heat_agents / "heat-config" / "os-refresh-config" / "configure.d" / "55-heat-config"
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(dispatcher)], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        assert "Error running" not in result.stderr, result.stderr
        reach(hearth, "dispatched", "CREATE_COMPLETE", timeout=30)
        outputs = hearth.outputs("dispatched")
        assert outputs["cfn"] == "hello cfn via CFN_SIGNAL"
        assert outputs["temp_url"] == "hello swift via TEMP_URL_SIGNAL"
        assert outputs["cfn_stdout"] == "running for cfn\n"
        assert outputs["configured"] == f"wrote {settings_path}\n"  # Hearth's json-file says so
        assert json.loads(settings_path.read_text()) == {"port": 8080}
        for entry in metadata["deployments"]:  # their bookkeeping: one input and one signal file each
            notified = json.loads((deployed / f"{entry['id']}.notify.json").read_text())
            assert notified["deploy_status_code"] == 0
        assert f"Completed {ROOT / 'hooks' / 'script'}" in result.stderr
        print(f"55-heat-config + heat-config-notify, three deployments: {time.monotonic() - started:.2f} s")
    finally:
        stop_server(hearth)


COMPONENT = """
heat_template_version: 2018-08-31
parameters:
  who: {type: string}
resources:
  component:
    type: OS::Heat::SoftwareComponent
    properties:
      inputs: [{name: who}]
      outputs: [{name: result}]
      configs:
        - actions: [CREATE]
          tool: script
          config: |
            #!/bin/sh
            echo "CREATE $who" >> "LOG_PATH"
            printf 'created %s' "$who" > "$heat_outputs_path.result"
        - actions: [UPDATE]
          tool: script
          config: |
            #!/bin/sh
            echo "UPDATE $who" >> "LOG_PATH"
            printf 'updated %s' "$who" > "$heat_outputs_path.result"
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: component}
      server: {get_resource: server}
      input_values: {who: {get_param: who}}
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""


def test_component_runs_the_config_of_the_current_action_only(hearth, tmp_path):
    """group `component`: create runs the CREATE entry alone; an update that changes the input
    runs the UPDATE entry alone (each entry appends its action to a log file)."""
    log = tmp_path / "actions.log"
    hearth.create_stack("component", COMPONENT.replace("LOG_PATH", str(log)), parameters={"who": "first"})
    stack = reach(hearth, "component", "CREATE_COMPLETE", timeout=90)
    assert hearth.outputs("component")["result"] == "created first"
    assert log.read_text() == "CREATE first\n"

    response = hearth.http.patch(
        f"{hearth.api}/stacks/component/{stack['id']}", json={"parameters": {"who": "second"}}, timeout=30
    )
    assert response.status_code == 202, response.text
    wait_for(lambda: hearth.stack("component")["stack_status"] != "CREATE_COMPLETE", 30, message="the update to start")
    stack = reach(hearth, "component", "UPDATE_COMPLETE", timeout=90)
    assert hearth.outputs("component")["result"] == "updated second"
    assert log.read_text() == "CREATE first\nUPDATE second\n"


NO_HOOK = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: no-such-tool, config: "anything"}
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}, server: {get_resource: server}}
"""


def test_a_group_without_a_hook_fails_the_stack_at_once_naming_group_and_search_path(hearth):
    """Where heat-agents logs and skips (the stack then waits out its timeout), the agent
    signals a failure that says which hook it looked for and where."""
    started = time.monotonic()
    hearth.create_stack("hookless", NO_HOOK)
    stack = hearth.wait_stack("hookless", ("CREATE_FAILED",), timeout=30)
    elapsed = time.monotonic() - started
    assert stack["stack_status"] == "CREATE_FAILED"
    reason = stack["stack_status_reason"]
    assert "no hook for group 'no-such-tool'" in reason, reason
    assert str(ROOT / "hooks") in reason and "/var/lib/heat-config/hooks" in reason, reason
    assert elapsed < 30
    print(f"hookless deployment failed the stack in {elapsed:.2f} s")
