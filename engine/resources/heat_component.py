"""OS::Heat::SoftwareComponent: one config per lifecycle action, each applied by its own tool;
stored as one config row by its base, SoftwareConfig; this module adds no I/O of its own."""

from __future__ import annotations

from engine.errors import TemplateError
from engine.resources.heat_software import SoftwareConfig
from engine.resources.schema import Prop

DEFAULT_ACTIONS = ["CREATE", "UPDATE"]
_ENTRY = Prop(
    "map",
    fields={
        "actions": Prop(
            "list", "lifecycle actions this entry applies to", min=1, item=Prop("string"), default=["CREATE", "UPDATE"]
        ),
        "config": Prop("string", "the config text for those actions"),
        "tool": Prop("string", "the hook that applies it (script, puppet, ...)", required=True),
    },
)


class SoftwareComponent(SoftwareConfig):
    """Stores `configs`, a list of `{actions, config, tool}`, as one config of group `component`
    with `config: {"configs": [...]}`. A deployment of it runs only for actions some entry
    lists (its own `actions` property is not consulted); the agent picks the entry whose
    `actions` hold the current `deploy_action` and runs its `config` with the hook `tool`.
    An action may appear in one entry only. `actions` defaults to [CREATE, UPDATE]."""

    type_name = "OS::Heat::SoftwareComponent"
    properties_schema = {
        "configs": Prop("list", "the configs for the lifecycle actions", required=True, min=1, item=_ENTRY),
        "inputs": SoftwareConfig.properties_schema["inputs"],
        "outputs": SoftwareConfig.properties_schema["outputs"],
        "options": SoftwareConfig.properties_schema["options"],
    }
    attributes_schema = {"config": "the config value: {configs: [...]}"}
    support_status = {"version": "2014.2"}

    @classmethod
    def check_properties(cls, values, unresolved=None):
        checked = super().check_properties(values, unresolved=unresolved)
        configs = checked.get("configs")
        if not isinstance(configs, list):
            return checked  # not resolved yet
        seen: dict[str, int] = {}
        entries = []
        for index, entry in enumerate(configs):
            if not isinstance(entry, dict) or (
                unresolved is not None and (unresolved(entry) or unresolved(entry.get("actions")))
            ):
                entries.append(entry)
                continue
            entry = {**entry, "actions": entry.get("actions") or list(DEFAULT_ACTIONS)}
            for action in (a for a in entry["actions"] if isinstance(a, str)):  # others: not resolved yet
                if action in seen:
                    raise TemplateError(
                        f"action '{action}' already has a config (configs[{seen[action]}]): "
                        "an action may appear in one entry only",
                        path=("configs", index, "actions"),
                    )
                seen[action] = index
            entries.append(entry)
        checked["configs"] = entries
        return checked

    def group_value(self) -> str:
        return "component"

    def config_value(self, session):
        return {"configs": self.properties["configs"]}

    def attributes_of(self, config) -> dict:
        return {"config": config}
