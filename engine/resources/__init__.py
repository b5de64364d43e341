"""Resource types: the TYPES registry maps a type name to its class."""
from __future__ import annotations

from engine.resources.base import Done, Resource, ResourceState, Waiting


def types() -> dict[str, type[Resource]]:
    from engine.resources.heat_deployment import SoftwareDeployment
    from engine.resources.heat_software import SoftwareConfig
    from engine.resources.heat_value import NoneResource, RandomString, Value
    from engine.resources.heat_wait import WaitCondition, WaitConditionHandle
    from engine.resources.server import DeployedServer, Server
    return {
        "OS::Heat::None": NoneResource,
        "OS::Heat::Value": Value,
        "OS::Heat::RandomString": RandomString,
        "OS::Heat::SoftwareConfig": SoftwareConfig,
        "OS::Heat::SoftwareDeployment": SoftwareDeployment,
        "OS::Heat::WaitConditionHandle": WaitConditionHandle,
        "OS::Heat::WaitCondition": WaitCondition,
        "OS::Nova::Server": Server,
        "OS::Heat::DeployedServer": DeployedServer,
    }


__all__ = ["Done", "Resource", "ResourceState", "Waiting", "types"]
