"""Resources that own a nested stack: its operations go through `runtime.stacks` (engine.orchestration.nested);
reads the parent's Stack row (files, environment) through `runtime.store`; no other I/O.

Its create, update, delete, suspend, resume and check are awaited.

A stack resource starts an operation on its nested stack (`runtime.stacks`, engine.orchestration.nested) and
returns Waiting; the scheduler wakes it when the nested operation ends, and `check_waiting`
maps the nested stack's state to Done or a failure. The nested stack's id is the resource's
physical id. Nested stacks inherit the parent's environment as Heat's do (`child_environment`).
"""

from __future__ import annotations

import copy
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from engine import secrets
from engine.errors import LimitExceeded, ResourceFailure, TemplateError
from engine.resources.base import Done, Resource, UpdateReplace, Waiting
from engine.store.models import Stack
from engine.template.functions.args import walk
from engine.template.limits import Budget, Limits, exceeds

# Registry keys that are settings, not type mappings (as in engine.template.environment).
_REGISTRY_SETTINGS = ("base_url", "resources")
# A nested stack that failed says so in its reason; the owner's reason is built from the rest.
_FAILED_PREFIX = "Resource {} failed: "
# The resource's data key naming the nested operation awaited, when it is not the resource's own
# action (a group creating its members in batches updates its nested stack).
NESTED_ACTION = "nested_action"
# The resource's engine key holding its part of an adopt's data until it adopts its nested stack.
ADOPT_DATA = "adopt"
# `resource.NAME` (or `resource.0.resource.NAME`): a nested resource, whose attribute may follow.
_NESTED_RESOURCE = re.compile(r"resource\.[^.]+(\.resource\.[^.]+)*")


def fold_nested(name: str, path: list) -> tuple[str, list]:
    """Heat reads `[res, resource.NAME, attr, ...]` as NAME's attribute `attr`, then the rest."""
    if path and isinstance(path[0], str) and _NESTED_RESOURCE.fullmatch(name):
        return f"{name}.{path[0]}", list(path[1:])
    return name, list(path)


class PrefixedAttributes(dict):
    """An attributes schema that also accepts every name starting with one of `prefixes`
    (`resource.NAME.attr`, `Outputs.NAME`), so that get_attr checks still catch typos."""

    def __init__(self, names: dict[str, str], prefixes: tuple[str, ...]):
        super().__init__(names)
        self.prefixes = prefixes

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (isinstance(name, str) and name.startswith(self.prefixes))


@dataclass(frozen=True)
class Parent:
    """What a nested stack inherits from the stack of the resource that owns it."""

    files: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    template_name: str = "template"
    # The files map before the update in progress (a group's rolling update still needs them).
    previous_files: dict[str, str] = field(default_factory=dict)
    # The stack operation's timeout in minutes (Heat's stack.timeout_secs() / 60), if known.
    timeout_mins: float | None = None


@dataclass
class Nested:
    """One nested-stack operation's input: what `runtime.stacks.create/update` are given."""

    template: dict | str
    template_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    timeout_mins: float | None = None
    data: dict[str, Any] = field(default_factory=dict)  # kept in the resource's data
    shown_timeout: float | None = None  # the timeout the nested stack shows (else its parent's)
    # The parameters whose values derive from a secret: stored sealed, shown as ******.
    secret_parameters: frozenset[str] = frozenset()
    # The files map the nested stack gets, when it is not its parent's.
    files: dict[str, str] | None = None


def template_key(name: str, files: dict[str, str], base: str = "") -> str | None:
    """The files-map key holding template `name`: the name itself, else the name relative to
    the `base` template's name, else the same file written as a path or a file:// URL."""
    candidates = [name]
    if base:
        candidates.append(urljoin(base, name))
    if name.startswith("file://"):
        candidates.append(name[len("file://") :])
    elif name.startswith("/"):
        candidates.append("file://" + name)
    return next((c for c in candidates if c in files), None)


def template_text(name: str, files: dict[str, str], base: str, path: tuple) -> tuple[str, str]:
    """(files key, text) of template `name`; a TemplateError at `path` when the client sent none."""
    key = template_key(name, files, base)
    if key is None:
        raise TemplateError(
            f"template '{name}' is not in the files map (the client sends the templates a stack uses in 'files')",
            path=path,
            file=base or None,
        )
    return key, files[key]


def child_environment(
    environment: dict[str, Any] | None, resource_name: str, removed_template: str | None = None
) -> dict[str, Any]:
    """The environment a nested stack inherits, as Heat builds it.

    The parent's resource_registry and parameter_defaults pass down (not its parameters). A
    provider template's own mapping (`removed_template`) is dropped, so that a template mapped
    over a type may use that type itself. Per-resource overrides narrow to the owning resource:
    the entries under its name (and under globs matching it) become the nested stack's.
    """
    environment = environment or {}
    registry = copy.deepcopy(environment.get("resource_registry") or {})
    if removed_template is not None:
        for key in [k for k, v in registry.items() if k not in _REGISTRY_SETTINGS and v == removed_template]:
            del registry[key]
    overrides = registry.pop("resources", None) or {}
    narrowed: dict[str, Any] = {}
    for pattern, entries in overrides.items():
        if pattern != resource_name and fnmatch.fnmatchcase(resource_name, pattern):
            narrowed.update(entries)
    narrowed.update(overrides.get(resource_name) or {})
    narrowed = {name: entries for name, entries in narrowed.items() if isinstance(entries, dict)}
    if narrowed:
        registry["resources"] = narrowed
    child: dict[str, Any] = {"resource_registry": registry}
    if environment.get("parameter_defaults"):
        child["parameter_defaults"] = copy.deepcopy(environment["parameter_defaults"])
    if environment.get("event_sinks"):
        child["event_sinks"] = copy.deepcopy(environment["event_sinks"])
    return child


class StackResource(Resource):
    """Base of the types that own a nested stack; subclasses say what the nested stack is."""

    # The provider template whose registry mapping the nested environment drops (provider.py).
    registry_value: str | None = None
    # Heat updates a nested stack on every update of its parent; its own resources decide
    # whether they change.
    update_on_every_update = True
    # The nested stack's outputs are sealed by the nested stack's own taint (Children.outputs).
    seals_own_attributes = True

    # What subclasses provide ------------------------------------------------------------
    def nested(self, parent: Parent) -> Nested:
        raise NotImplementedError

    def completed(self, child_id: str) -> Done:
        """The outcome once the nested create or update is complete."""
        return Done(physical_id=child_id)

    @classmethod
    def attribute_at(cls, runtime, name: str, path: list, physical_id, attributes, data) -> Any:
        """get_attr `[resource, name, *path]` as Heat answers it: `resource.NAME` followed by a
        path names NAME's attribute; the rest of the path walks into the value."""
        name, path = fold_nested(name, path)
        return walk(
            secrets.open_tree(runtime.keyring, cls.attribute(runtime, name, physical_id, attributes, data)), path
        )

    # Helpers ----------------------------------------------------------------------------
    def child_environment(self, parent: Parent) -> dict[str, Any]:
        """The environment the nested stack gets: the parent's, as Heat passes it down."""
        return child_environment(parent.environment, self.state.name, self.registry_value)

    def check_members(self, count: int, member: Any = None) -> None:
        """Before a group builds its nested stack's template of `count` members, each a copy
        of `member` (a resolved definition): the resources and depth limits, and the size of
        that template (max_resolved_template_size), so that neither is built past them."""
        child = self.state.physical_id if self.state.action == "UPDATE" else None
        self.runtime.stacks.check_members(self.state.stack_id, count, child)
        limit = self.runtime.config.max_resolved_template_size
        if member is None or limit < 0 or not count:
            return
        try:
            size = Budget(Limits(max_resolved_value_size=limit, max_function_work=-1)).size_of(member, "")
        except LimitExceeded:
            size = limit + 1
        if exceeds(size * count, limit):
            raise LimitExceeded(
                f"the nested stack's template would be {size * count} bytes or more ({count} "
                f"members of {size} bytes), larger than max_resolved_template_size ({limit} "
                "bytes) allows",
                setting="max_resolved_template_size",
            )

    def parent(self) -> Parent:
        with self.runtime.store.session() as session:
            stack = session.get(Stack, self.state.stack_id)
            if stack is None:
                return Parent()
            # parameter_defaults are stored sealed: they may hold secrets.
            environment = secrets.open_environment(self.runtime.keyring, stack.environment)
            return Parent(
                files=dict(stack.files or {}),
                environment=environment,
                template_name=stack.template_name or "template",
                previous_files=dict((stack.previous or {}).get("files") or {}),
                timeout_mins=stack.timeout_mins,
            )

    def remaining_minutes(self) -> float | None:
        """What is left of the parent operation's time: a nested stack must end before it."""
        deadline = self.state.stack_deadline
        if deadline is None:
            return None
        return max((deadline - self.runtime.now()).total_seconds() / 60, 1 / 60)

    # Verbs ------------------------------------------------------------------------------
    def create(self):
        return self._make()

    def adopt(self):
        """Heat's handle_adopt of a stack resource: the nested stack is made as this resource
        makes it (its template and parameters) and adopts the resources its part of the adopt
        data names (`state.adopt_data`: the nested stack's own abandon data, or written by
        hand), which keep their ids and data."""
        return self._make(adopt_data=dict(self.state.adopt_data or {}))

    def _make(self, adopt_data: dict | None = None):
        parent = self.parent()
        nested = self.nested(parent)
        child = self.runtime.stacks.create(
            self.state.stack_id,
            self.state.name,
            template=nested.template,
            files=parent.files,
            environment=self.child_environment(parent),
            parameters=nested.parameters,
            template_name=nested.template_name,
            timeout_mins=nested.timeout_mins,
            shown_timeout=nested.shown_timeout,
            secret_parameters=self._secret_parameters(nested),
            adopt_data=adopt_data,
        )
        return self._started(child, nested.data)

    def _secret_parameters(self, nested: Nested) -> frozenset[str]:
        """The nested stack's parameters given values derived from a secret: those the type
        names, and those passed under a property resolved from one (`parameters`, `Parameters`,
        or a provider's property of the parameter's name)."""
        derived = {
            name
            for name in nested.parameters
            if self.derived_from_secret(name)
            or self.derived_from_secret("parameters", name)
            or self.derived_from_secret("Parameters", name)
        }
        return frozenset(derived | set(nested.secret_parameters))

    def update(self):
        child = self.state.physical_id
        if not child or self.runtime.stacks.state(child) is None:
            raise UpdateReplace()
        parent = self.parent()
        nested = self.nested(parent)
        self.runtime.stacks.update(
            child,
            template=nested.template,
            files=parent.files if nested.files is None else nested.files,
            environment=self.child_environment(parent),
            parameters=nested.parameters,
            template_name=nested.template_name,
            timeout_mins=nested.timeout_mins,
            shown_timeout=nested.shown_timeout,
            secret_parameters=self._secret_parameters(nested),
        )
        return self._started(child, nested.data)

    def delete(self):
        child = self.state.physical_id
        if not child:
            return Done()
        self.runtime.stacks.delete(child)
        return self._started(child, {})

    def suspend(self):
        return self._act("SUSPEND")

    def resume(self):
        return self._act("RESUME")

    def check(self):
        return self._act("CHECK")

    def _act(self, action: str):
        child = self.state.physical_id
        if not child or self.runtime.stacks.state(child) is None:
            raise self.fail(f"cannot {action.lower()}: the nested stack does not exist")
        self.runtime.stacks.act(child, action)
        return self._started(child, {})

    def _started(self, child: str, data: dict[str, Any]):
        # A nested operation may end before the scheduler records the wait: answer at once then.
        if (
            self.state.action == "DELETE"
            or self._finished(self.runtime.stacks.state(child), data.get(NESTED_ACTION)) == "COMPLETE"
        ):
            outcome = self._outcome(child, data)
            if isinstance(outcome, Done):
                outcome.data = {**data, **outcome.data}
            if outcome is not None:
                return outcome
        return Waiting(physical_id=child, data=data)

    def _finished(self, state, action: str | None = None) -> str | None:
        if state is None or state[0] != (action or self.state.action) or state[1] == "IN_PROGRESS":
            return None
        return state[1]

    def next_step(self, child: str, data: dict[str, Any]) -> dict[str, Any] | Waiting | None:
        """After a nested create or update completes: start another operation on the nested
        stack and answer the resource's data for it (a group's next batch), Waiting until a
        moment before starting it (a pause between batches), or None when the resource is done."""
        return None

    def nested_failed(self, child: str, data: dict[str, Any], action: str, reason: str) -> dict[str, Any]:
        """The nested `action` failed with `reason`: raise the resource's failure, or answer the
        data to go on with (a group's rollout tolerating a batch's failed members)."""
        raise nested_failure(action, reason)

    def check_waiting(self):
        child = self.state.physical_id
        if not child:
            return Done()
        return self._outcome(child, dict(self.state.data or {}))

    def _outcome(self, child: str, data: dict[str, Any] | None = None):
        data = dict(self.state.data or {}) if data is None else data
        action = self.state.action
        while True:
            state = self.runtime.stacks.state(child)
            if action == "DELETE":
                if state is None or state[:2] == ("DELETE", "COMPLETE"):
                    return Done()
                if state[:2] == ("DELETE", "FAILED"):
                    raise nested_failure("DELETE", state[2])
                return None
            if state is None:
                raise self.fail(f"the nested stack {child} is gone")
            nested_action = data.get(NESTED_ACTION) or action
            status = self._finished(state, nested_action)
            if status is None:
                return None
            if status == "FAILED":
                data = self.nested_failed(child, data, nested_action, state[2])
            if action not in ("CREATE", "UPDATE", "ADOPT"):
                return Done(physical_id=child)
            following = self.next_step(child, data)
            if following is None:
                done = self.completed(child)
                done.data = {**data, **done.data, NESTED_ACTION: None}
                return done
            if isinstance(following, Waiting):
                return following
            data = following
            if self._finished(self.runtime.stacks.state(child), data.get(NESTED_ACTION)) != "COMPLETE":
                return Waiting(physical_id=child, data=data)


def nested_failure(action: str, reason: str) -> ResourceFailure:
    """The owning resource's failure for its nested stack's failure `reason`, as Heat builds it
    (ResourceFailure._from_status_reason): from "Resource CREATE failed: ValueError:
    resources.oops: msg" the error name and message are kept and the failing resource's path is
    put after the owner's, so the owner's reason reads "ValueError: resources.owner.resources.oops: msg"."""
    if _FAILED_PREFIX.format(action) in reason:
        parsed = [part.strip() for part in reason.split(":")]
        if len(parsed) >= 4:
            return ResourceFailure(": ".join(parsed[3:]), kind=parsed[1], nested_path=tuple(parsed[2].split(".")))
    return ResourceFailure(reason, kind="")
