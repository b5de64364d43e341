"""agent.runner: hook search, real hook processes, timeouts that kill the process group, the signal."""

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from tests.support import wait_for

from agent.config import StateLayout
from agent.runner import (OUTPUT_CAP, SIGNAL_CAP, TIMEOUT_STATUS, HookRun, build_signal,
                          cap_text, encoded_size, entry_timeout, find_hook, fit_signal,
                          hook_environment, hook_search_path, no_hook_signal, record_result,
                          run_hook)

MIB = 1024 * 1024

REPO = Path(__file__).resolve().parents[3]
ENTRY = {"id": "dep-1", "name": "10_app", "group": "probe", "config": "", "inputs": [],
         "outputs": [], "options": None}


def write_hook(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body)
    path.chmod(mode)
    return path


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is dead
    except FileNotFoundError:
        return True


def run(tmp_path, body, entry=ENTRY, timeout=None, stop=None):
    hook = write_hook(tmp_path / "hooks", "probe", body)
    return run_hook(hook, entry, tmp_path / "runs" / entry["id"], dict(os.environ), timeout,
                    stop)


def test_search_order(tmp_path, monkeypatch):
    first, second, env_dir = tmp_path / "a", tmp_path / "b", tmp_path / "env"
    write_hook(env_dir, "script", "#!/bin/sh\n")
    monkeypatch.setenv("HEAT_CONFIG_HOOKS", str(env_dir))
    path = hook_search_path([first, second])
    assert path[:3] == [first, second, env_dir]
    assert path[3] == REPO / "hooks"
    assert path[-2:] == [Path("/usr/libexec/heat-config/hooks"), Path("/var/lib/heat-config/hooks")]
    assert find_hook("script", path) == env_dir / "script"
    write_hook(second, "script", "#!/bin/sh\n")
    assert find_hook("script", path) == second / "script"
    write_hook(first, "script", "#!/bin/sh\n", mode=0o644)  # not executable: passed over
    assert find_hook("script", path) == second / "script"
    assert find_hook("scr/ipt!", path) == second / "script"  # group sanitised
    assert find_hook("no-such-group", path) is None
    assert find_hook("::", path) is None


def test_builtin_script_hook_is_found_without_configuration(monkeypatch):
    monkeypatch.delenv("HEAT_CONFIG_HOOKS", raising=False)
    assert find_hook("script", hook_search_path()) == REPO / "hooks" / "script"


def test_no_hook_signal_names_group_and_paths(tmp_path):
    signal = no_hook_signal("puppet", [tmp_path / "a", tmp_path / "b"])
    assert signal == {"deploy_stdout": "", "deploy_status_code": 1,
                      "deploy_stderr": f"no hook for group 'puppet' in {tmp_path}/a:{tmp_path}/b"}


def test_hook_gets_entry_on_stdin_and_its_json_is_the_signal(tmp_path):
    body = ("#!/usr/bin/env python3\nimport json, sys\nentry = json.load(sys.stdin)\n"
            "print('log line', file=sys.stderr)\n"
            "print(json.dumps({'deploy_stdout': entry['id'], 'deploy_status_code': 0, 'x': 1}))\n")
    result = run(tmp_path, body)
    assert (result.status_code, result.timed_out) == (0, False)
    assert build_signal(result) == {"deploy_stdout": "dep-1", "deploy_status_code": 0, "x": 1}
    run_dir = tmp_path / "runs" / "dep-1"
    assert json.loads((run_dir / "input.json").read_text()) == ENTRY
    assert stat.S_IMODE((run_dir / "input.json").stat().st_mode) == 0o600
    assert (run_dir / "stderr").read_text() == "log line\n"


def test_failing_hook_without_json(tmp_path):
    result = run(tmp_path, "#!/bin/sh\necho partial\necho broken >&2\nexit 3\n")
    assert build_signal(result) == {"deploy_stdout": "partial\n", "deploy_stderr": "broken\n",
                                    "deploy_status_code": 3}


def test_silent_success_is_an_empty_signal(tmp_path):
    assert build_signal(run(tmp_path, "#!/bin/sh\necho noise >&2\n")) == {}


def test_zero_exit_with_non_json_stdout_keeps_the_streams(tmp_path):
    assert build_signal(run(tmp_path, "#!/bin/sh\necho '[1, 2]'\n")) == {
        "deploy_stdout": "[1, 2]\n", "deploy_stderr": "", "deploy_status_code": 0}


def test_non_zero_exit_with_json_stdout_uses_the_json(tmp_path):
    # 55-heat-config step 7: parsed stdout replaces the exit-code form.
    result = run(tmp_path, '#!/bin/sh\necho \'{"deploy_status_code": 5}\'\nexit 1\n')
    assert build_signal(result) == {"deploy_status_code": 5}


def test_hook_that_cannot_be_executed(tmp_path):
    result = run(tmp_path, "echo no shebang\n")
    assert result.status_code == 126 and "cannot execute hook" in result.stderr
    assert build_signal(result)["deploy_status_code"] == 126


def test_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    body = (f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\necho started\nsleep 300\n")
    started = time.monotonic()
    result = run(tmp_path, body, timeout=0.5)
    assert time.monotonic() - started < 10
    assert result.timed_out and result.status_code == TIMEOUT_STATUS
    grandchild = int(pid_file.read_text())
    # SIGKILL is delivered asynchronously: the grandchild is gone moments after killpg returns.
    wait_for(lambda: process_gone(grandchild), 5, message="the hook's grandchild to die")
    signal = build_signal(result)
    assert signal["deploy_status_code"] == 124
    assert signal["deploy_stdout"] == "started\n"
    assert "timed out after 0.5 s" in signal["deploy_stderr"]


def test_stop_event_interrupts_a_running_hook(tmp_path):
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    result = run(tmp_path, "#!/bin/sh\nsleep 300\n", stop=stop)
    assert result.interrupted and time.monotonic() - started < 5


def test_large_output_is_capped_and_marked(tmp_path):
    body = ("#!/usr/bin/env python3\nimport sys\n"
            "sys.stdout.write('a' * 1500000 + 'END')\nsys.exit(2)\n")
    signal = build_signal(run(tmp_path, body))
    stdout = signal["deploy_stdout"]
    assert len(stdout.encode()) <= OUTPUT_CAP
    assert stdout.startswith("[hearth-agent: first ") and "bytes truncated]" in stdout
    assert stdout.endswith("END")
    assert (tmp_path / "runs" / "dep-1" / "stdout").stat().st_size == 1500003  # file is whole


def test_cap_text_leaves_small_text_alone():
    assert cap_text("hello") == "hello"
    capped = cap_text("é" * 100, cap=50)
    assert len(capped.encode()) <= 50 and capped.startswith("[hearth-agent: first 150 bytes")


def test_hook_environment_points_into_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("HEAT_SCRIPT_WORKING", raising=False)
    monkeypatch.setenv("HEAT_SCRIPT_OUTPUTS", "/operator/choice")
    env = hook_environment(StateLayout(tmp_path), "docker-compose")
    assert env["HEAT_SCRIPT_WORKING"] == str(tmp_path / "hooks-work" / "heat-config-script")
    assert env["HEAT_SCRIPT_OUTPUTS"] == "/operator/choice"
    assert env["HEAT_DOCKER_COMPOSE_WORKING"] == str(
        tmp_path / "hooks-work" / "heat-config-docker-compose")
    assert env["PATH"] == os.environ["PATH"]


def test_record_result_writes_artifacts(tmp_path):
    record_result(tmp_path / "run", 3, {"deploy_status_code": 3})
    assert (tmp_path / "run" / "exit_code").read_text() == "3\n"
    assert json.loads((tmp_path / "run" / "result.json").read_text()) == {"deploy_status_code": 3}


@pytest.mark.parametrize("options, expected", [
    (None, None), ({}, None), ({"timeout": 30}, 30.0), ({"timeout": "2.5"}, 2.5),
    ({"timeout": "soon"}, None), ({"timeout": 0}, None), ("junk", None)])
def test_entry_timeout(options, expected):
    assert entry_timeout({"id": "x", "options": options}) == expected


def test_build_signal_on_timeout_ignores_partial_json():
    run_ = HookRun(124, '{"deploy_status_code": 0}', "", timed_out=True)
    assert build_signal(run_)["deploy_status_code"] == 124


def dropped(name, size):
    return f"[hearth-agent: output '{name}' of {size} bytes dropped: the signal exceeded 3.5 MiB]"


def test_small_signals_are_left_alone():
    signal = {"deploy_stdout": "a" * MIB, "deploy_stderr": "b" * MIB, "deploy_status_code": 0,
              "result": "c" * MIB}
    assert encoded_size(signal) <= SIGNAL_CAP
    assert fit_signal(signal) is signal


def test_largest_outputs_are_dropped_until_the_signal_fits():
    signal = {"deploy_stdout": "o" * MIB, "deploy_stderr": "e" * (MIB - 10),
              "deploy_status_code": 0, "big": "x" * MIB, "bigger": "y" * (3 * MIB),
              "small": "kept", "structured": {"list": [1, 2, 3]}}
    fitted = fit_signal(signal)
    assert encoded_size(fitted) <= SIGNAL_CAP
    assert fitted["bigger"] == dropped("bigger", 3 * MIB)
    assert fitted["big"] == "x" * MIB  # dropping the largest was enough
    assert fitted["small"] == "kept" and fitted["structured"] == {"list": [1, 2, 3]}
    assert fitted["deploy_stdout"] == signal["deploy_stdout"]
    stderr = fitted["deploy_stderr"]
    assert len(stderr.encode()) <= OUTPUT_CAP
    assert stderr.endswith("e\n" + dropped("bigger", 3 * MIB) + "\n")
    assert signal["bigger"] == "y" * (3 * MIB)  # the hook's answer itself is not changed


def test_outputs_are_dropped_largest_first_and_each_is_noted():
    # 3 + 2 + 1.5 MiB: without "a" it is still just over 3.5 MiB, so "b" goes too; "c" stays.
    signal = {"deploy_status_code": 0, "a": "a" * (3 * MIB), "b": ["b" * (2 * MIB)],
              "c": "c" * (3 * MIB // 2)}
    fitted = fit_signal(signal)
    size_b = len('["' + "b" * (2 * MIB) + '"]')  # a non-string value counts as its JSON
    assert (fitted["a"], fitted["b"], fitted["c"]) == (
        dropped("a", 3 * MIB), dropped("b", size_b), "c" * (3 * MIB // 2))
    assert fitted["deploy_stderr"] == dropped("a", 3 * MIB) + "\n" + dropped("b", size_b) + "\n"


def test_streams_that_grow_when_escaped_are_cut_until_the_signal_fits():
    # A control character takes 6 bytes in JSON (\u0001): 1 MiB of them would be 6 MiB.
    signal = {"deploy_stdout": "\x01" * MIB, "deploy_stderr": "\x02" * MIB,
              "deploy_status_code": 3, "out": "z" * 100}
    fitted = fit_signal(signal)
    assert encoded_size(fitted) <= SIGNAL_CAP
    assert fitted["deploy_status_code"] == 3 and fitted["out"] == "z" * 100
    assert fitted["deploy_stdout"].startswith("[hearth-agent: first ")
    assert fitted["deploy_stdout"].endswith("\x01")


def test_an_answer_that_cannot_be_fitted_becomes_a_failure_that_says_so():
    fitted = fit_signal({"deploy_status_code": 0, "k" * (4 * MIB): 1})  # a 4 MiB output name
    assert encoded_size(fitted) <= SIGNAL_CAP
    assert fitted["deploy_status_code"] == 1 and "exceeded 3.5 MiB" in fitted["deploy_stderr"]


def test_a_hook_answer_with_a_5_mib_output_is_fitted(tmp_path):
    body = ("#!/usr/bin/env python3\nimport json\n"
            "print(json.dumps({'deploy_stdout': 'done', 'deploy_stderr': 'log', "
            "'deploy_status_code': 0, 'huge': 'h' * (5 * 1024 * 1024), 'tiny': 't'}))\n")
    signal = build_signal(run(tmp_path, body))
    assert encoded_size(signal) <= SIGNAL_CAP
    assert signal["huge"] == dropped("huge", 5 * MIB) and signal["tiny"] == "t"
    assert signal["deploy_stderr"] == "log\n" + dropped("huge", 5 * MIB) + "\n"
