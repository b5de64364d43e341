"""Provider templates: a resource whose type is a template file owns a nested stack of it, through
`runtime.stacks`; the template is parsed from the stack's files map, never read from disk.

`provider_class(template_name, files)` answers the Resource class for a type that names a
template (directly, or after the environment's resource_registry). Its properties are the
template's parameters, checked against their declarations; its attributes are the template's
outputs, `OS::stack_id`, and `resource.NAME[.attr]`, which reach into the nested stack's
resources. get_resource gives the nested stack's id, or the `OS::stack_id` output when the
template declares one (Heat's rule).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from engine import secrets as sealing
from engine.errors import InvalidTemplateAttribute, StackValidationFailed, TemplateError
from engine.resources.base import Done
from engine.resources.schema import Prop
from engine.resources.stack_resource import (
    Nested,
    Parent,
    PrefixedAttributes,
    StackResource,
    template_key,
)
from engine.template import MISSING, parse_template
from engine.template.parameters import checked_value

STACK_ID = "OS::stack_id"
PROPERTY_ERROR = "Property error: "
# Heat's names of property types (a facade's), of the property types parameters make (a
# provider's), and the parameter type a facade's property type wants.
_HEAT_PROPERTY_TYPES = {
    "string": "String",
    "integer": "Integer",
    "number": "Number",
    "boolean": "Boolean",
    "map": "Map",
    "list": "List",
    "any": "Any",
}
_HEAT_PARAMETER_TYPES = {
    "string": "String",
    "number": "Number",
    "comma_delimited_list": "List",
    "json": "Map",
    "boolean": "Boolean",
}
_FACADE_TYPES = {"Integer": "Number"}
NESTED = "resource."
# How a parameter's type shows as a property's (json takes a map or a list).
PROPERTY_TYPES = {
    "string": "string",
    "number": "number",
    "boolean": "boolean",
    "comma_delimited_list": "list",
    "json": "any",
}


def provider_class(
    template_name: str, files: Mapping[str, str], *, base: str = "", parameter_defaults: Mapping[str, Any] | None = None
) -> type[StackResource]:
    """The Resource class for provider template `template_name`, found in the files map.

    `base` is the name of the template that uses it (relative names resolve against it);
    `parameter_defaults` (the environment's) make the parameters they name optional. A missing
    file raises a TemplateError without a location (the caller knows the resource); a broken
    template raises one naming the template's file.
    """
    key = template_key(template_name, dict(files), base)
    if key is None:
        scheme = template_name.split("://", 1)[0] if "://" in template_name else ""
        problem = (
            "Invalid URL scheme " + scheme
            if scheme not in ("http", "https")
            else "Failed to retrieve template from " + template_name
        )
        raise TemplateError(
            f'Could not fetch remote template "{template_name}": {problem} (Hearth '
            "reads provider templates from the files map the client sends)"
        )
    defaulted = frozenset(k for k, v in (parameter_defaults or {}).items() if v is not None)
    return _provider(template_name, key, files[key], defaulted)


@functools.lru_cache(maxsize=256)
def _provider(registry_value: str, key: str, text: str, defaulted: frozenset) -> type[StackResource]:
    template = parse_template(text, filename=key)
    parameters = dict(template.parameters)
    outputs = {name: output.description or f"output '{name}' of {key}" for name, output in template.outputs.items()}
    outputs.setdefault(STACK_ID, "the nested stack's id (or its own OS::stack_id output)")
    required = frozenset(
        name for name, schema in parameters.items() if schema.default is MISSING and name not in defaulted
    )
    namespace = {
        "__doc__": f"A nested stack of the provider template {key}.",
        "__module__": __name__,
        "type_name": registry_value,
        "registry_value": registry_value,
        "template_file": key,
        "template_text": text,
        "parameters": parameters,
        "required_parameters": required,
        "declares_stack_id": STACK_ID in template.outputs,
        "properties_schema": {
            name: Prop(
                PROPERTY_TYPES.get(schema.type, "any"),
                schema.description,
                required=name in required,
                update_allowed=True,
                allow_conversion=True,
            )
            for name, schema in parameters.items()
        },
        "attributes_schema": PrefixedAttributes(outputs, (NESTED,)),
    }
    return type("TemplateResource", (TemplateResource,), namespace)


class TemplateResource(StackResource):
    """Base of the classes provider_class makes; one per template."""

    # Heat checks a provider's attribute names only once its stack exists (an output error).
    dynamic_attributes = True
    # Heat's class for every provider template: a change of template is an update, not a replacement.
    update_identity = "TemplateResource"
    template_file: str = ""
    template_text: str = ""
    parameters: dict = {}
    required_parameters: frozenset = frozenset()
    declares_stack_id = False

    @classmethod
    def check_properties(cls, values: Any, unresolved=None) -> dict[str, Any]:
        """Each property checked as the nested template's parameter of that name would check it."""
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise TemplateError("properties must be a map")
        for key in values:
            if key not in cls.parameters:
                raise TemplateError(f"Unknown Property {key}", prefix=PROPERTY_ERROR)
        result: dict[str, Any] = {}
        for name, schema in cls.parameters.items():
            value = values.get(name)
            if value is None:
                if name in cls.required_parameters:
                    raise TemplateError(f"Property {name} not assigned", prefix=PROPERTY_ERROR)
                result[name] = None
            elif unresolved is not None and _holds_call(value, unresolved):
                result[name] = value  # checked once resolved, when the resource is made
            elif schema.type == "boolean" and isinstance(value, str) and value.lower() not in ("true", "false"):
                # A property's boolean is Heat's Boolean property: only true and false.
                raise TemplateError(f'"{value}" is not a valid boolean', path=(name,), prefix=PROPERTY_ERROR)
            else:
                result[name] = checked_value(schema, value, (name,))
        return result

    @classmethod
    def check_facade(cls, facade: type, type_name: str) -> None:
        """As Heat checks a provider template registered over an existing type (the facade, a
        built-in type or another provider template): every property the type requires is a
        parameter of the same type, every parameter the template requires is a property of
        the type, every attribute of the type an output. Refused in Heat's words alone: the
        problem lies between two templates, not at a place in one."""
        facade_props = facade.properties_schema
        for name, prop in facade_props.items():
            if prop.required and name not in cls.parameters:
                raise StackValidationFailed(f"Required property {name} for facade {type_name} missing in provider")
            if name in cls.parameters:
                wanted = _facade_property_type(facade, name)
                given = _HEAT_PARAMETER_TYPES.get(cls.parameters[name].type, "Any")
                if wanted != "Any" and _FACADE_TYPES.get(wanted, wanted) != given:
                    raise StackValidationFailed(
                        f"Property {name} type mismatch between facade {type_name} ({wanted}) and provider ({given})"
                    )
        for name in sorted(cls.required_parameters):
            if name not in facade_props:
                raise StackValidationFailed(f"Provider requires property {name} unknown in facade {type_name}")
        outputs = set(cls.attributes_schema)
        for name in facade.attributes_schema:
            if "<" not in name and name not in outputs:
                raise StackValidationFailed(f"Attribute {name} for facade {type_name} missing in provider")

    def nested(self, parent: Parent) -> Nested:
        parameters = {k: v for k, v in self.properties.items() if v is not None}
        return Nested(
            template=self.template_text,
            template_name=self.template_file,
            parameters=parameters,
            timeout_mins=self.remaining_minutes(),
        )

    def completed(self, child_id: str) -> Done:
        # Outputs derived from a secret come sealed and are stored so (get_attr opens them).
        outputs = dict(self.runtime.stacks.outputs(child_id, sealed=True))
        # Heat's reference: the OS::stack_id output when the template declares one, else the
        # nested stack's ARN.
        reference = outputs.get(STACK_ID) if self.declares_stack_id else self.runtime.stacks.arn(child_id)
        if not self.declares_stack_id:
            outputs.pop(STACK_ID, None)
        return Done(physical_id=child_id, attributes=outputs, data={"reference": reference})

    @classmethod
    def reference_id(cls, runtime, physical_id, data):
        # Sealed when the OS::stack_id output is derived from a secret.
        return sealing.open_value(runtime.keyring, data.get("reference")) or physical_id

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if physical_id is None:
            # No nested stack (its create was refused): Heat's resource show lists nothing.
            return {} if name == "show" else None
        if name is None:
            return dict(attributes)
        if name.startswith(NESTED):
            return nested_attribute(runtime, physical_id, name)
        if name == STACK_ID:
            return attributes.get(STACK_ID, physical_id)
        if name == "show":
            return dict(attributes)
        if name not in attributes:
            raise InvalidTemplateAttribute(name)
        return attributes.get(name)


def _facade_property_type(facade: type, name: str) -> str:
    """Heat's name of the type of the facade's property `name`: a provider template's
    properties have the types Heat gives its parameters' (json is a Map there)."""
    if issubclass(facade, TemplateResource):
        return _HEAT_PARAMETER_TYPES.get(facade.parameters[name].type, "Any")
    return _HEAT_PROPERTY_TYPES.get(facade.properties_schema[name].type, "Any")


def _holds_call(value: Any, unresolved) -> bool:
    if unresolved(value):
        return True
    if isinstance(value, dict):
        return any(_holds_call(v, unresolved) for v in value.values())
    if isinstance(value, list):
        return any(_holds_call(v, unresolved) for v in value)
    return False


def nested_attribute(runtime, child_id: str, name: str) -> Any:
    """`resource.NAME` (that resource's reference) or `resource.NAME.attr` (its attribute,
    which may itself be `resource.X.y` deeper down) of a nested stack."""
    parts = name.split(".", 2)
    if len(parts) < 2 or not parts[1]:
        return None
    if len(parts) == 2:
        return runtime.stacks.resource_reference(child_id, parts[1])
    return runtime.stacks.resource_attribute(child_id, parts[1], parts[2])
