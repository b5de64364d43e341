"""Tests for engine.orchestration.run: a Run's phases and what each lets start, from literals alone."""

from __future__ import annotations

from types import SimpleNamespace

from engine.orchestration.run import PHASES, Run, Snap, phases_for
from engine.store.models import Resource as ResourceRow, Stack

# server needs port and volume; port needs network; config stands alone.
STACK = {"network": [], "port": ["network"], "volume": [], "server": ["port", "volume"], "config": []}


def stack(action: str, previous: dict | None = None) -> Stack:
    return Stack(id="s", name="web", action=action, status="IN_PROGRESS", operation=2, previous=previous)


def snaps(requires: dict[str, list[str]], **states: tuple[str, str, int]) -> dict[str, Snap]:
    """A snap per resource, INIT unless `states` gives its (action, status, operation)."""
    made = {}
    for number, (name, needs) in enumerate(requires.items()):
        action, status, op = states.get(name, ("INIT", "COMPLETE", 0))
        made[name] = Snap(
            ResourceRow(
                id=number,
                stack_id="s",
                name=name,
                type="OS::Heat::None",
                action=action,
                status=status,
                status_reason="",
                physical_id=None,
                attributes={},
                data={},
                engine={"op": op},
                requires=needs,
                waiting=False,
                deadline=None,
            ),
            None,
        )
    return made


def template(*names: str):
    """What a Run reads of a definition: the names of its template's resources."""
    return SimpleNamespace(template=SimpleNamespace(resources=dict.fromkeys(names)))


def drive(run: Run) -> list[tuple[str, list[str]]]:
    """Every batch the run lets start, with its step, each resource done as soon as it starts
    (a phase with nothing to do lets nothing start)."""
    batches = []
    while not run.complete:
        ready = run.take_ready()
        if ready:
            batches.append((run.step, ready))
        for name in ready:
            snap = run.snaps[name]
            snap.status, snap.engine["op"] = "COMPLETE", run.operation
            run.cleared(name)
    return batches


def test_a_create_starts_each_resource_once_what_it_requires_is_done():
    run = Run(stack("CREATE"), None, snaps(STACK))
    assert drive(run) == [("create", ["network", "volume", "config"]), ("create", ["port"]), ("create", ["server"])]


def test_a_delete_goes_in_reverse_then_cleans_up_nothing_left_to_clean():
    run = Run(stack("DELETE"), None, snaps(STACK))
    assert drive(run) == [("delete", ["server", "config"]), ("delete", ["port", "volume"]), ("delete", ["network"])]


def test_an_update_updates_what_the_template_has_then_deletes_the_rest_in_reverse():
    requires = {**STACK, "old": ["network"]}
    run = Run(stack("UPDATE"), template(*STACK), snaps(requires))
    assert drive(run) == [
        ("update", ["network", "volume", "config"]),
        ("update", ["port"]),
        ("update", ["server"]),
        ("delete", ["old"]),
    ]


def test_what_this_operation_did_already_is_not_done_again():
    done = ("CREATE", "COMPLETE", 2)
    run = Run(stack("CREATE"), None, snaps(STACK, network=done, port=done, volume=done))
    assert drive(run) == [("create", ["server", "config"])]


def test_the_cleanup_phase_takes_only_what_a_replacement_left():
    made = snaps(STACK)
    made["port"].engine["backups"] = [{"physical_id": "old-port"}]
    run = Run(stack("UPDATE"), template(*STACK), made)
    assert [batch for batch in drive(run) if batch[0] == "cleanup"] == [("cleanup", ["port"])]


def test_a_rollback_of_a_create_deletes_and_of_an_update_updates_back():
    assert phases_for(stack("ROLLBACK", {"rollback": "create"})) == PHASES["DELETE"]
    assert phases_for(stack("ROLLBACK", {"rollback": "update"})) == PHASES["UPDATE"]


def test_running_and_waiting_resources_are_not_offered_until_released():
    run = Run(stack("CREATE"), None, snaps(STACK), running={"network"})
    run.snaps["volume"].waiting = True
    assert run.take_ready() == ["config"]
    run.running.discard("network")
    run.released("network")
    assert run.take_ready() == ["network"]


def test_a_cut_off_resource_takes_what_depends_on_it_out_of_the_operation():
    run = Run(stack("CHECK"), None, snaps(STACK))
    assert run.take_ready() == ["network", "volume", "config"]
    run.cut_off("network")
    for name in ("volume", "config"):
        run.cleared(name)
    assert run.take_ready() == [] and run.complete
