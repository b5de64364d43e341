"""OS::Heat::SoftwareDeploymentGroup and OS::Heat::StructuredDeploymentGroup: own one nested
stack of deployments, one per server, via StackResource and `runtime.stacks`; no I/O of their own.

The group is a nested stack whose members are named by the keys of `servers` (so inside it
`deploy_resource_name` is the key and `deploy_stack_id` the nested stack); each applies the
same config to its server. Attributes are maps of member name to the member's attribute.
"""

from __future__ import annotations

from engine.errors import InvalidTemplateAttribute
from engine.resources.base import Done
from engine.resources.group import ResourceGroup, check_update_policy, group_template
from engine.resources.heat_deployment import SoftwareDeployment
from engine.resources.provider import NESTED
from engine.resources.schema import Prop
from engine.resources.stack_resource import Nested, Parent, StackResource

SERVERS = Prop("map", "the servers to deploy to: a map of member name to server id", required=True, update_allowed=True)
# The group's attribute names for the members' own.
MEMBER_ATTRIBUTES = {
    "deploy_stdouts": "deploy_stdout",
    "deploy_stderrs": "deploy_stderr",
    "deploy_status_codes": "deploy_status_code",
}


class SoftwareDeploymentGroup(ResourceGroup):
    """Applies `config` to every server in `servers` (member name: server id), as one
    OS::Heat::SoftwareDeployment per server in a nested stack, named by the map's keys.

    `deploy_stdouts`, `deploy_stderrs` and `deploy_status_codes` are maps of member name to
    that member's value; so is any other attribute name (a config output, for instance).
    `update_policy` rolling_update and batch_create are accepted; members run together.
    """

    type_name = "OS::Heat::SoftwareDeploymentGroup"
    member_type = "OS::Heat::SoftwareDeployment"
    properties_schema = {
        "servers": SERVERS,
        **{k: p for k, p in SoftwareDeployment.properties_schema.items() if k != "server"},
    }
    attributes_schema = {
        "deploy_stdouts": "a map of member name to its deployment's standard output",
        "deploy_stderrs": "a map of member name to its deployment's standard error",
        "deploy_status_codes": "a map of member name to its deployment's exit code",
    }
    attribute_types = {"deploy_stdouts": "map", "deploy_stderrs": "map", "deploy_status_codes": "map"}
    attribute_patterns = {"<attr>": "any other name: a map of member name to that attribute (a config output)"}
    support_status = {"version": "5.0.0"}

    def nested(self, parent: Parent) -> Nested:
        check_update_policy(self.state.update_policy)
        shared = {k: v for k, v in self.properties.items() if k != "servers" and v is not None}
        self.check_members(len(self.properties["servers"]), shared)
        names = [str(name) for name in self.properties["servers"]]
        template = group_template(names, {"type": self.member_type}, "%index%")
        for name, server in self.properties["servers"].items():
            template["resources"][str(name)]["properties"] = {**shared, "server": server}
        return Nested(
            template=template,
            template_name=f"{parent.template_name}#{self.state.name}",
            timeout_mins=self.remaining_minutes(),
            data={"members": names},
        )

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name == "show":
            return dict.fromkeys(sorted(MEMBER_ATTRIBUTES))  # nothing resolves in Heat's resource show
        if physical_id is None:
            return None
        members = list(data.get("members") or [])
        if name is None:
            return {
                group_name: cls.attribute(runtime, group_name, physical_id, attributes, data)
                for group_name in MEMBER_ATTRIBUTES
            }
        if name.startswith(NESTED):
            # Heat's deployment groups have no resource.NAME attributes (an output error).
            raise InvalidTemplateAttribute(name)
        member_name = MEMBER_ATTRIBUTES.get(name, name)
        return {m: runtime.stacks.resource_attribute(physical_id, m, member_name) for m in members}

    @classmethod
    def attribute_at(cls, runtime, name, path, physical_id, attributes, data):
        # As Heat: the path walks into the map of member values.
        return StackResource.attribute_at.__func__(cls, runtime, name, path, physical_id, attributes, data)

    def completed(self, child_id: str) -> Done:
        # What Heat's resource show lists for a deployment group: nothing resolves there.
        return Done(physical_id=child_id, attributes=dict.fromkeys(sorted(MEMBER_ATTRIBUTES)))


class StructuredDeploymentGroup(SoftwareDeploymentGroup):
    """As OS::Heat::SoftwareDeploymentGroup, with OS::Heat::StructuredDeployment members:
    `{get_input: name}` (or `input_key`) in a structured config becomes the input's value."""

    type_name = "OS::Heat::StructuredDeploymentGroup"
    member_type = "OS::Heat::StructuredDeployment"
    properties_schema = {
        **SoftwareDeploymentGroup.properties_schema,
        "input_key": Prop("string", "the key whose maps are replaced by input values", default="get_input"),
        "input_values_validate": Prop(
            "string", "STRICT: an input the config uses must have a value", default="LAX", allowed=("LAX", "STRICT")
        ),
    }


class SoftwareDeployments(SoftwareDeploymentGroup):
    """Deprecated name of OS::Heat::SoftwareDeploymentGroup (hidden in Heat); the same resource."""

    type_name = "OS::Heat::SoftwareDeployments"
    support_status = {"status": "HIDDEN", "version": "2014.2", "previous_status": {"status": "DEPRECATED"}}


class StructuredDeployments(StructuredDeploymentGroup):
    """Deprecated name of OS::Heat::StructuredDeploymentGroup (hidden in Heat); the same resource."""

    type_name = "OS::Heat::StructuredDeployments"
    support_status = {"status": "HIDDEN", "version": "2014.2", "previous_status": {"status": "DEPRECATED"}}
