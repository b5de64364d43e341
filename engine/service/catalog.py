"""service.catalog, what this installation offers: types, versions, validation; touches no store.

What this installation offers, in the shapes of Heat's v1 API: resource types with their schemas
and generated provider templates, template versions with their functions, template validation.

Read from the registries (`engine.resources.types()`, `engine.template.versions`,
`engine.template.functions`); nothing here touches a store or a stack.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import HearthError, InvalidRequest, NotFound, TemplateError
from engine.orchestration.definitions import Definition, check_request_fields, request_environment
from engine.resources.base import Resource
from engine.resources.schema import Prop
from engine.resources.unavailable import show_message
from engine.runtime import Runtime
from engine.service.definitions import Definitions
from engine.template import (
    Template,
    parse_template,
)
from engine.template.cfn_sections import FORMATS as CFN_FORMATS
from engine.template.environment import is_template_name
from engine.template.function_lists import FUNCTION_LISTS
from engine.template.parameters import ParameterSchema
from engine.template.versions import VERSIONS, canonical_version

SUPPORT_STATUSES = ("UNKNOWN", "SUPPORTED", "DEPRECATED", "UNSUPPORTED", "HIDDEN")
TEMPLATE_TYPES = ("cfn", "hot")
HOT_KEY = "heat_template_version."
PARAMETER_TYPES = {
    "string": "String",
    "number": "Number",
    "json": "Json",
    "comma_delimited_list": "CommaDelimitedList",
    "boolean": "Boolean",
}
# A property type and the parameter type a generated provider template declares for it. HOT
# has no parameter type for "any"; json is the one that passes maps and lists through.
HOT_PARAMETER = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "map": "json",
    "list": "comma_delimited_list",
    "any": "json",
}
CFN_PARAMETER = {
    "string": "String",
    "integer": "Number",
    "number": "Number",
    "boolean": "Boolean",
    "map": "Json",
    "list": "CommaDelimitedList",
    "any": "Json",
}
_LENGTH_TYPES = ("string", "list", "map")


# Resource types ---------------------------------------------------------------------------


def description(cls: type) -> str:
    """The class's own docstring (not one inherited), as the docs show it."""
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else "No description available"


def support_status(cls: type[Resource]) -> dict[str, Any]:
    """Heat's support_status map; a type may declare `support_status` as such a map."""
    declared = getattr(cls, "support_status", None) or {}
    return {
        "status": declared.get("status", "SUPPORTED"),
        "version": declared.get("version"),
        "message": declared.get("message"),
        "previous_status": declared.get("previous_status"),
    }


def list_types(
    types: Mapping[str, type[Resource]],
    *,
    name: str | None = None,
    version: str | None = None,
    status: str | None = None,
    with_description: bool = False,
) -> list:
    """Type names (or {resource_type, description}) in name order. `name` is a regular
    expression matched at the start, as in Heat; one that does not compile matches nothing."""
    if status is not None and status not in SUPPORT_STATUSES:
        raise InvalidRequest(f"support_status must be one of: {', '.join(SUPPORT_STATUSES)}")

    def wanted(type_name: str, cls: type[Resource]) -> bool:
        shown = support_status(cls)
        if shown["status"] == "HIDDEN" or (status is not None and shown["status"] != status):
            return False
        if version is not None and shown["version"] != version:
            return False
        try:
            return name is None or re.match(name, type_name) is not None
        except re.error:
            return False

    names = sorted(n for n, cls in types.items() if wanted(n, cls))
    if with_description:
        return [{"resource_type": n, "description": description(types[n])} for n in names]
    return names


def _type(types: Mapping[str, type[Resource]], type_name: str) -> type[Resource]:
    """The type's class, or Heat's refusal: a cloud's type whose service Hearth lacks
    (ResourceTypeUnavailable), a type kept working but hidden (NotSupported), an unknown one."""
    cls = types.get(type_name)
    if cls is None:
        missing = show_message(type_name)
        if missing is not None:
            raise _named(InvalidRequest(missing), "ResourceTypeUnavailable")
        raise _named(NotFound(f"The Resource Type ({type_name}) could not be found."), "EntityNotFound")
    if support_status(cls)["status"] == "HIDDEN":
        raise _named(InvalidRequest(f"{type_name} is not supported."), "NotSupported")
    return cls


def _named(error: HearthError, kind: str) -> HearthError:
    error.kind = kind  # the error's name in the answer, as Heat's
    return error


def property_schema(prop: Prop) -> dict[str, Any]:
    """One property as Heat shows it: type, description, default, schema, required,
    constraints, update_allowed, immutable."""
    shown: dict[str, Any] = {"type": prop.type}
    if prop.description:  # Heat leaves the key out when a property has none
        shown["description"] = prop.description
    if prop.default is not None:
        shown["default"] = prop.default
    if prop.item is not None:
        shown["schema"] = {"*": property_schema(prop.item)}
    elif prop.fields:
        shown["schema"] = {key: property_schema(field) for key, field in prop.fields.items() if not field.hidden}
    shown["required"] = prop.required
    if constraints := _constraints(prop):
        shown["constraints"] = constraints
    shown["update_allowed"] = prop.update_allowed
    shown["immutable"] = False
    return shown


def _constraints(prop: Prop) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if prop.min is not None or prop.max is not None:
        bounds = {k: v for k, v in (("min", prop.min), ("max", prop.max)) if v is not None}
        out.append({"length" if prop.type in _LENGTH_TYPES else "range": bounds})
    if prop.allowed:
        out.append({"allowed_values": list(prop.allowed)})
    if prop.custom_constraint:
        out.append({"custom_constraint": prop.custom_constraint})
    return out


# Every type has Heat's base attribute `show`: the resource as its own API would show it.
SHOW = ("show", "Detailed information about the resource, as its own API shows it.", "map")


def attribute_schemas(cls: type[Resource]) -> dict[str, dict[str, str]]:
    """Each attribute with its description and, where the type declares one, its type."""
    types = getattr(cls, "attribute_types", {})
    shown = {}
    for name, text in [*cls.attributes_schema.items(), SHOW[:2]]:
        shown[name] = {"description": text}
        kind = SHOW[2] if name == SHOW[0] else types.get(name)
        if kind:
            shown[name]["type"] = kind
    return shown


def resource_schema(
    types: Mapping[str, type[Resource]], type_name: str, *, with_description: bool = False
) -> dict[str, Any]:
    cls = _type(types, type_name)
    shown = {
        "resource_type": type_name,
        "properties": {}
        if cls.open_properties
        else {
            name: property_schema(prop)
            for name, prop in cls.properties_schema.items()
            if not prop.hidden and prop.implemented
        },
        "attributes": attribute_schemas(cls),
        "support_status": support_status(cls),
    }
    if with_description:
        shown["description"] = description(cls)
    return shown


def provider_template(
    types: Mapping[str, type[Resource]], type_name: str, template_type: str = "cfn"
) -> dict[str, Any]:
    """Heat's generated template: each property a parameter, each attribute an output."""
    if template_type not in TEMPLATE_TYPES:
        raise InvalidRequest(f"template_type must be one of: {', '.join(TEMPLATE_TYPES)}")
    cls = _type(types, type_name)
    hot = template_type == "hot"
    props = (
        {}
        if cls.open_properties
        else {k: p for k, p in cls.properties_schema.items() if not p.hidden and p.implemented}
    )
    name = cls.generated_name or cls.__name__
    parameters = {key: (_hot_parameter if hot else _cfn_parameter)(prop) for key, prop in props.items()}
    properties = {
        key: (
            {"get_param": key} if hot else {"Fn::Split": [",", {"Ref": key}]} if prop.type == "list" else {"Ref": key}
        )
        for key, prop in props.items()
    }
    outputs = {
        key: (
            {"description": text, "value": {"get_attr": [name, key]}}
            if hot
            else {"Description": text, "Value": {"Fn::GetAtt": [name, key]}}
        )
        for key, text in [*cls.attributes_schema.items(), SHOW[:2]]
    }
    # Heat's generated templates also answer the resource's id, under the stack id's name.
    outputs["OS::stack_id"] = {"value": {"get_resource": name}} if hot else {"Value": {"Ref": name}}
    if hot:
        return {
            "heat_template_version": "2016-10-14",
            "description": f"Initial template of {name}",
            "parameters": parameters,
            "resources": {name: {"type": type_name, "properties": properties}},
            "outputs": outputs,
        }
    return {
        "HeatTemplateFormatVersion": "2012-12-12",
        "Description": f"Initial template of {name}",
        "Parameters": parameters,
        "Resources": {name: {"Type": type_name, "Properties": properties}},
        "Outputs": outputs,
    }


def _hot_parameter(prop: Prop) -> dict[str, Any]:
    shown: dict[str, Any] = {"type": HOT_PARAMETER[prop.type]}
    if prop.description:
        shown["description"] = prop.description
    if prop.default is not None:
        shown["default"] = prop.default
    if constraints := _constraints(prop):
        # Heat's generated parameter keeps a custom constraint as an empty map.
        shown["constraints"] = [{} if "custom_constraint" in c else c for c in constraints]
    return shown


def _cfn_parameter(prop: Prop) -> dict[str, Any]:
    shown: dict[str, Any] = {"Type": CFN_PARAMETER[prop.type]}
    if prop.description:
        shown["Description"] = prop.description
    if prop.default is not None:
        shown["Default"] = prop.default
    words = ("MinLength", "MaxLength") if prop.type in _LENGTH_TYPES else ("MinValue", "MaxValue")
    for word, bound in zip(words, (prop.min, prop.max), strict=False):
        if bound is not None:
            shown[word] = bound
    if prop.allowed:
        shown["AllowedValues"] = list(prop.allowed)
    if prop.type == "boolean":
        shown["AllowedValues"] = ["True", "true", "False", "false"]
    return shown


# Template versions and functions -----------------------------------------------------------


def template_versions() -> list[dict[str, Any]]:
    """Each template version Heat lists, in its order: the CFN formats, then each HOT version
    by its date with the release names that stand for it as aliases."""
    cfn_versions = [{"version": f"{key}.{value}", "type": "cfn", "aliases": []} for key, value in CFN_FORMATS.items()]
    hot_versions = [
        {
            "version": HOT_KEY + date,
            "type": "hot",
            "aliases": [HOT_KEY + name for name, canonical in VERSIONS.items() if canonical == date and name != date],
        }
        for date in sorted(set(VERSIONS.values()))
    ]
    return sorted(cfn_versions, key=lambda v: v["version"]) + hot_versions


def function_list(version_key: str, *, with_condition: bool = False) -> list[dict[str, str]]:
    """The functions a template of `version_key` may call (`heat_template_version.<date or
    name>`, `AWSTemplateFormatVersion.2010-09-09`, ...), with the condition functions too:
    Heat's list, in its order and words (engine/template/function_lists.py)."""
    key, _, value = version_key.partition(".")
    date = canonical_version(value) if key + "." == HOT_KEY else None
    if date is not None:
        listed = FUNCTION_LISTS[HOT_KEY + date]
    elif CFN_FORMATS.get(key) == value:
        listed = FUNCTION_LISTS[version_key]
    else:
        # Heat's message has "{}" where it meant to put the version; the version follows here.
        raise NotFound(f"Template with version {{}} not found: '{version_key}' (GET /template_versions lists them)")
    return [{"functions": name, "description": description} for name, description in listed[1 if with_condition else 0]]


def _summary(name: str, function: Any) -> str:
    """The first line of the function's docstring, without a leading `name (since ...):`."""
    lines = (inspect.getdoc(function) or "").strip().splitlines()
    text = lines[0] if lines else ""
    head, sep, rest = text.partition(": ")
    if sep and head.split()[:1] == [name]:
        text = rest
    return text[:1].upper() + text[1:]


# Template validation ----------------------------------------------------------------------


def validate(body: Any, check: Callable[[Definition], None], *, show_nested: bool = False, max_depth: int = 5) -> dict:
    """Heat's validate answer: Description, Parameters, ParameterGroups, NestedParameters
    (with `show_nested`, at most `max_depth` levels: max_nested_stack_depth) and Environment.
    Values may be missing and are not checked. `check` checks the resources (types, properties,
    attributes) as Heat's validate does.

    Heat's validate answers what a create refuses as StackValidationFailed with a plain
    HTTPBadRequest (same message); other errors keep their type.
    """
    try:
        return _validate(body, check, show_nested=show_nested, max_depth=max_depth)
    except TemplateError as error:
        if error.kind == "StackValidationFailed":
            raise error.located(path=error.path, file=error.file, line=error.line, kind="HTTPBadRequest") from None
        raise


def _validate(body: Any, check: Callable[[Definition], None], *, show_nested: bool, max_depth: int) -> dict:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    source, files = body.get("template"), body.get("files") or {}
    if source is None:
        raise InvalidRequest("No Template provided.")
    if not isinstance(source, (str, dict)):
        raise InvalidRequest("the request needs a 'template': the template text or object")
    check_request_fields(body)
    parameters, env_files = body.get("parameters") or {}, body.get("environment_files") or []
    template = parse_template(source, filename=body.get("template_name") or "template", files=files)
    environment = request_environment(body.get("environment"), parameters, env_files, files, template)
    shown = {
        "Description": template.description or "No description",
        "Parameters": parameter_views(template, environment.parameters, environment.parameter_defaults),
    }
    check(Definition(template, environment, {}, files))
    if template.parameter_groups:
        shown["ParameterGroups"] = template.parameter_groups
    if show_nested and (nested := nested_parameters(template, environment, files, max_depth=max_depth)):
        shown["NestedParameters"] = nested
    # Heat answers the user's part of the environment only (its user_env_as_dict).
    shown["Environment"] = {
        "parameters": environment.parameters,
        "parameter_defaults": environment.parameter_defaults,
        "resource_registry": {"resources": {}, **environment.resource_registry},
        # Heat answers the user's part of the environment only (its user_env_as_dict).
        "event_sinks": list(environment.event_sinks),
    }
    return shown


def parameter_views(template: Template, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, dict]:
    """Each declared parameter as Heat's validate shows it; a given value must be valid."""
    for name in values:
        if name not in template.parameters:
            raise template.error(
                f"The Parameter ({name}) was not defined in template.",
                ("parameters", name),
                kind="UnknownUserParameter",
            )
    # Defaults as written (a list's "a,b" stays text, as Heat shows it); CFN spells them capitalised.
    declared = template.raw.get("parameters") or template.raw.get("Parameters") or {}
    views = {}
    for name, schema in template.parameters.items():
        # Heat's validate shows a given value without checking it; create checks it.
        written = declared.get(name) or {}
        default = defaults.get(name, written.get("default", written.get("Default")))
        views[name] = parameter_view(schema, values.get(name), default)
    return views


def parameter_view(schema: ParameterSchema, value: Any, default: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "Type": PARAMETER_TYPES[schema.type],
        "Description": schema.description,
        "NoEcho": "true" if schema.hidden else "false",
        "Label": schema.label or schema.name,
    }
    if default is not None:
        shown["Default"] = default
    if value:
        shown["Value"] = value
    if schema.tags:
        shown["Tags"] = list(schema.tags)
    words = {"length": ("MinLength", "MaxLength"), "range": ("MinValue", "MaxValue"), "modulo": ("Step", "Offset")}
    notes = []
    for constraint in schema.constraints:
        if constraint.kind in words:
            shown.update(
                {
                    word: bound
                    for word, bound in zip(words[constraint.kind], constraint.spec, strict=False)
                    if bound is not None
                }
            )
        else:
            key = {
                "allowed_values": "AllowedValues",
                "allowed_pattern": "AllowedPattern",
                "custom_constraint": "CustomConstraint",
            }[constraint.kind]
            shown[key] = list(constraint.spec) if key == "AllowedValues" else constraint.spec
        if constraint.description:
            notes.append(constraint.description)
    if notes:
        shown["ConstraintDescription"] = " ".join(notes)
    return shown


def nested_parameters(
    template: Template, environment, files: Mapping[str, str], depth: int = 1, max_depth: int = 5
) -> dict[str, dict]:
    """For each resource that is a template in `files`: its type, description and parameters
    (valued by the resource's literal properties), and its own nested parameters, at most
    `max_depth` levels down (-1: no limit)."""
    result = {}
    for name, resource in template.resources.items():
        actual = environment.resolve_type(name, resource.type)
        if not is_template_name(actual) or actual not in files:
            continue
        if 0 <= max_depth < depth:
            raise template.error(
                f"templates are nested more than {max_depth} levels deep (max_nested_stack_depth)",
                ("resources", name, "type"),
                kind="RequestLimitExceeded",
            )
        nested = parse_template(files[actual], filename=actual, files=files)
        values = {k: v for k, v in resource.properties.items() if not _is_call(v)}
        entry = {
            "Type": resource.type,
            "Description": nested.description or "No description",
            "Parameters": parameter_views(nested, values, environment.parameter_defaults),
        }
        if nested.parameter_groups:
            entry["ParameterGroups"] = nested.parameter_groups
        if deeper := nested_parameters(nested, environment, files, depth + 1, max_depth):
            entry["NestedParameters"] = deeper
        result[name] = entry
    return result


def _is_call(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1


class Catalog:
    """`service.catalog`: the functions above over this installation's types and limits."""

    def __init__(self, runtime: Runtime, definitions: Definitions):
        self.runtime = runtime
        self.definitions = definitions
        self.types = definitions.types

    def list_types(
        self,
        *,
        name: str | None = None,
        version: str | None = None,
        status: str | None = None,
        with_description: bool = False,
    ) -> list:
        return list_types(self.types, name=name, version=version, status=status, with_description=with_description)

    def resource_schema(self, type_name: str, *, with_description: bool = False) -> dict[str, Any]:
        return resource_schema(self.types, type_name, with_description=with_description)

    def provider_template(self, type_name: str, template_type: str) -> dict[str, Any]:
        return provider_template(self.types, type_name, template_type)

    @staticmethod
    def template_versions() -> list[dict[str, Any]]:
        return template_versions()

    @staticmethod
    def function_list(version_key: str, *, with_condition: bool = False) -> list[dict[str, str]]:
        return function_list(version_key, with_condition=with_condition)

    def validate_template(self, body: Any, *, show_nested: bool = False) -> dict:
        """Heat's template validate (validate, below), with the limits Heat's validate checks:
        the template's size and its resources."""
        self.definitions.check_template_size(body)

        def check(definition: Definition) -> None:
            # Heat's validate answers this one as a plain HTTPBadRequest.
            self.definitions.check_stack_limits(definition, kind="HTTPBadRequest")
            self.definitions.validate_resources(definition)

        return validate(body, check, show_nested=show_nested, max_depth=self.runtime.config.max_nested_stack_depth)
