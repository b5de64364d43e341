"""The issue's by-hand path: `hearth server` as a process, then the `hearth` CLI against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_end_to_end import FAILING, agent_pids
from tests.support import ROOT, ServerProcess, wait_for

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


@pytest.fixture
def server_process(tmp_path):
    """As the README says to run it: `hearth server --db sqlite:///x.db`, data in the default place."""
    server = ServerProcess(
        tmp_path, args=["--db", f"sqlite:///{tmp_path}/x.db"], env={"XDG_STATE_HOME": str(tmp_path / "state")}
    )
    server.env["HEARTH_URL"] = server.url
    server.start()
    yield server.env, str(tmp_path / "state" / "hearth")
    server.stop()


def hearth(env, *args, cwd=None):
    return subprocess.run([str(BIN / "hearth"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_create_wait_output_and_delete_with_the_cli(server_process, tmp_path):
    env, data_dir = server_process
    created = hearth(env, "stack", "create", "demo", "-t", str(ROOT / "examples" / "hello-world.yaml"), "--wait")
    assert created.returncode == 0, created.stderr
    assert "[deploy_one]: CREATE_COMPLETE" in created.stdout
    assert "CREATE_COMPLETE" in created.stdout
    shown = hearth(env, "output", "show", "demo", "-f", "json")
    assert shown.returncode == 0, shown.stderr
    outputs = json.loads(shown.stdout)
    assert outputs["server_one_result"] == "Hello from server_one"
    assert outputs["server_two_result"] == "Hello from server_two"
    listed = hearth(env, "stack", "list", "-f", "json")
    assert [s["stack_name"] for s in json.loads(listed.stdout)] == ["demo"]
    resources = json.loads(hearth(env, "resource", "list", "demo", "-f", "json").stdout)
    assert {r["resource_status"] for r in resources} == {"CREATE_COMPLETE"}
    assert len(agent_pids(data_dir)) == 2
    deleted = hearth(env, "stack", "delete", "demo", "--wait")
    assert deleted.returncode == 0, deleted.stderr
    assert "DELETE_COMPLETE" in deleted.stdout
    wait_for(lambda: not agent_pids(data_dir), 10, message="agents to exit")


def test_wait_exits_non_zero_with_the_reason_when_create_fails(server_process, tmp_path):
    env, _ = server_process
    template = tmp_path / "broken.yaml"
    template.write_text(FAILING)
    created = hearth(env, "stack", "create", "broken", "-t", str(template), "--wait")
    assert created.returncode == 1
    assert "ERROR:" in created.stderr and "the disk is full" in created.stderr


def test_template_error_from_the_cli_names_file_line_and_path(server_process, tmp_path):
    env, _ = server_process
    template = tmp_path / "web.yaml"
    template.write_text(
        "heat_template_version: 2018-08-31\nresources:\n  web:\n    type: OS::Heat::Value\n"
        "    properties:\n      valu: 1\n"
    )
    created = hearth(env, "stack", "create", "bad", "-t", str(template))
    assert created.returncode == 1
    # Where Hearth found it, then Heat's words (Heat's path stops at `properties`).
    assert "web.yaml:5: Property error: resources.web.properties: Unknown Property valu" in created.stderr


VALUES = """heat_template_version: 2018-08-31
parameters:
  word: {type: string, default: one}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: word}}}
  salt: {type: OS::Heat::RandomString, properties: {length: 6}}
outputs:
  word: {value: {get_attr: [value, value]}}
"""


def test_update_actions_abandon_and_adopt_with_the_cli(server_process, tmp_path):
    env, _ = server_process
    template = tmp_path / "values.yaml"
    template.write_text(VALUES)
    checked = hearth(env, "template", "validate", "-t", str(template), "-f", "json")
    assert json.loads(checked.stdout)["Parameters"]["word"]["Default"] == "one", checked.stderr
    assert hearth(env, "stack", "create", "ops", "-t", str(template), "--wait").returncode == 0
    preview = hearth(env, "stack", "update", "ops", "--existing", "--parameter", "word=two", "--dry-run", "-f", "json")
    assert {(r["change"], r["resource_name"]) for r in json.loads(preview.stdout)} == {
        ("updated", "value"),
        ("unchanged", "salt"),
    }, preview.stderr
    updated = hearth(env, "stack", "update", "ops", "--existing", "--parameter", "word=two", "--wait", "-f", "json")
    assert updated.returncode == 0, updated.stderr
    assert "[ops]: UPDATE_COMPLETE" in updated.stderr
    assert json.loads(updated.stdout)["outputs"][0]["output_value"] == "two"
    for verb, status in (("suspend", "SUSPEND_COMPLETE"), ("resume", "RESUME_COMPLETE"), ("check", "CHECK_COMPLETE")):
        done = hearth(env, "stack", verb, "ops", "--wait", "-f", "value", "-c", "stack_status")
        assert (done.returncode, done.stdout) == (0, status + "\n"), done.stderr
    before = json.loads(hearth(env, "resource", "list", "ops", "-f", "json").stdout)
    data = tmp_path / "ops.json"
    assert hearth(env, "stack", "abandon", "ops", "--output-file", str(data)).returncode == 0
    assert json.loads(hearth(env, "stack", "list", "-f", "json").stdout) == []
    adopted = hearth(env, "stack", "adopt", "ops2", "--adopt-file", str(data), "--wait")
    assert adopted.returncode == 0, adopted.stderr
    after = json.loads(hearth(env, "resource", "list", "ops2", "-f", "json").stdout)
    assert {r["resource_name"]: r["physical_resource_id"] for r in after} == {
        r["resource_name"]: r["physical_resource_id"] for r in before
    }
    assert hearth(env, "stack", "delete", "ops2", "--wait").returncode == 0
