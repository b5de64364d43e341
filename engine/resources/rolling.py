"""Batched changes of a group's nested stack (rolling update, batch create) as Heat computes them,
paused between batches and gated on the members' health; the formulas are pure, `Rollout` acts
only through `runtime.stacks`.

Heat's formulas (heat.scaling.rolling_update, heat.scaling.template.member_definitions and the
groups' `_get_batches`) decide each batch's size and which members get the new definition.
Each batch is one update of the nested stack. Between batches the group waits `pause_time`
seconds without holding a thread: it returns `Waiting(wake_at=...)`, a moment the store keeps.
A batch whose members fail stops the rollout and fails the group (naming the batch and the
members), unless `max_errors` / `max_error_percent` (a Hearth addition) tolerate that many
failed members in the whole rollout: a tolerated member gets its old definition back in the
next step, and the rollout goes on.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from engine.errors import ResourceFailure
from engine.resources.base import Waiting
from engine.resources.schema import Prop
from engine.resources.stack_resource import NESTED_ACTION, StackResource, nested_failure

# The resource's data keys: the steps still to run (each one nested-stack update), and the batch
# in flight (its number, the members it changes, those failed before it, the failures
# tolerated so far, the end of the pause before the next).
STEPS = "batches"
BATCH = "batch"
# Heat's words when the pauses alone would outlast the stack's timeout (InstanceGroup and
# ResourceGroup `_update_timeout`).
TIMEOUT_MESSAGE = "The current update policy will result in stack update timeout."
# The keys Hearth adds to rolling_update / rolling_updates: how many members may fail in the
# rollout and it still go on (0: none, Heat's behaviour).
HEALTH_FIELDS = {
    "max_errors": Prop(
        "integer", "members that may fail in the rollout and it still go on (Hearth; 0: none)", min=0, hidden=True
    ),
    "max_error_percent": Prop(
        "number", "the same as a percentage of the members the rollout changes (Hearth)", min=0, max=100, hidden=True
    ),
}


def needs_update(target: int, capacity: int, updated: int) -> bool:
    """Whether more batches are due (Heat's rolling_update.needs_update)."""
    return not (updated >= capacity == target)


def next_batch(target: int, capacity: int, updated: int, batch_size: int, min_in_service: int) -> tuple[int, int]:
    """(the group's size after the next batch, how many members get the new definition in it),
    Heat's rolling_update.next_batch."""
    effective_min = min(min_in_service, target, capacity)
    size = min(batch_size, max(target - updated, 0))
    return size + max(min(capacity, target - size), effective_min), size


def member_definitions(
    old: list[tuple[str, dict]], new_definition: dict, count: int, num_new: int, new_names: Callable[[int], list[str]]
) -> list[tuple[str, dict]]:
    """Heat's template.member_definitions: `count` members from `old` (in the order they are
    replaced and removed: the first go first), of which `num_new` (new members included) get
    `new_definition`. `new_names(n)` names n new members (appended in that order)."""
    kept = old[len(old) - count :] if count < len(old) else list(old)
    num_create = count - len(kept)
    num_replace = num_new - num_create
    members = []
    for name, definition in kept:
        if definition != new_definition and num_replace > 0:
            num_replace -= 1
            definition = new_definition
        members.append((name, definition))
    return members + [(name, new_definition) for name in new_names(num_create)]


def scaling_batches(
    current: list[tuple[str, dict]],
    new_definition: dict,
    target: int,
    batch_size: int,
    min_in_service: int,
    new_names: Callable[[int], list[str]],
) -> list[list[tuple[str, dict]]]:
    """The members after each batch of a scaling group's rolling update, as Heat's
    InstanceGroup._replace makes them: `current` in Heat's order (failed first, then by
    creation), each batch from next_batch, counting every member a batch gives the new
    definition as updated (InstanceGroup._get_batches).

    A member that gets the new definition counts as made anew for the next batches (last in
    the order), as a replaced member does in Heat (its created_time is new); Heat keeps a
    member updated in place where it was, so that a batch shrinking the group could remove it
    and keep one with the old definition, which this does not do.
    """
    plans = []
    members, capacity, updated = list(current), len(current), 0
    while needs_update(target, capacity, updated):
        capacity, size = next_batch(target, capacity, updated, batch_size, min_in_service)
        before = dict(members)
        members = member_definitions(members, new_definition, capacity, size, new_names)
        plans.append(members)
        fresh = [(n, d) for n, d in members if n not in before or before[n] != d]
        members = [(n, d) for n, d in members if n in before and before[n] == d] + fresh
        updated += size
    return plans


def changed_members(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The members a batch creates or gives a new definition, in the batch's order."""
    return [name for name, definition in after.items() if before.get(name) != definition]


def pauses_refused(batch_count: int, pause: float, timeout_secs: float | None) -> bool:
    """Heat's `_update_timeout`: the pauses between the batches alone reach the stack's timeout."""
    return timeout_secs is not None and pause * max(batch_count - 1, 0) >= timeout_secs


def tolerated(failed: int, changed: int, policy: dict[str, Any]) -> bool:
    """Whether a rollout whose members failed `failed` times so far (of the `changed` members it
    gives the new definition) may go on: at most max_errors, or max_error_percent of them."""
    allowed = max(
        int(policy.get("max_errors") or 0),
        math.floor(float(policy.get("max_error_percent") or 0) * changed / 100),
    )
    return failed <= allowed


def step(template: dict, before: dict[str, Any], index: int | None, pause: float, **more: Any) -> dict[str, Any]:
    """One nested-stack update of a rollout: its template, the members it changes from their
    definitions `before` it, its batch number (None for a step that is no batch: a scaling
    group's resize), the seconds to wait before it."""
    changed = changed_members(before, template.get("resources") or {})
    return {"template": template, "changed": changed, "index": index, "pause": pause, **more}


def restored(template: dict, old: dict[str, Any]) -> dict:
    """`template` with the members named in `old` given back their definitions there."""
    members = template.get("resources") or {}
    return {**template, "resources": {n: old[n] if n in old else d for n, d in members.items()}}


class Rollout(StackResource):
    """A group owning a nested stack that it changes in batches: the pause before a step, the
    health gate after a batch. The group's `nested()` keeps `STEPS` (the steps after the first)
    and `BATCH` (see `batch`) in the resource's data."""

    def batch(
        self, section: str, steps: list[dict], policy: dict[str, Any], original: dict[str, Any], started: bool
    ) -> dict[str, Any]:
        """The resource's `BATCH` data for a rollout of `steps` under `policy` (the
        rolling_update section) from the members' `original` definitions, its first step
        `started` now or not."""
        batches = [s for s in steps if s.get("index")]
        batch = {
            "section": section,
            "count": len(batches),
            "planned": len({n for s in batches for n in s["changed"]}),
            "policy": dict(policy),
            "original": dict(original),
            "tolerated": [],
            "pause_until": None,
            "index": None,
        }
        if started and steps:
            batch.update(self.starting(self.state.physical_id, steps[0]))
        return batch

    def starting(self, child: str | None, following: dict[str, Any]) -> dict[str, Any]:
        """What `BATCH` records of a step about to start: its number, its template, whether it is
        the retry after the last batch, the members failed before it (their failing again is
        not its doing)."""
        states = self.runtime.stacks.resource_states(child) if child else {}
        return {
            "index": following.get("index"),
            "template": following.get("template"),
            "retry": bool(following.get("retry")),
            "failed_before": [n for n, state in states.items() if failed_itself(*state)],
            "pause_until": None,
        }

    def refuse_long_pauses(self, batch_count: int, pause: float, timeout_mins: float | None) -> None:
        """Heat's refusal of a policy whose pauses alone would reach the stack's timeout."""
        if pauses_refused(batch_count, pause, None if timeout_mins is None else timeout_mins * 60):
            raise self.fail(TIMEOUT_MESSAGE, kind="ValueError")

    def next_step(self, child: str, data: dict[str, Any]) -> dict[str, Any] | Waiting | None:
        steps = list(data.get(STEPS) or [])
        if not steps:
            return None
        following = steps[0]
        batch = dict(data.get(BATCH) or {})
        pause = float(following.get("pause") or 0)
        if pause > 0:
            if not batch.get("pause_until"):
                moment = self.runtime.now() + dt.timedelta(seconds=pause)
                batch["pause_until"] = moment.isoformat()
                return Waiting(physical_id=child, data={**data, BATCH: batch}, wake_at=moment, interruptible=True)
            moment = dt.datetime.fromisoformat(batch["pause_until"])
            if self.runtime.now() < moment:
                return Waiting(physical_id=child, data=data, wake_at=moment, interruptible=True)
        batch.update(self.starting(child, following))
        self.runtime.stacks.update(
            child,
            template=following["template"],
            template_name=f"{self.state.name}",
            environment=None,
            parameters={},
            timeout_mins=self.remaining_minutes(),
            keep_environment=True,
        )
        result = {**data, STEPS: steps[1:], BATCH: batch, NESTED_ACTION: "UPDATE"}
        if "members" in following:
            result["members"] = list(following["members"])
        return result

    def nested_failed(self, child: str, data: dict[str, Any], action: str, reason: str) -> dict[str, Any]:
        """The nested stack's step failed: the rollout goes on (the data for it) while the
        members that failed in it are within max_errors / max_error_percent, else the group
        fails naming the batch and its failed members."""
        batch = dict(data.get(BATCH) or {})
        error = nested_failure(action, reason)
        index = batch.get("index")
        if not index or self.state.action not in ("CREATE", "UPDATE"):
            raise error
        if batch.get("pause_until"):
            return data  # judged tolerable before the pause began
        policy = batch.get("policy") or {}
        # A member stopped because another failed (the engine's "UPDATE cancelled: ...") did
        # not fail itself, nor did one failed before this step that fails again.
        before = set(batch.get("failed_before") or [])
        states = self.runtime.stacks.resource_states(child)
        failed = [n for n, state in states.items() if failed_itself(*state)]
        new = [n for n in failed if n not in before]
        so_far = sorted(set(batch.get("tolerated") or []) | set(new))
        gated = bool(policy.get("max_errors") or policy.get("max_error_percent"))
        if gated and failed and tolerated(len(so_far), int(batch.get("planned") or 0), policy):
            return {**data, **self.tolerating(batch, so_far, list(data.get(STEPS) or []))}
        what = f"{batch.get('section') or 'rolling update'} batch {index} of {batch.get('count') or index}"
        members = f"failed members: {', '.join(new or failed)}" if failed else "no member failed"
        raise ResourceFailure(f"{error} ({what} stopped the rollout; {members})", error.kind, error.nested_path)

    @staticmethod
    def tolerating(batch: dict[str, Any], failed: list[str], steps: list[dict]) -> dict[str, Any]:
        """The data to go on with past a step whose `failed` members are tolerated: they get
        their original definitions back in the next step, so that a member failing again (a
        nested stack's update retries its failed resources) does not stop later batches. The
        members the engine stopped, or never started, when the first failed are updated by the
        next step too; after the last batch, a retry step of its own does both."""
        original = batch.get("original") or {}
        old = {n: original[n] for n in failed if n in original}
        steps = [{**s, "template": restored(s["template"], old)} for s in steps]
        if not steps and not batch.get("retry") and batch.get("template"):
            template = batch["template"]
            steps = [step(restored(template, old), template["resources"], batch["index"], 0, retry=True)]
        return {STEPS: steps, BATCH: {**batch, "tolerated": failed}}


def failed_itself(action: str, status: str, reason: str) -> bool:
    """Whether a member failed on its own: not stopped by the engine because another resource
    failed (its reason is then "UPDATE cancelled: ...")."""
    return status == "FAILED" and not reason.startswith(f"{action} cancelled")
