"""hooks/json-file as a process: each config entry becomes a JSON file, written atomically."""

import json
import os
import stat
import subprocess
from pathlib import Path

HOOK = Path(__file__).resolve().parents[3] / "hooks" / "json-file"


def run_hook(entry=None, raw=None, umask=0o022):
    proc = subprocess.run(
        [str(HOOK)],
        input=raw if raw is not None else json.dumps(entry),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(umask),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def deployment(config):
    return {
        "id": "b7c1-9",
        "name": "json_probe",
        "group": "json-file",
        "options": None,
        "config": config,
        "inputs": [],
        "outputs": [],
    }


def test_each_entry_is_written_as_heat_agents_formats_it(tmp_path):
    first, second = tmp_path / "a" / "b" / "first.json", tmp_path / "second.json"
    result = run_hook(
        deployment({str(first): ["bar", "bar2"], str(second): {"z": 1, "a": {"n": None, "t": True}}}), umask=0o027
    )
    assert result == {"deploy_stdout": f"wrote {first}\nwrote {second}\n", "deploy_stderr": "", "deploy_status_code": 0}
    assert first.read_text() == '[\n    "bar",\n    "bar2"\n]'
    assert second.read_text() == ('{\n    "a": {\n        "n": null,\n        "t": true\n    },\n    "z": 1\n}')
    assert stat.S_IMODE(first.stat().st_mode) == 0o640  # 0666 minus the umask, as open() gives
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_rewrite_keeps_the_mode_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "conf.json"
    target.write_text("old")
    target.chmod(0o600)
    result = run_hook(deployment({str(target): {"v": 2}}))
    assert result["deploy_status_code"] == 0
    assert json.loads(target.read_text()) == {"v": 2}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf.json"]


def test_yaml_text_config_is_accepted(tmp_path):
    target = tmp_path / "from-text.json"
    result = run_hook(deployment(f"{target}:\n  key: [1, 2]\n"))
    assert result["deploy_status_code"] == 0
    assert json.loads(target.read_text()) == {"key": [1, 2]}


def test_relative_path_fails_and_writes_nothing(tmp_path):
    good = tmp_path / "good.json"
    result = run_hook(deployment({str(good): 1, "etc/relative.json": 2}))
    assert result["deploy_status_code"] == 1
    assert "'etc/relative.json' is relative" in result["deploy_stderr"]
    assert not good.exists()


def test_directory_path_fails(tmp_path):
    result = run_hook(deployment({str(tmp_path): 1}))
    assert result["deploy_status_code"] == 1
    assert "names a directory" in result["deploy_stderr"]


def test_non_map_config_fails_clearly():
    result = run_hook(deployment(["/tmp/x.json"]))
    assert result == {
        "deploy_stdout": "",
        "deploy_status_code": 1,
        "deploy_stderr": "json-file hook failed: config must be a map of absolute file path to data, not list",
    }


def test_empty_config_writes_nothing_and_succeeds():
    assert run_hook(deployment({})) == {"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}


def test_stdin_that_is_not_json_is_answered_not_raised():
    result = run_hook(raw="{not json")
    assert result["deploy_status_code"] == 1
    assert result["deploy_stderr"].startswith("json-file hook failed: stdin is not a JSON")
