"""Stack definitions: owns Definition, its cache, loading and the Resolver; touches the keyring
only, but a Resolver's get_attr runs types' `attribute`, which may read the store via the runtime.

A Definition is everything pure about a stack (its parsed template, merged environment and
parameter values). It is parsed from a request (`request_environment`, `check_request_fields`)
or loaded from the stack's row (`load_definition`), and cached per operation by the one
`DefinitionCache` the service makes and hands to the scheduler.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from engine import secrets
from engine.errors import InvalidRequest, InvalidTemplateAttribute, TemplateError
from engine.orchestration.nested import SECRET_PARAMETERS
from engine.resources.base import Resource
from engine.resources.unavailable import create_message
from engine.runtime import Runtime
from engine.store.models import Stack
from engine.template import (
    Environment,
    Template,
    merge_environments,
    parse_environment,
    parse_template,
)
from engine.template.environment import check_sections, is_template_name
from engine.template.environment_files import merge_files
from engine.template.functions.args import walk
from engine.template.limits import Limits
from engine.template.loader import load_yaml

# What Heat answers for AWS::Region (its CFN pseudo-parameter's fixed default).
REGION = "ap-southeast-1"


def pseudo_parameters(stack: Stack) -> dict[str, str]:
    """The parameters every stack has without declaring them (HOT's and CFN's names)."""
    return {
        "OS::stack_name": stack.name,
        "OS::stack_id": stack.id,
        "OS::project_id": stack.project,
        "AWS::StackName": stack.name,
        "AWS::StackId": stack_arn(stack),
        "AWS::Region": REGION,
    }


def is_cfn(template: dict | None) -> bool:
    """Whether a stored template is in the CFN format (Heat's AWS or Heat flavour of it)."""
    return isinstance(template, dict) and (
        "AWSTemplateFormatVersion" in template or "HeatTemplateFormatVersion" in template
    )


def shown_pseudo_parameters(stack: Stack) -> dict[str, str]:
    """The pseudo-parameters stack show lists: those of the stack's template format only."""
    every = pseudo_parameters(stack)
    prefix = "AWS::" if is_cfn(stack.template) else "OS::"
    return {k: v for k, v in every.items() if k.startswith(prefix)}


def stack_arn(stack: Stack) -> str:
    """The stack's id as Heat writes it for CFN templates."""
    return f"arn:openstack:heat::{stack.project}:stacks/{stack.name}/{stack.id}"


@dataclass
class Definition:
    """Everything pure about a stack: its parsed template, merged environment and parameter values.

    `shown_environment` is the user's environment as Heat stores and shows it (without the
    global environment directory's entries, with what resolving the types wrote into it).
    """

    template: Template
    environment: Environment
    parameters: dict[str, Any]
    files: dict[str, str]
    shown_environment: dict[str, Any] = field(default_factory=dict)
    # The parameters whose values are secret (engine.secrets): hidden ones, and a nested
    # stack's that were given a value derived from a secret. Stored sealed, shown as ******.
    secret_parameters: frozenset[str] = frozenset()

    def resource_class(self, types: dict[str, type[Resource]], name: str) -> type[Resource]:
        """The class of the template's resource `name`, after the environment's mappings."""
        declared = self.template.resources[name].type
        try:
            actual = self.environment.resolve_type(name, declared, types)
        except TemplateError as error:
            missing = create_message(self.environment.resolve_type(name, declared))
            if missing is not None:  # a cloud's type: its service is what is missing
                raise self.template.error(
                    missing, ("resources", name, "type"), kind="ResourceTypeUnavailable"
                ) from None
            raise self.template.error(error.reason, ("resources", name, "type"), kind=error.kind) from None
        if is_template_name(actual):
            try:
                return self.provider(actual)
            except TemplateError as error:
                if error.file is None:
                    raise self.template.locate(error, ("resources", name, "type")) from None
                raise
        return types[actual]

    def facade_class(self, types: dict[str, type[Resource]], name: str) -> type[Resource] | None:
        """The class whose interface the provider template of resource `name` must offer: the
        one its type leads to without the mapping to that template (a built-in type, or
        another provider template mapped over the type), None when it leads nowhere else."""
        declared = self.template.resources[name].type
        provider = self.environment.resolve_type(name, declared, types)
        if not is_template_name(provider):
            return None
        facade = self.environment.facade(name, declared, provider, types)
        if facade is None:
            return None
        return self.provider(facade) if is_template_name(facade) else types[facade]

    def class_for(self, types: dict[str, type[Resource]], name: str, declared: str) -> type[Resource]:
        """The class to handle a stored resource, also one the template no longer has (it is
        deleted by the class its type maps to; an unknown type by OS::Heat::None)."""
        try:
            if name in self.template.resources:
                return self.resource_class(types, name)
            actual = self.environment.resolve_type(name, declared, types)
            if is_template_name(actual):
                return self.provider(actual)
            return types[actual]
        except Exception:  # noqa: BLE001 - a resource that cannot be handled is still deletable
            if is_template_name(self.environment.resolve_type(name, declared)):
                # Its template is gone, but its nested stack can still be deleted by id.
                from engine.resources.stack_resource import StackResource

                return StackResource
            return types["OS::Heat::None"]

    def provider(self, template_name: str) -> type[Resource]:
        """The resource class of a provider template, found through the files map."""
        from engine.resources.provider import provider_class

        return provider_class(
            template_name,
            self.files,
            base=self.template.filename,
            parameter_defaults=self.environment.parameter_defaults,
        )

    def registered(self, types: Container[str]) -> dict[str, Any]:
        """`shown_environment` with what Heat writes into the registry as it resolves each
        resource's type (a template name as itself, a type a glob led to)."""
        shown = copy.deepcopy(self.shown_environment)
        registry = shown.setdefault("resource_registry", {"resources": {}})
        for name, resource in self.template.resources.items():
            registry.update(self.environment.registrations(name, resource.type, types))
        return shown


# Heat's names of parameter types, by the names templates give them (HOT's and CFN's).
_PARAMETER_KINDS = {
    "string": "string",
    "number": "number",
    "comma_delimited_list": "comma_delimited_list",
    "json": "json",
    "boolean": "boolean",
    "String": "string",
    "Number": "number",
    "CommaDelimitedList": "comma_delimited_list",
    "Json": "json",
    "Boolean": "boolean",
}


def parameter_types(template: Template, files: dict[str, str]) -> dict[str, str]:
    """Every declared parameter's type by name: those of each template in `files`, then the
    template's own (Heat's all_param_schemata, which environment files merge by)."""
    types: dict[str, str] = {}
    for name, text in files.items():
        try:
            other = parse_template(text, filename=name)
        except Exception:  # noqa: BLE001 - a file that is no template declares nothing
            continue
        types.update({k: _PARAMETER_KINDS.get(p.type, p.type) for k, p in other.parameters.items()})
    types.update({k: _PARAMETER_KINDS.get(p.type, p.type) for k, p in template.parameters.items()})
    return types


# The fields of a create, update, preview or validate body the engine reads as a given type:
# (type, whether each item must be a string, the words of the refusal).
REQUEST_FIELDS: dict[str, tuple[type, bool, str]] = {
    "files": (dict, True, "'files' must map file names to their text"),
    "parameters": (dict, False, "'parameters' must be a map of parameter names to values"),
    "environment_files": (list, True, "'environment_files' must be a list of names in 'files'"),
    "clear_parameters": (list, True, "'clear_parameters' must be a list of parameter names"),
    "template_name": (str, False, "'template_name' must be the template's file name, a string"),
    # Sent by a parent stack for its nested stacks (engine/orchestration/nested.py); anyone may send them.
    SECRET_PARAMETERS: (list, True, f"'{SECRET_PARAMETERS}' must be a list of parameter names"),
    "requested_timeout_mins": ((int, float), False, "'requested_timeout_mins' must be a number of minutes"),
}


def check_request_fields(body: dict[str, Any]) -> None:
    """Refuse (400) a request whose fields are not of the types the engine reads them as; an
    absent or empty one is left to its default."""
    for key, (kind, items_are_text, words) in REQUEST_FIELDS.items():
        value = body.get(key)
        if value is None or (kind in (dict, list, str) and value in ("", [], {})):
            continue
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        if (
            not isinstance(value, kind)
            or isinstance(value, bool)
            or (items_are_text and not all(isinstance(item, str) for item in items))
        ):
            raise InvalidRequest(words)


def request_environment(
    environment: Any,
    parameters: dict[str, Any],
    environment_files: list[str],
    files: dict[str, str],
    template: Template,
    adopted: dict[str, Any] | None = None,
) -> Environment:
    """The environment a create or update request gives, as Heat's API and engine build it:
    the request's environment (ignored when environment files are sent: the client merged
    them into it already), the request's parameters over its parameters, both over the
    parameters of the adopt data (`adopted`, an adopt's), then each environment file merged
    in order (environment_files.py)."""
    if environment_files:
        raw: dict[str, Any] = {}
    elif isinstance(environment, str):
        raw, _ = load_yaml(environment, "environment", allow_empty=True)
        if raw is not None and not isinstance(raw, dict):
            raise TemplateError(
                "Environment not in valid format: The environment is not a valid YAML mapping data type.",
                file="environment",
                kind="HTTPBadRequest",
            )
        raw = raw or {}
        check_sections(raw)
    elif isinstance(environment, dict):
        raw = copy.deepcopy(environment)
        try:
            check_sections(raw)
        except TemplateError as error:
            raise TemplateError(error.reason, path=error.path, file="environment", kind=error.kind) from None
    else:
        raw = {}
    for section in ("parameters", "resource_registry", "parameter_defaults"):
        raw.setdefault(section, {})
    for section in ("encrypted_param_names", "event_sinks"):
        raw.setdefault(section, [])
    if isinstance(raw["parameters"], dict):
        raw["parameters"] = {**(adopted or {}), **raw["parameters"], **parameters}
    if environment_files:
        raw = merge_files(raw, environment_files, files, parameter_types(template, files))
    return parse_environment(raw, "environment")


def build_environment(environment: Any, environment_files: list[str] | None, files: dict[str, str]) -> Environment:
    """The request's environment, then each environment file in order (Heat: the files win)."""
    envs = [parse_environment(environment or {}, "environment")]
    for name in environment_files or []:
        if name not in files:
            raise TemplateError(f"environment file '{name}' is not in the files map", file=name)
        envs.append(parse_environment(files[name], name))
    return merge_environments(envs)


class DefinitionCache:
    """Parsing is pure, so a stack's Definition is parsed once per process and shared.

    A stack's definition changes only when an operation starts (an update, a rollback), so
    (stack id, operation number) is the key; concurrent misses wait for a single parse.
    """

    def __init__(self, runtime: Runtime, size: int = 256):
        self._runtime = runtime
        self._items: OrderedDict[tuple[str, int], Definition] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self._size = size

    def put(self, stack: Stack, definition: Definition) -> None:
        """`definition` is the stack's for its current operation (one just started)."""
        key = (stack.id, stack.operation)
        with self._lock:
            self._items[key] = definition
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, stack: Stack) -> Definition:
        """The stack's definition for its current operation, loaded from its row when missing."""
        key = (stack.id, stack.operation)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            definition = load_definition(self._runtime, stack)
            self.put(stack, definition)
        with self._lock:
            self._loading.pop(key, None)
        return definition

    def previous_template(self, stack: Stack) -> Template:
        """The template (conditions applied) of the definition an update started from."""
        previous = Stack(
            **{
                **{k: getattr(stack, k) for k in ("id", "name", "project", "operation")},
                **{k: v for k, v in stack.previous.items() if k in DEFINITION_FIELDS},
            }
        )
        return load_definition(self._runtime, previous).template


def load_definition(runtime: Runtime, stack: Stack) -> Definition:
    files = dict(stack.files or {})
    template = parse_template(
        stack.template_source or stack.template, filename=stack.template_name or "template", files=files
    )
    environment = build_environment(secrets.open_environment(runtime.keyring, stack.environment), [], files)
    params, sealed = secrets.open_parameters(runtime.keyring, stack.parameters)
    return Definition(
        apply_conditions(template, params, stack, Limits.from_config(runtime.config)),
        environment,
        params,
        files,
        secret_parameters=frozenset(sealed | set(template.hidden_parameters())),
    )


def apply_conditions(
    template: Template, params: dict[str, Any], stack: Stack, limits: Limits | None = None
) -> Template:
    """The template with its conditions decided by these parameter values (within `limits`)."""
    decide = getattr(template, "with_conditions", None)
    return decide(params, pseudo_parameters(stack), limits) if decide is not None else template


# The stack columns that make up its definition; an update keeps the old ones in `previous`.
DEFINITION_FIELDS = ("template", "template_source", "template_name", "files", "environment", "parameters")


def definition_fields(stack: Stack) -> dict[str, Any]:
    return {k: getattr(stack, k) for k in DEFINITION_FIELDS}


def default_reference(cls) -> bool:
    """Whether get_resource of `cls` is Heat's default (the physical id, else the name), which
    a type that answers something else (a URL, a value) replaces by its own reference_id."""
    return getattr(cls.reference_id, "__func__", None) is Resource.reference_id.__func__


class Resolver:
    """The ResolveContext a template resolves against: parameters, and resource ids and attributes.

    `lookup(name)` returns (class, physical_id, attributes, data) for a resource, or None when it
    has no state yet.

    Every read goes through `taint` (engine.secrets.Taint): reading a secret parameter or a
    value stored sealed taints the resolution, and sealed values come back opened.
    """

    def __init__(self, runtime: Runtime, stack: Stack, definition: Definition, lookup, facade=None):
        self.runtime = runtime
        self._facade = facade
        self.files = definition.files
        self._params = definition.parameters
        self._pseudo = pseudo_parameters(stack)
        self._lookup = lookup
        self.taint = secrets.Taint(runtime.keyring, definition.secret_parameters)
        self.limits = Limits.from_config(runtime.config)

    def get_param(self, name: str) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        return self.taint.parameter(name, self._params.get(name))

    def get_resource(self, name: str) -> Any:
        found = self._lookup(name)
        if found is None:
            return None
        cls, physical_id, _attributes, data = found
        with self.taint.within():
            reference = cls.reference_id(self.runtime, physical_id, data)
        if reference is None and physical_id is None and default_reference(cls):
            return name  # Heat's default: a resource without a physical id is known by its name
        return reference

    def get_attr(self, resource: str, attribute: str | None) -> Any:
        return self.get_attr_at(resource, attribute, [])

    def get_attr_at(self, resource: str, attribute: str | None, path: list) -> Any:
        """The attribute's value, walked down `path` (keys and indices).

        A type that knows better how a path applies (a group answers `[group, attr, key]` with
        the key taken from each member) offers `attribute_at`.
        """
        found = self._lookup(resource)
        if found is None:
            return None
        cls, physical_id, attributes, data = found
        keyring = self.runtime.keyring
        try:
            with self.taint.within():
                # A stored attribute derived from a secret is sealed: opened here, tainting.
                if path and hasattr(cls, "attribute_at"):
                    value = cls.attribute_at(self.runtime, attribute, list(path), physical_id, attributes, data)
                else:
                    value = walk(
                        secrets.open_tree(
                            keyring, cls.attribute(self.runtime, attribute, physical_id, attributes, data)
                        ),
                        path,
                    )
                return secrets.open_tree(keyring, value)
        except InvalidTemplateAttribute:
            raise InvalidTemplateAttribute.of(resource, attribute) from None

    def resource_facade(self, kind: str) -> Any:
        """The owning resource's metadata, deletion_policy or update_policy (nested stacks)."""
        if self._facade is None:
            raise TemplateError("resource_facade is only available in a nested stack")
        return self._facade(kind)


def tainted_properties(template, properties, resolver, path) -> frozenset[tuple]:
    """Which properties (and keys of literal map properties) read a secret: taint tracking
    per property, done once the whole resolution read one."""
    calls = set(getattr(template, "_functions", ()))

    def is_call(snippet) -> bool:
        return isinstance(snippet, dict) and len(snippet) == 1 and next(iter(snippet)) in calls

    def resolve(snippet, where):
        return template.resolve(snippet, resolver, path + where)

    return secrets.tainted_paths(resolve, properties, resolver.taint, is_call)
