"""A stack operation in memory: each resource's state (Snap) and what may start next (Run)."""
from __future__ import annotations

from engine.store.models import Resource as ResourceRow, Stack


class Snap:
    """In-memory state of one resource; the scheduler thread is its only writer."""

    __slots__ = ("row_id", "name", "type", "cls", "action", "status", "reason", "physical_id",
                 "attributes", "data", "requires", "waiting", "deadline", "dirty")

    def __init__(self, row: ResourceRow, cls):
        self.row_id, self.name, self.type, self.cls = row.id, row.name, row.type, cls
        self.action, self.status, self.reason = row.action, row.status, row.status_reason
        self.physical_id, self.attributes = row.physical_id, dict(row.attributes or {})
        self.data, self.requires = dict(row.data or {}), list(row.requires or [])
        self.waiting, self.deadline = row.waiting, row.deadline
        self.dirty = False

    def done_for(self, action: str) -> bool:
        return self.action == action and self.status == "COMPLETE"


class Run:
    """One stack operation (CREATE or DELETE) in progress.

    Readiness is tracked incrementally: `blocked[name]` counts the resources that must finish
    first (requirements for CREATE, dependents for DELETE), so finding the next resources to
    start costs nothing per step, even for a chain of a thousand.
    """

    def __init__(self, stack: Stack, definition, snaps: dict[str, Snap], running: set[str] | None = None):
        self.stack = stack
        self.definition = definition
        self.snaps = snaps
        self.action = stack.action
        self.running: set[str] = running if running is not None else set()
        self.finished = False
        self.failed = next((s for s in snaps.values() if s.action == self.action and s.status == "FAILED"), None)
        self.dependents: dict[str, list[str]] = {n: [] for n in snaps}
        for name, snap in snaps.items():
            for required in snap.requires:
                if required in self.dependents:
                    self.dependents[required].append(name)
        self.blocked = {name: sum(1 for b in self._blockers(name) if not self._cleared(b)) for name in snaps}
        self.queue = [n for n in snaps if self.blocked[n] == 0 and self._startable(n)]

    def _blockers(self, name: str) -> list[str]:
        if self.action == "DELETE":
            return self.dependents[name]
        return [r for r in self.snaps[name].requires if r in self.snaps]

    def _cleared(self, name: str) -> bool:
        return name not in self.running and self.snaps[name].done_for(self.action)

    def _startable(self, name: str) -> bool:
        snap = self.snaps[name]
        if name in self.running:
            return False
        if self.action == "DELETE":
            return snap.action != "DELETE"
        return snap.action == "INIT"

    def take_ready(self) -> list[str]:
        """The resources that may start now, each returned once."""
        ready = [n for n in self.queue if self._startable(n) and self.blocked[n] == 0]
        self.queue = []
        return ready

    def cleared(self, name: str) -> None:
        """`name` finished this operation's action: unblock what waited for it."""
        waiting_on_it = self.snaps[name].requires if self.action == "DELETE" else self.dependents[name]
        for other in waiting_on_it:
            if other in self.blocked:
                self.blocked[other] -= 1
                if self.blocked[other] == 0:
                    self.queue.append(other)

    def released(self, name: str) -> None:
        """`name` left the running set: if it still has this operation's action ahead of it
        (a create that finished during a delete), it may start now."""
        if self._startable(name) and self.blocked.get(name) == 0:
            self.queue.append(name)
