"""OS::Heat::Stack and AWS::CloudFormation::Stack: own a nested stack from a template property,
through `runtime.stacks`; they also read the child's Stack row (name, project) via `runtime.store`.
"""

from __future__ import annotations

from engine.resources.base import Done
from engine.resources.schema import Prop
from engine.resources.stack_resource import (
    Nested,
    Parent,
    PrefixedAttributes,
    StackResource,
    template_text,
)
from engine.store.models import Stack

_OUTPUTS = "Outputs."
# Types whose stack Heat makes as a stack of its own (a "remote" stack, not a StackResource): no
# nested link, not listed with nested_depth, not previewed as a nested stack.
REMOTE_STACK_TYPES = ("OS::Heat::Stack",)


def _child_row(runtime, child_id: str) -> tuple[str, str] | None:
    with runtime.store.session() as session:
        stack = session.get(Stack, child_id)
        return (stack.name, stack.project) if stack is not None else None


class HeatStack(StackResource):
    """A stack made from `template` (its text, usually `get_file`) with `parameters`.

    In Heat this stack may live in another region or cloud (`context`); Hearth has one region,
    so `context` is accepted and the stack is made here, as a nested stack of this one. The
    parent's files map and environment (resource_registry, parameter_defaults) pass down.
    """

    type_name = "OS::Heat::Stack"
    generated_name = "RemoteStack"
    properties_schema = {
        "context": Prop(
            "map",
            "where to make the stack (region_name, credential_secret_id, ca_cert, "
            "insecure); accepted, the stack is made in this Hearth",
            update_allowed=True,
            fields={
                "region_name": Prop("string", "the region to make the stack in"),
                "credential_secret_id": Prop("string", "a stored credential for another cloud", update_allowed=True),
                "ca_cert": Prop("string", "the CA certificate of that cloud", update_allowed=True),
                "insecure": Prop("boolean", "skip TLS verification", default=False, update_allowed=True),
            },
        ),
        "template": Prop("string", "the template text (YAML or JSON)", required=True, update_allowed=True),
        "timeout": Prop("integer", "minutes the stack may take", update_allowed=True),
        "parameters": Prop("map", "parameter values for the template", default={}, update_allowed=True),
    }
    attributes_schema = {
        "stack_name": "the stack's name",
        "outputs": "the stack's outputs, a map of output name to value",
    }
    attribute_types = {"stack_name": "string", "outputs": "map"}

    def nested(self, parent: Parent) -> Nested:
        return Nested(
            template=self.properties["template"],
            template_name=f"{parent.template_name}#{self.state.name}",
            parameters=dict(self.properties.get("parameters") or {}),
            timeout_mins=self.properties.get("timeout") or self.remaining_minutes(),
            shown_timeout=self.properties.get("timeout"),
        )

    def completed(self, child_id: str) -> Done:
        row = _child_row(self.runtime, child_id)
        outputs = {k: v for k, v in self.runtime.stacks.outputs(child_id, sealed=True).items() if k != "OS::stack_id"}
        return Done(physical_id=child_id, attributes={"stack_name": row[0] if row else None, "outputs": outputs})

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name == "show":
            # Heat's `show` of a remote stack: that stack as its own stack show gives it (in
            # Heat a stack of its own, without a parent).
            shown = runtime.stacks.show(physical_id) if physical_id else None
            return {**shown, "parent": None} if shown else None
        return super().attribute(runtime, name, physical_id, attributes, data)


class CfnStack(StackResource):
    """A nested stack from the template at `TemplateURL`, which must be in the files map the
    client sent (as a URL, a path, or a name relative to this template's).

    Its outputs are the attributes `Outputs.<name>`; get_resource (Ref) gives the nested stack's
    ARN, as in Heat.
    """

    type_name = "AWS::CloudFormation::Stack"
    generated_name = "NestedStack"
    properties_schema = {
        "TemplateURL": Prop("string", "the nested template's URL or file name", required=True, update_allowed=True),
        "TimeoutInMinutes": Prop("integer", "minutes the nested stack may take", update_allowed=True),
        "Parameters": Prop("map", "parameter values for the nested template", update_allowed=True),
    }
    attributes_schema = PrefixedAttributes({}, (_OUTPUTS,))
    attribute_patterns = {"Outputs.<name>": "the nested stack's output <name>"}

    def nested(self, parent: Parent) -> Nested:
        key, text = template_text(
            self.properties["TemplateURL"],
            parent.files,
            parent.template_name,
            ("resources", self.state.name, "properties", "TemplateURL"),
        )
        return Nested(
            template=text,
            template_name=key,
            parameters=dict(self.properties.get("Parameters") or {}),
            timeout_mins=self.properties.get("TimeoutInMinutes") or self.remaining_minutes(),
            shown_timeout=self.properties.get("TimeoutInMinutes"),
        )

    def completed(self, child_id: str) -> Done:
        outputs = self.runtime.stacks.outputs(child_id, sealed=True)
        row = _child_row(self.runtime, child_id)
        arn = f"arn:openstack:heat::{row[1]}:stacks/{row[0]}/{child_id}" if row else child_id
        return Done(
            physical_id=child_id,
            data={"arn": arn},
            attributes={_OUTPUTS + k: v for k, v in outputs.items() if k != "OS::stack_id"},
        )

    @classmethod
    def reference_id(cls, runtime, physical_id, data):
        return data.get("arn") or physical_id

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name is None:
            return dict(attributes)
        if name == "show":
            return {}  # Heat's resource show of a CFN stack lists nothing
        return attributes.get(name)
