"""OS::Heat::SoftwareConfig: an immutable stored config (script, manifest, ...) for deployments to use."""
from __future__ import annotations

from sqlalchemy import delete

from engine import software
from engine.resources.base import Done, Resource
from engine.resources.schema import Prop
from engine.store.models import SoftwareConfig as ConfigRow

_INPUT = Prop("map", fields={
    "name": Prop("string", required=True), "description": Prop("string"),
    "type": Prop("string", allowed=software.INPUT_TYPES), "default": Prop("any"),
    "replace_on_change": Prop("boolean"),
    # Hearth's extension: the input's value (and default) is stored encrypted and kept out of
    # messages; the agent still receives it in clear.
    "hidden": Prop("boolean"),
})
_OUTPUT = Prop("map", fields={
    "name": Prop("string", required=True), "description": Prop("string"),
    "type": Prop("string", allowed=software.INPUT_TYPES), "error_output": Prop("boolean"),
})


class SoftwareConfig(Resource):
    """Stores `config` with its group, inputs, outputs and options; get_resource gives its id."""

    type_name = "OS::Heat::SoftwareConfig"
    properties_schema = {
        "group": Prop("string", "the hook that applies the config (script, puppet, ansible, ...)",
                      default="Heat::Ungrouped"),
        "config": Prop("string", "the config text: a script, a manifest, a playbook"),
        "options": Prop("map", "hook-specific options"),
        "inputs": Prop("list", "inputs the config takes", item=_INPUT),
        "outputs": Prop("list", "outputs the config produces", item=_OUTPUT),
    }
    attributes_schema = {"config": "the config value"}

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
            row = software.create_config(
                session, name=f"{self.state.stack_name}-{self.state.name}", group=self.group_value(),
                config=self.config_value(session), inputs=props.get("inputs"), outputs=props.get("outputs"),
                options=props.get("options"), project=self.state.project, now=self.runtime.now(),
                keyring=self.runtime.keyring, template=True)
        return Done(physical_id=row.id, attributes=self.attributes_of(row.body["config"]))

    def attributes_of(self, config) -> dict:
        return {"config": config}

    def delete(self) -> Done:
        if self.state.physical_id:
            with self.runtime.store.session() as session:
                session.execute(delete(ConfigRow).where(ConfigRow.id == self.state.physical_id))
        return Done()
