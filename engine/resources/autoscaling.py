"""OS::Heat::AutoScalingGroup: owns one nested stack of min_size..max_size members, reached only
through StackResource and `runtime.stacks`; no I/O of its own (a policy's signal resizes it
through engine/service/scaling.py, which reads the `bounds`, `member` and `scaling` it keeps in
its resource data).

Between min_size and max_size copies of one resource, in a nested stack whose members have
random short names.

Members are named as Heat names them (12 characters of base32, `STACK-NAME-SHORTID`'s last
part) and ordered as Heat orders them: by creation, then by name. Scaling down removes failed
members first, then the oldest. The member template (`scaling_template`, pure) has the output `refs_map`; other
attributes are read from the members.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine import secrets
from engine.errors import TemplateError
from engine.resources.base import Done
from engine.resources.group import MEMBER_TEMPLATE_VERSION, members_template
from engine.resources.health import HEALTH_CHECK
from engine.resources.names import short_id
from engine.resources.provider import NESTED
from engine.resources.rolling import BATCH, HEALTH_FIELDS, STEPS, Rollout, scaling_batches, step
from engine.resources.schema import Prop, validate_properties
from engine.resources.stack_resource import Nested, Parent, fold_nested, walk

# Keys of a HOT resource definition a member may carry.
_MEMBER_KEYS = ("type", "properties", "metadata", "depends_on", "update_policy", "deletion_policy")


def member_definition(resource: dict) -> dict:
    """Each member's definition in the nested stack's template, from the `resource` property."""
    return {k: resource[k] for k in _MEMBER_KEYS if resource.get(k) is not None}


def scaling_template(names: list[str], resource: dict) -> dict:
    """The nested stack's template: one member per name, each the `resource` definition."""
    member = member_definition(resource)
    return {
        "heat_template_version": MEMBER_TEMPLATE_VERSION,
        "resources": {name: dict(member) for name in names},
        "outputs": {"refs_map": {"value": {n: {"get_resource": n} for n in names}}},
    }


def finished_scaling(
    scaling: dict[str, Any] | None, now: dt.datetime, cooldown: float | None, reason: str, size_changed: bool = True
) -> dict[str, Any]:
    """The group's scaling metadata once a scaling (or a create or update) ended, as Heat's
    CooldownMixin keeps it: `scaling_in_progress` false and, when the size changed,
    `cooldown_end` {ISO time: reason}, never earlier than a cooldown_end already set."""
    scaling = dict(scaling or {})
    if size_changed:
        end = (now + dt.timedelta(seconds=max(0.0, float(cooldown or 0)))).isoformat()
        previous = next(iter((scaling.get("cooldown_end") or {}).keys()), None)
        if previous is not None and previous > end:
            end = previous
        scaling["cooldown_end"] = {end: reason}
    scaling["scaling_in_progress"] = False
    return scaling


def new_capacity(current: int, desired: int | None, minimum: int, maximum: int) -> int:
    """The size an update brings the group to: `desired` (0 or none keeps the current size, a
    quirk of Heat's kept as it is), within minimum and maximum."""
    return max(minimum, min(maximum, desired or current))


def removal_order(current: list[str], states: dict[str, tuple[str, ...]]) -> list[str]:
    """`current` (oldest first) in the order Heat removes members (grouputils.get_members):
    failed members first, then the oldest."""
    return sorted(current, key=lambda name: (states.get(name, ("", ""))[1] != "FAILED", current.index(name)))


def scaled_members(
    current: list[str], capacity: int, new_name=short_id, states: dict[str, tuple[str, ...]] | None = None
) -> list[str]:
    """The members after scaling `current` (oldest first) to `capacity`: failed members leave
    first, then the oldest; the rest keep their order, and new names (sorted, as Heat orders
    members made together) come last."""
    if capacity < len(current):
        leaving = set(removal_order(current, states or {})[: len(current) - capacity])
        kept = [m for m in current if m not in leaving]
    else:
        kept = list(current)
    added = sorted(new_name() for _ in range(capacity - len(kept)))
    return kept + added


class AutoScalingGroup(Rollout):
    """A group of `resource` copies sized between `min_size` and `max_size`, starting at
    `desired_capacity` (or `min_size`), in a nested stack.

    Members get Heat's random 12-character names, ordered by creation then name. An update
    resizes the group to `desired_capacity` within the new bounds (0 or none keeps the current
    size, as in Heat) removing the oldest members first. A new `resource` definition replaces
    the members in batches as Heat's `rolling_updates` asks (max_batch_size at a time, failed
    members then the oldest first, min_in_service kept, pause_time seconds between batches),
    each batch one update of the nested stack, then resizes the group; a batch whose members
    fail stops the rollout and fails the group, unless `max_errors` / `max_error_percent` (a
    Hearth addition) let it go on past that many failed members, each given its old definition
    back. Attributes:
    `current_size`, `refs`, `refs_map`, `outputs` and `outputs_list` with an attribute name after
    them (a map of member name, or a list, of that attribute), `resource.N` (the N-th member's
    reference) and `resource.N.attr`. OS::Heat::ScalingPolicy signals resize it with Heat's
    cooldown (its `cooldown`, or the policy's); scale-in removes failed members first, then the
    oldest. Hearth's `health_check` property replaces unhealthy members by itself
    (docs/fleets.md).
    """

    type_name = "OS::Heat::AutoScalingGroup"
    support_status = {"version": "2014.1"}
    generated_name = "AutoScalingResourceGroup"
    dynamic_attributes = True
    properties_schema = {
        "resource": Prop(
            "map",
            "the definition of each member, as a resource in a HOT template",
            required=True,
            update_allowed=True,
        ),
        "max_size": Prop("integer", "the largest number of members", required=True, min=0, update_allowed=True),
        "min_size": Prop("integer", "the smallest number of members", required=True, min=0, update_allowed=True),
        "cooldown": Prop("integer", "seconds between scaling actions (accepted)", update_allowed=True),
        "desired_capacity": Prop("integer", "the number of members to have", update_allowed=True),
        "health_check": HEALTH_CHECK,
        "rolling_updates": Prop(
            "map",
            "how members are replaced when `resource` changes: in batches of max_batch_size, "
            "min_in_service kept, pause_time seconds between batches",
            update_allowed=True,
            default={"min_in_service": 0, "max_batch_size": 1, "pause_time": 0},
            fields={
                "min_in_service": Prop(
                    "integer",
                    "The minimum number of resources in service while rolling updates are being executed.",
                    min=0,
                    default=0,
                ),
                "max_batch_size": Prop(
                    "integer", "The maximum number of resources to replace at once.", min=1, default=1
                ),
                "pause_time": Prop(
                    "number", "The number of seconds to wait between batches of updates.", min=0, default=0
                ),
                **HEALTH_FIELDS,
            },
        ),
    }
    attributes_schema = {
        "current_size": "the number of members",
        "refs": "the members' references, in Heat's member order",
        "refs_map": "a map of member name to reference",
        "outputs": "with an attribute name after it: a map of member name to that attribute",
        "outputs_list": "with an attribute name after it: the list of that attribute of every member",
    }
    attribute_types = {
        "current_size": "integer",
        "outputs": "map",
        "outputs_list": "list",
        "refs": "list",
        "refs_map": "map",
    }
    attribute_patterns = {
        "resource.<n>": "the n-th member's reference; resource.<n>.<attr> is its attribute <attr>",
    }

    @classmethod
    def check_properties(cls, values, unresolved=None):
        low = values.get("min_size") if isinstance(values, dict) else None
        if isinstance(low, int) and not isinstance(low, bool) and low < 0:
            # Heat's group checks this before its properties' ranges (recorded from Heat 27.0.1).
            raise TemplateError("The size of AutoScalingGroup can not be less than zero")
        checked = validate_properties(cls.properties_schema, values, unresolved=unresolved)
        member = checked.get("resource")
        if isinstance(member, dict) and not (unresolved and unresolved(member)):
            if not isinstance(member.get("type"), str):
                raise TemplateError("a member's definition needs a 'type' (a string)", path=("resource",))
        sizes = [checked.get(k) for k in ("min_size", "max_size", "desired_capacity")]
        low, high, desired = sizes
        if isinstance(low, int) and isinstance(high, int):
            # Heat's words (StackValidationFailed), recorded from Heat 27.0.1.
            if high < low:
                raise TemplateError("MinSize can not be greater than MaxSize")
            if isinstance(desired, int) and not low <= desired <= high:
                raise TemplateError("DesiredCapacity must be between MinSize and MaxSize")
        return checked

    def sizes(self) -> tuple[int, int, int | None]:
        """(minimum, maximum, desired capacity) as the properties give them."""
        props = self.properties
        return props["min_size"], props["max_size"], props["desired_capacity"]

    def nested(self, parent: Parent) -> Nested:
        low, high, desired = self.sizes()
        current = list(self.state.data.get("members") or [])
        updating = bool(self.state.action == "UPDATE" and self.state.physical_id)
        if updating:
            capacity = new_capacity(len(current), desired, low, high)
        else:
            capacity = desired or low
        member = self.member_definition()
        # Before the members are named or built: a size past the limits fails here, at once.
        self.check_members(capacity, member)
        if updating and self.member_changed():
            policy = self.rolling_policy()
            if policy is not None:
                return self.rolling_update(parent, current, member, policy)
        states = (
            self.runtime.stacks.resource_states(self.state.physical_id) if updating and capacity < len(current) else {}
        )
        members = scaled_members(current if updating else [], capacity, states=states)
        template = scaling_template(members, member)
        if updating and self.member_changed():
            # No rolling update (an AWS group without AutoScalingRollingUpdate): as Heat's
            # resize, the members there keep their definition; only new ones get the new one.
            existing = (self.runtime.stacks.template(self.state.physical_id) or {}).get("resources") or {}
            template["resources"] = {n: existing.get(n) or d for n, d in template["resources"].items()}
        return Nested(
            template=template,
            template_name=f"{parent.template_name}#{self.state.name}",
            timeout_mins=self.remaining_minutes(),
            data={"members": members, STEPS: [], BATCH: None, **self.scaling_data(member)},
        )

    def member_changed(self) -> bool:
        """Whether this update gives the members a new definition."""
        return "resource" in self.state.changed

    def rolling_policy(self) -> dict[str, Any] | None:
        """min_in_service, max_batch_size and pause_time (seconds) of a rolling update, or None
        when members are not rolled (Heat's `rolling_updates` always has its defaults)."""
        return dict(self.properties["rolling_updates"] or {})

    def rolling_update(self, parent: Parent, current: list[str], member: dict, policy: dict[str, Any]) -> Nested:
        """A new `resource`, as Heat's handle_update makes it: the members are replaced in
        batches (InstanceGroup._replace, towards min(desired_capacity or size, size)), then the
        group is resized to its new capacity (one more update of the nested stack). Failed
        members are replaced first; otherwise the oldest."""
        child = self.state.physical_id
        low, high, desired = self.sizes()
        existing = (self.runtime.stacks.template(child) or {}).get("resources") or {}
        states = self.runtime.stacks.resource_states(child)
        failed = [n for n in current if states.get(n, ("", "", ""))[1] == "FAILED"]
        ordered = failed + [n for n in current if n not in failed]
        definition = member_definition(member)
        plans = scaling_batches(
            [(n, existing.get(n) or {}) for n in ordered],
            definition,
            min(desired or len(current), len(current)),
            int(policy.get("max_batch_size") or 1),
            int(policy.get("min_in_service") or 0),
            lambda n: sorted(short_id() for _ in range(n)),
        )
        pause = float(policy.get("pause_time") or 0)
        self.refuse_long_pauses(len(plans), pause, parent.timeout_mins)
        steps, before = [], {n: existing.get(n) or {} for n in current}
        for index, plan in enumerate(plans, 1):
            # Members keep their place (creation order); those the batch makes come last.
            made = dict(plan)
            members = {n: made[n] for n in current if n in made} | {n: d for n, d in plan if n not in current}
            steps.append(step(members_template(members), before, index, pause * (index > 1), members=list(members)))
            before = members
        capacity = new_capacity(len(before), desired, low, high)
        resized = {n: before.get(n, definition) for n in scaled_members(list(before), capacity)}
        steps.append(step(members_template(resized), before, None, 0, members=list(resized)))
        batch = self.batch("rolling update", steps, policy, {n: existing.get(n) or {} for n in current}, True)
        first = steps.pop(0)
        return Nested(
            template=first["template"],
            template_name=f"{parent.template_name}#{self.state.name}",
            timeout_mins=self.remaining_minutes(),
            data={
                "members": first["members"],
                STEPS: steps,
                BATCH: batch,
                **self.scaling_data(member),
            },
            # Members keep their old definition until their batch: the nested stack gets the
            # old files and the new ones (Heat's grouputils.get_child_template_files).
            files={**parent.previous_files, **parent.files},
        )

    # Scaling by signals (engine/service/scaling.py reads and writes these) ------------------
    COOLDOWN = "cooldown"

    def member_definition(self) -> dict:
        """Each member's definition, as a resource of a HOT template."""
        return self.properties["resource"]

    def member_is_secret(self) -> bool:
        return self.derived_from_secret("resource")

    def scaling_data(self, member: dict) -> dict[str, Any]:
        """What a policy's signal needs without resolving the template: the bounds, the
        cooldown and the member definition (sealed when it derives from a secret)."""
        low, high, _ = self.sizes()
        cooldown = self.properties.get(self.COOLDOWN)
        sealed = secrets.seal_value(self.runtime.keyring, member) if self.member_is_secret() else member
        return {
            "bounds": {"min": low, "max": high, "cooldown": cooldown},
            "member": sealed,
            "health_check": self.properties.get("health_check"),
        }

    def completed(self, child_id: str) -> Done:
        # Heat's resource show lists the attributes without values. A create or update that
        # completes starts the group's cooldown (Heat's _finished_scaling "ExactCapacity : N").
        members = list(self.state.data.get("members") or [])
        cooldown = self.properties.get(self.COOLDOWN)
        return Done(
            physical_id=child_id,
            attributes=dict.fromkeys(self.SHOWN_ATTRIBUTES),
            data={
                "scaling": finished_scaling(
                    self.state.data.get("scaling"), self.runtime.now(), cooldown, f"ExactCapacity : {len(members)}"
                ),
                "pending": None,
            },
        )

    SHOWN_ATTRIBUTES: tuple[str, ...] = ("current_size", "outputs_list", "refs", "refs_map", "outputs")

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        return cls.attribute_at(runtime, name, [], physical_id, attributes, data)

    @classmethod
    def attribute_at(cls, runtime, name, path, physical_id, attributes, data):
        members = list(data.get("members") or [])
        if name is None:
            return dict(attributes)
        if name == "show":
            # Heat's resource show lists the attributes without values (recorded from Heat 27.0.1).
            return dict.fromkeys(cls.SHOWN_ATTRIBUTES)
        if name == "current_size":
            return walk(len(members), path)
        if physical_id is None:
            return None
        refs = runtime.stacks.outputs(physical_id).get("refs_map") or {}
        if name == "refs":
            return walk([refs.get(m) for m in members], path)
        if name == "refs_map":
            return walk({m: refs.get(m) for m in members}, path)
        if name in ("outputs", "outputs_list") and path:
            attr, rest = str(path[0]), list(path[1:])
            values = {m: walk(runtime.stacks.resource_attribute(physical_id, m, attr), rest) for m in members}
            return values if name == "outputs" else list(values.values())
        if name.startswith(NESTED):
            name, path = fold_nested(name, list(path))
            return walk(_member_attribute(runtime, physical_id, members, name), path)
        return None


def _member_attribute(runtime, physical_id: str, members: list[str], name: str) -> Any:
    """`resource.N` (the N-th member's reference) or `resource.N.attr` (its attribute)."""
    parts = name.split(".", 2)
    try:
        member = members[int(parts[1])]
    except (ValueError, IndexError):
        return None
    if len(parts) == 2:
        return runtime.stacks.resource_reference(physical_id, member)
    return runtime.stacks.resource_attribute(physical_id, member, parts[2])
