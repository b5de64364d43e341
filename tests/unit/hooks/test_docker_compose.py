"""hooks/docker-compose as a process, against a recording stand-in for docker-compose.

docker-compose (and a Docker daemon) cannot run here, so the hook is only tested against the
stand-in below: an executable that records its argv, its cwd and the project files it finds,
then answers with the stdout, stderr and exit status the test asks for. What the real tool does
with the project is not tested.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HOOK = Path(__file__).resolve().parents[3] / "hooks" / "docker-compose"

STANDIN = f"""#!{sys.executable}
import json, os, sys
seen = {{}}
for name in sorted(os.listdir(".")):
    if os.path.isfile(name):
        with open(name) as handle:
            seen[name] = handle.read()
with open(os.environ["STANDIN_RECORD"], "a") as record:
    record.write(json.dumps({{"argv": sys.argv, "cwd": os.getcwd(), "files": seen}}) + "\\n")
sys.stdout.write(os.environ.get("STANDIN_STDOUT", ""))
sys.stderr.write(os.environ.get("STANDIN_STDERR", ""))
sys.exit(int(os.environ.get("STANDIN_STATUS", "0")))
"""


@pytest.fixture
def compose(tmp_path):
    """A stand-in executable, its record file and the hook's working directory."""
    tool = tmp_path / "bin" / "docker-compose-standin"
    tool.parent.mkdir()
    tool.write_text(STANDIN)
    tool.chmod(0o755)
    return {
        "tool": tool,
        "record": tmp_path / "record.jsonl",
        "working": tmp_path / "work" / "heat-config-docker-compose",
    }


def run_hook(compose, entry, command=None, **standin):
    env = dict(
        os.environ,
        HEAT_DOCKER_COMPOSE_WORKING=str(compose["working"]),
        HEAT_DOCKER_COMPOSE_CMD=command or str(compose["tool"]),
        STANDIN_RECORD=str(compose["record"]),
        **{f"STANDIN_{key.upper()}": str(value) for key, value in standin.items()},
    )
    proc = subprocess.run([str(HOOK)], input=json.dumps(entry), capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def calls(compose):
    if not compose["record"].exists():
        return []
    return [json.loads(line) for line in compose["record"].read_text().splitlines()]


def deployment(config, name="web_stack", action="CREATE", inputs=()):
    return {
        "id": "c0ffee-1",
        "name": name,
        "group": "docker-compose",
        "options": None,
        "config": config,
        "outputs": [],
        "inputs": [{"name": "deploy_action", "type": "String", "value": action}, *inputs],
    }


V3 = {"version": "3", "services": {"web": {"image": "nginx:1.25", "ports": ["80:80"]}, "db": {"image": "postgres:16"}}}


def test_up_writes_the_project_and_runs_the_exact_command(compose):
    result = run_hook(compose, deployment(V3), stdout="up done\n", stderr="Creating web_1\n")
    assert result == {"deploy_stdout": "up done\n", "deploy_stderr": "Creating web_1\n", "deploy_status_code": 0}
    project = compose["working"] / "web_stack"
    [call] = calls(compose)
    assert call["argv"] == [str(compose["tool"]), "up", "-d", "--no-build"]
    assert call["cwd"] == str(project)
    written = project / "docker-compose.yml"
    assert call["files"] == {"docker-compose.yml": written.read_text()}
    assert yaml.safe_load(written.read_text()) == V3
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(compose["working"].stat().st_mode) == 0o700
    assert sorted(p.name for p in project.iterdir()) == ["docker-compose.yml"]  # no temp files


def test_a_two_word_command_is_split_as_for_docker_compose_v2(compose):
    result = run_hook(compose, deployment(V3), command=f"{compose['tool']} compose")
    assert result["deploy_status_code"] == 0
    assert calls(compose)[0]["argv"] == [str(compose["tool"]), "compose", "up", "-d", "--no-build"]


def test_delete_runs_down_in_the_project(compose):
    run_hook(compose, deployment(V3))
    result = run_hook(compose, deployment(V3, action="DELETE"), stdout="down done\n")
    assert result["deploy_stdout"] == "down done\n"
    down = calls(compose)[1]
    assert down["argv"] == [str(compose["tool"]), "down"]
    assert down["cwd"] == str(compose["working"] / "web_stack")
    assert yaml.safe_load(down["files"]["docker-compose.yml"]) == V3


def test_delete_without_config_takes_down_the_written_project(compose):
    run_hook(compose, deployment(V3))
    result = run_hook(compose, deployment(None, action="DELETE"))
    assert result["deploy_status_code"] == 0
    assert calls(compose)[1]["argv"] == [str(compose["tool"]), "down"]


def test_delete_of_a_project_never_written_runs_nothing(compose):
    result = run_hook(compose, deployment(None, action="DELETE"))
    assert result["deploy_status_code"] == 0
    assert "nothing to take down" in result["deploy_stdout"]
    assert calls(compose) == []


def test_env_files_named_by_services_are_written(compose):
    """The heat-agents data: v1 layout, env_files as a JSON string, one file no service names."""
    config = {
        "web": {"image": "x", "env_file": ["./common.env", "./apps/web.env"]},
        "db": {"image": "y", "env_file": "./db.env"},
    }
    env_files = json.dumps(
        [
            {"file_name": "./common.env", "content": "A=1\n"},
            {"file_name": "./apps/web.env", "content": "B=2\n"},
            {"file_name": "./db.env", "content": "C=3\n"},
            {"file_name": "./unused.env", "content": "D=4\n"},
        ]
    )
    result = run_hook(compose, deployment(config, inputs=[{"name": "env_files", "type": "String", "value": env_files}]))
    assert result["deploy_status_code"] == 0
    project = compose["working"] / "web_stack"
    assert (project / "common.env").read_text() == "A=1\n"
    assert (project / "apps" / "web.env").read_text() == "B=2\n"
    assert stat.S_IMODE((project / "db.env").stat().st_mode) == 0o600
    assert not (project / "unused.env").exists()
    assert set(calls(compose)[0]["files"]) == {"docker-compose.yml", "common.env", "db.env"}


def test_env_files_as_a_python_literal_and_services_layout(compose):
    config = {"services": {"app": {"image": "x", "env_file": [{"path": "app.env"}]}}}
    literal = "[{'file_name': 'app.env', 'content': 'TOKEN=t'}]"
    run_hook(compose, deployment(config, inputs=[{"name": "env_files", "value": literal}]))
    assert (compose["working"] / "web_stack" / "app.env").read_text() == "TOKEN=t"


def test_yaml_text_config_is_written_as_given(compose):
    text = "# kept comment\nservices:\n  web:\n    image: nginx\n"
    run_hook(compose, deployment(text))
    assert (compose["working"] / "web_stack" / "docker-compose.yml").read_text() == text


def test_the_id_names_the_project_when_there_is_no_name(compose):
    run_hook(compose, deployment(V3, name=None))
    assert calls(compose)[0]["cwd"] == str(compose["working"] / "c0ffee-1")


def test_tool_failure_is_reported(compose):
    result = run_hook(compose, deployment(V3), stderr="no such image\n", status=18)
    assert result == {"deploy_stdout": "", "deploy_stderr": "no such image\n", "deploy_status_code": 18}


def test_missing_tool_is_a_clear_failure(compose, tmp_path):
    result = run_hook(compose, deployment(V3), command=str(tmp_path / "nowhere" / "docker-compose"))
    assert result["deploy_status_code"] == 127
    assert "HEAT_DOCKER_COMPOSE_CMD" in result["deploy_stderr"]


def test_empty_config_brings_nothing_up(compose):
    result = run_hook(compose, deployment({}))
    assert result["deploy_status_code"] == 0
    assert calls(compose) == []


@pytest.mark.parametrize(
    "entry, message",
    [
        (deployment(["web"]), "config must be a compose document (a map), not list"),
        (deployment("- just\n- a list\n"), "config text must hold a compose document (a map)"),
        (deployment(V3, name="../escape"), "deployment name '../escape' cannot name a project"),
        (deployment(V3, inputs=[{"name": "env_files", "value": "not a list"}]), "input env_files must be a list"),
        (
            deployment(V3, inputs=[{"name": "env_files", "value": [{"content": "x"}]}]),
            "input env_files[0] must be a map with a file_name",
        ),
    ],
)
def test_bad_input_fails_clearly_and_runs_nothing(compose, entry, message):
    result = run_hook(compose, entry)
    assert result["deploy_status_code"] == 1
    assert message in result["deploy_stderr"]
    assert calls(compose) == []
    assert not compose["working"].exists()
