"""hooks/salt as a process, against a recording stand-in for ``salt-call`` only.

Salt is not installed here and its Debian/PyPI packages pull in a large dependency set, so no
test runs the real tool: each checks the salt-call command line, the state file, the pillar root
(top file and inputs) the hook writes, and how the result comes back.
"""

import json
import os
import sys

import pytest
import yaml

from tests.unit.hooks.standins import make_standin, run_hook

ENTRY_ID = "9b3f-1"
SECRET = "s3cret-pa55"
STATE = "/tmp/motd:\n  file.managed:\n    - contents: {{ pillar['motd'] }}\n"


def deployment(config=STATE, inputs=(), outputs=(), entry_id=ENTRY_ID):
    return {
        "id": entry_id,
        "name": "40_salt",
        "group": "salt",
        "options": {},
        "creation_time": "2026-01-02T03:04:05Z",
        "config": config,
        "inputs": list(inputs),
        "outputs": [{"name": n, "type": "String"} for n in outputs],
    }


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "work" / "heat-config-salt", tmp_path / "out" / "heat-config-salt"


def hook_env(dirs, **extra):
    working, outputs = dirs
    return dict(os.environ, HEAT_SALT_WORKING=str(working), HEAT_SALT_OUTPUTS=str(outputs), **extra)


def standin(tmp_path, pillar_root=None, **kwargs):
    files = []
    if pillar_root:
        files = [pillar_root / "top.sls", pillar_root / "heat_inputs.sls"]
    return make_standin(tmp_path / "bin", "salt-call", env_names=("heat_outputs_path",), files=files, **kwargs)


def test_command_line_state_file_and_pillar(tmp_path, dirs):
    working, outputs = dirs
    pillar_root = working / f"{ENTRY_ID}.pillar"
    salt = standin(tmp_path, pillar_root, stdout="Succeeded: 1\n", stderr="[WARNING] w\n")
    result, log = run_hook(
        "salt",
        deployment(
            inputs=[
                {"name": "motd", "type": "String", "value": "hello {{ not jinja }}"},
                {"name": "ports", "type": "Json", "value": [80]},
                {"name": "deploy_server_id", "type": "String", "value": "srv-1"},
                {"name": "deploy_password", "type": "String", "value": SECRET},
            ]
        ),
        hook_env(dirs, HEAT_SALT_CMD=str(salt.path)),
    )
    assert result == {"deploy_stdout": "Succeeded: 1\n", "deploy_stderr": "[WARNING] w\n", "deploy_status_code": 0}
    call = salt.call()
    assert call["argv"] == [
        "--local",
        "--retcode-passthrough",
        "--no-color",
        "--file-root",
        str(working),
        "--pillar-root",
        str(pillar_root),
        "state.sls",
        ENTRY_ID,
    ]
    assert call["cwd"] == str(working)
    assert call["env"] == {"heat_outputs_path": str(outputs / ENTRY_ID)}
    state_file = working / f"{ENTRY_ID}.sls"
    assert state_file.read_text() == STATE
    assert oct(state_file.stat().st_mode & 0o777) == oct(0o600)
    top = call["files"][str(pillar_root / "top.sls")]
    assert yaml.safe_load(top["text"]) == {"base": {"*": ["heat_inputs"]}}
    pillar = call["files"][str(pillar_root / "heat_inputs.sls")]
    assert pillar["mode"] == 0o600
    first_line, data = pillar["text"].split("\n", 1)
    assert first_line == "#!json"  # rendered as JSON alone: an input holding {{ stays data
    assert json.loads(data) == {
        "motd": "hello {{ not jinja }}",
        "ports": [80],
        "deploy_server_id": "srv-1",
        "heat_config_id": ENTRY_ID,
        "heat_outputs_path": str(outputs / ENTRY_ID),
    }
    assert SECRET not in log


def test_structured_config_is_written_as_yaml(tmp_path, dirs):
    working, _ = dirs
    salt = standin(tmp_path)
    state = {"/tmp/motd": {"file.managed": [{"contents": "hi"}]}}
    run_hook("salt", deployment(config=state), hook_env(dirs, HEAT_SALT_CMD=str(salt.path)))
    assert yaml.safe_load((working / f"{ENTRY_ID}.sls").read_text()) == state
    assert salt.call()["argv"][-2:] == ["state.sls", ENTRY_ID]


def test_a_dotted_id_still_names_one_state_file(tmp_path, dirs):
    """In salt, ``a.b`` means ``a/b.sls``; the hook names the state without the dot."""
    working, _ = dirs
    salt = standin(tmp_path)
    run_hook("salt", deployment(entry_id="v1.2"), hook_env(dirs, HEAT_SALT_CMD=str(salt.path)))
    assert salt.call()["argv"][-2:] == ["state.sls", "v1_2"]
    assert (working / "v1_2.sls").read_text() == STATE


def test_failed_state_status_and_outputs(tmp_path, dirs):
    _, outputs = dirs
    base = outputs / ENTRY_ID
    salt = standin(tmp_path, exit_code=2, stdout="Failed: 1\n", write_files={f"{base}.checksum": "abc\n"})
    result, log = run_hook(
        "salt", deployment(outputs=["checksum", "missing"]), hook_env(dirs, HEAT_SALT_CMD=str(salt.path))
    )
    assert result == {"checksum": "abc\n", "deploy_stdout": "Failed: 1\n", "deploy_stderr": "", "deploy_status_code": 2}
    assert "failed with exit status 2" in log
    assert list(outputs.iterdir()) == []


def test_missing_salt_call_is_a_clear_failure(tmp_path, dirs):
    python_only = tmp_path / "python-only"
    python_only.mkdir()
    (python_only / "python3").symlink_to(os.path.realpath(sys.executable))
    env = hook_env(dirs, PATH=str(python_only))
    env.pop("HEAT_SALT_CMD", None)
    result, log = run_hook("salt", deployment(), env)
    assert result["deploy_status_code"] == 127
    assert result["deploy_stderr"] == (
        f"salt hook: cannot run salt-call: 'salt-call' on PATH ({python_only}) was not found "
        "or is not executable; install salt-call or set HEAT_SALT_CMD to its path"
    )
    assert "Traceback" not in log


def test_unexecutable_tool_is_a_clear_failure(tmp_path, dirs):
    broken = tmp_path / "bin" / "salt-call"
    broken.parent.mkdir()
    broken.write_text("no shebang here\n")
    broken.chmod(0o755)
    result, log = run_hook("salt", deployment(), hook_env(dirs, HEAT_SALT_CMD=str(broken)))
    assert result["deploy_status_code"] == 126
    assert result["deploy_stderr"].startswith(f"salt hook: cannot execute {broken}: ")
    assert "Traceback" not in log
