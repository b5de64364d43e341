"""OS::Heat::StructuredConfig and OS::Heat::StructuredDeployment: pure additions to SoftwareConfig
and SoftwareDeployment, whose rows, server metadata and signals they use; no I/O of their own.

A config that is a map, and a deployment that substitutes `{get_input: name}` in it with the
input values.
"""

from __future__ import annotations

from typing import Any

from engine import software_formats
from engine.resources.heat_deployment import SoftwareDeployment
from engine.resources.heat_software import SoftwareConfig
from engine.resources.schema import Prop


class StructuredConfig(SoftwareConfig):
    """Like OS::Heat::SoftwareConfig, but `config` is a map, stored and handed to the server as
    JSON: for tools whose input is a data structure (os-apply-config, json-file, hiera, salt,
    docker-compose, cfn-init). An OS::Heat::StructuredDeployment fills in its inputs."""

    type_name = "OS::Heat::StructuredConfig"
    properties_schema = {
        **SoftwareConfig.properties_schema,
        "config": Prop("map", "the configuration data structure, serialised as JSON"),
    }

    def config_value(self, session):
        return self.properties.get("config") or {}


class StructuredDeployment(SoftwareDeployment):
    """Like OS::Heat::SoftwareDeployment, but the derived config is the structured config with
    every `{<input_key>: name}` map replaced by that input's value: a declared input, an input
    value, or one of the deploy_* inputs. A name with no value becomes null (`LAX`) or fails
    the action (`STRICT`). A different `input_key` lets `get_input` pass through unchanged."""

    type_name = "OS::Heat::StructuredDeployment"
    properties_schema = {
        **SoftwareDeployment.properties_schema,
        "input_key": Prop("string", "the key whose maps are replaced by input values", default="get_input"),
        "input_values_validate": Prop(
            "string", "STRICT: an input the config uses must have a value", default="LAX", allowed=("LAX", "STRICT")
        ),
    }

    def empty_config(self) -> Any:
        return {}

    def derive_config(self, config: Any, inputs: list[dict]) -> Any:
        values = {item["name"]: item.get("value") for item in inputs}
        key = self.properties["input_key"]
        strict = self.properties["input_values_validate"] == "STRICT"
        try:
            return software_formats.substitute_inputs(config, values, key, strict)
        except software_formats.MissingInput as missing:
            raise self.fail(
                f"the config asks for input '{missing.args[0]}' ({{{key}: {missing.args[0]}}}) "
                "but it has no value, and input_values_validate is STRICT"
            ) from None
