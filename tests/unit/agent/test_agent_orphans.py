"""A hook that outlives its killed agent (agent/orphans.py, agent/hookwrap.py): real agent
processes killed with SIGKILL, the real script hook, the stand-in guest API. The next agent
waits for a run still going, takes the result of one that ended, kills one whose deployment
left the metadata, runs again one that was cut short, and never runs two at once."""

import json
import os
import signal
from pathlib import Path

from agent import orphans
from tests.unit.agent.test_agent_main import entry, lines

# Records its start (with its pid) and its end, and waits for the test's go-ahead between.
GATED = """#!/bin/sh
echo "start $label $$" >> "$order_file"
while [ ! -e "$order_file.go" ]; do sleep 0.02; done
echo "end $label" >> "$order_file"
printf 'done-%s' "$label" > "$heat_outputs_path.result"
echo "ran $label"
"""


def gated(entry_id, name, order, label):
    return entry(entry_id, name, order, label, config=GATED)


def started(order):
    return [line.split() for line in lines(order) if line.startswith("start ")]


def run_dir(state, entry_id):
    folders = list((state / "runs" / entry_id).iterdir())
    assert len(folders) == 1, folders
    return folders[0]


def kill_9(agent):
    agent.send_signal(signal.SIGKILL)
    agent.wait(10)


def alive(pid):
    return orphans.alive(pid)


def test_the_next_agent_waits_for_a_hook_its_killed_predecessor_left_running(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    orphan = gated("id-a", "20_a", order, "a")
    guest.set_metadata({"deployments": [orphan]})
    boot = bootstrap_file(guest.base_url)
    first = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: started(order), 30, message="the hook to start")
    kill_9(first)
    # A deployment that sorts first arrives meanwhile: it must still wait for the orphan.
    guest.set_metadata({"deployments": [entry("id-b", "10_b", order, "b"), orphan]})
    [[_, _, pid]] = started(order)
    assert alive(int(pid))  # the hook runs on without its agent
    launch = json.loads((run_dir(state, "id-a") / "hook.json").read_text())
    assert (launch["entry_id"], launch["action"]) == ("id-a", "CREATE")
    assert launch["pid"] and launch["start_ticks"] and launch["boot_id"]

    second = start_agent(boot, state, "--poll-wait", "30")
    wait_for(
        lambda: "waiting for it instead of running it again" in second.log_path.read_text(),
        30,
        message="the new agent to find the running hook",
    )
    assert len(started(order)) == 1 and guest.signal_attempts == []
    assert "b" not in lines(order)  # nothing new starts while the orphan runs, not even 10_b
    (tmp_path / "order.txt.go").touch()
    wait_for(lambda: len(guest.signals) == 2, 30, message="both signals")
    first_signal = guest.signals[0]
    assert first_signal["entry_id"] == "id-a"
    assert first_signal["body"]["result"] == "done-a" and first_signal["body"]["deploy_stdout"] == "ran a\n"
    assert [line.split()[0] for line in lines(order)] == ["start", "end", "b"]


def test_a_result_left_by_a_hook_that_ended_while_no_agent_ran_is_signalled(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    guest.set_metadata({"deployments": [gated("id-a", "10_a", order, "a")]})
    boot = bootstrap_file(guest.base_url)
    first = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: started(order), 30, message="the hook to start")
    kill_9(first)
    (tmp_path / "order.txt.go").touch()
    folder = run_dir(state, "id-a")
    wait_for(lambda: not orphans.lock_held(folder), 30, message="the orphan to end")
    assert json.loads((folder / "hook-exit.json").read_text())["returncode"] == 0

    again = start_agent(boot, state, "--once")
    assert again.wait(30) == 0
    assert "ended while no agent ran; using the result it left" in again.log_path.read_text()
    [signal_] = guest.signals
    assert signal_["body"]["result"] == "done-a" and signal_["body"]["deploy_status_code"] == 0
    assert len(started(order)) == 1


def test_an_orphan_whose_deployment_left_the_metadata_is_stopped_not_signalled(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    guest.set_metadata({"deployments": [gated("id-a", "10_a", order, "a")]})
    boot = bootstrap_file(guest.base_url)
    first = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: started(order), 30, message="the hook to start")
    kill_9(first)
    [[_, _, pid]] = started(order)
    guest.set_metadata({"deployments": [entry("id-b", "20_b", order, "b")]})

    again = start_agent(boot, state, "--once")
    assert again.wait(30) == 0
    assert "no longer in the metadata: stopping its process group" in again.log_path.read_text()
    wait_for(lambda: not alive(int(pid)), 10, message="the orphan to be killed")
    assert not orphans.lock_held(run_dir(state, "id-a"))
    assert [s["entry_id"] for s in guest.signal_attempts] == ["id-b"]
    assert "end a" not in lines(order)


def test_a_run_cut_short_with_its_agent_runs_again_and_its_remnants_are_stopped(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    """The wrapper is killed with the agent, the hook itself survives (as when only part of
    the group is hit): the next agent kills what is left before it runs the hook again."""
    order, state = tmp_path / "order.txt", tmp_path / "state"
    guest.set_metadata({"deployments": [gated("id-a", "10_a", order, "a")]})
    boot = bootstrap_file(guest.base_url)
    first = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: started(order), 30, message="the hook to start")
    launch = json.loads((run_dir(state, "id-a") / "hook.json").read_text())
    os.kill(first.pid, signal.SIGKILL)
    os.kill(launch["pid"], signal.SIGKILL)  # the wrapper alone: no exit record, lock let go
    first.wait(10)
    [[_, _, pid]] = started(order)
    wait_for(lambda: not alive(launch["pid"]), 10, message="the wrapper to die")
    assert alive(int(pid))

    again = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: len(started(order)) == 2, 30, message="the hook to run again")
    assert not alive(int(pid))  # stopped before the new run began
    assert "was cut short before it ended (stopped what was left of it" in again.log_path.read_text()
    (tmp_path / "order.txt.go").touch()
    wait_for(lambda: guest.signals, 30, message="the signal")
    assert guest.signals[0]["body"]["result"] == "done-a"
    assert [line.split()[0] for line in lines(order)] == ["start", "start", "end"]


def test_an_orphan_is_waited_for_only_until_its_timeout_counted_from_its_launch(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    timed = dict(gated("id-a", "10_a", order, "a"), options={"timeout": 3})
    guest.set_metadata({"deployments": [timed]})
    boot = bootstrap_file(guest.base_url)
    first = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: started(order), 30, message="the hook to start")
    kill_9(first)
    [[_, _, pid]] = started(order)
    launched = json.loads((run_dir(state, "id-a") / "hook.json").read_text())["started_at"]

    start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: guest.signals, 30, message="the timed-out signal")
    body = guest.signals[0]["body"]
    assert body["deploy_status_code"] == 124 and "timed out after 3 s" in body["deploy_stderr"]
    assert not alive(int(pid)) and len(started(order)) == 1
    ended = json.loads((run_dir(state, "id-a") / "hook-exit.json").read_text())["finished_at"]
    assert 3 <= ended - launched < 10  # killed at its own deadline, not 3 s after the new agent


def test_an_orphan_its_agent_was_stopping_for_a_shutdown_is_finished_off_and_runs_again(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    order, state = tmp_path / "order.txt", tmp_path / "state"
    guest.set_metadata({"deployments": [gated("id-a", "10_a", order, "a")]})
    boot = bootstrap_file(guest.base_url)
    first = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: started(order), 30, message="the hook to start")
    kill_9(first)
    # As if the agent had died between recording the shutdown and killing its hook.
    orphans.mark_stopped(run_dir(state, "id-a"), "shutdown")
    [[_, _, pid]] = started(order)

    start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: len(started(order)) == 2, 30, message="the hook to run again")
    assert not alive(int(pid))
    (tmp_path / "order.txt.go").touch()
    wait_for(lambda: guest.signals, 30, message="the signal")
    assert guest.signals[0]["body"]["result"] == "done-a"
    assert [line.split()[0] for line in lines(order)] == ["start", "start", "end"]


def test_kill_remnants_leaves_alone_a_live_process_that_now_bears_the_number():
    """A cut-short run's wrapper is dead; a live process with its pid is someone else."""
    me = os.getpid()
    launch = {"pid": me, "boot_id": orphans.boot_id()}
    assert orphans.kill_remnants(launch) == []
    assert orphans.kill_remnants({"pid": 999999999, "boot_id": "another boot"}) == []


def test_a_second_agent_on_the_same_state_directory_waits_for_the_first(
    tmp_path, guest, bootstrap_file, start_agent, wait_for
):
    state = tmp_path / "state"
    boot = bootstrap_file(guest.base_url)
    first = start_agent(boot, state, "--poll-wait", "30")
    wait_for(lambda: guest.metadata_requests, 30, message="the first agent to poll")
    second = start_agent(boot, state, "--poll-wait", "30")
    wait_for(
        lambda: f"in use by another hearth-agent (pid {first.pid}); waiting" in second.log_path.read_text(),
        30,
        message="the second agent to wait",
    )
    assert "hearth-agent for server" not in second.log_path.read_text()
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0
    wait_for(
        lambda: "hearth-agent for server" in second.log_path.read_text(), 30, message="the second agent to take over"
    )
    assert (state / "agent.lock").read_text() == f"{second.pid}\n"
    assert Path(state / "agent.lock").stat().st_mode & 0o777 == 0o600
