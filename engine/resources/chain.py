"""OS::Heat::ResourceChain: owns one nested stack of one member per listed type, reached only
through StackResource and `runtime.stacks`; no I/O of its own.

One resource per listed type, in a nested stack named "0", "1", ..., each after the one before.

The members live in a generated HOT template (`chain_template`, pure) whose output `refs`
gives their references; other attributes are read from the members, as for ResourceGroup.
Changing `resources` updates the nested stack (a member whose type changed is replaced);
changing `concurrent` or `resource_properties` replaces the whole chain, as in Heat.
"""

from __future__ import annotations

import copy
from typing import Any

from engine.errors import ResourceFailure
from engine.resources.base import Done
from engine.resources.group import MEMBER_TEMPLATE_VERSION
from engine.resources.provider import NESTED, nested_attribute
from engine.resources.schema import Prop
from engine.resources.stack_resource import Nested, Parent, StackResource, walk

# The chain's own attributes; any other name is each member's attribute.
CHAIN_ATTRIBUTES = ("refs", "attributes")


def chain_template(types: list[str], properties: dict | None, concurrency: int | None) -> dict:
    """The nested stack's template: member N of type `types[N]` with the same `properties`.

    Without `concurrency` each member depends on the one before; with it, member N depends on
    member N - `concurrency`, so at most that many are created at once (Heat's limit is the
    number of its engines).
    """
    names = [str(i) for i in range(len(types))]
    resources: dict[str, Any] = {}
    for index, (name, type_name) in enumerate(zip(names, types, strict=False)):
        member: dict[str, Any] = {"type": type_name}
        if properties is not None:
            member["properties"] = copy.deepcopy(properties)
        step = 1 if concurrency is None else concurrency
        if index >= step:
            member["depends_on"] = [names[index - step]]
        resources[name] = member
    return {
        "heat_template_version": MEMBER_TEMPLATE_VERSION,
        "resources": resources,
        "outputs": {"refs": {"value": [{"get_resource": n} for n in names]}},
    }


class ResourceChain(StackResource):
    """Creates one resource of each type in `resources`, named "0", "1", ..., in a nested stack,
    each given `resource_properties`; unless `concurrent`, each waits for the one before it.

    With `concurrent: true` members are created together, at most as many at once as the
    engine has handler threads (Heat: as many as it has engines). Attributes: `refs` (the
    members' references, in order), `attributes` (with a name after it: a map of member name to
    that attribute; without one it is an error, as in Heat), `resource.N` (member N's
    reference), `resource.N.attr`, and any other name: the list of that attribute of every
    member. Unlike Heat, an unknown type in `resources` fails the nested stack's create rather
    than the request.
    """

    type_name = "OS::Heat::ResourceChain"
    dynamic_attributes = True
    properties_schema = {
        "resources": Prop(
            "list",
            "the types to create, one member each (types or registry aliases)",
            required=True,
            update_allowed=True,
        ),
        "concurrent": Prop(
            "boolean", "create the members together instead of each after the one before", default=False
        ),
        "resource_properties": Prop("map", "the properties given to every member"),
    }
    attributes_schema = {
        "refs": "the members' references (get_resource), in order",
        "attributes": "with a name after it: a map of member name to that attribute",
    }
    attribute_types = {"refs": "list", "attributes": "map"}
    attribute_patterns = {
        "resource.<n>": "member <n>'s reference; resource.<n>.<attr> is its attribute <attr>",
        "<attr>": "any other name: the list of that attribute of every member",
    }
    support_status = {"version": "6.0.0"}

    def nested(self, parent: Parent) -> Nested:
        types = list(self.properties["resources"])
        self.check_members(len(types), self.properties["resource_properties"])
        concurrency = self.runtime.config.engine_workers if self.properties["concurrent"] else None
        template = chain_template(types, self.properties["resource_properties"], concurrency)
        return Nested(
            template=template,
            template_name=f"{parent.template_name}#{self.state.name}",
            timeout_mins=self.remaining_minutes(),
            data={"members": [str(i) for i in range(len(types))], "name": self.state.name},
        )

    def completed(self, child_id: str) -> Done:
        refs = self.runtime.stacks.outputs(child_id).get("refs")
        return Done(physical_id=child_id, attributes={"refs": refs, "attributes": None})

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if physical_id is None:
            return None
        members = list(data.get("members") or [])
        if name is None:
            return {"refs": runtime.stacks.outputs(physical_id).get("refs"), "attributes": None}
        if name.startswith(NESTED):
            return nested_attribute(runtime, physical_id, name)
        if name == "refs":
            return runtime.stacks.outputs(physical_id).get("refs")
        if name == "attributes":
            # Heat's answer to `[chain, attributes]` without the attribute's name (recorded
            # from Heat 27.0.1: an output error, the value null).
            raise ResourceFailure(f"The Referenced Attribute ({data.get('name')} attributes) is incorrect.")
        return [runtime.stacks.resource_attribute(physical_id, m, name) for m in members]

    @classmethod
    def attribute_at(cls, runtime, name, path, physical_id, attributes, data):
        """`[chain, attributes, attr, *rest]` and `[chain, attr, *rest]` walk `rest` into each
        member's value, as Heat answers them."""
        if physical_id is not None and (
            (name == "attributes" and path) or (name not in CHAIN_ATTRIBUTES and not name.startswith(NESTED))
        ):
            members = list(data.get("members") or [])
            attr, rest = (str(path[0]), list(path[1:])) if name == "attributes" else (name, list(path))
            values = {m: walk(runtime.stacks.resource_attribute(physical_id, m, attr), rest) for m in members}
            return values if name == "attributes" else list(values.values())
        return super().attribute_at(runtime, name, path, physical_id, attributes, data)
