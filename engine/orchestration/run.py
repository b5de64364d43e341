"""Runs: owns a stack operation in memory, each resource's state (Snap) and its phases (Run);
touches nothing but what it is given (the scheduler loads and stores it).

A Run goes through the phases of its action (PHASES) one after another; within a phase, a
`graph.Readiness` over the phase's resources says what may start next.
"""

from __future__ import annotations

import datetime as dt

from engine.orchestration.graph import Readiness
from engine.resources.names import reduced_name, short_id
from engine.store.models import Resource as ResourceRow, Stack

FORWARD, REVERSE = "forward", "reverse"

# The phases of each stack action: (direction, which resources, step). A forward phase starts a
# resource once everything it requires is done; a reverse phase once everything that requires it
# is. "defined" are the resources of the operation's template, "removed" the others.
PHASES = {
    "CREATE": [(FORWARD, "all", "create")],
    "ADOPT": [(FORWARD, "all", "create")],
    "DELETE": [(REVERSE, "all", "delete"), (REVERSE, "all", "cleanup")],
    "UPDATE": [(FORWARD, "defined", "update"), (REVERSE, "removed", "delete"), (REVERSE, "all", "cleanup")],
    "SUSPEND": [(REVERSE, "all", "suspend")],
    "RESUME": [(FORWARD, "all", "resume")],
    "CHECK": [(FORWARD, "all", "check")],
}
# Rolling back a create deletes everything it made; rolling back an update updates back.
ROLLBACK_OF = {"create": "DELETE", "update": "UPDATE"}


def phases_for(stack: Stack) -> list[tuple[str, str, str]]:
    action = stack.action
    if action == "ROLLBACK":
        action = ROLLBACK_OF[(stack.previous or {}).get("rollback", "create")]
    return PHASES[action]


class Snap:
    """In-memory state of one resource; the scheduler thread is its only writer."""

    __slots__ = (
        "action",
        "attributes",
        "cls",
        "data",
        "deadline",
        "dirty",
        "engine",
        "name",
        "physical_id",
        "reason",
        "requires",
        "row_id",
        "stack_id",
        "status",
        "type",
        "waiting",
    )

    def __init__(self, row: ResourceRow, cls):
        self.row_id, self.name, self.type, self.cls = row.id, row.name, row.type, cls
        self.stack_id = row.stack_id
        self.action, self.status, self.reason = row.action, row.status, row.status_reason
        self.physical_id, self.attributes = row.physical_id, dict(row.attributes or {})
        self.data, self.engine = dict(row.data or {}), dict(row.engine or {})
        self.requires = list(row.requires or [])
        self.waiting, self.deadline = row.waiting, row.deadline
        self.dirty = False

    def physical_name(self, stack_name: str) -> str:
        """Heat's physical resource name, `<stack>-<resource>-<short id>`: what a type without a
        real-world name takes as its physical id, and what events show before it has one. The
        short id is drawn once per incarnation (a replacement draws a new one) and kept."""
        short = self.engine.get("short_id")
        if not short:
            short = self.engine["short_id"] = short_id()
            self.dirty = True
        return reduced_name(f"{stack_name.rstrip('*')}-{self.name}-{short}")

    @property
    def wake_at(self) -> dt.datetime | None:
        """When a waiting resource is to be checked again whether or not a signal came
        (Waiting.wake_at): kept with the scheduler's bookkeeping, so it survives a restart."""
        value = self.engine.get("wake_at")
        return dt.datetime.fromisoformat(value) if value else None

    @wake_at.setter
    def wake_at(self, value: dt.datetime | None) -> None:
        if value is None:
            if self.engine.pop("wake_at", None) is not None:
                self.dirty = True
        else:
            self.engine["wake_at"] = value.isoformat()
            self.dirty = True

    @property
    def runs_to_end(self) -> bool:
        """A wait for a time that a cancel leaves to run to its end (not an interruptible one)."""
        return self.wake_at is not None and not self.engine.get("interruptible")

    @property
    def exists(self) -> bool:
        """Whether there is something to update, suspend or delete."""
        return not (self.action == "INIT" or (self.action == "DELETE" and self.status == "COMPLETE"))


class Run:
    """One stack operation in progress, as ordered phases over the stack's resources.

    Each phase tracks what may start with a `Readiness` (engine.orchestration.graph), so finding
    the next resources to start costs nothing per step, even for a chain of a thousand. A
    resource is done for this operation when its `engine["op"]` is this operation's number and
    its status is COMPLETE.
    """

    def __init__(self, stack: Stack, definition, snaps: dict[str, Snap], running: set[str] | None = None):
        self.stack = stack
        self.definition = definition
        self.snaps = snaps
        self.action = stack.action
        self.operation = stack.operation
        self.running: set[str] = running if running is not None else set()
        self.woken: set[str] = set()  # woken while their handler was still running
        self.finished = False
        # A user's cancel: "rollback" or "stop". Nothing new starts; what runs finishes first.
        self.cancelled: str | None = None
        # The stack's failure when no resource's own failure says it (an invalid state).
        self.failure: str | None = None
        # A check goes on past failures and reports them all (Heat aggregates them).
        self.check_failures: list[str] = []
        # Resources deleting what they replaced: the class of the live resource, to restore.
        self.cleaning: dict[str, object] = {}
        self.failed = next(
            (s for s in snaps.values() if s.status == "FAILED" and s.engine.get("op") == self.operation), None
        )
        # The stack's reason when it is not "Resource ACTION failed: ..." (a restricted action).
        self.failure_reason: str | None = None
        defined = set(definition.template.resources) if definition is not None else set(snaps)
        groups = {
            "all": list(snaps),
            "defined": [n for n in snaps if n in defined],
            "removed": [n for n in snaps if n not in defined],
        }
        self.phases = [(direction, groups[which], step) for direction, which, step in phases_for(stack)]
        self.phase = -1
        self.step = ""
        self._next_phase()

    @property
    def draining(self) -> bool:
        """A cancelled operation whose timed actions still run to their end (Waiting.wake_at)."""
        return self.finished and any(s.waiting and s.runs_to_end for s in self.snaps.values())

    def done(self, name: str) -> bool:
        snap = self.snaps[name]
        return (
            name not in self.running
            and not snap.waiting
            and snap.status == "COMPLETE"
            and snap.engine.get("op") == self.operation
        )

    def _next_phase(self) -> None:
        while self.phase + 1 < len(self.phases):
            self.phase += 1
            direction, names, self.step = self.phases[self.phase]
            if self.step == "cleanup":  # what a replacement left to delete
                pending = {n for n in names if self.snaps[n].engine.get("backups")}
            else:
                pending = {n for n in names if not self.done(n)}
            self.readiness = Readiness(
                {n: self.snaps[n].requires for n in names}, pending, reverse=direction == REVERSE
            )
            if self.readiness.pending:
                return
        self.readiness = Readiness({}, ())

    @property
    def pending(self) -> set[str]:
        """The resources of the current phase not done yet."""
        return self.readiness.pending

    @property
    def complete(self) -> bool:
        """Every phase is done."""
        return self.phase >= len(self.phases) - 1 and not self.pending

    def take_ready(self) -> list[str]:
        """The resources that may start now, each returned once; moves on when a phase is done."""
        if not self.pending and not self.complete:
            self._next_phase()
        return [n for n in self.readiness.take() if n not in self.running and not self.snaps[n].waiting]

    def cleared(self, name: str) -> None:
        """`name` is done with this operation: unblock what waited for it."""
        self.readiness.done(name)

    def cut_off(self, name: str) -> None:
        """`name` failed and the operation goes on without it and without what depends on it,
        as Heat's check cancels the dependents of a failed resource: they are left untouched."""
        self.readiness.cut_off(name)

    def released(self, name: str) -> None:
        """`name` left the running set without finishing (superseded work): it may start again."""
        if name in self.pending and not self.done(name):
            self.readiness.again(name)
