"""engine.service's definitions: a request made a checked Definition, and the one cache of stored
stacks' definitions; reads config and keys only, opens no session.

Owns the parse of a create or update request into a Definition, Heat's limits and resource
validation, how parameters and the environment are stored (sealed), and the DefinitionCache
the scheduler is handed. Shared by the stacks, operations, previews, resources and catalog
parts of engine.service, each given this one object in its constructor.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from engine import secrets
from engine.errors import InvalidRequest, LimitExceeded, TemplateError
from engine.limits import NestingCheck, check_template_size, nested_levels, resources_exceeded
from engine.orchestration.definitions import (
    Definition,
    DefinitionCache,
    apply_conditions,
    check_request_fields,
    pseudo_parameters,
    request_environment,
)
from engine.orchestration.nested import SECRET_PARAMETERS
from engine.runtime import Runtime
from engine.store.models import Stack
from engine.template import Environment, merge_environments, parse_template
from engine.template.context import ParameterContext
from engine.template.limits import Limits

STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$")


class Definitions:
    """What a request's template, files, parameters and environment make, checked."""

    def __init__(self, runtime: Runtime, types: dict, base_environment: Environment | None = None):
        self.runtime = runtime
        self.types = types
        self.base_environment = base_environment  # the global environment directory, merged first
        # The one cache of stored stacks' definitions: this part owns it, the scheduler reads it.
        self.cache = DefinitionCache(runtime)

    def get(self, stack: Stack) -> Definition:
        """The stack's definition as stored (its current template, environment, parameters)."""
        return self.cache.get(stack)

    def put(self, stack: Stack, definition: Definition) -> None:
        """`definition` is now the stack's (a create or update has stored it)."""
        self.cache.put(stack, definition)

    @staticmethod
    def conditioned(definition: Definition, stack: Stack, limits: Limits | None = None) -> Definition:
        """The definition with its template's conditions decided for this stack."""
        return dataclasses.replace(
            definition, template=apply_conditions(definition.template, definition.parameters, stack, limits)
        )

    @property
    def limits(self) -> Limits:
        """What evaluating a template may build here (engine.template.limits)."""
        return Limits.from_config(self.runtime.config)

    # Limits (engine.limits) ------------------------------------------------------------
    def check_template_size(self, body: Any) -> None:
        """Heat's refusal of a template a request sends larger than max_template_size."""
        if isinstance(body, dict) and isinstance(body.get("template"), (str, dict)):
            check_template_size(self.runtime.config, body["template"], file=body.get("template_name") or "template")

    def check_stack_limits(self, definition: Definition, **where: Any) -> None:
        """Heat's refusal of a top-level template with more resources than max_resources_per_stack."""
        error = resources_exceeded(
            self.runtime.config, len(definition.template.resources), file=definition.template.filename, **where
        )
        if error is not None:
            raise error

    def check_nesting(self, definition: Definition) -> None:
        """Heat's validation of the nested stacks of a top-level stack: depth and resources."""
        NestingCheck(
            self.runtime.config,
            functools.partial(nested_levels, self.runtime.config, self.types, self.base_environment),
        ).check(definition)

    @staticmethod
    def stack_name(body: dict[str, Any]) -> str:
        name = body.get("stack_name")
        if not isinstance(name, str) or not STACK_NAME.match(name):
            raise InvalidRequest(
                "stack_name must start with a letter and contain only letters, "
                "digits, '_', '-' and '.' (at most 255 characters)"
            )
        return name

    @staticmethod
    def timeout(value: Any, default: float) -> float:
        timeout = default if value is None else value
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 7 * 24 * 60:
            raise InvalidRequest("timeout_mins must be a positive number of minutes (at most a week)")
        return timeout

    def stored_parameters(self, definition: Definition) -> dict[str, Any]:
        return secrets.seal_parameters(self.runtime.keyring, definition.parameters, definition.secret_parameters)

    def environment_dict(self, definition: Definition) -> dict:
        # Parameter values are stored validated (hidden ones encrypted) on the stack; the
        # parameter_defaults nested stacks inherit are kept encrypted, as they may hold secrets,
        # and so is the environment as the user gave it (`stack environment` shows it).
        environment = definition.environment
        stored: dict[str, Any] = {"resource_registry": dict(environment.resource_registry)}
        if environment.event_sinks:
            stored["event_sinks"] = secrets.seal_sinks(self.runtime.keyring, list(environment.event_sinks))
        stored.update(
            secrets.seal_environment(
                self.runtime.keyring, environment.parameter_defaults, definition.registered(self.types)
            )
        )
        return stored

    def shown_environment(self, stack: Stack) -> dict:
        """The environment as the user gave it (merged), as Heat stores it."""
        shown = secrets.open_shown_environment(self.runtime.keyring, stack.environment)
        if shown is None:
            return {
                "parameters": {},
                "parameter_defaults": {},
                "resource_registry": {"resources": {}},
                "event_sinks": [],
                "encrypted_param_names": [],
            }
        return shown

    def build(
        self, body: dict[str, Any], environment: Environment | None = None, adopt: dict | None = None
    ) -> Definition:
        """The definition a create or update request gives; `environment` when the caller
        built it already (a PATCH update merges the stack's own with the request's); `adopt`
        the adopt data of an adopt, whose parameters lie under the request's."""
        source = body.get("template")
        if not isinstance(source, (str, dict)) or not source:
            raise InvalidRequest("the request needs a 'template': the template text or object")
        check_request_fields(body)
        files, parameters = body.get("files") or {}, body.get("parameters") or {}
        env_files = body.get("environment_files") or []
        template = parse_template(source, filename=body.get("template_name") or "template", files=files)
        if environment is None:
            adopted = (adopt or {}).get("environment")
            adopted = adopted.get("parameters") if isinstance(adopted, dict) else None
            environment = request_environment(
                body.get("environment"),
                parameters,
                env_files,
                files,
                template,
                adopted=adopted if isinstance(adopted, dict) else None,
            )
        shown = environment.shown()
        # The global environment lies under the user's; `stack environment` shows the user's.
        if self.base_environment is not None:
            environment = merge_environments([self.base_environment, environment])
        values = template.validate_parameters(environment.parameters, environment.parameter_defaults)
        # Environment files are merged above; keeping them would keep hidden values in clear.
        kept = {k: v for k, v in files.items() if k not in set(env_files)}
        # A nested stack's parameters given values derived from a secret are secret too (its
        # owner resource's resolution says which: engine.orchestration.nested).
        derived = set(body.get(SECRET_PARAMETERS) or ()) & set(values)
        return Definition(
            template,
            environment,
            values,
            kept,
            shown,
            secret_parameters=frozenset(derived | set(template.hidden_parameters())),
        )

    def validate_resources(self, definition: Definition, stack: Stack | None = None) -> None:
        """Check the resources as Heat does: their types, properties they do not have and the
        attributes templates read; with the `stack` being made, also each property's value
        (resolved from the parameters; a value that needs another resource is checked when
        that resource exists), as Heat's create does. Errors are Heat's "Property error"s."""
        template = definition.template
        names = template.function_names()  # HOT's or CFN's, for this template's version

        def unresolved(value) -> bool:
            return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in names

        classes = {name: definition.resource_class(self.types, name) for name in template.resources}
        for name, resource in template.resources.items():
            cls = classes[name]
            unknown = [key for key in resource.properties or {} if key not in cls.properties_schema]
            if unknown and not cls.open_properties:
                raise template.error(
                    f"Unknown Property {unknown[0]}", ("resources", name, "properties"), heading="Property error"
                )
            idle = [
                key
                for key in resource.properties or {}
                if not cls.open_properties and not cls.properties_schema[key].implemented
            ]
            if idle:  # Heat refuses these in template validate too, values or not
                raise template.error(
                    f"Property {idle[0]} not implemented yet",
                    ("resources", name, "properties"),
                    heading="Property error",
                )
            if hasattr(classes[name], "check_policy"):
                try:
                    classes[name].check_policy(resource.update_policy)
                except TemplateError as error:
                    raise template.error(
                        error.reason, ("resources", name) + error.path, kind=error.kind, prefix=error.prefix
                    ) from None
            for member in getattr(classes[name], "member_types", lambda _: [])(resource.properties):
                try:
                    definition.environment.resolve_type("0", member, self.types)
                except TemplateError as error:
                    raise template.error(
                        error.reason, ("resources", name, "properties", "resource_def", "type"), kind=error.kind
                    ) from None
            if stack is not None and hasattr(classes[name], "check_facade"):
                # Heat checks a provider against the type it stands in for as it validates a
                # stack, not a template alone (template validate).
                try:
                    facade = definition.facade_class(self.types, name)
                except TemplateError as error:
                    raise template.error(error.reason, ("resources", name, "type")) from None
                if facade is not None and facade is not classes[name]:
                    classes[name].check_facade(facade, resource.type)
        for path, target, attribute in _attribute_references(template):
            cls = classes.get(target)
            if cls is not None and not cls.dynamic_attributes and attribute not in cls.attributes_schema:
                raise template.error(f"The Referenced Attribute ({target} {attribute}) is incorrect.", path)
        if stack is not None:
            self._check_values(definition, stack, classes)

    def _check_values(self, definition: Definition, stack: Stack, classes: dict) -> None:
        template = apply_conditions(definition.template, definition.parameters, stack, self.limits)
        context = ParameterContext(definition.parameters, pseudo_parameters(stack), definition.files, self.limits)
        later = object()  # a value that needs a resource: checked once that resource exists
        for name, resource in template.resources.items():
            base = ("resources", name, "properties")
            needs = {key for key, snippet in resource.properties.items() if references_resource(template, snippet)}
            try:
                values = template.resolve(
                    {k: v for k, v in resource.properties.items() if k not in needs}, context, base
                )
                values.update(dict.fromkeys(needs, later))
                schema = getattr(classes[name], "properties_schema", {})
                for key in resource.properties:
                    # A value an `if` left out: Heat names the property it was written under.
                    if key not in values and getattr(schema.get(key), "required", False):
                        raise TemplateError(f"Property {key} not assigned", path=(key,))
                classes[name].check_properties(values, unresolved=lambda value: value is later)
            except TemplateError as error:
                path = error.path if error.file is not None else base + error.path
                # A limit is no property's error: it keeps its own words.
                heading = None if isinstance(error, LimitExceeded) else error.heading or "Property error"
                located = error.located(
                    path=path, file=template.filename, line=template.line_for(path), heading=heading
                )
                # A value refused is quoted by the message: never a secret one.
                texts = secrets.secret_texts(definition.parameters.get(k) for k in definition.secret_parameters)
                raise secrets.redacted_error(located, texts) from None


# Calls whose value is another resource's (or the parent resource's): unknown before it exists.
_RESOURCE_CALLS = ("get_resource", "get_attr", "Fn::GetAtt", "resource_facade", "Fn::ResourceFacade")


def references_resource(template, snippet) -> bool:
    """Whether `snippet` holds a call that reads a resource (Ref of a resource included)."""
    if isinstance(snippet, dict):
        if len(snippet) == 1:
            ((key, args),) = snippet.items()
            if key in _RESOURCE_CALLS or (key == "Ref" and isinstance(args, str) and template.is_resource(args)):
                return True
        return any(references_resource(template, value) for value in snippet.values())
    if isinstance(snippet, list):
        return any(references_resource(template, item) for item in snippet)
    return False


def _attribute_references(template):
    """(path, resource, attribute) of each get_attr with a literal resource and attribute name."""

    def walk(node, path):
        if isinstance(node, dict):
            key = next(iter(node), None) if len(node) == 1 else None
            args = node[key] if key in ("get_attr", "Fn::GetAtt") else None
            if (
                isinstance(args, list)
                and len(args) >= 2
                and isinstance(args[0], str)
                and isinstance(args[1], str)
                and (key == "get_attr" or len(args) == 2)
            ):
                yield path + (key,), args[0], args[1]
            for key, value in node.items():
                yield from walk(value, path + (key,))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, path + (index,))

    for name, resource in template.resources.items():
        yield from walk(resource.properties, ("resources", name, "properties"))
        yield from walk(resource.metadata, ("resources", name, "metadata"))
    for name, output in template.outputs.items():
        yield from walk(output.value, ("outputs", name, "value"))


def parse_tags(value: Any) -> list[str]:
    """Heat takes tags as a comma-separated string (and clients sometimes send a list)."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return [t.strip() for t in value if t.strip()]
    raise InvalidRequest("'tags' must be a comma-separated string of tags")
