"""agent.runner: hook search, real hook processes, timeouts that kill the process group, the signal."""

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from agent.config import StateLayout
from agent.deployments import config_checksum
from agent.outbox import encode_body
from agent.runner import (
    HEARTBEAT,
    OUTPUT_CAP,
    SIGNAL_CAP,
    TIMEOUT_STATUS,
    HookRun,
    build_signal,
    cap_text,
    encoded_size,
    entry_timeout,
    find_hook,
    fit_signal,
    heartbeat_interval,
    hook_environment,
    hook_search_path,
    no_hook_signal,
    prune_departed,
    prune_runs,
    record_result,
    run_folder,
    run_hook,
)
from tests.support import wait_for

MIB = 1024 * 1024

REPO = Path(__file__).resolve().parents[3]
ENTRY = {"id": "dep-1", "name": "10_app", "group": "probe", "config": "", "inputs": [], "outputs": [], "options": None}


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
    return run_hook(hook, entry, tmp_path / "runs" / entry["id"], dict(os.environ), timeout, stop)


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


def test_no_hook_signal_names_group_paths_and_the_fix(tmp_path):
    signal = no_hook_signal("my::tool", [tmp_path / "a", tmp_path / "b"])
    assert (signal["deploy_stdout"], signal["deploy_status_code"]) == ("", 1)
    assert signal["deploy_stderr"] == (
        f"no hook for group 'my::tool' in {tmp_path}/a:{tmp_path}/b: install an executable "
        "named 'mytool' in one of them, or name its directory with --hooks-path or "
        "HEAT_CONFIG_HOOKS"
    )


def test_hook_gets_entry_on_stdin_and_its_json_is_the_signal(tmp_path):
    body = (
        "#!/usr/bin/env python3\nimport json, sys\nentry = json.load(sys.stdin)\n"
        "print('log line', file=sys.stderr)\n"
        "print(json.dumps({'deploy_stdout': entry['id'], 'deploy_status_code': 0, 'x': 1}))\n"
    )
    result = run(tmp_path, body)
    assert (result.status_code, result.timed_out) == (0, False)
    assert build_signal(result) == {"deploy_stdout": "dep-1", "deploy_status_code": 0, "x": 1}
    run_dir = tmp_path / "runs" / "dep-1"
    assert json.loads((run_dir / "input.json").read_text()) == ENTRY
    assert stat.S_IMODE((run_dir / "input.json").stat().st_mode) == 0o600
    assert (run_dir / "stderr").read_text() == "log line\n"


def test_failing_hook_without_json(tmp_path):
    result = run(tmp_path, "#!/bin/sh\necho partial\necho broken >&2\nexit 3\n")
    assert build_signal(result) == {"deploy_stdout": "partial\n", "deploy_stderr": "broken\n", "deploy_status_code": 3}


def test_silent_success_is_an_empty_signal(tmp_path):
    assert build_signal(run(tmp_path, "#!/bin/sh\necho noise >&2\n")) == {}


def test_zero_exit_with_non_json_stdout_keeps_the_streams(tmp_path):
    assert build_signal(run(tmp_path, "#!/bin/sh\necho '[1, 2]'\n")) == {
        "deploy_stdout": "[1, 2]\n",
        "deploy_stderr": "",
        "deploy_status_code": 0,
    }


def test_non_zero_exit_with_json_stdout_uses_the_json(tmp_path):
    # 55-heat-config step 7: parsed stdout replaces the exit-code form.
    result = run(tmp_path, "#!/bin/sh\necho '{\"deploy_status_code\": 5}'\nexit 1\n")
    assert build_signal(result) == {"deploy_status_code": 5}


def test_hook_that_cannot_be_executed(tmp_path):
    result = run(tmp_path, "echo no shebang\n")
    assert result.status_code == 126 and "cannot execute hook" in result.stderr
    assert build_signal(result)["deploy_status_code"] == 126


def test_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    body = f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\necho started\nsleep 300\n"
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
    body = "#!/usr/bin/env python3\nimport sys\nsys.stdout.write('a' * 1500000 + 'END')\nsys.exit(2)\n"
    signal = build_signal(run(tmp_path, body))
    stdout = signal["deploy_stdout"]
    assert len(stdout.encode()) <= OUTPUT_CAP
    assert stdout.startswith("[hearth-agent: first ") and "bytes truncated]" in stdout
    assert stdout.endswith("END")
    assert (tmp_path / "runs" / "dep-1" / "stdout").stat().st_size == 1500003  # file is whole


def test_cap_text_leaves_small_text_alone():
    assert cap_text("hello") == "hello"
    capped = cap_text("é" * 100, cap=50)
    # 42 bytes of marker leave room for 4 of the 100 characters: 192 bytes are cut.
    assert capped == "[hearth-agent: first 192 bytes truncated]\n" + "é" * 4
    assert cap_text("abc", cap=50, skipped=10) == "[hearth-agent: first 10 bytes truncated]\nabc"


def test_hook_environment_points_into_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("HEAT_SCRIPT_WORKING", raising=False)
    monkeypatch.setenv("HEAT_SCRIPT_OUTPUTS", "/operator/choice")
    env = hook_environment(StateLayout(tmp_path), "docker-compose")
    assert env["HEAT_SCRIPT_WORKING"] == str(tmp_path / "hooks-work" / "heat-config-script")
    assert env["HEAT_SCRIPT_OUTPUTS"] == "/operator/choice"
    assert env["HEAT_DOCKER_COMPOSE_WORKING"] == str(tmp_path / "hooks-work" / "heat-config-docker-compose")
    assert env["PATH"] == os.environ["PATH"]


def test_record_result_writes_artifacts(tmp_path):
    record_result(tmp_path / "run", 3, {"deploy_status_code": 3})
    assert (tmp_path / "run" / "exit_code").read_text() == "3\n"
    assert json.loads((tmp_path / "run" / "result.json").read_text()) == {"deploy_status_code": 3}


@pytest.mark.parametrize(
    "options, expected",
    [
        (None, None),
        ({}, None),
        ({"timeout": 30}, 30.0),
        ({"timeout": "2.5"}, 2.5),
        ({"timeout": "soon"}, None),
        ({"timeout": 0}, None),
        ("junk", None),
    ],
)
def test_entry_timeout(options, expected):
    assert entry_timeout({"id": "x", "options": options}) == expected


def test_build_signal_on_timeout_ignores_partial_json():
    run_ = HookRun(124, '{"deploy_status_code": 0}', "", timed_out=True)
    assert build_signal(run_)["deploy_status_code"] == 124


def dropped(name, size):
    return f"[hearth-agent: output '{name}' of {size} bytes dropped: the signal exceeded 3.5 MiB]"


def test_small_signals_are_left_alone():
    signal = {"deploy_stdout": "a" * MIB, "deploy_stderr": "b" * MIB, "deploy_status_code": 0, "result": "c" * MIB}
    assert encoded_size(signal) <= SIGNAL_CAP
    assert fit_signal(signal) is signal


def test_largest_outputs_are_dropped_until_the_signal_fits():
    signal = {
        "deploy_stdout": "o" * MIB,
        "deploy_stderr": "e" * (MIB - 10),
        "deploy_status_code": 0,
        "big": "x" * MIB,
        "bigger": "y" * (3 * MIB),
        "small": "kept",
        "structured": {"list": [1, 2, 3]},
    }
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
    signal = {"deploy_status_code": 0, "a": "a" * (3 * MIB), "b": ["b" * (2 * MIB)], "c": "c" * (3 * MIB // 2)}
    fitted = fit_signal(signal)
    size_b = len('["' + "b" * (2 * MIB) + '"]')  # a non-string value counts as its JSON
    assert (fitted["a"], fitted["b"], fitted["c"]) == (
        dropped("a", 3 * MIB),
        dropped("b", size_b),
        "c" * (3 * MIB // 2),
    )
    assert fitted["deploy_stderr"] == dropped("a", 3 * MIB) + "\n" + dropped("b", size_b) + "\n"


def test_streams_that_grow_when_escaped_are_cut_until_the_signal_fits():
    # A control character takes 6 bytes in JSON (\u0001): 1 MiB of them would be 6 MiB.
    signal = {"deploy_stdout": "\x01" * MIB, "deploy_stderr": "\x02" * MIB, "deploy_status_code": 3, "out": "z" * 100}
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
    body = (
        "#!/usr/bin/env python3\nimport json\n"
        "print(json.dumps({'deploy_stdout': 'done', 'deploy_stderr': 'log', "
        "'deploy_status_code': 0, 'huge': 'h' * (5 * 1024 * 1024), 'tiny': 't'}))\n"
    )
    signal = build_signal(run(tmp_path, body))
    assert encoded_size(signal) <= SIGNAL_CAP
    assert signal["huge"] == dropped("huge", 5 * MIB) and signal["tiny"] == "t"
    assert signal["deploy_stderr"] == "log\n" + dropped("huge", 5 * MIB) + "\n"


def test_timeout_kills_a_grandchild_that_outlives_a_plain_kill(tmp_path):
    """The hook and its grandchild ignore SIGTERM, and the grandchild is not the hook's child:
    killing the hook's pid alone would leave it running; the group's SIGKILL does not."""
    pid_file = tmp_path / "grandchild.pid"
    body = (
        "#!/bin/sh\ntrap '' TERM\n"
        f"sh -c 'trap \"\" TERM; sleep 300 & echo $! > {pid_file}; wait' &\n"
        "echo started\nwait\n"
    )
    started = time.monotonic()
    result = run(tmp_path, body, timeout=0.5)
    took = time.monotonic() - started
    assert result.timed_out and result.status_code == TIMEOUT_STATUS
    assert took < 0.5 + 2.0 + 3.0  # the timeout, the SIGTERM grace, slack for a loaded machine
    grandchild = wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 5, message="the grandchild's pid")
    wait_for(lambda: process_gone(int(grandchild)), 5, message="the hook's grandchild to die")
    assert "timed out after 0.5 s" in build_signal(result)["deploy_stderr"]


def test_50_mib_on_each_stream_is_capped_marked_and_kept_on_disk(tmp_path):
    """50 MiB on stdout and on stderr (with invalid UTF-8 in them) end as at most 1 MiB per
    stream in a signal that fits the server's limit; the artifacts on disk are whole."""
    body = (
        "#!/usr/bin/env python3\nimport sys\n"
        "chunk = b'x' * (1024 * 1024 - 3) + b'\\xff\\xc3\\n'\n"  # \\xc3: a cut-off character
        "for _ in range(50):\n"
        "    sys.stdout.buffer.write(chunk)\n    sys.stderr.buffer.write(chunk)\n"
        "for out in (sys.stdout.buffer, sys.stderr.buffer):\n"
        "    out.write(b'LAST \\xe2\\x82 line\\n')\n"
        "sys.exit(1)\n"
    )
    signal = build_signal(run(tmp_path, body))
    assert signal["deploy_status_code"] == 1
    for stream in ("stdout", "stderr"):
        text = signal[f"deploy_{stream}"]
        assert MIB - 1024 <= len(text.encode()) <= OUTPUT_CAP  # at least ~1 MiB kept
        assert text.startswith("[hearth-agent: first ") and "bytes truncated]" in text
        # Each invalid byte (and each cut-off character) is one U+FFFD; the text is never lost.
        assert text.endswith("x\ufffd\ufffd\nLAST \ufffd line\n")
        assert text.count("\ufffd") == 3  # the tail holds no earlier chunk's invalid bytes
        assert (tmp_path / "runs" / "dep-1" / stream).stat().st_size == 50 * MIB + 13
    assert encoded_size(signal) <= SIGNAL_CAP and len(encode_body(signal)) == encoded_size(signal)


def test_invalid_utf8_in_a_small_output_is_replaced_not_fatal(tmp_path):
    body = "#!/bin/sh\nprintf 'caf\\351 \\377\\n'\nprintf 'err \\200\\n' >&2\nexit 2\n"
    signal = build_signal(run(tmp_path, body))
    assert signal == {"deploy_stdout": "caf\ufffd \ufffd\n", "deploy_stderr": "err \ufffd\n", "deploy_status_code": 2}
    assert json.loads(encode_body(signal)) == signal


def test_nan_and_infinity_in_a_hook_answer_become_null_and_are_noted(tmp_path):
    body = (
        "#!/bin/sh\ncat <<'JSON'\n"
        '{"deploy_status_code": 0, "deploy_stderr": "log", "ratio": NaN,\n'
        ' "nested": {"hi": Infinity, "lo": [-Infinity, 1.5]}, "fine": 2,\n'
        ' "text": "bad \\ud800 half"}\nJSON\n'
    )
    signal = build_signal(run(tmp_path, body))
    assert signal["ratio"] is None and signal["nested"] == {"hi": None, "lo": [None, 1.5]}
    assert signal["fine"] == 2 and signal["text"] == "bad \ufffd half"
    assert signal["deploy_stderr"] == (
        "log\n[hearth-agent: NaN/Infinity (or invalid UTF-16) in the hook's answer replaced "
        "with null (U+FFFD in text) in: nested, ratio, text]\n"
    )
    assert json.loads(encode_body(signal)) == signal  # valid JSON, so the server can take it


def test_non_ascii_counts_as_utf8_not_as_escapes():
    text = "é" * (MIB // 2)  # 1 MiB as UTF-8; it would be 3 MiB as \\u00e9 escapes
    signal = {"deploy_stdout": text, "deploy_stderr": text, "deploy_status_code": 0, "result": text}
    assert encoded_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert encoded_size(signal) < SIGNAL_CAP
    assert fit_signal(signal) is signal  # nothing dropped: it fits as sent


def test_run_folder_is_per_action_and_config(tmp_path):
    entry = dict(ENTRY, config="echo hi", inputs=[{"name": "deploy_action", "type": "String", "value": "UPDATE"}])
    folder = run_folder(tmp_path / "dep-1", entry)
    assert folder == tmp_path / "dep-1" / f"UPDATE-{config_checksum('echo hi')[:12]}"
    assert run_folder(tmp_path, dict(entry, config="other")) != folder
    assert run_folder(tmp_path, dict(ENTRY, config="echo hi")).name.startswith("NONE-")
    odd = dict(entry, inputs=[{"name": "deploy_action", "value": "../x"}])
    assert run_folder(tmp_path, odd).parent == tmp_path  # never outside the deployment's folder


def test_prune_runs_keeps_the_newest(tmp_path):
    for number in range(7):
        folder = tmp_path / f"run-{number}"
        folder.mkdir()
        (folder / "stdout").write_text(str(number))
        os.utime(folder, ns=(number * 10**9, number * 10**9))
    (tmp_path / "stray-file").write_text("not a run")
    removed = prune_runs(tmp_path, keep=5)
    assert sorted(p.name for p in removed) == ["run-0", "run-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-2", "run-3", "run-4", "run-5", "run-6", "stray-file"]
    assert prune_runs(tmp_path / "missing") == []


@pytest.mark.parametrize(
    "options, env, expected",
    [
        (None, None, HEARTBEAT),
        ({"heartbeat": 0.25}, "9", 0.25),
        (None, "2", 2.0),
        ({"heartbeat": 0}, None, None),
        ({"heartbeat": "soon"}, None, HEARTBEAT),
        ({"heartbeat": "inf"}, None, None),
        ({"timeout": 5}, None, HEARTBEAT),
    ],
)
def test_heartbeat_interval(options, env, expected, monkeypatch):
    if env is None:
        monkeypatch.delenv("HEARTH_AGENT_HEARTBEAT", raising=False)
    else:
        monkeypatch.setenv("HEARTH_AGENT_HEARTBEAT", env)
    assert heartbeat_interval({"id": "x", "options": options}) == expected


def test_run_folders_of_departed_deployments_go_after_the_retention_period(tmp_path):
    """runs/<id>/ of an id no longer in the metadata is removed once untouched for long enough."""
    runs = tmp_path / "runs"
    for entry_id in ("current", "gone-old", "gone-recent"):
        (runs / entry_id / "CREATE-abc").mkdir(parents=True)
        (runs / entry_id / "CREATE-abc" / "stdout").write_text("x")
    day = 86400.0
    old = time.time() - 8 * day
    os.utime(runs / "gone-old" / "CREATE-abc", (old, old))
    os.utime(runs / "current" / "CREATE-abc", (old, old))
    removed = prune_departed(runs, {"current"}, older_than=7 * day)
    assert removed == [runs / "gone-old"]
    assert sorted(p.name for p in runs.iterdir()) == ["current", "gone-recent"]
