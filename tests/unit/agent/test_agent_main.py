"""The agent end to end: real ``python -m agent.main`` processes, the real script hook, a stand-in guest API."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from agent.cache import MetadataCache
from agent.deployments import done_key, done_record
from agent.outbox import Outbox
from tests.unit.agent.conftest import REPO

SCRIPT = """#!/bin/sh
echo "$label" >> "$order_file"
printf 'out-%s' "$label" > "$heat_outputs_path.result"
echo "ran $label"
"""


def entry(entry_id, name, order_file, label, group="script", config=SCRIPT, transport="HEARTH"):
    return {
        "id": entry_id,
        "name": name,
        "group": group,
        "creation_time": "2026-01-02T03:04:05Z",
        "config": config,
        "options": None,
        "outputs": [{"name": "result", "type": "String", "error_output": False}],
        "inputs": [
            {"name": "label", "type": "String", "value": label},
            {"name": "order_file", "type": "String", "value": str(order_file)},
            {"name": "deploy_server_id", "type": "String", "value": "srv-1"},
            {"name": "deploy_action", "type": "String", "value": "CREATE"},
            {"name": "deploy_signal_transport", "type": "String", "value": transport},
        ],
    }


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc, within=5.0):
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(within + 5)
    return code, time.monotonic() - started


def test_daemon_runs_in_order_signals_outputs_and_never_runs_twice(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    guest.set_metadata(
        {"deployments": [entry("id-a", "10_first", order, "first"), entry("id-b", "20_second", order, "second")]}
    )
    boot = bootstrap_file(guest.base_url)
    agent = start_agent(boot, state, "--poll-wait", "30")

    wait_for(lambda: len(guest.signals) == 2, message="two signals")
    assert lines(order) == ["first", "second"]
    assert [s["entry_id"] for s in guest.signals] == ["id-a", "id-b"]
    first = guest.signals[0]
    assert first["authorization"] == f"Bearer {guest.credential}"
    assert first["body"]["result"] == "out-first"
    assert first["body"]["deploy_status_code"] == 0
    assert first["body"]["deploy_stdout"] == "ran first\n"

    [run_dir] = (state / "runs" / "id-a").iterdir()  # runs/<deployment id>/<run>/
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "exit_code",
        "hook-exit.json",
        "hook.json",
        "hook.lock",
        "input.json",
        "result.json",
        "stderr",
        "stdout",
    ]
    assert (run_dir / "exit_code").read_text() == "0\n"
    assert json.loads((run_dir / "result.json").read_text()) == first["body"]
    assert len(list((state / "deployed").glob("*.json"))) == 2
    assert json.loads((state / "cache" / "hearth.json").read_text())["version"] == "2"
    status = wait_for(
        lambda: (lambda s: s["state"] == "idle" and s)(json.loads((state / "status.json").read_text())),
        message="idle status",
    )
    assert {k: v["status"] for k, v in status["deployments"].items()} == {"id-a": "complete", "id-b": "complete"}

    # A change is picked up by the held long-poll and delivered within seconds.
    wait_for(lambda: any(r["since"] == "2" for r in guest.metadata_requests), message="long-poll")
    changed_at = time.monotonic()
    guest.set_metadata(
        {
            "deployments": [
                entry("id-a", "10_first", order, "first"),
                entry("id-b", "20_second", order, "second"),
                entry("id-c", "30_third", order, "third"),
            ]
        }
    )
    wait_for(lambda: len(guest.signals) == 3, message="third signal")
    assert guest.signals[2]["at"] - changed_at < 5
    assert lines(order) == ["first", "second", "third"]

    # SIGTERM while the long-poll is held: out within the local driver's 5 s.
    wait_for(lambda: any(r["since"] == "3" for r in guest.metadata_requests), message="poll")
    code, took = stop(agent)
    assert code == 0 and took < 5

    # Restart with the same state dir: a daemon and a --once run nothing again.
    again = start_agent(boot, state, "--poll-wait", "30")
    wait_for(
        lambda: sum(r["since"] == "3" for r in guest.metadata_requests) >= 2, message="restarted agent long-polling"
    )
    assert stop(again)[0] == 0
    once = start_agent(boot, state, "--once")
    assert once.wait(30) == 0
    assert lines(order) == ["first", "second", "third"]
    assert len(guest.signal_attempts) == 3
    assert guest.credential not in agent.log_path.read_text()


def test_unknown_group_gets_a_failure_signal_and_once_exits_0(tmp_path, guest, bootstrap_file, start_agent):
    order = tmp_path / "order.txt"
    guest.set_metadata(
        {
            "deployments": [
                entry("id-u", "10_unknown", order, "u", group="no-such-tool"),
                entry("id-s", "20_silent", order, "s", group="Heat::Ungrouped"),
                entry("id-n", "30_nosignal", order, "n", transport="NO_SIGNAL"),
            ]
        }
    )
    agent = start_agent(bootstrap_file(guest.base_url), tmp_path / "state", "--once")
    assert agent.wait(30) == 0
    assert [s["entry_id"] for s in guest.signal_attempts] == ["id-u"]
    body = guest.signals[0]["body"]
    assert body["deploy_status_code"] == 1 and body["deploy_stdout"] == ""
    assert body["deploy_stderr"].startswith("no hook for group 'no-such-tool' in ")
    assert lines(order) == ["n"]  # NO_SIGNAL still runs; Heat::Ungrouped never does
    assert len(list((tmp_path / "state" / "deployed").glob("*.json"))) == 2


def test_once_without_server_or_cache_exits_1(tmp_path, bootstrap_file, start_agent):
    agent = start_agent(bootstrap_file(f"http://127.0.0.1:{free_port()}"), tmp_path / "state", "--once")
    assert agent.wait(30) == 1


def test_once_without_server_works_from_the_cache(tmp_path, bootstrap_file, start_agent):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    MetadataCache(state / "cache", "hearth").store(
        "9", {"deployments": [entry("id-c", "10_cached", order, "cached", transport="NO_SIGNAL")]}
    )
    (state / "cache" / ".hearth.json.x1.tmp").write_text("")  # stray temp: ignored
    agent = start_agent(bootstrap_file(f"http://127.0.0.1:{free_port()}"), state, "--once")
    assert agent.wait(30) == 0
    assert lines(order) == ["cached"]


def test_corrupt_cache_does_not_stop_the_agent(tmp_path, guest, bootstrap_file, start_agent):
    state = tmp_path / "state"
    (state / "cache").mkdir(parents=True)
    (state / "cache" / "hearth.json").write_text("{broken")
    agent = start_agent(bootstrap_file(guest.base_url), state, "--once")
    assert agent.wait(30) == 0
    assert "corrupt" in agent.log_path.read_text()
    assert json.loads((state / "cache" / "hearth.json").read_text())["version"] == "1"


def test_signals_left_from_before_a_restart_go_out_at_start_up(
    tmp_path, guest, session, bootstrap_file, start_agent, wait_for
):
    state = tmp_path / "state"
    outbox = Outbox(state / "outbox", session, "http://127.0.0.1:9", "c")
    outbox.publish(outbox.stage("id-old", {"x": 1}))  # published, not yet delivered, when it stopped
    start_agent(bootstrap_file(guest.base_url), state, "--poll-wait", "30")
    wait_for(lambda: guest.signals, message="old signal")
    assert guest.signals[0]["entry_id"] == "id-old" and guest.signals[0]["body"] == {"x": 1}


def test_start_up_publishes_staged_signals_and_never_reruns_their_hooks(
    tmp_path, guest, session, bootstrap_file, start_agent, wait_for
):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    staged_entry = entry("id-a", "10_staged", order, "staged")
    partial_entry = entry("id-b", "20_partial", order, "partial")
    guest.set_metadata({"deployments": [staged_entry, partial_entry]})
    key = done_key(staged_entry)
    # id-a: the agent died after staging its signal, before the done marker.
    Outbox(state / "outbox", session, "http://127.0.0.1:9", "c").stage(
        "id-a",
        {"deploy_status_code": 0, "result": "from before"},
        done_key=key,
        done_record=done_record(key, staged_entry, 0),
    )
    # id-b: it died while writing the staged item: only a temp file exists, so it runs again.
    (state / "outbox" / ".id-b.json.staged.x1y2.tmp").write_text('{"entry_id": "id-b", "pay')
    agent = start_agent(bootstrap_file(guest.base_url), state, "--poll-wait", "30")
    wait_for(lambda: len(guest.signals) == 2, message="two signals")
    assert lines(order) == ["partial"]
    by_id = {s["entry_id"]: s["body"] for s in guest.signals}
    assert by_id["id-a"] == {"deploy_status_code": 0, "result": "from before"}
    assert by_id["id-b"]["result"] == "out-partial"
    marker = json.loads((state / "deployed" / f"{key}.json").read_text())
    assert (marker["id"], marker["name"], marker["action"]) == ("id-a", "10_staged", "CREATE")
    assert len(list((state / "deployed").glob("*.json"))) == 2
    assert not list((state / "outbox").glob("*.staged"))
    assert stop(agent)[0] == 0
    assert len(guest.signal_attempts) == 2


def test_an_output_too_large_for_the_server_is_dropped_not_retried(tmp_path, guest, bootstrap_file, start_agent):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    big = '#!/bin/sh\nhead -c 5242880 /dev/zero | tr "\\0" x > "$heat_outputs_path.result"\necho "wrote it"\n'
    guest.set_metadata({"deployments": [entry("id-big", "10_big", order, "big", config=big)]})
    agent = start_agent(bootstrap_file(guest.base_url), state, "--once")
    assert agent.wait(60) == 0
    [attempt] = guest.signal_attempts  # delivered at the first try: the server took it
    assert guest.signals == [attempt] and attempt["size"] <= 3.5 * 1024 * 1024
    body = attempt["body"]
    marker = "[hearth-agent: output 'result' of 5242880 bytes dropped: the signal exceeded 3.5 MiB]"
    assert body["result"] == marker and body["deploy_status_code"] == 0
    assert body["deploy_stdout"] == "wrote it\n" and body["deploy_stderr"].endswith(marker + "\n")
    [run_dir] = (state / "runs" / "id-big").iterdir()
    assert json.loads((run_dir / "result.json").read_text()) == body


def test_sigterm_during_a_hook_leaves_it_to_run_again(tmp_path, guest, bootstrap_file, start_agent, wait_for):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    slow = '#!/bin/sh\necho "$label" >> "$order_file"\nsleep 300\n'
    guest.set_metadata({"deployments": [entry("id-s", "10_slow", order, "slow", config=slow)]})
    agent = start_agent(bootstrap_file(guest.base_url), state, "--poll-wait", "30")
    wait_for(lambda: lines(order) == ["slow"], message="hook started")
    code, took = stop(agent)
    assert code == 0 and took < 5
    assert list((state / "deployed").glob("*.json")) == []
    assert guest.signal_attempts == []
    status = json.loads((state / "status.json").read_text())
    assert status["deployments"]["id-s"]["status"] == "interrupted"


def test_outage_keeps_the_cached_metadata_and_warns_once(tmp_path, guest, bootstrap_file, start_agent, wait_for):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    metadata = {"deployments": [entry("id-k", "10_kept", order, "kept")]}
    guest.set_metadata(metadata)
    MetadataCache(state / "cache", "hearth").store("2", metadata)
    guest.metadata_statuses = [503, 503, 503]
    agent = start_agent(bootstrap_file(guest.base_url), state, "--poll-wait", "30")
    wait_for(lambda: guest.signals, message="signal from cached metadata")
    wait_for(lambda: any(r["since"] == "2" for r in guest.metadata_requests[3:]), message="long-poll after the outage")
    assert stop(agent)[0] == 0
    log = agent.log_path.read_text()
    assert log.count("hearth: source unavailable") == 1
    assert "hearth: source reachable again after 3 failed attempt(s)" in log
    assert lines(order) == ["kept"]  # the same metadata after recovery is not run again


def test_refused_credential_is_logged_clearly(tmp_path, guest, start_agent):
    boot = tmp_path / "bootstrap.json"
    boot.write_text(json.dumps({"server_id": guest.server_id, "base_url": guest.base_url, "credential": "hgc_wrong"}))
    agent = start_agent(boot, tmp_path / "state", "--once")
    assert agent.wait(30) == 1
    log = agent.log_path.read_text()
    assert "HTTP 401 (credential refused)" in log and "hgc_wrong" not in log


def write_json(path, document):
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return path


def agent_process(tmp_path, boot, state, env_extra=None, *extra):
    """``python -m agent.main`` with extra environment (NOTIFY_SOCKET); stopped by the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HEAT_CONFIG_", "HEAT_SCRIPT_", "NOTIFY_", "WATCHDOG_"))
    }
    env.update(PYTHONPATH=str(REPO), **(env_extra or {}))
    log = open(tmp_path / "agent-notify.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.main",
            "--bootstrap",
            str(boot),
            "--state-dir",
            str(state),
            "--log-level",
            "DEBUG",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log_path = Path(log.name)
    proc.log_file = log
    return proc


def test_sighup_reloads_the_bootstrap_and_keeps_state(tmp_path, guest, start_agent, wait_for):
    """A wrong credential is fixed by SIGHUP: fetches and signals use the new one at once; a
    bootstrap broken afterwards is refused with one error line and the agent keeps going."""
    order, state, local = tmp_path / "order.txt", tmp_path / "state", tmp_path / "local"
    local.mkdir()
    guest.set_metadata({"deployments": [entry("id-h", "10_hearth", order, "hearth")]})
    document = {
        "server_id": guest.server_id,
        "base_url": guest.base_url,
        "credential": "hgc_wrong",
        "collectors": ["hearth"],
    }
    boot = write_json(tmp_path / "bootstrap.json", document)
    agent = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: "credential refused" in agent.log_path.read_text(), message="401")

    write_json(
        local / "extra.json", {"deployments": [entry("id-l", "20_local", order, "local", transport="NO_SIGNAL")]}
    )
    write_json(
        boot,
        {**document, "credential": guest.credential, "collectors": ["hearth", "local"], "local": {"path": str(local)}},
    )
    agent.send_signal(signal.SIGHUP)
    wait_for(lambda: lines(order) == ["hearth", "local"], message="both deployments")
    wait_for(lambda: guest.signals, message="signal with the new credential")
    assert guest.signals[0]["authorization"] == f"Bearer {guest.credential}"
    log = agent.log_path.read_text()
    assert log.count("SIGHUP: reloaded") == 1 and "collectors hearth, local" in log

    boot.write_text("{broken")
    agent.send_signal(signal.SIGHUP)
    wait_for(
        lambda: "SIGHUP: keeping the current configuration" in agent.log_path.read_text(), message="refused reload"
    )
    write_json(local / "more.json", {"deployments": [entry("id-m", "30_more", order, "more", transport="NO_SIGNAL")]})
    wait_for(lambda: lines(order) == ["hearth", "local", "more"], message="still watching")
    assert stop(agent)[0] == 0
    log = agent.log_path.read_text()
    assert log.count("SIGHUP: keeping the current configuration") == 1
    assert guest.credential not in log and "hgc_wrong" not in log


def test_systemd_notify_ready_reloading_stopping(tmp_path, guest, bootstrap_file, wait_for):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(20)
    messages: list[list[str]] = []

    def next_message():
        messages.append(sock.recv(4096).decode().split("\n"))
        return messages[-1]

    guest.set_metadata({"deployments": []})
    agent = agent_process(
        tmp_path,
        bootstrap_file(guest.base_url),
        tmp_path / "state",
        {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "600000"},
        "--poll-wait",
        "30",
    )
    try:
        seen = [next_message() for _ in range(3)]
        ready = next(m for m in seen if m[0] == "READY=1")
        assert ready[1].startswith("STATUS=idle; 0 deployment(s) from hearth")
        assert ["WATCHDOG=1"] in seen
        agent.send_signal(signal.SIGHUP)
        while next_message()[0] != "RELOADING=1":
            pass
        while next_message()[0] != "READY=1":
            pass
        agent.send_signal(signal.SIGTERM)
        while next_message() != ["STOPPING=1"]:
            pass
        assert agent.wait(10) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        agent.log_file.close()
        sock.close()
    assert messages.count(["STOPPING=1"]) == 1
