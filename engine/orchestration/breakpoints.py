"""Breakpoints: owns holding a resource at Heat's hooks (pre-/post-create, -update, -delete) and
releasing it; touches the run's snaps and the journal's events, nothing else.

The environment's resource_registry names them per resource (glob patterns), with
`restricted_actions` beside them. A held resource keeps the state it had, as in Heat; only an
event says it waits. `Steps` owns one `Breakpoints` and asks it before an action starts
(`hold`) and after one completes (`hold_after`); a user's signal clears it (`clear`).
"""

from __future__ import annotations

import fnmatch

from engine.orchestration.journal import Journal
from engine.orchestration.run import Run, Snap

HOOKS = {"create": "pre-create", "update": "pre-update", "delete": "pre-delete"}
POST_HOOKS = {"CREATE": "post-create", "UPDATE": "post-update", "DELETE": "post-delete"}


def _overrides(run: Run, name: str, key: str) -> list[list[str]]:
    """The `key` entries of every resource_registry pattern that matches resource `name`."""
    registry = run.definition.environment.resource_registry.get("resources") or {}
    found = []
    for pattern, overrides in registry.items():
        if fnmatch.fnmatchcase(name, pattern):
            values = (overrides or {}).get(key) or []
            found.append([values] if isinstance(values, str) else list(values))
    return found


def restricted_actions(run: Run, name: str) -> set[str]:
    """The actions the environment forbids on resource `name` (restricted_actions)."""
    return {action for actions in _overrides(run, name, "restricted_actions") for action in actions}


def hooked(run: Run, name: str, hook: str) -> bool:
    """Whether the environment sets breakpoint `hook` on resource `name`."""
    return any(hook in hooks for hooks in _overrides(run, name, "hooks"))


class Breakpoints:
    def __init__(self, journal: Journal):
        self.journal = journal

    def hold(self, run: Run, snap: Snap, verb: str, action: str) -> bool:
        """Before `verb` starts: hold the resource on its pre-hook unless this operation cleared it."""
        hook = HOOKS.get("update" if verb == "replace" else verb)
        if not hook or not hooked(run, snap.name, hook) or snap.engine.get("cleared") == [run.operation, hook]:
            return False
        self._pause(run, snap, hook, [verb, action], f"{action} paused until Hook {hook} is cleared")
        return True

    def hold_after(self, run: Run, snap: Snap) -> bool:
        """After an action completed: hold the resource (and so the stack) on its post-hook,
        as Heat's post-create, post-update and post-delete breakpoints do."""
        hook = POST_HOOKS.get(snap.action)
        if not hook or not hooked(run, snap.name, hook) or snap.engine.get("cleared") == [run.operation, hook]:
            return False
        self._pause(run, snap, hook, ["post", snap.action], f"{snap.action} paused until Hook {hook} is cleared")
        return True

    def clear(self, run: Run, snap: Snap, hook: str) -> list[str] | None:
        """A user cleared `hook`: the [verb, action] it held back ("post" after an action), or
        None when `snap` is not paused on it."""
        if snap.engine.get("hook") != hook:
            return None
        paused = snap.engine.pop("paused")
        snap.engine.pop("hook")
        snap.engine["cleared"] = [run.operation, hook]
        snap.waiting, snap.dirty = False, True
        self._event(run, snap, f"Hook {hook} is cleared")
        return list(paused)

    def _pause(self, run: Run, snap: Snap, hook: str, paused: list[str], reason: str) -> None:
        snap.engine["hook"] = hook
        snap.engine["paused"] = paused
        snap.waiting, snap.deadline, snap.dirty = True, None, True
        self._event(run, snap, reason)

    def _event(self, run: Run, snap: Snap, reason: str) -> None:
        self.journal.event(
            run.stack,
            snap.name,
            snap.type,
            snap.physical_id or snap.physical_name(run.stack.name),
            snap.action,
            snap.status,
            reason,
        )
