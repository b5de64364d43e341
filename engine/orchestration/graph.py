"""A pure dependency graph of named nodes: cycles reported with their members, stable orders, and what is ready to run."""
from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from engine.errors import DependencyCycle


class Graph:
    """Nodes and what each requires. Orders are stable: ties go in insertion order.

    A node named only as a requirement is added after the declared nodes, with no
    requirements of its own.
    """

    def __init__(self, requires: Mapping[str, Iterable[str]]):
        declared = {node: list(targets) for node, targets in requires.items()}
        index: dict[str, int] = {node: number for number, node in enumerate(declared)}
        for targets in declared.values():
            for target in targets:
                index.setdefault(target, len(index))
        self._index = index
        self._nodes = list(index)
        # Requirements are kept in node order, so that nothing depends on set iteration order.
        self._requires = {node: tuple(sorted(set(declared.get(node, ())), key=index.__getitem__))
                          for node in self._nodes}
        self._required_by: dict[str, list[str]] = {node: [] for node in self._nodes}
        for node in self._nodes:
            for target in self._requires[node]:
                self._required_by[target].append(node)

    def __contains__(self, node: object) -> bool:
        return node in self._index

    def __len__(self) -> int:
        return len(self._nodes)

    def nodes(self) -> list[str]:
        return list(self._nodes)

    def requires(self, node: str) -> set[str]:
        return set(self._requires[node])

    def required_by(self, node: str) -> set[str]:
        return set(self._required_by[node])

    def check_acyclic(self, file: str | None = None) -> None:
        """Raise DependencyCycle with the members of a cycle, in the order they require each other.

        The cycle is rotated to start at its earliest node, so the same graph always reports
        the same words. Iterative, so a long chain cannot exhaust the stack.
        """
        finished: set[str] = set()
        for root in self._nodes:
            if root in finished:
                continue
            trail = [root]  # the path from root to the node being explored
            on_trail = {root: 0}
            pending = [iter(self._requires[root])]
            while pending:
                for target in pending[-1]:
                    if target in on_trail:
                        raise DependencyCycle(self._rotated(trail[on_trail[target]:]), file=file)
                    if target not in finished:
                        on_trail[target] = len(trail)
                        trail.append(target)
                        pending.append(iter(self._requires[target]))
                        break
                else:
                    pending.pop()
                    done = trail.pop()
                    del on_trail[done]
                    finished.add(done)

    def _rotated(self, cycle: list[str]) -> list[str]:
        start = min(range(len(cycle)), key=lambda position: self._index[cycle[position]])
        return cycle[start:] + cycle[:start]

    def topological_order(self) -> list[str]:
        """Every node after all it requires; among nodes free at once, insertion order first."""
        waiting = {node: len(targets) for node, targets in self._requires.items()}
        free = [self._index[node] for node, count in waiting.items() if count == 0]
        heapq.heapify(free)
        order = []
        while free:
            node = self._nodes[heapq.heappop(free)]
            order.append(node)
            for dependent in self._required_by[node]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    heapq.heappush(free, self._index[dependent])
        if len(order) < len(self._nodes):
            self.check_acyclic()
        return order

    def ready(self, done: set[str], started: set[str]) -> list[str]:
        """Nodes not started (nor done) whose requirements are all done, in insertion order."""
        return [node for node in self._nodes if self._is_ready(node, done, started)]

    def ready_after(self, node: str, done: set[str], started: set[str]) -> list[str]:
        """The dependents of `node` that are ready now; call it when `node` has just been done."""
        return [dependent for dependent in self._required_by[node]
                if self._is_ready(dependent, done, started)]

    def _is_ready(self, node: str, done: set[str], started: set[str]) -> bool:
        return (node not in started and node not in done
                and all(target in done for target in self._requires[node]))

    def reverse(self) -> Graph:
        """The graph for deleting: each node requires the nodes that required it."""
        return Graph({node: self._required_by[node] for node in self._nodes})
