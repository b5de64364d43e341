"""The sections of a CFN-format template (Resources, Outputs, Mappings, ...) checked and turned into
the engine's definitions; pure, touches nothing."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import type_name
from engine.template.sections import (
    DELETION_POLICIES,
    OutputDefinition,
    ResourceDefinition,
    section,
)
from engine.template.snippets import Path, Segment, Snippet, call_in

# Each format key and the one version Heat accepts for it.
FORMATS = {"AWSTemplateFormatVersion": "2010-09-09", "HeatTemplateFormatVersion": "2012-12-12"}
CONDITIONS_VERSION = "2010-09-09"
SECTIONS = (
    "AWSTemplateFormatVersion",
    "HeatTemplateFormatVersion",
    "Description",
    "Mappings",
    "Parameters",
    "Resources",
    "Outputs",
    "Conditions",
)
RESOURCE_KEYS = (
    "Type",
    "Properties",
    "Metadata",
    "DependsOn",
    "DeletionPolicy",
    "UpdatePolicy",
    "Description",
    "Condition",
)
OUTPUT_KEYS = ("Value", "Description", "Condition")
# What only AWSTemplateFormatVersion templates have, as in Heat.
_CONDITIONS_ONLY = ("Conditions", "Condition")

# The engine locates what it resolves with HOT paths; errors name the CFN spelling instead.
_TOP = {
    "resources": "Resources",
    "outputs": "Outputs",
    "parameters": "Parameters",
    "conditions": "Conditions",
    "description": "Description",
}
_KEYS: dict[str, dict[Segment, str]] = {
    "Resources": {
        "type": "Type",
        "properties": "Properties",
        "metadata": "Metadata",
        "depends_on": "DependsOn",
        "deletion_policy": "DeletionPolicy",
        "update_policy": "UpdatePolicy",
        "condition": "Condition",
        "description": "Description",
    },
    "Outputs": {"value": "Value", "description": "Description", "condition": "Condition"},
}

# The calls a Condition may be written as (Ref and Fn::FindInMap only stand inside them).
# Heat's CFN has no `Condition` function: conditions name each other by their bare names.
CONDITION_CALLS = ("Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or")

LineFor = Callable[[Path], "int | None"]


def cfn_path(path: Path) -> Path:
    """A HOT-spelt path (`resources.web.properties`) in CFN spelling (`Resources.web.Properties`)."""
    path = tuple(path)
    if not path or path[0] not in _TOP:
        return path
    top = _TOP[path[0]]
    if len(path) > 2 and top in _KEYS:
        return (top, path[1], _KEYS[top].get(path[2], path[2])) + path[3:]
    return (top,) + path[1:]


def format_version(raw: dict[str, Snippet]) -> tuple[str, str]:
    """(format key, version) of a template that declares exactly one supported CFN format."""
    declared = [key for key in raw if key in FORMATS]
    if not declared:
        raise TemplateError("Template not in valid format: Template format version not found.", kind="HTTPBadRequest")
    if len(declared) != 1:
        raise TemplateError(
            f"The template version is invalid: Ambiguous versions ({', '.join(declared)})",
            kind="InvalidTemplateVersion",
        )
    key = declared[0]
    # YAML reads an unquoted 2010-09-09 as a date; the loader keeps it as text, a client may not.
    value = raw[key].isoformat() if hasattr(raw[key], "isoformat") else raw[key]
    if value != FORMATS[key]:
        raise TemplateError(
            f'The template version is invalid: "{key}: {value}". "{key}" should be: {FORMATS[key]}',
            path=(key,),
            kind="InvalidTemplateVersion",
        )
    return key, value


def check_sections(raw: dict[str, Snippet], version: str) -> None:
    for name in raw:
        if name not in SECTIONS or (name == "Conditions" and version != CONDITIONS_VERSION):
            raise TemplateError(f"The template section is invalid: {name}", path=(name,))
    if not isinstance(raw.get("Description") or "", str):
        raise TemplateError("'Description' must be a string", path=("Description",))


def mappings(raw: dict[str, Snippet]) -> dict[str, Snippet]:
    """Mappings: each a map of keys to maps of values, all literal."""
    found: dict[str, Snippet] = section(raw, "Mappings", dict, "a map")
    for name, mapping in found.items():
        path = ("Mappings", name)
        if not isinstance(name, str) or not name:
            raise TemplateError("mapping names must be non-empty strings", path=path)
        if not isinstance(mapping, dict):
            raise TemplateError(f"a mapping must be a map, not {type_name(mapping)}", path=path)
        for key, values in mapping.items():
            if not isinstance(values, dict):
                raise TemplateError(
                    f"each key of a mapping must hold a map, not {type_name(values)}", path=path + (key,)
                )
    return found


def check_condition(value: Any, path: Path, conditions: Collection[str]) -> Any:
    """A resource's or output's Condition: a condition name, a boolean or a condition function."""
    if value is None or isinstance(value, bool) or call_in(value, CONDITION_CALLS):
        return value
    if not isinstance(value, str):
        raise TemplateError("'Condition' must be a condition name, true or false", path=path)
    if value not in conditions:
        raise TemplateError(f'Invalid condition "{value}"', path=path)
    return value


def _check_keys(body: Any, allowed: tuple[str, ...], version: str, path: Path, what: str) -> None:
    if not isinstance(path[1], str) or not path[1]:
        raise TemplateError(f"{what} names must be non-empty strings", path=path)
    if not isinstance(body, dict):
        article = "an" if what[0] in "aeiou" else "a"
        raise TemplateError(f"{article} {what} must be a map, not {type_name(body)}", path=path)
    for key in body:
        if key not in allowed:
            continue  # Heat ignores keys it does not know in a CFN resource or output
        if key in _CONDITIONS_ONLY and version != CONDITIONS_VERSION:
            raise TemplateError(f"'{key}' needs AWSTemplateFormatVersion {CONDITIONS_VERSION}", path=path + (key,))
    if not isinstance(body.get("Description") or "", str):
        raise TemplateError("'Description' must be a string", path=path + ("Description",))


def resource_definitions(
    raw: dict[str, Snippet], version: str, conditions: Collection[str], line_for: LineFor
) -> dict[str, ResourceDefinition]:
    resources = section(raw, "Resources", dict, "a map")
    return {name: _resource(name, body, version, resources, conditions, line_for) for name, body in resources.items()}


def _resource(
    name: Any, body: Any, version: str, names: Collection[str], conditions: Collection[str], line_for: LineFor
) -> ResourceDefinition:
    path = ("Resources", name)
    _check_keys(body, RESOURCE_KEYS, version, path, "resource")
    if "/" in name:
        raise TemplateError("resource names cannot contain '/'", path=path)
    kind = body.get("Type")
    if not isinstance(kind, str) or not kind:
        raise TemplateError("'Type' is required and must be a string", path=path + ("Type",))
    for key in ("Properties", "Metadata", "UpdatePolicy"):
        if not isinstance(body.get(key) or {}, dict):
            raise TemplateError(f"'{key}' must be a map, not {type_name(body[key])}", path=path + (key,))
    policy = body.get("DeletionPolicy")
    if policy is not None and policy not in DELETION_POLICIES:
        raise TemplateError(
            f"{policy!r} is not a deletion policy (one of: {', '.join(DELETION_POLICIES)})",
            path=path + ("DeletionPolicy",),
        )
    return ResourceDefinition(
        name=name,
        type=kind,
        properties=body.get("Properties") or {},
        metadata=body.get("Metadata") or {},
        depends_on=_depends_on(body.get("DependsOn"), name, names, path + ("DependsOn",)),
        deletion_policy=policy,
        update_policy=body.get("UpdatePolicy") or {},
        line=line_for(path),
        condition=check_condition(body.get("Condition"), path + ("Condition",), conditions),
        description=body.get("Description") or "",
    )


def _depends_on(value: Any, name: str, names: Collection[str], path: Path) -> list[str]:
    targets = [value] if isinstance(value, str) else value or []
    if not isinstance(targets, list):
        raise TemplateError("'DependsOn' must be a resource name or a list of them", path=path)
    for number, target in enumerate(targets):
        where = path + (number,) if isinstance(value, list) else path
        if not isinstance(target, str):
            raise TemplateError("'DependsOn' must name resources as strings", path=where)
        if target == name:
            raise TemplateError("a resource cannot depend on itself", path=where)
        if target not in names:
            raise TemplateError(f"DependsOn refers to undefined resource '{target}'", path=where)
    return list(dict.fromkeys(targets))


def output_definitions(
    raw: dict[str, Snippet], version: str, conditions: Collection[str], line_for: LineFor
) -> dict[str, OutputDefinition]:
    definitions = {}
    for name, body in section(raw, "Outputs", dict, "a map").items():
        path = ("Outputs", name)
        _check_keys(body, OUTPUT_KEYS, version, path, "output")
        if "Value" not in body:
            raise TemplateError("'Value' is required", path=path)
        definitions[name] = OutputDefinition(
            name=name,
            value=body["Value"],
            description=body.get("Description") or "",
            line=line_for(path),
            condition=check_condition(body.get("Condition"), path + ("Condition",), conditions),
        )
    return definitions
