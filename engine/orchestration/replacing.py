"""Replacing: owns how an update replaces a resource, as Heat does; touches the run's snaps and
the journal, and acts through the Steps that own it (transition, dispatch, update, fail).

The new resource is made first under the same name, the old one kept aside
(`engine["backups"]`) and deleted once the operation has succeeded, or taken back by a later
update when the replacement failed. Handler outcomes of its phases come back through
`Steps.apply`, which hands them here by phase.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.orchestration.run import Run, Snap
from engine.resources.base import Done

if TYPE_CHECKING:  # the Steps own this object
    from engine.orchestration.journal import Journal
    from engine.orchestration.steps import Steps

log = logging.getLogger(__name__)
# The verb a handler runs and the action its resource shows, in each replacement phase.
REPLACING = {"replace-delete": "DELETE", "replace-create": "CREATE", "cleanup": "DELETE", "discard": "DELETE"}


class Replacing:
    def __init__(self, steps: Steps, types: dict, journal: Journal):
        self._steps = steps
        self.types = types
        self.journal = journal

    def replace(self, run: Run, snap: Snap) -> None:
        """Heat's order: the new resource is made first, under the same name; the old one is
        kept aside (`engine["backups"]`: its id, data and type) and deleted once the operation
        has succeeded (`cleanup`), or by a later update or the stack's delete."""
        old_type = snap.engine.pop("old_type", snap.type)
        if snap.physical_id is not None or snap.data:
            # With what a later update needs to take it back (_restorable): its state, what
            # it was made from and its short id.
            snap.engine["backups"] = [
                *(snap.engine.get("backups") or []),
                {
                    "physical_id": snap.physical_id,
                    "data": dict(snap.data),
                    "attributes": dict(snap.attributes),
                    "type": old_type,
                    "state": [snap.action, snap.status, snap.reason],
                    "digests": snap.engine.get("digests"),
                    "short_id": snap.engine.get("short_id"),
                },
            ]
        snap.physical_id, snap.data, snap.attributes = None, {}, {}
        snap.waiting, snap.deadline = False, None
        snap.engine["phase"] = "replace-create"
        snap.engine.pop("short_id", None)
        self._steps.transition(run, snap, "IN_PROGRESS", "state changed", action="CREATE")
        self._steps.dispatch(run, snap, "create")

    @staticmethod
    def restorable(run: Run, snap: Snap) -> bool:
        """Whether an update takes back the resource a failed replacement was to replace.

        Heat's convergence engine updates from the best resource it holds under the name, and
        a failed one ranks below the sound one it was replacing: after a replacement whose
        create failed, the next update deletes the failed one and goes on from the original
        (test_stack_update_replace_manual_rollback needs this; Heat's legacy engine would
        delete the original and create anew). A rollback keeps its own way."""
        backups = snap.engine.get("backups") or []
        return (
            run.action == "UPDATE"
            and snap.status == "FAILED"
            and bool(backups)
            and (backups[-1].get("state") or [None, None])[1] == "COMPLETE"
        )

    def discard(self, run: Run, snap: Snap) -> None:
        """Delete the failed replacement, with events (as the convergence engine does)."""
        failed_type = snap.engine.pop("old_type", snap.type)
        run.cleaning[snap.name] = snap.cls
        if failed_type != snap.type:
            snap.cls = run.definition.class_for(self.types, f"{snap.name} (failed)", failed_type)
        snap.engine["phase"] = "discard"
        self._steps.transition(run, snap, "IN_PROGRESS", "state changed", action="DELETE")
        self._steps.dispatch(run, snap, "delete")

    def discarded(self, run: Run, snap: Snap, outcome) -> None:
        """The failed replacement is gone: the original is the live resource again, as it was,
        and the update goes on from it. Should the delete fail, the resource and stack fail."""
        snap.engine.pop("phase", None)
        snap.cls = run.cleaning.pop(snap.name, snap.cls)
        snap.waiting, snap.deadline, snap.dirty = False, None, True
        if not isinstance(outcome, Done):
            self._steps.fail(run, snap, "DELETE", outcome)
            return
        self.journal.event(
            run.stack,
            snap.name,
            snap.type,
            snap.physical_id or snap.physical_name(run.stack.name),
            "DELETE",
            "COMPLETE",
            "state changed",
        )
        backups = snap.engine.get("backups") or []
        original = backups.pop()
        if not backups:
            snap.engine.pop("backups", None)
        snap.physical_id, snap.data = original["physical_id"], dict(original["data"])
        snap.attributes = dict(original["attributes"])
        snap.action, snap.status, snap.reason = original["state"]
        for key in ("digests", "short_id"):
            if original.get(key):
                snap.engine[key] = original[key]
            else:
                snap.engine.pop(key, None)
        if original["type"] != snap.type:
            snap.engine["old_type"] = original["type"]
        self._steps.update(run, snap)

    def clean_up(self, run: Run, snap: Snap) -> None:
        """Delete the last resource `snap` replaced, with no events (Heat deletes replaced
        resources in a backup stack): the snap holds the old one's state while it goes."""
        backups = snap.engine.get("backups") or []
        if not backups:
            run.cleared(snap.name)
            return
        old = backups[-1]
        snap.engine["live"] = {"physical_id": snap.physical_id, "data": snap.data, "attributes": snap.attributes}
        snap.physical_id, snap.data, snap.attributes = old["physical_id"], dict(old["data"]), {}
        snap.engine["phase"] = "cleanup"
        snap.engine["op"] = run.operation
        live_cls = snap.cls
        snap.cls = (
            run.definition.class_for(self.types, f"{snap.name} (replaced)", old["type"])
            if old["type"] != snap.type
            else snap.cls
        )
        run.cleaning[snap.name] = live_cls
        snap.dirty = True
        self._steps.dispatch(run, snap, "delete")

    def cleaned(self, run: Run, snap: Snap, outcome) -> None:
        """The replaced resource is gone (or could not be deleted: it stays recorded, for the
        next update or the stack's delete to try again); the snap is the live one again."""
        live = snap.engine.pop("live", None) or {}
        snap.engine.pop("phase", None)
        snap.physical_id = live.get("physical_id")
        snap.data, snap.attributes = dict(live.get("data") or {}), dict(live.get("attributes") or {})
        snap.waiting, snap.deadline = False, None
        snap.cls = run.cleaning.pop(snap.name, snap.cls)
        snap.dirty = True
        if isinstance(outcome, Done):
            snap.engine["backups"] = (snap.engine.get("backups") or [])[:-1]
            if not snap.engine["backups"]:
                snap.engine.pop("backups")
            else:
                self.clean_up(run, snap)
                return
        else:
            log.warning("could not delete the resource %s replaced: %s", snap.name, outcome)
        run.cleared(snap.name)

    def requires_replacement(self, run: Run, snap: Snap, asked: bool = False) -> None:
        """Heat's event when an update turns into a replacement (the old resource then goes
        without events of its own; the new one is created under the same name). When the type
        asked for it, Heat names the resource as its str() does."""
        who = (
            (f'{snap.cls.__name__} "{snap.name}" [{snap.physical_id}] Stack "{run.stack.name}" [{run.stack.id}]')
            if asked
            else snap.name
        )
        snap.status, snap.reason = "COMPLETE", f"The Resource {who} requires replacement."
        snap.dirty = True
        self.journal.event(run.stack, snap.name, snap.type, snap.physical_id, "UPDATE", "COMPLETE", snap.reason)
