"""Dependencies of named nodes: owns cycle detection (Graph) and incremental readiness (Readiness);
pure, it touches nothing (no I/O, no clock, no store).

Templates check their resources and conditions with `Graph.check_acyclic`; each phase of a run
(engine.orchestration.run) orders its resources with a `Readiness`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine.errors import DependencyCycle


class Graph:
    """Nodes and what each requires, checked for cycles; the same graph always reports the same
    cycle in the same words.

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
        self._requires = {
            node: tuple(sorted(set(declared.get(node, ())), key=index.__getitem__)) for node in self._nodes
        }

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
                        raise DependencyCycle(self._rotated(trail[on_trail[target] :]), file=file)
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


class Readiness:
    """Which nodes of one phase may start, kept up to date as each is done, at no cost per step
    (a chain of a thousand is as cheap as a thousand independent nodes).

    `requires` maps each node to what it requires, in the order that decides which of several
    nodes freed at once comes first; requirements outside the phase's nodes do not count.
    Forward, a node may start once everything it requires is done; `reverse` (deleting), once
    everything that requires it is. Only `pending` nodes are waited for: the others are done.
    """

    def __init__(self, requires: Mapping[str, Iterable[str]], pending: Iterable[str], reverse: bool = False):
        nodes = list(requires)
        members = set(nodes)
        self.pending = set(pending)
        self._unblocks: dict[str, list[str]] = {node: [] for node in nodes}
        blockers: dict[str, list[str]] = {node: [] for node in nodes}
        for node in nodes:
            for target in requires[node]:
                if target in members:
                    first, then = (node, target) if reverse else (target, node)
                    self._unblocks[first].append(then)
                    blockers[then].append(first)
        self._blocked = {node: sum(1 for b in blockers[node] if b in self.pending) for node in nodes}
        self._queue = [node for node in nodes if node in self.pending and self._blocked[node] == 0]

    def take(self) -> list[str]:
        """The pending nodes freed since the last call, in the order they were freed."""
        ready = [node for node in self._queue if node in self.pending and self._blocked[node] == 0]
        self._queue = []
        return ready

    def done(self, node: str) -> None:
        """`node` is done: free what waited only for it."""
        if node not in self.pending:
            return
        self.pending.discard(node)
        for other in self._unblocks.get(node, ()):
            if other in self._blocked:
                self._blocked[other] -= 1
                if self._blocked[other] == 0:
                    self._queue.append(other)

    def cut_off(self, node: str) -> None:
        """`node` and everything waiting for it, however indirectly, are no longer pending (nor
        freed): they are left out of the phase."""
        left = [node]
        while left:
            other = left.pop()
            if other in self.pending:
                self.pending.discard(other)
                left.extend(self._unblocks.get(other, ()))

    def again(self, node: str) -> None:
        """`node`, taken but not done, is offered again by the next `take` if it is still free."""
        if node in self.pending and self._blocked.get(node) == 0:
            self._queue.append(node)
