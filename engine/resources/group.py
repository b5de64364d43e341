"""OS::Heat::ResourceGroup: `count` copies of one resource definition, as a nested stack named
"0", "1", ..., reached only through StackResource and `runtime.stacks`; no I/O of its own.

The members live in a generated HOT template (`group_template`, pure) whose outputs `refs` and
`refs_map` give the members' references; other attributes are read from the members. Scaling
regenerates the template and updates the nested stack, keeping existing members' names.
Names removed by `removal_policies` are never reused (Heat's blacklist), unless
`removal_policies_mode` is `update`, which replaces the list instead of adding to it.
"""

from __future__ import annotations

import itertools
from typing import Any

from engine.errors import TemplateError
from engine.resources.base import Done
from engine.resources.health import HEALTH_CHECK
from engine.resources.provider import NESTED, PROPERTY_ERROR, nested_attribute
from engine.resources.rolling import (
    BATCH,
    HEALTH_FIELDS,
    STEPS,
    Rollout,
    needs_update,
    next_batch,
    step,
)
from engine.resources.schema import Prop, validate_properties
from engine.resources.stack_resource import NESTED_ACTION, Nested, Parent, walk

# Heat generates member templates in this version: member properties are data, not calls.
MEMBER_TEMPLATE_VERSION = "2015-04-30"
UPDATE_POLICY = {
    "rolling_update": Prop(
        "map",
        "replace members in batches when resource_def changes, pausing pause_time seconds between batches",
        fields={
            "min_in_service": Prop("integer", min=0),
            "max_batch_size": Prop("integer", min=1),
            "pause_time": Prop("number", min=0),
            **HEALTH_FIELDS,
        },
    ),
    "batch_create": Prop(
        "map",
        "create members in batches, pausing pause_time seconds between batches",
        fields={"max_batch_size": Prop("integer", min=1), "pause_time": Prop("number", min=0)},
    ),
}
# The group's own attributes; any other name is each member's attribute.
GROUP_ATTRIBUTES = ("refs", "refs_map", "attributes", "removed_rsrc_list")
_POLICY_KEYS = {
    "rolling_update": ("min_in_service", "max_batch_size", "pause_time", *HEALTH_FIELDS),
    "batch_create": ("max_batch_size", "pause_time"),
}


def member_names(count: int, blacklist: set[str] | list[str]) -> list[str]:
    """The first `count` of "0", "1", "2", ... that are not blacklisted."""
    banned = set(blacklist)
    candidates = (str(i) for i in itertools.count())
    return list(itertools.islice((n for n in candidates if n not in banned), count))


def removal_blacklist(
    policies: list[dict], mode: str, current: list[str], members: list[str] | None, refs_map: dict[str, Any]
) -> list[str]:
    """The names never to use again after applying `removal_policies`, as Heat resolves them.

    An entry of a `resource_list` is a member name, or a member's reference (from `refs`).
    Names are taken as they are while the group is being created (`members` is None), when
    they are members or already blacklisted; a reference is turned into its member's name.
    """
    kept = set() if mode == "update" else set(current)
    added = set()
    for policy in policies or []:
        for entry in (policy or {}).get("resource_list") or []:
            name = str(entry)
            if members is None or name in current or name in members:
                added.add(name)
            elif isinstance(entry, str):
                added.update(n for n, ref in refs_map.items() if ref == entry)
    return sorted(kept | added)


def replace_index(value: Any, index_var: str, name: str) -> Any:
    """`value` with `index_var` replaced by the member's name in every string inside it.

    What holds no `index_var` is `value` itself, not a copy: the members of a large group
    share what they have in common.
    """
    if isinstance(value, str):
        return value.replace(index_var, name) if index_var in value else value
    if isinstance(value, dict):
        replaced = {key: replace_index(item, index_var, name) for key, item in value.items()}
        return value if all(replaced[key] is item for key, item in value.items()) else replaced
    if isinstance(value, list):
        items = [replace_index(item, index_var, name) for item in value]
        return value if all(new is old for new, old in zip(items, value, strict=False)) else items
    return value


def member_definition(resource_def: dict, index_var: str, name: str) -> dict:
    """Member `name`'s definition, as Heat builds it: `index_var` replaced in the properties
    (not in the metadata), properties left out when they are null."""
    properties = {k: v for k, v in (resource_def.get("properties") or {}).items() if v is not None}
    member: dict[str, Any] = {"type": resource_def["type"]}
    if properties:
        member["properties"] = replace_index(properties, index_var, name)
    if resource_def.get("metadata"):
        member["metadata"] = resource_def["metadata"]
    return member


def members_template(members: dict[str, dict]) -> dict:
    """The nested stack's template for these member definitions, with Heat's `refs_map` output."""
    return {
        "heat_template_version": MEMBER_TEMPLATE_VERSION,
        "resources": dict(members),
        "outputs": {"refs_map": {"value": {n: {"get_resource": n} for n in members}}},
    }


def group_template(names: list[str], resource_def: dict, index_var: str) -> dict:
    """The nested stack's template: one member per name."""
    return members_template({n: member_definition(resource_def, index_var, n) for n in names})


def batches(
    current: dict[str, dict], names_for, target: int, batch_size: int, min_in_service: int, definition_for
) -> list[dict[str, dict]]:
    """The member definitions after each batch of a batched change, as Heat's rolling update
    computes them (heat.scaling.rolling_update and template.member_definitions).

    `current` holds the members now, in order; `names_for(n)` the first n member names;
    `definition_for(name)` a member's new definition. Each batch gives at most `batch_size`
    members the new definition (new members first, then the highest-numbered ones), keeping
    at least `min_in_service` members as they were.
    """
    plans: list[dict[str, dict]] = []
    members = dict(current)
    capacity, updated = len(members), 0
    while needs_update(target, capacity, updated):
        new_capacity, size = next_batch(target, capacity, updated, batch_size, min_in_service)
        names = names_for(new_capacity)

        def priority(item, names=names, new_capacity=new_capacity):
            if item[0] not in names:
                return 0
            index = names.index(item[0])
            return target - index if index < target else new_capacity

        old = sorted(members.items(), key=priority)[-new_capacity:] if new_capacity else []
        fresh = iter(n for n in names if n not in members)
        replace = size - (new_capacity - len(old))
        planned: dict[str, dict] = {}
        for i in range(new_capacity):
            if i < len(old):
                name, definition = old[i]
                wanted = definition_for(name)
                if definition != wanted and replace > 0:
                    replace -= 1
                    definition = wanted
                planned[name] = definition
            else:
                name = next(fresh)
                planned[name] = definition_for(name)
        ordered = {n: planned[n] for n in names if n in planned}
        plans.append({**ordered, **planned})
        updated += size - max(new_capacity - max(capacity, target), 0)
        capacity, members = new_capacity, plans[-1]
    return plans


def check_update_policy(policy: dict) -> None:
    """rolling_update and batch_create with Heat's keys; errors name the path inside update_policy."""
    for section, keys in _POLICY_KEYS.items():
        for key in (policy or {}).get(section) or {}:
            if key not in keys:
                raise TemplateError(f"Unknown Property {key}", path=("update_policy", section), prefix=PROPERTY_ERROR)
    try:
        validate_properties(UPDATE_POLICY, policy or {})
    except TemplateError as error:
        raise error.located(path=("update_policy",) + error.path) from None
    for section, keys in _POLICY_KEYS.items():
        for key in (policy or {}).get(section) or {}:
            if key not in keys:
                raise TemplateError(f"Unknown Property {key}", path=("update_policy", section), prefix=PROPERTY_ERROR)


class ResourceGroup(Rollout):
    """Creates `count` resources of one definition, in a nested stack, named "0", "1", ...

    `index_var` (default `%index%`) in the definition's properties becomes each member's
    name (not in its metadata, as in Heat). Attributes: `refs`, `refs_map`, `attributes`
    (`[group, attributes, name]` is a map of member name to that attribute),
    `removed_rsrc_list`, `resource.N` (member N's reference), `resource.N.attr`, and any
    other name: a list of that attribute of every member. `update_policy` `batch_create`
    creates the members in batches, `rolling_update` replaces a changed definition in
    batches, each batch one update of the nested stack, as Heat does, waiting `pause_time`
    seconds between batches (refused, as Heat does, when the pauses alone would reach the
    stack's timeout). A batch whose members fail stops the rollout and fails the group,
    naming the batch and the failed members; `max_errors` / `max_error_percent` in
    `rolling_update` (a Hearth addition) let the rollout go on past that many failed members,
    each given its old definition back.
    Hearth's `health_check` property replaces unhealthy members by itself (docs/fleets.md).
    """

    type_name = "OS::Heat::ResourceGroup"
    dynamic_attributes = True
    # The keys a member's definition may have (Heat refuses any other).
    MEMBER_KEYS = ("type", "properties", "metadata")

    @classmethod
    def check_properties(cls, values, unresolved=None):
        definition = (values or {}).get("resource_def") if isinstance(values, dict) else None
        if isinstance(definition, dict) and not (unresolved and unresolved(definition)):
            for key in definition:
                if key not in cls.MEMBER_KEYS:
                    raise TemplateError(f"Unknown Property {key}", path=("resource_def",), prefix=PROPERTY_ERROR)
        return super().check_properties(values, unresolved)

    @classmethod
    def check_policy(cls, policy: dict) -> None:
        check_update_policy(policy)

    @classmethod
    def member_types(cls, values) -> list[str]:
        """The member type a definition names (checked with the stack, as Heat does)."""
        definition = (values or {}).get("resource_def") if isinstance(values, dict) else None
        kind = definition.get("type") if isinstance(definition, dict) else None
        return [kind] if isinstance(kind, str) else []

    properties_schema = {
        "count": Prop("integer", "the number of resources", default=1, min=0, update_allowed=True),
        "index_var": Prop("string", "the text replaced by each member's index", default="%index%", min=3),
        "resource_def": Prop(
            "map",
            "the definition of each member: type, properties, metadata",
            required=True,
            update_allowed=True,
            fields={
                "type": Prop("string", "each member's resource type", required=True),
                "properties": Prop("map", "each member's properties"),
                "metadata": Prop("map", "each member's metadata"),
            },
        ),
        "removal_policies": Prop(
            "list",
            "members to remove first: [{resource_list: [names or refs]}]",
            default=[],
            update_allowed=True,
            item=Prop(
                "map",
                "one policy: the members it removes",
                fields={"resource_list": Prop("list", "member names or references to remove", default=[])},
            ),
        ),
        "health_check": HEALTH_CHECK,
        "removal_policies_mode": Prop(
            "string",
            "whether new removal_policies add to the removed names (append) or replace them (update)",
            default="append",
            allowed=("append", "update"),
            update_allowed=True,
        ),
    }
    attributes_schema = {
        "refs": "the members' references (get_resource), in order",
        "refs_map": "a map of member name to reference",
        "attributes": "with a name after it: a map of member name to that attribute",
        "removed_rsrc_list": "the names removed by removal_policies, never used again",
    }
    attribute_types = {"refs": "list", "refs_map": "map", "attributes": "map", "removed_rsrc_list": "list"}
    attribute_patterns = {
        "resource.<n>": "member <n>'s reference; resource.<n>.<attr> is its attribute <attr>",
        "<attr>": "any other name: the list of that attribute of every member",
    }
    support_status = {"version": "2014.1"}

    def nested(self, parent: Parent) -> Nested:
        check_update_policy(self.state.update_policy)
        # Before the members are named or built: a count past the limits fails here, at once.
        self.check_members(self.properties["count"], self.properties["resource_def"])
        names, data = self.member_plan()
        resource_def, index_var = self.properties["resource_def"], self.properties["index_var"]
        template = group_template(names, resource_def, index_var)
        section, current, plans = self.batch_plans(data["blacklist"], resource_def, index_var)
        files = None
        if plans:
            # Each batch is one update of the nested stack, pause_time apart (not before the
            # first, as Heat's _replace); a create starts from no members.
            policy = dict((self.state.update_policy or {}).get(section) or {})
            pause = float(policy.get("pause_time") or 0)
            self.refuse_long_pauses(len(plans), pause, parent.timeout_mins)
            steps, before = [], current
            for index, plan in enumerate(plans, 1):
                steps.append(step(members_template(plan), before, index, pause if index > 1 else 0))
                before = plan
            data[NESTED_ACTION] = self.state.action
            creating = self.state.action == "CREATE"
            data[BATCH] = self.batch(section.replace("_", " "), steps, policy, current, started=not creating)
            if creating:
                template = members_template({})
            else:
                template = steps.pop(0)["template"]
                # Members keep their old definition until their batch: the nested stack gets the
                # old files and the new ones (Heat's grouputils.get_child_template_files).
                files = {**parent.previous_files, **parent.files}
            data[STEPS] = steps
        return Nested(
            template=template,
            template_name=f"{parent.template_name}#{self.state.name}",
            timeout_mins=self.remaining_minutes(),
            data=data,
            files=files,
        )

    def batch_plans(
        self, blacklist: list[str], resource_def: dict, index_var: str
    ) -> tuple[str, dict[str, dict], list[dict]]:
        """(update_policy section, the members now, the member definitions after each batch),
        when update_policy asks for batches: a create with batch_create, an update of
        resource_def with rolling_update."""
        policy = self.state.update_policy or {}
        count = self.properties["count"]
        current: dict[str, dict]
        if self.state.action == "CREATE" and policy.get("batch_create") and count:
            current, section = {}, "batch_create"
        elif (
            self.state.action == "UPDATE"
            and policy.get("rolling_update")
            and "resource_def" in self.state.changed
            and self.state.physical_id
        ):
            section = "rolling_update"
            nested = self.runtime.stacks.template(self.state.physical_id) or {}
            current = {n: d for n, d in (nested.get("resources") or {}).items() if n not in blacklist}
        else:
            return "", {}, []
        return (
            section,
            current,
            batches(
                current,
                lambda n: member_names(n, blacklist),
                count,
                int(policy[section].get("max_batch_size") or 1),
                int(policy[section].get("min_in_service") or 0),
                lambda name: member_definition(resource_def, index_var, name),
            ),
        )

    def member_plan(self) -> tuple[list[str], dict[str, Any]]:
        """The members' names and what to keep in the resource's data (names, blacklist)."""
        child = self.state.physical_id if self.state.action == "UPDATE" else None
        members = refs_map = None
        if child:
            members = self.runtime.stacks.resource_names(child)
            refs_map = self.runtime.stacks.outputs(child).get("refs_map") or {}
        blacklist = removal_blacklist(
            self.properties["removal_policies"],
            self.properties["removal_policies_mode"],
            list(self.state.data.get("blacklist") or []),
            members,
            refs_map or {},
        )
        names = member_names(self.properties["count"], blacklist)
        return names, {
            "members": names,
            "blacklist": blacklist,
            STEPS: [],
            BATCH: None,
            "health_check": self.properties.get("health_check"),
        }

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name == "removed_rsrc_list":
            return list(data.get("blacklist") or [])
        if name == "show":
            # Heat's resource show of a group: only removed_rsrc_list resolves there.
            return {
                "attributes": None,
                "refs": None,
                "refs_map": None,
                "removed_rsrc_list": list(data.get("blacklist") or []),
            }
        if physical_id is None:
            return None
        members = list(data.get("members") or [])
        if name is None:
            refs_map = runtime.stacks.outputs(physical_id).get("refs_map") or {}
            return {
                "refs": [refs_map.get(m) for m in members],
                "refs_map": refs_map,
                "removed_rsrc_list": list(data.get("blacklist") or []),
            }
        if name.startswith(NESTED):
            return nested_attribute(runtime, physical_id, name)
        if name == "refs_map":
            return runtime.stacks.outputs(physical_id).get("refs_map") or {}
        if name == "refs":
            refs_map = runtime.stacks.outputs(physical_id).get("refs_map") or {}
            return [refs_map.get(m) for m in members]
        if name == "attributes":
            return by_attribute({m: runtime.stacks.resource_attribute(physical_id, m, None) for m in members})
        return [runtime.stacks.resource_attribute(physical_id, m, name) for m in members]

    @classmethod
    def attribute_at(cls, runtime, name, path, physical_id, attributes, data):
        """As Heat: `[group, attributes, attr, *rest]` and `[group, attr, *rest]` walk `rest`
        into each member's value, not into the map or list of them."""
        if physical_id is not None and (
            (name == "attributes" and path) or (name not in GROUP_ATTRIBUTES and not name.startswith(NESTED))
        ):
            members = list(data.get("members") or [])
            attr, rest = (str(path[0]), list(path[1:])) if name == "attributes" else (name, list(path))
            values = {m: walk(runtime.stacks.resource_attribute(physical_id, m, attr), rest) for m in members}
            return values if name == "attributes" else list(values.values())
        return super().attribute_at(runtime, name, path, physical_id, attributes, data)

    def completed(self, child_id: str) -> Done:
        # What Heat's resource show lists for a group: its attributes resolve to nothing there.
        blacklist = list(self.state.data.get("blacklist") or [])
        return Done(
            physical_id=child_id,
            attributes={"attributes": None, "refs": None, "refs_map": None, "removed_rsrc_list": blacklist},
        )


def by_attribute(members: dict[str, dict | None]) -> dict[str, dict[str, Any]]:
    """{member: {attribute: value}} turned into {attribute: {member: value}}, so that
    `[group, attributes, name]` is a map of member name to that attribute."""
    names = dict.fromkeys(k for values in members.values() for k in (values or {}))
    return {attr: {m: (values or {}).get(attr) for m, values in members.items()} for attr in names}
