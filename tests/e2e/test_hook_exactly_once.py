"""Exactly-once hooks across agent crashes: the agent of a local server is killed with SIGKILL
at random moments fifty times while its deployments run through the real script hook, and the
local driver starts it again each time. Its hooks survive the kills (they run in sessions of
their own); every (deployment, action) must still run exactly once, no two runs may overlap,
and every deployment must be signalled COMPLETE with the result of its one run.

The random moments are the point of the test: they are drawn from a seeded generator, and the
seed is printed (HEARTH_FAULT_SEED=<seed> replays the same choices; the machine's timing still
varies).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_agent_faults import QUICK_RESTARTS
from tests.e2e.test_end_to_end import agent_pids
from tests.support import start_server, stop_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 50
DEPLOYMENTS = 16
HOOK_SECONDS = (0.3, 1.2)  # how long each run takes, drawn per deployment and action
KILL_AFTER = (0.0, 1.2)  # when each kill comes, after the agent (re)started
ENOUGH_IN_HOOKS = 15  # kills that must land while a hook runs, or the test proved little

# Each run appends a start line and an end line with its deployment, action and a token of its
# own (which it also prints, so the signal names the run it reports), and takes `duration` s.
SCRIPT = r"""#!/bin/sh
token="$$-$(date +%s%N)"
printf 'start %s %s %s %s\n' "$label" "$deploy_action" "$token" "$(date +%s.%N)" >> "$lines"
sleep "$duration"
printf 'end %s %s %s %s\n' "$label" "$deploy_action" "$token" "$(date +%s.%N)" >> "$lines"
printf 'ran %s %s %s\n' "$label" "$deploy_action" "$token"
"""


def template(durations: dict[str, float]) -> str:
    resources: dict = {
        "server": {"type": "OS::Nova::Server", "properties": {"image": "any", "flavor": "any"}},
        "config": {
            "type": "OS::Heat::SoftwareConfig",
            "properties": {
                "group": "script",
                "config": SCRIPT,
                "inputs": [{"name": "label"}, {"name": "duration"}, {"name": "lines"}],
            },
        },
    }
    for label, duration in durations.items():
        resources[label] = {
            "type": "OS::Heat::SoftwareDeployment",
            "properties": {
                "config": {"get_resource": "config"},
                "server": {"get_resource": "server"},
                "input_values": {"label": label, "duration": f"{duration:g}", "lines": {"get_param": "lines"}},
            },
        }
    return json.dumps(
        {
            "heat_template_version": "2018-08-31",
            "parameters": {"lines": {"type": "string"}},
            "resources": resources,
            "outputs": {label: {"value": {"get_attr": [label, "deploy_stdout"]}} for label in durations},
        }
    )


@dataclass
class Run:
    label: str
    action: str
    token: str
    started: float
    ended: float | None = None


def read_runs(path: Path) -> list[Run]:
    """The runs recorded in `path`, in the order they started (a line still being written is
    left out)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    runs: dict[str, Run] = {}
    for line in text.splitlines(keepends=True):
        words = line.split()
        if not line.endswith("\n") or len(words) != 5:
            continue
        if words[0] == "start":
            runs[words[3]] = Run(words[1], words[2], words[3], float(words[4]))
        elif words[0] == "end" and words[3] in runs:
            runs[words[3]].ended = float(words[4])
    return sorted(runs.values(), key=lambda run: run.started)


def test_fifty_agent_kills_never_run_a_hook_twice_nor_two_at_once(tmp_path):
    seed = int(os.environ.get("HEARTH_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"seed {seed}: HEARTH_FAULT_SEED={seed} replays the same random choices")
    rng = random.Random(seed)
    began = time.monotonic()
    labels = [f"deploy{n:02d}" for n in range(1, DEPLOYMENTS + 1)]
    durations = {
        action: {label: round(rng.uniform(*HOOK_SECONDS), 3) for label in labels} for action in ("CREATE", "UPDATE")
    }
    lines = tmp_path / "hook-lines.txt"
    hearth = start_server(tmp_path, **QUICK_RESTARTS)
    try:
        hearth.create_stack("once", template(durations["CREATE"]), parameters={"lines": str(lines)})
        data_dir = hearth.config.resolved_data_dir
        pid = wait_for(lambda: (agent_pids(data_dir) or [None])[0], 30, message="the first agent")
        home = next((Path(data_dir) / "servers").iterdir())
        outputs: dict[str, dict] = {}
        in_hook = 0
        for number in range(1, KILLS + 1):
            pause = rng.uniform(*KILL_AFTER)
            time.sleep(pause)  # the fault's random moment, not a wait on a condition
            runs = read_runs(lines)
            in_hook += any(run.ended is None for run in runs)
            os.kill(pid, signal.SIGKILL)  # the agent alone: its hook runs on
            killed = pid
            wait_for(lambda killed=killed: killed not in agent_pids(data_dir), 10, message=f"agent {killed} to die")
            _move_on(hearth, outputs, durations)
            pid = wait_for(
                lambda killed=killed: next((p for p in agent_pids(data_dir) if p != killed), None),
                30,
                message=f"the local driver to restart the agent after kill {number} (seed {seed})",
            )

        killing = time.monotonic() - began
        wait_for(
            lambda: _move_on(hearth, outputs, durations) == "UPDATE", 180, 0.1, f"the create to finish (seed {seed})"
        )
        stack = hearth.wait_stack("once", ("UPDATE_COMPLETE",), timeout=180)
        assert stack["stack_status"] == "UPDATE_COMPLETE", f"seed {seed}: {stack['stack_status_reason']}"
        outputs["UPDATE"] = hearth.outputs("once")

        runs = read_runs(lines)
        per_key = defaultdict(list)
        for run in runs:
            per_key[(run.label, run.action)].append(run)
        for label in labels:
            for action in ("CREATE", "UPDATE"):
                own = per_key.pop((label, action), [])
                assert len(own) == 1, f"seed {seed}: {label} {action} started {len(own)} times: {own}"
                assert own[0].ended is not None, f"seed {seed}: {label} {action} never ended: {own}"
                reported = outputs[action][label]
                assert reported == f"ran {label} {action} {own[0].token}\n", (
                    f"seed {seed}: {label} {action} signalled {reported!r}, not its one run {own[0]}"
                )
        assert not per_key, f"seed {seed}: runs nobody asked for: {dict(per_key)}"
        overlaps = [(a, b) for a, b in itertools.pairwise(runs) if b.started < a.ended]
        assert not overlaps, f"seed {seed}: runs overlapped: {overlaps}"
        resources = hearth.resources("once")
        assert all(resources[label]["resource_status"] == "UPDATE_COMPLETE" for label in labels), resources
        agent = hearth.http.get(f"{hearth.api}/stacks/once/{stack['id']}/resources/server", timeout=30).json()[
            "resource"
        ]["attributes"]["agent"]
        assert agent["restarts"] == KILLS, agent

        log = (home / "agent.log").read_text()
        waited = log.count("waiting for it instead of running it again")
        picked = log.count("ended while no agent ran; using the result it left")
        assert "Traceback" not in log
        assert in_hook >= ENOUGH_IN_HOOKS, (
            f"seed {seed}: only {in_hook} of {KILLS} kills landed while a hook ran: the machine is "
            "too slow for this test"
        )
        print(
            f"{KILLS} kills in {killing:.1f} s ({in_hook} while a hook ran); {len(runs)} runs for "
            f"{2 * DEPLOYMENTS} (deployment, action) pairs: 1 start each, 0 overlaps; the restarted "
            f"agents waited for {waited} running orphans and took the results of {picked} that "
            f"ended meanwhile; {time.monotonic() - began:.1f} s in all"
        )
    finally:
        stop_server(hearth)


def _move_on(hearth, outputs: dict, durations: dict) -> str:
    """Once the create has completed, keep its outputs and start the update (new durations: a
    new action for every deployment). The phase the stack is in."""
    if "CREATE" in outputs:
        return "UPDATE"
    stack = hearth.stack("once")
    if stack["stack_status"] == "CREATE_FAILED":
        raise AssertionError(f"the create failed: {stack['stack_status_reason']}")
    if stack["stack_status"] != "CREATE_COMPLETE":
        return "CREATE"
    outputs["CREATE"] = hearth.outputs("once")
    body = {"template": template(durations["UPDATE"]), "parameters": {"lines": stack["parameters"]["lines"]}}
    response = hearth.http.put(f"{hearth.api}/stacks/once/{stack['id']}", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return "UPDATE"
