"""Tests for engine.orchestration.graph: cycles with members, stable orders, readiness and reversal."""
from __future__ import annotations

import time

import pytest

from engine.errors import DependencyCycle
from engine.orchestration.graph import Graph

# server needs port and volume; port needs network; config stands alone.
STACK = {"server": ["port", "volume"], "port": ["network"], "network": [], "volume": [], "config": []}


def test_nodes_in_insertion_order_with_undeclared_requirements_last():
    graph = Graph({"b": ["z"], "a": []})
    assert graph.nodes() == ["b", "a", "z"]
    assert graph.requires("z") == set() and "z" in graph and len(graph) == 3


def test_requires_and_required_by():
    graph = Graph(STACK)
    assert graph.requires("server") == {"port", "volume"}
    assert graph.required_by("network") == {"port"}
    assert graph.required_by("server") == set()


def test_topological_order_is_stable():
    assert Graph(STACK).topological_order() == ["network", "port", "volume", "server", "config"]
    assert Graph({"c": [], "b": [], "a": []}).topological_order() == ["c", "b", "a"]


def test_order_does_not_depend_on_set_iteration():
    first = Graph({"x": {"a", "b", "c"}, "a": [], "b": [], "c": []})
    assert first.topological_order() == ["a", "b", "c", "x"]


@pytest.mark.parametrize("requires, members", [
    ({"a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c"]),
    ({"x": ["c"], "c": ["a"], "a": ["b"], "b": ["c"]}, ["c", "a", "b"]),
    ({"a": ["a"]}, ["a"]),
    ({"ok": [], "p": ["q"], "q": ["p"]}, ["p", "q"]),
])
def test_check_acyclic_reports_members_in_cycle_order(requires, members):
    with pytest.raises(DependencyCycle) as caught:
        Graph(requires).check_acyclic(file="web.yaml")
    assert caught.value.members == members
    assert caught.value.file == "web.yaml"


def test_acyclic_graph_passes_and_cyclic_order_raises():
    Graph(STACK).check_acyclic()
    with pytest.raises(DependencyCycle) as caught:
        Graph({"a": ["b"], "b": ["a"], "c": []}).topological_order()
    assert str(caught.value) == 'template: resources: Circular Dependency Found: a -> b -> a'


def test_ready_steps_through_the_stack():
    graph = Graph(STACK)
    assert graph.ready(set(), set()) == ["network", "volume", "config"]
    assert graph.ready(set(), {"network", "volume", "config"}) == []
    assert graph.ready({"network"}, {"network", "volume", "config"}) == ["port"]
    assert graph.ready({"network", "port", "volume", "config"}, {"network", "port", "volume", "config"}) == ["server"]


def test_ready_after_returns_dependents_that_became_ready():
    graph = Graph(STACK)
    assert graph.ready_after("network", {"network"}, {"network", "volume"}) == ["port"]
    assert graph.ready_after("port", {"network", "port"}, {"network", "port", "volume"}) == []
    assert graph.ready_after("volume", {"network", "port", "volume"}, {"network", "port", "volume"}) == ["server"]


def test_reverse_is_the_delete_order():
    reverse = Graph(STACK).reverse()
    assert reverse.requires("network") == {"port"}
    assert reverse.requires("server") == set()
    assert reverse.topological_order() == ["server", "port", "network", "volume", "config"]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


@pytest.mark.parametrize("shape", ["chain", "fan_out", "fan_in"])
def test_a_thousand_nodes_are_fast(shape):
    names = [f"n{number}" for number in range(1000)]
    requires = {
        "chain": {name: names[number - 1:number] for number, name in enumerate(names)},
        "fan_out": {name: ([] if number == 0 else [names[0]]) for number, name in enumerate(names)},
        "fan_in": {name: (names[1:] if number == 0 else []) for number, name in enumerate(names)},
    }[shape]
    graph = Graph(requires)
    assert timed(graph.check_acyclic) < 0.05
    assert timed(graph.topological_order) < 0.05
    assert timed(lambda: graph.ready(set(), set())) < 0.05
    assert len(graph.topological_order()) == 1000


def test_a_long_cycle_is_found_without_recursion():
    names = [f"n{number}" for number in range(5000)]
    requires = {name: [names[(number + 1) % 5000]] for number, name in enumerate(names)}
    with pytest.raises(DependencyCycle) as caught:
        Graph(requires).check_acyclic()
    assert caught.value.members == names
