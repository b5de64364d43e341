"""hooks/script as a process: inputs as environment variables, outputs from files, failures as JSON."""

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[3] / "hooks" / "script"


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "work" / "heat-config-script", tmp_path / "out" / "heat-config-script"


def run_hook(dirs, entry, raw=None):
    working, outputs = dirs
    env = dict(os.environ, HEAT_SCRIPT_WORKING=str(working), HEAT_SCRIPT_OUTPUTS=str(outputs))
    proc = subprocess.run(
        [str(HOOK)],
        input=raw if raw is not None else json.dumps(entry),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def deployment(config, inputs=(), outputs=()):
    return {
        "id": "5d1e-42",
        "name": "10_probe",
        "group": "script",
        "options": None,
        "creation_time": "2026-01-02T03:04:05Z",
        "config": config,
        "inputs": list(inputs),
        "outputs": [{"name": n, "type": "String"} for n in outputs],
    }


def test_inputs_become_environment_variables(dirs):
    script = (
        '#!/bin/sh\nprintf \'%s|%s|%s|%s|%s|%s\' "$text" "$number" "$mapping" '
        '"$listing" "$nothing" "$heat_outputs_path"\n'
    )
    result, log = run_hook(
        dirs,
        deployment(
            script,
            inputs=[
                {"name": "text", "type": "String", "value": "hello world"},
                {"name": "number", "type": "Number", "value": 42},
                {"name": "mapping", "type": "Json", "value": {"a": [1, 2]}},
                {"name": "listing", "type": "CommaDelimitedList", "value": ["x", "y"]},
                {"name": "nothing", "type": "String", "value": None},
                {"name": "deploy_password", "type": "String", "value": "s3cret"},
            ],
        ),
    )
    outputs_path = dirs[1] / "5d1e-42"
    assert result == {
        "deploy_stdout": f'hello world|42|{{"a": [1, 2]}}|["x", "y"]||{outputs_path}',
        "deploy_stderr": "",
        "deploy_status_code": 0,
    }
    assert "s3cret" not in log  # input values can be secrets: only names are logged


def test_outputs_are_read_whole_from_files_and_removed(dirs):
    script = (
        "#!/bin/sh\nprintf 'line one\\nline two\\n\\n' > \"$heat_outputs_path.result\"\n"
        "printf '  spaced  ' > \"$heat_outputs_path.other\"\n"
        "printf 'undeclared' > \"$heat_outputs_path.extra\"\n"
    )
    result, _ = run_hook(dirs, deployment(script, outputs=["result", "other", "missing"]))
    assert result == {
        "result": "line one\nline two\n\n",
        "other": "  spaced  ",
        "deploy_stdout": "",
        "deploy_stderr": "",
        "deploy_status_code": 0,
    }
    assert list(dirs[1].iterdir()) == []


def test_script_file_and_directories_are_private(dirs):
    run_hook(dirs, deployment("#!/bin/sh\ntrue\n"))
    working, outputs = dirs
    assert stat.S_IMODE(working.stat().st_mode) == 0o700
    assert stat.S_IMODE(outputs.stat().st_mode) == 0o700
    script = working / "5d1e-42"
    assert stat.S_IMODE(script.stat().st_mode) == 0o700
    assert script.read_text() == "#!/bin/sh\ntrue\n"


def test_rewritten_config_replaces_the_old_script(dirs):
    run_hook(dirs, deployment("#!/bin/sh\necho a long first version of the script\n"))
    result, _ = run_hook(dirs, deployment("#!/bin/sh\necho v2\n"))
    assert result["deploy_stdout"] == "v2\n"


def test_non_zero_exit_is_reported_not_raised(dirs):
    result, log = run_hook(dirs, deployment("#!/bin/sh\necho out\necho err >&2\nexit 7\n"))
    assert result == {"deploy_stdout": "out\n", "deploy_stderr": "err\n", "deploy_status_code": 7}
    assert "exit status 7" in log


def test_missing_shebang_answers_json_with_the_reason(dirs):
    result, _ = run_hook(dirs, deployment("echo no shebang\n"))
    assert result["deploy_status_code"] != 0
    assert "shebang" in result["deploy_stderr"]
    assert "Exec format error" in result["deploy_stderr"]


def test_runs_in_the_working_directory(dirs):
    result, _ = run_hook(dirs, deployment("#!/bin/sh\npwd\n"))
    assert result["deploy_stdout"] == f"{dirs[0]}\n"


@pytest.mark.parametrize("raw", ["not json", "[]", '{"config": "x"}'])
def test_bad_input_answers_json(dirs, raw):
    result, _ = run_hook(dirs, None, raw=raw)
    assert result["deploy_status_code"] == 1
    assert result["deploy_stderr"].startswith("script hook failed: ")
