"""OS::Heat::ResourceGroup: `count` copies of one resource definition, as a nested stack named "0", "1", ...

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
from engine.resources.provider import NESTED, nested_attribute
from engine.resources.schema import Prop, validate_properties
from engine.resources.stack_resource import Nested, Parent, StackResource, walk

# Heat generates member templates in this version: member properties are data, not calls.
MEMBER_TEMPLATE_VERSION = "2015-04-30"
UPDATE_POLICY = {
    "rolling_update": Prop("map", "replace members in batches (accepted; members update together)",
                           fields={"min_in_service": Prop("integer", min=0),
                                   "max_batch_size": Prop("integer", min=1),
                                   "pause_time": Prop("number", min=0)}),
    "batch_create": Prop("map", "create members in batches (accepted; members are created together)",
                         fields={"max_batch_size": Prop("integer", min=1),
                                 "pause_time": Prop("number", min=0)}),
}
# The group's own attributes; any other name is each member's attribute.
GROUP_ATTRIBUTES = ("refs", "refs_map", "attributes", "removed_rsrc_list")
_POLICY_KEYS = {"rolling_update": ("min_in_service", "max_batch_size", "pause_time"),
                "batch_create": ("max_batch_size", "pause_time")}


def member_names(count: int, blacklist: set[str] | list[str]) -> list[str]:
    """The first `count` of "0", "1", "2", ... that are not blacklisted."""
    banned = set(blacklist)
    candidates = (str(i) for i in itertools.count())
    return list(itertools.islice((n for n in candidates if n not in banned), count))


def removal_blacklist(policies: list[dict], mode: str, current: list[str],
                      members: list[str] | None, refs_map: dict[str, Any]) -> list[str]:
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
    """`value` with `index_var` replaced by the member's name in every string inside it."""
    if isinstance(value, str):
        return value.replace(index_var, name)
    if isinstance(value, dict):
        return {key: replace_index(item, index_var, name) for key, item in value.items()}
    if isinstance(value, list):
        return [replace_index(item, index_var, name) for item in value]
    return value


def group_template(names: list[str], resource_def: dict, index_var: str) -> dict:
    """The nested stack's template: one resource per name, with the `refs` and `refs_map` outputs."""
    properties = {k: v for k, v in (resource_def.get("properties") or {}).items() if v is not None}
    metadata = resource_def.get("metadata") or {}
    resources = {}
    for name in names:
        member: dict[str, Any] = {"type": resource_def["type"]}
        if properties:
            member["properties"] = replace_index(properties, index_var, name)
        if metadata:
            member["metadata"] = replace_index(metadata, index_var, name)
        resources[name] = member
    return {
        "heat_template_version": MEMBER_TEMPLATE_VERSION,
        "resources": resources,
        "outputs": {"refs": {"value": [{"get_resource": n} for n in names]},
                    "refs_map": {"value": {n: {"get_resource": n} for n in names}}},
    }


def check_update_policy(policy: dict) -> None:
    """rolling_update and batch_create with Heat's keys; errors name the path inside update_policy."""
    try:
        validate_properties(UPDATE_POLICY, policy or {})
    except TemplateError as error:
        raise TemplateError(error.reason, path=("update_policy",) + error.path) from None
    for section, keys in _POLICY_KEYS.items():
        for key in (policy or {}).get(section) or {}:
            if key not in keys:
                raise TemplateError(f"unknown key '{key}' (allowed: {', '.join(keys)})",
                                    path=("update_policy", section, key))


class ResourceGroup(StackResource):
    """Creates `count` resources of one definition, in a nested stack, named "0", "1", ...

    `index_var` (default `%index%`) in the definition's properties and metadata becomes each
    member's name. Attributes: `refs`, `refs_map`, `attributes` (`[group, attributes, name]`
    is a map of member name to that attribute), `removed_rsrc_list`, `resource.N` (member N's
    reference), `resource.N.attr`, and any other name: a list of that attribute of every member.
    `update_policy` rolling_update and batch_create are accepted; members are created and
    updated together.
    """

    type_name = "OS::Heat::ResourceGroup"
    dynamic_attributes = True
    properties_schema = {
        "count": Prop("integer", "the number of resources", default=1, min=0, update_allowed=True),
        "index_var": Prop("string", "the text replaced by each member's index", default="%index%", min=3),
        "resource_def": Prop("map", "the definition of each member: type, properties, metadata",
                             required=True, update_allowed=True,
                             fields={"type": Prop("string", "each member's resource type", required=True),
                                     "properties": Prop("map", "each member's properties"),
                                     "metadata": Prop("map", "each member's metadata")}),
        "removal_policies": Prop("list", "members to remove first: [{resource_list: [names or refs]}]",
                                 default=[], update_allowed=True,
                                 item=Prop("map", "one policy: the members it removes", fields={
                                     "resource_list": Prop("list", "member names or references to remove",
                                                           default=[])})),
        "removal_policies_mode": Prop("string", "whether new removal_policies add to the removed "
                                      "names (append) or replace them (update)", default="append",
                                      allowed=("append", "update"), update_allowed=True),
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
        names, data = self.member_plan()
        template = group_template(names, self.properties["resource_def"], self.properties["index_var"])
        return Nested(template=template, template_name=f"{parent.template_name}#{self.state.name}",
                      timeout_mins=self.remaining_minutes(), data=data)

    def member_plan(self) -> tuple[list[str], dict[str, Any]]:
        """The members' names and what to keep in the resource's data (names, blacklist)."""
        child = self.state.physical_id if self.state.action == "UPDATE" else None
        members = refs_map = None
        if child:
            members = self.runtime.stacks.resource_names(child)
            refs_map = self.runtime.stacks.outputs(child).get("refs_map") or {}
        blacklist = removal_blacklist(self.properties["removal_policies"],
                                      self.properties["removal_policies_mode"],
                                      list(self.state.data.get("blacklist") or []), members, refs_map or {})
        names = member_names(self.properties["count"], blacklist)
        return names, {"members": names, "blacklist": blacklist}

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name == "removed_rsrc_list":
            return list(data.get("blacklist") or [])
        if physical_id is None:
            return None
        members = list(data.get("members") or [])
        if name is None:
            outputs = runtime.stacks.outputs(physical_id)
            return {"refs": outputs.get("refs"), "refs_map": outputs.get("refs_map"),
                    "removed_rsrc_list": list(data.get("blacklist") or [])}
        if name.startswith(NESTED):
            return nested_attribute(runtime, physical_id, name)
        if name in ("refs", "refs_map"):
            return runtime.stacks.outputs(physical_id).get(name)
        if name == "attributes":
            return by_attribute({m: runtime.stacks.resource_attribute(physical_id, m, None) for m in members})
        return [runtime.stacks.resource_attribute(physical_id, m, name) for m in members]

    @classmethod
    def attribute_at(cls, runtime, name, path, physical_id, attributes, data):
        """As Heat: `[group, attributes, attr, *rest]` and `[group, attr, *rest]` walk `rest`
        into each member's value, not into the map or list of them."""
        if physical_id is not None and (name == "attributes" and path or
                                        name not in GROUP_ATTRIBUTES and not name.startswith(NESTED)):
            members = list(data.get("members") or [])
            attr, rest = (str(path[0]), list(path[1:])) if name == "attributes" else (name, list(path))
            values = {m: walk(runtime.stacks.resource_attribute(physical_id, m, attr), rest) for m in members}
            return values if name == "attributes" else list(values.values())
        return super().attribute_at(runtime, name, path, physical_id, attributes, data)

    def completed(self, child_id: str) -> Done:
        outputs = self.runtime.stacks.outputs(child_id)
        return Done(physical_id=child_id, attributes={k: outputs.get(k) for k in ("refs", "refs_map")})


def by_attribute(members: dict[str, dict | None]) -> dict[str, dict[str, Any]]:
    """{member: {attribute: value}} turned into {attribute: {member: value}}, so that
    `[group, attributes, name]` is a map of member name to that attribute."""
    names = dict.fromkeys(k for values in members.values() for k in (values or {}))
    return {attr: {m: (values or {}).get(attr) for m, values in members.items()} for attr in names}
