"""OS::Heat::SoftwareConfig: owns its stored config row (immutable; sealed when derived from a
secret), written, read and deleted through `runtime.store` sessions; no other I/O.

An immutable stored config (script, manifest, ...) for deployments to use.
"""

from __future__ import annotations

from sqlalchemy import delete

from engine import secrets, software_formats
from engine.resources.base import Done, Resource
from engine.resources.schema import Prop
from engine.secrets import masked
from engine.store.models import SoftwareConfig as ConfigRow

_INPUT = Prop(
    "map",
    fields={
        "name": Prop("string", "the input's name", required=True),
        "description": Prop("string", "what the input is for"),
        "type": Prop("string", "the input's type", default="String", allowed=software_formats.INPUT_TYPES),
        "default": Prop("any", "the value when a deployment gives none"),
        "replace_on_change": Prop(
            "boolean", "a deployment replaces itself when this input's value changes", default=False
        ),
        # Hearth's extension: the input's value (and default) is stored encrypted and kept out of
        # messages; the agent still receives it in clear.
        "hidden": Prop("boolean", hidden=True),
    },
)
_OUTPUT = Prop(
    "map",
    fields={
        "name": Prop("string", "the output's name", required=True),
        "description": Prop("string", "what the output holds"),
        "type": Prop("string", "the output's type", default="String", allowed=software_formats.INPUT_TYPES),
        "error_output": Prop("boolean", "the output's presence means the deployment failed", default=False),
    },
)


class SoftwareConfig(Resource):
    """Stores `config` with its group, inputs, outputs and options; get_resource gives its id."""

    type_name = "OS::Heat::SoftwareConfig"
    properties_schema = {
        "group": Prop(
            "string", "the hook that applies the config (script, puppet, ansible, ...)", default="Heat::Ungrouped"
        ),
        "config": Prop("string", "the config text: a script, a manifest, a playbook"),
        "options": Prop("map", "hook-specific options"),
        "inputs": Prop("list", "inputs the config takes", item=_INPUT),
        "outputs": Prop("list", "outputs the config produces", item=_OUTPUT),
    }
    attributes_schema = {"config": "the config value"}
    attribute_types = {"config": "string"}
    support_status = {"version": "2014.1"}

    # What the other config types (structured, component, cloud-config, MIME) change.
    def config_value(self, session):
        """The config as stored: here the `config` text."""
        return self.properties.get("config") or ""

    def group_value(self) -> str:
        return self.properties.get("group") or "Heat::Ungrouped"

    def create(self) -> Done:
        props = self.properties
        for index, item in enumerate(props.get("inputs") or []):
            if item.get("name") is None:
                raise self.fail(f"inputs[{index}] has no name")
        with self.runtime.store.session() as session:
            # A config made of another one stored sealed (a MIME part) is derived from a secret.
            with secrets.Taint(self.runtime.keyring).within() as read:
                config = self.config_value(session)
            row = software_formats.create_config(
                session,
                name=self.state.physical_name,
                group=self.group_value(),
                config=config,
                inputs=props.get("inputs"),
                outputs=props.get("outputs"),
                options=props.get("options") or {},
                project=self.state.project,
                now=self.runtime.now(),
                keyring=self.runtime.keyring,
                template=True,
                # A config (or input default) resolved from a secret is stored sealed.
                secret={i.get("name") for i in props.get("inputs") or []} if self.derived_from_secret("inputs") else (),
                derived=read.tainted
                or any(
                    self.derived_from_secret(k) for k in props if k not in ("inputs", "outputs", "options", "group")
                ),
            )
        return Done(physical_id=row.id, attributes=self.attributes_of(row.body["config"]))

    def attributes_of(self, config) -> dict:
        return {"config": config}

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        """`show` is the stored config as the software_configs API shows it (sealed values
        masked), as Heat's is; the rest are what the create recorded."""
        if name == "show":
            if not physical_id:
                return None
            with runtime.store.session() as session:
                row = session.get(ConfigRow, physical_id)
                return masked(software_formats.format_config(row)) if row is not None else None
        return super().attribute(runtime, name, physical_id, attributes, data)

    def delete(self) -> Done:
        if self.state.physical_id:
            with self.runtime.store.session() as session:
                session.execute(delete(ConfigRow).where(ConfigRow.id == self.state.physical_id))
        return Done()
