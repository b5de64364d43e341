"""hooks/ansible as a process: against a recording stand-in for ``ansible-playbook``, and against real ansible-core."""

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.hooks.standins import make_standin, run_hook

ENTRY_ID = "7a2c-9"
SECRET = "s3cret-pa55"
PLAYBOOK = "- hosts: localhost\n  tasks:\n    - debug: {msg: hi}\n"


def deployment(config=PLAYBOOK, inputs=(), outputs=(), options=None):
    return {
        "id": ENTRY_ID,
        "name": "20_play",
        "group": "ansible",
        "options": options or {},
        "creation_time": "2026-01-02T03:04:05Z",
        "config": config,
        "inputs": list(inputs),
        "outputs": [{"name": n, "type": "String"} for n in outputs],
    }


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "work" / "heat-config-ansible", tmp_path / "out" / "heat-config-ansible"


def hook_env(dirs, **extra):
    working, outputs = dirs
    env = dict(os.environ, HEAT_ANSIBLE_WORKING=str(working), HEAT_ANSIBLE_OUTPUTS=str(outputs))
    for name in ("ANSIBLE_PYTHON_INTERPRETER", "ANSIBLE_CALLBACK_PLUGINS", "HEAT_ANSIBLE_INVENTORY"):
        env.pop(name, None)
    env.update(extra)
    return env


def standin(tmp_path, **kwargs):
    return make_standin(tmp_path / "bin", "ansible-playbook", env_prefixes=("ANSIBLE_",), **kwargs)


def test_command_line_playbook_and_variables(tmp_path, dirs):
    working, outputs = dirs
    tool = standin(tmp_path, stdout="PLAY RECAP\n", stderr="[WARNING]: w\n")
    result, log = run_hook(
        "ansible",
        deployment(
            inputs=[
                {"name": "greeting", "type": "String", "value": "hello"},
                {"name": "ports", "type": "Json", "value": [80, 443]},
                {"name": "deploy_action", "type": "String", "value": "CREATE"},
                {"name": "deploy_signal_id", "type": "String", "value": "http://x/?Signature=abc"},
                {"name": "deploy_password", "type": "String", "value": SECRET},
            ]
        ),
        hook_env(dirs, HEAT_ANSIBLE_CMD=str(tool.path)),
    )
    assert result == {"deploy_stdout": "PLAY RECAP\n", "deploy_stderr": "[WARNING]: w\n", "deploy_status_code": 0}
    call = tool.call()
    playbook, variables = working / f"{ENTRY_ID}_playbook.yaml", working / f"{ENTRY_ID}_variables.json"
    assert call["argv"] == ["-i", "localhost,", "--connection", "local", str(playbook), "--extra-vars", f"@{variables}"]
    assert call["cwd"] == str(working)
    assert call["env"] == {"ANSIBLE_PYTHON_INTERPRETER": "{{ ansible_playbook_python }}"}
    assert call["files"][str(playbook)] == {"text": PLAYBOOK, "mode": 0o600}
    assert call["files"][str(variables)]["mode"] == 0o600
    assert json.loads(call["files"][str(variables)]["text"]) == {
        "greeting": "hello",
        "ports": [80, 443],
        "deploy_action": "CREATE",
        "heat_config_id": ENTRY_ID,
        "heat_outputs_path": str(outputs / ENTRY_ID),
    }
    assert SECRET not in log


def test_options_tags_skip_tags_modulepath_callbacks_and_inventory(tmp_path, dirs):
    working, _ = dirs
    tool = standin(tmp_path)
    run_hook(
        "ansible",
        deployment(
            options={
                "tags": "web",
                "skip_tags": ["slow", "net"],
                "modulepath": "/opt/modules",
                "callback_plugins": "/opt/callbacks",
                "inventory": "hosts.ini",
            }
        ),
        hook_env(dirs, HEAT_ANSIBLE_CMD=str(tool.path)),
    )
    call = tool.call()
    assert call["argv"] == [
        "-i",
        str(working / "hosts.ini"),
        "--module-path",
        "/opt/modules",
        "--tags",
        "web",
        "--skip-tags",
        "slow,net",
        str(working / f"{ENTRY_ID}_playbook.yaml"),
        "--extra-vars",
        f"@{working / f'{ENTRY_ID}_variables.json'}",
    ]
    # a real inventory may name other hosts: no forced local connection or interpreter
    assert call["env"] == {"ANSIBLE_CALLBACK_PLUGINS": "/opt/callbacks"}


def test_operator_settings_win(tmp_path, dirs):
    tool = standin(tmp_path)
    run_hook(
        "ansible",
        deployment(),
        hook_env(
            dirs,
            HEAT_ANSIBLE_CMD=str(tool.path),
            HEAT_ANSIBLE_INVENTORY="/etc/ansible/hosts",
            ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
        ),
    )
    call = tool.call()
    assert call["argv"][:2] == ["-i", "/etc/ansible/hosts"]
    assert "--connection" not in call["argv"]
    assert call["env"] == {"ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"}


def test_structured_config_is_written_as_yaml(tmp_path, dirs):
    working, _ = dirs
    tool = standin(tmp_path)
    play = [{"hosts": "localhost", "tasks": [{"debug": {"msg": "{{ greeting }}"}}]}]
    run_hook("ansible", deployment(config=play), hook_env(dirs, HEAT_ANSIBLE_CMD=str(tool.path)))
    text = tool.call()["files"][str(working / f"{ENTRY_ID}_playbook.yaml")]["text"]
    assert yaml.safe_load(text) == play


def test_exit_status_and_outputs(tmp_path, dirs):
    _, outputs = dirs
    base = outputs / ENTRY_ID
    tool = standin(
        tmp_path, exit_code=2, stderr="fatal: [localhost]: FAILED!\n", write_files={f"{base}.result": "partial\n"}
    )
    result, log = run_hook(
        "ansible", deployment(outputs=["result", "missing"]), hook_env(dirs, HEAT_ANSIBLE_CMD=str(tool.path))
    )
    assert result == {
        "result": "partial\n",
        "deploy_stdout": "",
        "deploy_stderr": "fatal: [localhost]: FAILED!\n",
        "deploy_status_code": 2,
    }
    assert "failed with exit status 2" in log
    assert list(outputs.iterdir()) == []


def test_empty_config_runs_nothing_and_succeeds(tmp_path, dirs):
    tool = standin(tmp_path)
    result, _ = run_hook("ansible", deployment(config="  \n"), hook_env(dirs, HEAT_ANSIBLE_CMD=str(tool.path)))
    assert result["deploy_status_code"] == 0
    assert "config is empty" in result["deploy_stderr"]
    assert tool.calls() == []


def test_missing_ansible_playbook_is_a_clear_failure(tmp_path, dirs):
    python_only = tmp_path / "python-only"
    python_only.mkdir()
    (python_only / "python3").symlink_to(os.path.realpath(sys.executable))
    env = hook_env(dirs, PATH=str(python_only))
    env.pop("HEAT_ANSIBLE_CMD", None)
    result, log = run_hook("ansible", deployment(), env)
    assert result["deploy_status_code"] == 127
    assert result["deploy_stderr"] == (
        f"ansible hook: cannot run ansible-playbook: 'ansible-playbook' on PATH ({python_only}) "
        "was not found or is not executable; install ansible-playbook or set HEAT_ANSIBLE_CMD to its path"
    )
    assert "Traceback" not in log


# Real ansible-core (the `test` extra installs it into the venv).


def real_ansible_playbook():
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("ansible-playbook is required in CI (pip install ansible-core) but was not found")
        pytest.skip("ansible-core is not installed (pip install ansible-core)")
    return found


REAL_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: write the greeting
      copy:
        dest: "{{ target }}"
        content: "{{ greeting }}, {{ settings.who }}\\n"
    - name: report an output
      copy:
        dest: "{{ heat_outputs_path }}.result"
        content: "wrote {{ target }} for {{ heat_config_id }}"
"""


def test_real_ansible_writes_a_file_from_inputs_and_an_output(tmp_path, dirs):
    ansible = real_ansible_playbook()
    target = tmp_path / "greeting.txt"
    entry = deployment(
        REAL_PLAYBOOK,
        inputs=[
            {"name": "greeting", "type": "String", "value": "hello"},
            {"name": "settings", "type": "Json", "value": {"who": "world"}},
            {"name": "target", "type": "String", "value": str(target)},
        ],
        outputs=["result"],
    )
    env = hook_env(
        dirs, HEAT_ANSIBLE_CMD=ansible, HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp")
    )
    result, _ = run_hook("ansible", entry, env, timeout=120)
    assert result["deploy_status_code"] == 0, result
    assert target.read_text() == "hello, world\n"
    assert stat.S_ISREG(target.stat().st_mode)
    assert result["result"] == f"wrote {target} for {ENTRY_ID}"


def test_real_ansible_failure_is_a_non_zero_status(tmp_path, dirs):
    ansible = real_ansible_playbook()
    play = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - fail: {msg: deliberate failure}\n"
    env = hook_env(
        dirs, HEAT_ANSIBLE_CMD=ansible, HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp")
    )
    result, _ = run_hook("ansible", deployment(play), env, timeout=120)
    assert result["deploy_status_code"] == 2
    assert "deliberate failure" in result["deploy_stdout"]
