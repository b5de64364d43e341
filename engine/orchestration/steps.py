"""Steps: what one resource does when its turn comes in a run; touches the run's snaps and the
journal, reaches handlers only through the scheduler's `handoff`.

Steps: owns what one resource does when its turn comes in a run (create, update or replace, delete,
suspend, resume, check; change detection, timeouts, cancels).

The scheduler owns one `Steps` and calls it on its thread: `start` when a resource's turn
comes, `apply` with a handler's outcome, `check_waiting` when a waiting resource is woken,
`time_out`, `cancel` and `clear_hook`. Every state change goes through `transition`, which
writes the event and tells the run. Replacing a resource is `replacing.Replacing`, and holding
one at a breakpoint `breakpoints.Breakpoints`; both are owned here.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from engine import secrets
from engine.errors import HearthError, LimitExceeded, ResourceFailure, TemplateError, heat_path
from engine.orchestration.breakpoints import Breakpoints, restricted_actions
from engine.orchestration.changes import (
    changed_in_place,
    property_digests,
    replaced_when_failed,
    supports_check,
    type_identity,
)
from engine.orchestration.definitions import Resolver, tainted_properties
from engine.orchestration.journal import Journal
from engine.orchestration.replacing import REPLACING, Replacing
from engine.orchestration.run import Run, Snap
from engine.resources.base import Done, ResourceState, UpdateReplace, Waiting
from engine.resources.stack_resource import ADOPT_DATA
from engine.runtime import Runtime

log = logging.getLogger(__name__)


# How a handler's verb that may block is run: (stack id, resource, action, operation, call);
# its outcome comes back to `Steps.apply` on the scheduler's thread.
Handoff = Callable[[str, str, str, int, Callable[[], object]], None]


class Steps:
    def __init__(self, runtime: Runtime, types: dict, journal: Journal, resolver_for, handoff: Handoff):
        self.runtime = runtime
        self.journal = journal
        # How handlers' snippets are resolved (the service adds nested-stack facades).
        self._resolver_for = resolver_for
        self._handoff = handoff
        self.replacing = Replacing(self, types, journal)
        self.breakpoints = Breakpoints(journal)

    # State changes ------------------------------------------------------------------------
    def transition(self, run: Run, snap: Snap, status: str, reason: str, action: str | None = None) -> None:
        """The resource is now `status` (in `action`): its event, and what the run learns of it."""
        snap.action = action or snap.action
        snap.status, snap.reason, snap.dirty = status, reason, True
        self.journal.event(
            run.stack,
            snap.name,
            snap.type,
            snap.physical_id or snap.physical_name(run.stack.name),
            snap.action,
            status,
            reason,
        )
        if run.finished or snap.engine.get("op") != run.operation:
            return
        if status == "COMPLETE":
            if not self.breakpoints.hold_after(run, snap):
                run.cleared(snap.name)
        elif status == "FAILED" and run.action == "CHECK":
            if reason not in run.check_failures and not reason.startswith("Can not check"):
                run.check_failures.append(reason)
            # A check goes on (Heat reports every failure at the end), but not to what depends
            # on the failed resource.
            run.cut_off(snap.name)
        elif status == "FAILED" and run.failed is None:
            run.failed = snap

    def cancel(self, run: Run, snap: Snap, reason: str) -> None:
        """Stop what the waiting resource waits for; it fails with `reason`."""
        try:
            self._instance(run, snap, snap.action, strict=False).cancel()
        except Exception:  # noqa: BLE001 - cancelling is best effort
            log.warning("cancel of %s failed:\n%s", snap.name, traceback.format_exc())
        snap.waiting, snap.deadline, snap.wake_at = False, None, None
        self.transition(run, snap, "FAILED", reason)

    def time_out(self, run: Run, snap: Snap) -> None:
        """The waiting resource's deadline passed: it is cancelled and fails, in its type's words."""
        try:
            instance = self._instance(run, snap, snap.action, strict=False)
            instance.cancel()
            reason = instance.timeout_reason()
        except Exception as error:  # noqa: BLE001
            reason = f"timed out ({error})"
        snap.waiting, snap.deadline = False, None
        self.transition(run, snap, "FAILED", _reason(snap.name, TimeoutError(reason)))

    # Starting -----------------------------------------------------------------------------
    def start(self, run: Run, snap: Snap) -> None:
        step = run.step
        snap.engine["op"] = run.operation
        snap.dirty = True
        if step == "create":
            if run.action == "ADOPT" and ADOPT_DATA in snap.engine and not snap.exists:
                # A nested stack's owner adopts its nested stack: an action that waits for it,
                # as a create does.
                self._begin(run, snap, "adopt", "ADOPT")
                return
            if snap.exists and snap.status == "COMPLETE" and run.action == "ADOPT":
                # Heat adopts each resource as an action of its own, with its events.
                self.transition(run, snap, "IN_PROGRESS", "state changed", action="ADOPT")
                try:
                    instance = self._instance(run, snap, "ADOPT")
                    snap.engine["digests"] = self._digests(instance)
                    outcome = instance.adopt()
                    if isinstance(outcome, Done) and outcome.attributes:
                        snap.attributes = dict(outcome.attributes)
                except Exception:  # noqa: BLE001 - without digests the next update redoes it
                    pass
                self.transition(run, snap, "COMPLETE", "state changed")
                return
            if snap.exists and snap.status == "COMPLETE":
                # Adopted (or made by an earlier attempt of this create): record what it was
                # made from, so that the next update changes only what differs.
                if "digests" not in snap.engine:
                    try:
                        snap.engine["digests"] = self._digests(self._instance(run, snap, snap.action))
                    except Exception:  # noqa: BLE001 - without digests the next update redoes it
                        pass
                run.cleared(snap.name)
                return
            self._begin(run, snap, "create", "CREATE")
        elif step == "update":
            self.update(run, snap)
        elif step == "delete":
            if not snap.exists:
                if snap.action == "INIT":
                    self.transition(run, snap, "COMPLETE", "state changed", action="DELETE")
                else:
                    snap.status = "COMPLETE"
                    run.cleared(snap.name)
                return
            if snap.engine.get("retain"):
                self.transition(run, snap, "COMPLETE", "resource retained (deletion_policy Retain)", action="DELETE")
                return
            self._begin(run, snap, "delete", "DELETE")
        elif step == "cleanup":
            self.replacing.clean_up(run, snap)
        elif step == "check":
            if not supports_check(snap.cls):
                # Heat: the resource is CHECK_COMPLETE whatever it was, with an event only when
                # that is a change (a second check writes none).
                reason = f"CHECK not supported for {snap.type}"
                if (snap.action, snap.status) == ("CHECK", "COMPLETE"):
                    snap.reason, snap.dirty = reason, True
                    run.cleared(snap.name)
                else:
                    self.transition(run, snap, "COMPLETE", reason, action="CHECK")
            elif not snap.exists:
                run.check_failures.append(f"Exception: resources.{snap.name}: Resource {snap.name} not created yet.")
                self.transition(
                    run, snap, "FAILED", f"Can not check {snap.name}, resource not created yet.", action="CHECK"
                )
            else:
                self._begin(run, snap, "check", "CHECK")
        else:  # suspend, resume
            if not snap.exists:
                snap.status = "COMPLETE"
                run.cleared(snap.name)
                return
            invalid = (
                (snap.action == "DELETE" or (snap.action != "SUSPEND" and snap.status != "COMPLETE"))
                if step == "suspend"
                else (snap.action, snap.status)
                not in (("SUSPEND", "COMPLETE"), ("RESUME", "FAILED"), ("RESUME", "COMPLETE"))
            )
            if invalid:
                # Heat refuses the resource without touching it, and the stack fails.
                if run.failure is None and run.failed is None:
                    run.failure = (
                        f"Resource {step.upper()} failed: Error: resources.{snap.name}: "
                        f"State ('{snap.action}', '{snap.status}') invalid for {step}"
                    )
                return
            self._begin(run, snap, step, step.upper())

    def update(self, run: Run, snap: Snap) -> None:
        if self.replacing.restorable(run, snap):
            self.replacing.discard(run, snap)
            return
        if not snap.exists or (snap.action in ("CREATE", "ADOPT") and snap.status == "FAILED" and not snap.physical_id):
            self._begin(run, snap, "create", "CREATE")
            return
        try:
            instance = self._instance(run, snap, "UPDATE")
        except Exception as error:  # noqa: BLE001 - reported as the resource's failure
            self.fail(run, snap, "UPDATE", error, action="UPDATE")
            return
        digests = self._digests(instance)
        old = snap.engine.get("digests") or {}
        failed = snap.status == "FAILED"
        if failed and not replaced_when_failed(
            snap.cls,
            snap.action,
            self.runtime.stacks.state(snap.physical_id) is not None if snap.physical_id else False,
        ):
            # Kept and updated: compared with what it last was to be (a failed create settled none).
            failed, old = False, old or snap.engine.get("pending") or {}
        changed = {k for k in digests.keys() | old.keys() if digests.get(k) != old.get(k)}
        unhealthy = failed or snap.cls.replace_on_every_update
        if snap.cls.ignores_changes and "__type__" not in changed:
            changed, unhealthy = set(), False
        if not changed and getattr(snap.cls, "update_on_every_update", False):
            # Heat updates every nested stack on every stack update; its resources decide.
            changed = {"__nested__"}
        if not changed and not unhealthy:
            snap.engine.pop("old_type", None)  # another alias of the same type: no change
            snap.status = "COMPLETE"
            run.cleared(snap.name)
            return
        in_place = not unhealthy and changed_in_place(snap.cls, changed, instance.properties)
        if in_place:
            snap.engine.pop("old_type", None)
        restricted = "update" if in_place else "replace"
        if restricted in restricted_actions(run, snap.name):
            # As Heat: an event on the resource, whose state stays, and the stack fails.
            reason = f"{restricted} is restricted for resource."
            self.journal.event(
                run.stack,
                snap.name,
                snap.type,
                snap.physical_id or snap.physical_name(run.stack.name),
                "UPDATE",
                "FAILED",
                reason,
            )
            run.failed = snap
            run.failure_reason = f"ResourceActionRestricted: resources.{snap.name}: {reason}"
            return
        snap.engine["changed"] = sorted(k for k in changed if k != "__metadata__")
        if not in_place and not unhealthy and "__type__" not in changed:
            # Heat tries the update, learns it needs a replacement, then creates the new one;
            # a type that asks for it names the resource in full in that event.
            snap.engine["tried"] = "asked" if snap.cls.replaced_by(frozenset(changed), instance.properties) else True
        self._begin(run, snap, "update" if in_place else "replace", "UPDATE")

    def _begin(self, run: Run, snap: Snap, verb: str, action: str) -> None:
        """Start `verb`, unless a breakpoint holds the resource first."""
        if self.breakpoints.hold(run, snap, verb, action):
            return
        if verb == "replace":
            tried = snap.engine.pop("tried", False)
            if tried:
                self.transition(run, snap, "IN_PROGRESS", "state changed", action=action)
                self.replacing.requires_replacement(run, snap, asked=tried == "asked")
            self.replacing.replace(run, snap)
            return
        self.transition(run, snap, "IN_PROGRESS", "state changed", action=action)
        self.dispatch(run, snap, verb)

    def clear_hook(self, run: Run, snap: Snap, hook: str) -> bool:
        """A user cleared the breakpoint `snap` is paused on: go on with what it held back."""
        paused = self.breakpoints.clear(run, snap, hook)
        if paused is None:
            return False
        verb, action = paused
        if verb == "post":
            run.cleared(snap.name)
        else:
            self._begin(run, snap, verb, action)
        return True

    def dispatch(self, run: Run, snap: Snap, verb: str) -> None:
        """Run the handler's `verb` inline or on the pool; its outcome comes back to `apply`."""
        try:
            instance = self._instance(run, snap, snap.action, strict=verb not in ("delete",))
            if verb in ("create", "update", "adopt"):
                snap.engine["pending"] = self._digests(instance)
                definition = run.definition.template.resources.get(snap.name)
                snap.engine["retain"] = bool(definition and definition.deletion_policy == "Retain")
        except Exception as error:  # noqa: BLE001
            self.apply(run, snap, snap.action, error, run.operation)
            return
        call = self._sealing(instance, getattr(instance, verb))
        action, operation = snap.action, run.operation
        if snap.cls.inline:
            self.apply(run, snap, action, _call(call), operation)
            return
        run.running.add(snap.name)
        self._handoff(run.stack.id, snap.name, action, operation, lambda: _call(call))

    # Handlers' view -----------------------------------------------------------------------
    def _digests(self, instance) -> dict[str, str]:
        return property_digests(
            self.runtime.keyring,
            type_identity(type(instance), instance.state.type),
            instance.properties,
            instance.state.metadata,
        )

    def _state(self, run: Run, snap: Snap, action: str) -> ResourceState:
        stack = run.stack
        definition = run.definition.template.resources.get(snap.name) if run.definition else None
        return ResourceState(
            stack_id=stack.id,
            stack_name=stack.name,
            project=stack.project,
            name=snap.name,
            type=snap.type,
            physical_id=snap.physical_id,
            data=dict(snap.data),
            attributes=dict(snap.attributes),
            stack_deadline=stack.deadline,
            action=REPLACING.get(snap.engine.get("phase"), action),
            update_policy=dict(definition.update_policy) if definition else {},
            deletion_policy=definition.deletion_policy if definition else None,
            changed=frozenset(snap.engine.get("changed") or ()),
            physical_name=snap.physical_name(stack.name),
            adopt_data=snap.engine.get(ADOPT_DATA),
        )

    def _resolver(self, run: Run) -> Resolver:
        def lookup(name: str):
            snap = run.snaps.get(name)
            if snap is None or (not snap.exists and snap.physical_id is None):
                return None
            return snap.cls, snap.physical_id, snap.attributes, snap.data

        return self._resolver_for(run.stack, run.definition, lookup)

    def _instance(self, run: Run, snap: Snap, action: str, strict: bool = True):
        """The handler object with resolved, validated properties (best effort unless strict)."""
        template = run.definition.template
        definition = template.resources.get(snap.name)
        resolver = self._resolver(run)
        path = ("resources", snap.name, "properties")
        secret_paths: frozenset[tuple] = frozenset()
        secret_metadata = False
        try:
            raw = template.resolve(definition.properties, resolver, path) if definition else {}
            if resolver.taint.tainted:
                secret_paths = tainted_properties(template, definition.properties, resolver, path)
            properties = snap.cls.check_properties(raw)
            resolver.taint.fresh()
            metadata = (
                template.resolve(definition.metadata, resolver, ("resources", snap.name, "metadata"))
                if definition and definition.metadata
                else {}
            )
            secret_metadata = resolver.taint.tainted
        except LimitExceeded as error:
            if strict:
                # The resource fails at the call that asked for too much, named in its reason.
                raise ResourceFailure(
                    error.reason, kind=error.kind, nested_path=_inside(error.path, snap.name)
                ) from None
            properties = {k: p.default for k, p in snap.cls.properties_schema.items()}
            metadata = {}
        except TemplateError as error:
            if strict:
                if "raw" in locals() and isinstance(raw, dict):
                    # What get_attr of the failed resource answers (Heat resolves some
                    # attributes from the properties as given: a Value's `value`).
                    refused = snap.cls.attributes_when_refused(raw)
                    if refused and secret_paths:  # derived from a secret: stored sealed
                        refused = secrets.seal_keys(self.runtime.keyring, refused)
                    snap.attributes = refused or snap.attributes
                    snap.dirty = True
                if error.file is None:
                    # Heat's words when a value is refused as the resource is acted on:
                    # "Property error: Properties.NAME: ..." (the stack's reason leads with
                    # the resource's name).
                    raise error.located(path=("Properties",) + error.path, heading="Property error") from None
                raise
            properties = {k: p.default for k, p in snap.cls.properties_schema.items()}
            metadata = {}
        state = self._state(run, snap, action)
        state.metadata = metadata or {}
        state.secret_paths, state.secret_texts = secret_paths, tuple(resolver.taint.texts)
        state.secret_metadata = secret_metadata
        if resolver.taint.texts:
            # What the stack's events and reasons must not quote from now on.
            self.journal.keep_out(run.stack.id, resolver.taint.texts)
        return snap.cls(self.runtime, state, properties)

    def _sealing(self, instance, verb):
        """`verb` of `instance`, whose outcome's attributes are stored sealed when its
        properties were resolved from a secret (unless its type decides that itself)."""
        keyring = self.runtime.keyring

        def sealed():
            outcome = verb()
            if (
                isinstance(outcome, Done)
                and outcome.attributes
                and instance.derived_from_secret()
                and not instance.seals_own_attributes
            ):
                outcome.attributes = secrets.seal_keys(keyring, outcome.attributes)
            return outcome

        return sealed

    # Outcomes -----------------------------------------------------------------------------
    def apply(self, run: Run, snap: Snap, action: str, outcome, operation: int) -> None:
        if operation != run.operation or snap.action != action:
            # A result of an operation that was superseded: keep what it made, so it is deleted.
            if isinstance(outcome, (Done, Waiting)) and outcome.physical_id:
                snap.physical_id = outcome.physical_id
                snap.data.update(outcome.data)
                snap.dirty = True
            return
        if isinstance(outcome, UpdateReplace) and snap.engine.get("phase") is None:
            self.replacing.requires_replacement(run, snap)
            self.replacing.replace(run, snap)
            return
        if snap.engine.get("phase") == "cleanup" and not isinstance(outcome, Waiting):
            self.replacing.cleaned(run, snap, outcome)
            return
        if snap.engine.get("phase") == "discard" and not isinstance(outcome, Waiting):
            self.replacing.discarded(run, snap, outcome)
            return
        if isinstance(outcome, Done):
            if snap.engine.get("phase") == "replace-delete":
                snap.physical_id, snap.data, snap.attributes = None, {}, {}
                snap.waiting, snap.deadline = False, None
                snap.engine["phase"] = "replace-create"
                snap.engine.pop("short_id", None)
                self.transition(run, snap, "IN_PROGRESS", "state changed", action="CREATE")
                self.dispatch(run, snap, "create")
                return
            snap.physical_id = outcome.physical_id or snap.physical_id
            if outcome.attributes is not None:
                snap.attributes = dict(outcome.attributes)
            snap.data.update(outcome.data)
            if action == "DELETE":
                # Nothing is left to read: a deleted resource keeps no values (nor secrets).
                snap.attributes, snap.data = {}, {}
            snap.waiting, snap.deadline = False, None
            self._settle(snap)
            self.transition(run, snap, "COMPLETE", "state changed")
        elif isinstance(outcome, Waiting):
            snap.physical_id = outcome.physical_id or snap.physical_id
            snap.data.update(outcome.data)
            snap.waiting, snap.deadline = True, outcome.deadline
            snap.wake_at = outcome.wake_at
            if outcome.interruptible:
                snap.engine["interruptible"] = True
            else:
                snap.engine.pop("interruptible", None)
            snap.reason = "waiting for a signal"
            snap.dirty = True
            if run.finished and not snap.runs_to_end:
                self.cancel(run, snap, f"{action} cancelled: the stack operation ended")
            elif run.cancelled and not snap.runs_to_end:
                self.cancel(run, snap, f"{action} cancelled")  # cancelled while it started
        else:
            snap.waiting, snap.deadline, snap.wake_at = False, None, None
            snap.engine.pop("phase", None)
            self.fail(run, snap, action, outcome)

    def fail(self, run: Run, snap: Snap, action: str, error, **transition) -> None:
        """The resource's `action` failed with `error` (an exception or a failed outcome)."""
        self._fail_first(run, snap.name, action, error)
        self.transition(run, snap, "FAILED", _reason(snap.name, error), **transition)

    @staticmethod
    def _fail_first(run: Run, name: str, action: str, error) -> None:
        """The stack's reason for a resource's template error, as Heat words it: the error's
        path led by the resource's name (`resources.g: Property error: g.resources[0]...`)."""
        if run.failed is None and run.failure_reason is None and isinstance(error, TemplateError) and error.path:
            said = f"{error.kind}: {heat_path(('resources', name))}: {error.heat_message(lead=(name,))}"
            # An update (and its rollback) says the failure as it is, as Heat's update does.
            updating = run.action == "UPDATE" or (
                run.action == "ROLLBACK" and (run.stack.previous or {}).get("rollback") == "update"
            )
            run.failure_reason = said if updating else f"Resource {action} failed: {said}"

    def _settle(self, snap: Snap) -> None:
        """The action finished: what was pending becomes the recorded state."""
        engine = snap.engine
        if "pending" in engine:
            engine["digests"] = engine.pop("pending")
        if snap.action == "DELETE":
            engine.pop("digests", None)
        for key in ("phase", "changed", "hook", "paused", "wake_at", "interruptible", ADOPT_DATA):
            engine.pop(key, None)

    def check_waiting(self, run: Run, snap: Snap) -> None:
        if snap.engine.get("hook"):
            return  # paused on a breakpoint: only clearing it moves the resource on
        try:
            instance = self._instance(run, snap, snap.action, strict=False)
            outcome = self._sealing(instance, instance.check_waiting)()
        except Exception as error:  # noqa: BLE001
            outcome = error
        if outcome is not None:
            self.apply(run, snap, snap.action, outcome, run.operation)
            if not snap.waiting and not run.finished and snap.engine.get("op") != run.operation:
                # An action left from a cancelled operation ended: this operation may take it now.
                run.released(snap.name)


def _inside(path: tuple, name: str) -> tuple:
    """A template path (`resources.NAME.properties.value...`) as the part inside the resource."""
    return tuple(path[2:]) if tuple(path[:2]) == ("resources", name) else tuple(path)


def _call(verb):
    try:
        outcome = verb()
        return Done() if outcome is None else outcome
    except Exception as error:  # noqa: BLE001 - a failed handler is data, not a crash
        return error


def _reason(name: str, error: BaseException) -> str:
    """Heat's failure reason: `KIND: resources.NAME[.inner path]: message`."""
    if isinstance(error, TemplateError):
        # Heat's words alone: where Hearth found the error is for API answers, not reasons.
        return f"{error.kind}: {heat_path(('resources', name))}: {error.heat_message()}"
    if isinstance(error, HearthError):
        kind = getattr(error, "kind", None)
        kind = type(error).__name__ if kind is None else kind
        where = heat_path(("resources", name) + getattr(error, "nested_path", ()))
        return f"{kind}: {where}: {error}" if kind else f"{where}: {error}"
    if isinstance(error, TimeoutError):
        return f"Timeout: {heat_path(('resources', name))}: {error}"
    log.error(
        "resource %s failed unexpectedly:\n%s",
        name,
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    )
    return f"Error: {heat_path(('resources', name))}: internal error ({type(error).__name__}); see the server log"
