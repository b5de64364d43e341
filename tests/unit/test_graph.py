"""Tests for engine.orchestration.graph: cycles with their members, and readiness phase by phase."""

from __future__ import annotations

import time

import pytest

from engine.errors import DependencyCycle
from engine.orchestration.graph import Graph, Readiness

# server needs port and volume; port needs network; config stands alone.
STACK = {"server": ["port", "volume"], "port": ["network"], "network": [], "volume": [], "config": []}


def test_a_requirement_never_declared_is_a_node_without_requirements():
    Graph({"b": ["z"], "a": []}).check_acyclic()
    with pytest.raises(DependencyCycle) as caught:
        Graph({"b": ["z"], "a": ["b"], "z": ["b"]}).check_acyclic()
    assert caught.value.members == ["b", "z"]


def test_the_cycle_reported_does_not_depend_on_set_iteration():
    with pytest.raises(DependencyCycle) as caught:
        Graph({"x": {"c", "b", "a"}, "a": [], "b": ["x"], "c": ["x"]}).check_acyclic()
    assert caught.value.members == ["x", "b"]


@pytest.mark.parametrize(
    "requires, members",
    [
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c"]),
        ({"x": ["c"], "c": ["a"], "a": ["b"], "b": ["c"]}, ["c", "a", "b"]),
        ({"a": ["a"]}, ["a"]),
        ({"ok": [], "p": ["q"], "q": ["p"]}, ["p", "q"]),
    ],
)
def test_check_acyclic_reports_members_in_cycle_order(requires, members):
    with pytest.raises(DependencyCycle) as caught:
        Graph(requires).check_acyclic(file="web.yaml")
    assert caught.value.members == members
    assert caught.value.file == "web.yaml"


def test_acyclic_graph_passes_and_a_cycle_is_said_in_heats_words():
    Graph(STACK).check_acyclic()
    with pytest.raises(DependencyCycle) as caught:
        Graph({"a": ["b"], "b": ["a"], "c": []}).check_acyclic()
    assert str(caught.value) == "template: resources: Circular Dependency Found: a -> b -> a"


def test_forward_readiness_steps_through_the_stack():
    ready = Readiness(STACK, STACK)
    assert ready.take() == ["network", "volume", "config"]
    assert ready.take() == []
    ready.done("network")
    assert ready.take() == ["port"]
    ready.done("volume")
    ready.done("config")
    assert ready.take() == []
    ready.done("port")
    assert ready.take() == ["server"]
    ready.done("server")
    assert ready.pending == set()


def test_reverse_readiness_is_the_delete_order():
    ready = Readiness(STACK, STACK, reverse=True)
    assert ready.take() == ["server", "config"]
    ready.done("server")
    # Freed at once: in the order the server names them.
    assert ready.take() == ["port", "volume"]
    ready.done("port")
    assert ready.take() == ["network"]


def test_what_is_not_pending_is_done_already_and_outside_requirements_do_not_count():
    ready = Readiness({"port": ["network"], "server": ["port", "elsewhere"]}, {"server"})
    assert ready.take() == ["server"]
    assert Readiness(STACK, {"server", "port"}).take() == ["port"]


def test_done_twice_or_of_what_is_not_pending_frees_nothing_again():
    ready = Readiness(STACK, STACK)
    ready.take()
    ready.done("network")
    ready.done("network")
    ready.done("nothing")
    assert ready.take() == ["port"]


def test_cut_off_leaves_out_everything_that_waits_for_the_node():
    ready = Readiness(STACK, STACK)
    assert ready.take() == ["network", "volume", "config"]
    ready.cut_off("network")
    assert ready.pending == {"volume", "config"}
    ready.done("volume")
    assert ready.take() == []


def test_again_offers_a_taken_node_once_more_only_while_it_is_free():
    ready = Readiness(STACK, STACK)
    assert ready.take() == ["network", "volume", "config"]
    ready.again("volume")
    ready.again("server")  # still waits for port and volume
    assert ready.take() == ["volume"]
    ready.done("volume")
    ready.again("volume")  # done: not pending any more
    assert ready.take() == []


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# Linear work, not a speed test: at this size a quadratic step takes minutes (400 million
# operations) and linear work a few tens of milliseconds, so the generous bound never trips on a
# loaded machine and always on a quadratic regression (speed itself: bench/stack_create.py).
NODES = 20_000
BOUND = 5.0


@pytest.mark.parametrize("shape", ["chain", "fan_out", "fan_in"])
def test_many_nodes_take_linear_work(shape):
    names = [f"n{number}" for number in range(NODES)]
    requires = {
        "chain": {name: names[number - 1 : number] for number, name in enumerate(names)},
        "fan_out": {name: ([] if number == 0 else [names[0]]) for number, name in enumerate(names)},
        "fan_in": {name: (names[1:] if number == 0 else []) for number, name in enumerate(names)},
    }[shape]
    graph = Graph(requires)
    assert timed(graph.check_acyclic) < BOUND

    def run_through() -> int:
        ready, count = Readiness(requires, requires), 0
        while batch := ready.take():
            for name in batch:
                ready.done(name)
                count += 1
        return count

    assert timed(run_through) < BOUND
    assert run_through() == NODES


def test_a_long_cycle_is_found_without_recursion():
    names = [f"n{number}" for number in range(5000)]
    requires = {name: [names[(number + 1) % 5000]] for number, name in enumerate(names)}
    with pytest.raises(DependencyCycle) as caught:
        Graph(requires).check_acyclic()
    assert caught.value.members == names
