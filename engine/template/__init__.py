"""The template package, pure and free of I/O (no store, files, clock or network): HOT templates,
parameters, environments and intrinsic functions."""

from engine.template.context import ResolveContext
from engine.template.environment import Environment, merge_environments, parse_environment
from engine.template.hot import Template, parse_template
from engine.template.parameters import MISSING, ParameterSchema
from engine.template.sections import OutputDefinition, ResourceDefinition
from engine.template.versions import VERSIONS

__all__ = [
    "MISSING",
    "VERSIONS",
    "Environment",
    "OutputDefinition",
    "ParameterSchema",
    "ResolveContext",
    "ResourceDefinition",
    "Template",
    "merge_environments",
    "parse_environment",
    "parse_template",
]
