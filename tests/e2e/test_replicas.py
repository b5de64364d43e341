"""Many replicas on one PostgreSQL, end to end (issue 14, item 6): three real `hearth server`
processes on one database and one data dir, real local agents and the real script hook.

- a change committed through one replica reaches an agent parked on another at once;
- `kill -9` of the replica driving a create, an update or a delete, at a random moment: another
  replica finishes or fails the operation within TAKEOVER_BOUND, no accepted signal is lost
  and no hook runs twice;
- a rolling restart (SIGTERM, exit 0, start again; each replica in turn) while an update runs;
- two replicas started at the same moment on a stack left IN_PROGRESS never double-run a hook.

The random moments are drawn from a seeded generator whose seed is printed; HEARTH_FAULT_SEED
replays the same choices (the machine's timing still varies). The `soak` takeover test
(`make test-soak`, deselected otherwise: it takes tens of minutes) runs HEARTH_REPLICA_ROUNDS
rounds per phase (default 10: the issue's minimum, about two minutes per phase here); the
default run, and CI, do one round per phase.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.replicas import (
    Cluster,
    Replica,
    agent_errors,
    agent_pids,
    connected_ports,
    delivered,
    label,
    own_database,
    server_homes,
    template,
    twice,
)
from tests.support import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# An update through one replica must reach an agent parked on another this fast: the missed
# wake it replaces is the agent's own long-poll timeout (about 55 s).
WAKE_BOUND = 8.0
# Kill -9 of the owner to the operation's end: one lease period (3 s) for the lease to expire,
# then up to 12 s for another replica to notice, take the operation over and finish what is
# left (the gated hook is released at most 1 s after the kill, then sleeps 0.1 s): the issue's
# target of 15 s after the kill.
TAKEOVER_BOUND = 15.0
# Test 4 has a full outage (the only replica killed, two started later): agents that found no
# replica back off (agent/collectors/source.py, up to 30 s with full jitter) and come back within
# one such wait once the replicas listen; then the lease period and TAKEOVER_BOUND's margin.
OUTAGE_BOUND = 30.0 + TAKEOVER_BOUND
SLOW_ROUNDS = int(os.environ.get("HEARTH_REPLICA_ROUNDS") or 10)


def seeded() -> tuple[int, random.Random]:
    seed = int(os.environ.get("HEARTH_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    print(f"seed {seed}: HEARTH_FAULT_SEED={seed} replays the same random choices")
    return seed, random.Random(seed)


@pytest.fixture
def cluster(tmp_path):
    with own_database() as url:
        replicas = Cluster(tmp_path, url)
        try:
            replicas.start("r1")  # the first one migrates the new database
            replicas.start("r2", "r3")
            yield replicas
        finally:
            replicas.close()


def parameters(cluster: Cluster, generation: int) -> dict:
    return {"lines": str(cluster.lines), "generation": str(generation)}


def agents_of(cluster: Cluster, server_ids: list[str]) -> list[int]:
    return [pid for pid in agent_pids(str(cluster.data_dir)) for s in server_ids if _cmdline_has(pid, s)]


def _cmdline_has(pid: int, text: str) -> bool:
    try:
        return text in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def polled_replica(cluster: Cluster, pid: int) -> Replica:
    """The one replica the agent `pid` holds a connection to (its long-poll), once it does."""
    ports = {replica.port: replica for replica in cluster.replicas.values()}

    def one():
        reached = connected_ports(pid) & set(ports)
        return ports[reached.pop()] if len(reached) == 1 else None

    return wait_for(one, 30, 0.05, f"agent {pid} to hold a connection to exactly one replica")  # type: ignore[return-value]


def check_signals_recorded(cluster: Cluster, stack_id: str, stack: dict, via: Replica) -> None:
    """No accepted signal lost: a deployment whose agent logged as many deliveries as its hook
    finished runs had its latest result accepted, so the deployment shows that run's output.
    When the stack completed, every deployment must be so."""
    runs = cluster.runs()
    sent = delivered(cluster.data_dir)
    completed = stack["stack_status"].endswith("_COMPLETE")
    for name, resource in via.resources(stack_id).items():
        if resource["resource_type"] != "OS::Heat::SoftwareDeployment":
            continue
        own = [r for r in runs if r.label.startswith(f"{name}@") and r.label.endswith(f":{stack['stack_name']}")]
        own = [r for r in own if r.ended is not None]
        if not resource["physical_resource_id"]:  # never made: the operation failed before it
            assert not completed and not own, f"{name}: its hook ran but the resource has no deployment: {resource}"
            continue
        deployment = via.deployment(resource["physical_resource_id"])
        assert deployment is not None, f"{name}: its deployment record is gone"
        latest = own[-1] if own else None
        if latest is None or (not completed and sent[deployment["id"]] < len(own)):
            assert not completed, f"{name}: the stack completed but its hook never ran: {resource}"
            continue  # its latest result was never accepted (the operation had failed first)
        stdout = (deployment.get("output_values") or {}).get("deploy_stdout")
        assert (deployment["status"], stdout) == ("COMPLETE", f"ran {latest.label} {latest.action} {latest.token}\n"), (
            f"{name}: the accepted result of run {latest} is not what the deployment shows: {deployment}"
        )


# -- 1. cross-replica wake-up ---------------------------------------------------------------------


def test_update_through_one_replica_reaches_an_agent_parked_on_another_within_seconds(cluster):
    tpl = template({"d1": 0.05}, servers=1)
    stack_id = cluster["r1"].create_stack("wake", tpl, parameters(cluster, 1))
    stack = cluster.settle(stack_id, "CREATE", 90)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    [pid] = agent_pids(str(cluster.data_dir))
    took = {}
    for generation in (2, 3):
        polled = polled_replica(cluster, pid)
        # through each of the two replicas the agent does not poll, in turn
        via = [r for r in cluster.replicas.values() if r is not polled][generation - 2]
        run = label("d1", generation, "wake")
        began = time.monotonic()
        via.update_stack(stack_id, tpl, parameters(cluster, generation))
        # the change committed through `via` wakes the agent parked on `polled`...
        wait_for(
            lambda run=run: any(r.label == run for r in cluster.runs()),
            WAKE_BOUND + 30,
            message=f"the agent parked on {polled.name} to run the update made through {via.name}",
        )
        heard = time.monotonic() - began
        # ...and its signal, taken by `polled`, wakes the update that `via` drives
        stack = cluster.settle(stack_id, "UPDATE", WAKE_BOUND + 30, via=via)
        done = time.monotonic() - began
        took[f"{via.name} -> agent on {polled.name}"] = f"hook started {heard:.2f} s, update done {done:.2f} s"
        assert heard <= WAKE_BOUND, (
            f"the agent parked on {polled.name} heard of the update through {via.name} after {heard:.1f} s"
        )
        assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
        assert done <= WAKE_BOUND, f"the update through {via.name} took {done:.1f} s (agent on {polled.name})"
        assert [(r.label, r.action) for r in cluster.runs()][-1] == (run, "UPDATE")
    assert not twice(cluster.runs())
    print("after an update through another replica than the agent's:", took)


# -- 2. lease takeover after kill -9 --------------------------------------------------------------


def takeover_round(cluster: Cluster, rng: random.Random, phase: str, number: int, seed: int) -> dict:
    """One round: make the stack (and finish its create unless the create is the phase), start
    the phase's operation through a random replica, kill -9 the lease owner at a random moment
    while the gated anchor keeps the operation running, release the gate a random moment later,
    and judge the outcome. Restarts the killed replica; deletes the stack."""
    action = phase.upper()
    names = {f"d{n}": round(rng.uniform(0.1, 0.5), 3) for n in (1, 2, 3)}
    durations = {**names, "anchor": 0.1}
    gate = cluster.gates / f"{phase}{number}"
    tpl = template(durations, gate=str(gate), actions=("CREATE", "UPDATE", "DELETE"))
    entry = rng.choice(cluster.running())
    context = f"seed {seed}, {phase} round {number}"
    stack_id = entry.create_stack(f"{phase}{number}", tpl, parameters(cluster, 1))
    if phase != "create":
        cluster.open_gate(gate.name, "CREATE")
        stack = cluster.settle(stack_id, "CREATE", 90)
        assert stack["stack_status"] == "CREATE_COMPLETE", f"{context}: {stack['stack_status_reason']}"
    servers = [r["physical_resource_id"] for n, r in entry.resources(stack_id).items() if n.startswith("server")]
    if phase == "update":
        entry.update_stack(stack_id, tpl, parameters(cluster, 2))
    elif phase == "delete":
        entry.delete_stack(stack_id)

    time.sleep(rng.uniform(0.1, 1.5 if phase == "delete" else 3.0))  # the fault's random moment
    before = cluster.read_stack(stack_id)
    assert before and before["stack_status"] == f"{action}_IN_PROGRESS", f"{context}: {before}"
    owner = cluster.owner(stack_id)
    owner.kill()
    killed = time.monotonic()
    time.sleep(rng.uniform(0.0, 1.0))  # the gated hook ends at a random moment after the kill
    cluster.open_gate(gate.name, action)
    stack = cluster.settle(stack_id, action, TAKEOVER_BOUND + 30)
    took = time.monotonic() - killed
    status = stack["stack_status"]
    assert status in (f"{action}_COMPLETE", f"{action}_FAILED"), f"{context}: {stack}"
    assert took <= TAKEOVER_BOUND, f"{context}: {took:.1f} s from the kill of {owner.name} to {status}"
    doubled = twice(cluster.runs())
    assert not doubled, f"{context}: hooks ran twice: {doubled}"
    survivor = cluster.any()
    if phase != "delete":
        check_signals_recorded(cluster, stack_id, stack, survivor)
    elif status == "DELETE_COMPLETE":
        ran = Counter((r.label, r.action) for r in cluster.runs() if r.ended is not None)
        assert all(ran[(label(n, 1, f"{phase}{number}"), "DELETE")] == 1 for n in durations), f"{context}: {ran}"
    owner.start()  # back to three replicas for the next round

    if status != "DELETE_COMPLETE":  # the next round starts from a clean slate
        cluster.open_gate(gate.name, "DELETE")
        survivor.delete_stack(stack_id)
        stack = cluster.settle(stack_id, "DELETE", 90)
        assert stack["stack_status"] == "DELETE_COMPLETE", f"{context}: {stack['stack_status_reason']}"
    wait_for(lambda: not agents_of(cluster, servers), 15, message=f"{context}: the stack's agents to stop")
    assert not [h for h in server_homes(cluster.data_dir) if h.name in servers], f"{context}: server homes left"
    return {"owner": owner.name, "outcome": status, "seconds": round(took, 2)}


def run_takeover(cluster: Cluster, phase: str, rounds: int) -> None:
    seed, rng = seeded()
    results = [takeover_round(cluster, rng, phase, number, seed) for number in range(1, rounds + 1)]
    print(f"{phase}: {rounds} round(s), kill -9 to settled:", results)


@pytest.mark.parametrize("phase", ["create", "update", "delete"])
def test_kill_9_of_the_lease_owner_mid_operation_is_taken_over(cluster, phase):
    run_takeover(cluster, phase, 1)


@pytest.mark.soak
@pytest.mark.parametrize("phase", ["create", "update", "delete"])
def test_kill_9_of_the_lease_owner_mid_operation_randomised_rounds(cluster, phase):
    run_takeover(cluster, phase, SLOW_ROUNDS)


HOOKED = """heat_template_version: 2018-08-31
resources:
  value: {type: OS::Heat::Value, properties: {value: one}}
"""
WAITS = """heat_template_version: 2018-08-31
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}, timeout: 600}}
"""


def test_a_breakpoint_cleared_and_a_cancel_asked_while_the_driver_is_dead_are_done_by_the_next(cluster):
    """Asked through a survivor after `kill -9` of the replica driving the operation, before any
    other has taken it over: the message reaches only replicas that do not drive it, so only the
    stored request (engine/orchestration/asked.py) tells the one that takes it over."""
    via = cluster["r1"]
    hooked = {"resource_registry": {"resources": {"value": {"hooks": "pre-create"}}}}
    hook_id = via.api(
        "POST", "/stacks", 201, json={"stack_name": "hooked", "template": HOOKED, "environment": hooked}
    ).json()["stack"]["id"]
    waits_id = via.create_stack("waits", WAITS, {})
    wait_for(
        lambda: any(
            e["resource_status_reason"] == "CREATE paused until Hook pre-create is cleared" for e in via.events(hook_id)
        ),
        30,
        0.1,
        "the pause",
    )
    wait_for(
        lambda: via.resources(waits_id)["wait"]["resource_status"] == "CREATE_IN_PROGRESS",
        30,
        0.1,
        "the wait condition to wait",
    )
    owners = {cluster.owner(hook_id), cluster.owner(waits_id)}
    for owner in owners:
        owner.kill()
    killed = time.monotonic()
    survivor = cluster.any()
    survivor.api("POST", f"{survivor._path(hook_id)}/resources/value/signal", 200, json={"unset_hook": "pre-create"})
    survivor.api("POST", f"{survivor._path(waits_id)}/actions", 200, json={"cancel_without_rollback": None})

    hook_stack = cluster.settle(hook_id, "CREATE", TAKEOVER_BOUND + 30, via=survivor)
    assert hook_stack["stack_status"] == "CREATE_COMPLETE", hook_stack["stack_status_reason"]
    waits_stack = cluster.settle(waits_id, "CREATE", TAKEOVER_BOUND + 30, via=survivor)
    took = time.monotonic() - killed
    assert waits_stack["stack_status"] == "CREATE_FAILED", waits_stack["stack_status_reason"]
    assert "cancelled" in waits_stack["stack_status_reason"]
    assert took <= TAKEOVER_BOUND, f"{took:.1f} s from the kill of {sorted(o.name for o in owners)} to both settled"


# -- 3. rolling restart ---------------------------------------------------------------------------


def test_rolling_restart_while_an_update_runs_loses_nothing(cluster):
    durations = {"d1": 0.6, "d2": 0.6, "d3": 0.6, "d4": 0.6, "anchor": 0.1}
    gate = cluster.gates / "rolling"
    tpl = template(durations, gate=str(gate))
    cluster.open_gate(gate.name, "CREATE")
    stack_id = cluster["r1"].create_stack("rolling", tpl, parameters(cluster, 1))
    stack = cluster.settle(stack_id, "CREATE", 90)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]

    cluster["r2"].update_stack(stack_id, tpl, parameters(cluster, 2))
    # the replica driving the update first, while it pushes the deployments; then the others
    owner = cluster.owner(stack_id)
    for replica in [owner, *(r for r in cluster.replicas.values() if r is not owner)]:
        status = replica.terminate()
        log = replica.log.read_text(errors="replace")
        assert status == 0, f"{replica.name} exited {status}:\n{log[-3000:]}"
        assert "Traceback" not in log, log[-3000:]
        replica.start()
    during = cluster.read_stack(stack_id)
    assert during and during["stack_status"] == "UPDATE_IN_PROGRESS", (  # the gate held it
        f"{during and during['stack_status']}: {during and during['stack_status_reason']}; resources "
        f"{ {n: r['resource_status'] for n, r in cluster.any().resources(stack_id).items()} }\n{cluster.tails()}"
    )
    cluster.open_gate(gate.name, "UPDATE")
    stack = cluster.settle(stack_id, "UPDATE", 60)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]

    runs = cluster.runs()
    assert not twice(runs), twice(runs)
    ended = Counter((r.label, r.action) for r in runs if r.ended is not None)
    assert all(ended[(label(n, 2, "rolling"), "UPDATE")] == 1 for n in durations), ended
    check_signals_recorded(cluster, stack_id, stack, cluster["r3"])
    assert agent_errors(cluster.data_dir) == []


# -- 4. two replicas racing on one stack ----------------------------------------------------------


def test_two_replicas_started_at_once_on_a_stack_left_in_progress_run_each_hook_once(tmp_path):
    with own_database() as url:
        cluster = Cluster(tmp_path, url)
        try:
            cluster.start("r1")
            durations = {"d1": 0.1, "d2": 0.1, "d3": 0.1, "anchor": 0.1}
            gate = cluster.gates / "race"
            tpl = template(durations, gate=str(gate), gated="d1", chain=True)
            stack_id = cluster["r1"].create_stack("race", tpl, parameters(cluster, 1))
            wait_for(
                lambda: any(r.label == label("d1", 1, "race") for r in cluster.runs()), 60, message="d1's hook to start"
            )
            cluster["r1"].kill()  # before d1 signalled: d2, d3 and the anchor are still to be made

            cluster.start("r2", "r3")  # at the same moment, on the same stack
            began = time.monotonic()
            cluster.open_gate(gate.name, "CREATE")
            stack = cluster.settle(stack_id, "CREATE", OUTAGE_BOUND + 30)
            took = time.monotonic() - began
            assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
            assert took <= OUTAGE_BOUND, f"{took:.1f} s from the two starts to CREATE_COMPLETE"

            runs = cluster.runs()
            started = Counter((r.label, r.action) for r in runs)
            assert started == {(label(n, 1, "race"), "CREATE"): 1 for n in durations}, started
            check_signals_recorded(cluster, stack_id, stack, cluster["r2"])
            events = Counter(
                (e["resource_name"], e["resource_status"])
                for e in cluster["r3"].events(stack_id)
                if e["resource_status"].endswith("COMPLETE")
            )
            doubled = {key: n for key, n in events.items() if n > 1}
            assert not doubled, f"events written twice: {doubled}"
            print(f"two replicas raced; the stack completed {took:.2f} s after they started; runs: {dict(started)}")
        finally:
            cluster.close()
