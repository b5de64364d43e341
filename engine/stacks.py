"""A stack's template, environment and parameters as the engine uses them, and its resolver."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from engine.errors import TemplateError
from engine.resources.base import Resource
from engine.runtime import Runtime
from engine.store.crypto import is_encrypted
from engine.store.models import Stack
from engine.template import Environment, Template, merge_environments, parse_environment, parse_template

def pseudo_parameters(stack: Stack) -> dict[str, str]:
    """The parameters every stack has without declaring them."""
    return {"OS::stack_name": stack.name, "OS::stack_id": stack.id, "OS::project_id": stack.project}


@dataclass
class Definition:
    """Everything pure about a stack: its parsed template, merged environment and parameter values."""

    template: Template
    environment: Environment
    parameters: dict[str, Any]
    files: dict[str, str]

    def resource_class(self, types: dict[str, type[Resource]], name: str) -> type[Resource]:
        declared = self.template.resources[name].type
        actual = self.environment.resolve_type(name, declared)
        cls = types.get(actual)
        if cls is None:
            shown = f"'{declared}'" if actual == declared else f"'{declared}' (mapped to '{actual}')"
            raise self.template.error(f"unknown resource type {shown}", ("resources", name, "type"))
        return cls


def build_environment(environment: Any, environment_files: list[str] | None,
                      files: dict[str, str]) -> Environment:
    """The request's environment, then each environment file in order (Heat: the files win)."""
    envs = [parse_environment(environment or {}, "environment")]
    for name in environment_files or []:
        if name not in files:
            raise TemplateError(f"environment file '{name}' is not in the files map", file=name)
        envs.append(parse_environment(files[name], name))
    return merge_environments(envs)


class DefinitionCache:
    """Parsing is pure, so a stack's Definition is parsed once per process and shared.

    A stack's template does not change during its life here (no update yet), so the stack id
    is the key; concurrent misses for one stack wait for a single parse.
    """

    def __init__(self, size: int = 256):
        self._items: OrderedDict[str, Definition] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._size = size

    def put(self, stack_id: str, definition: Definition) -> None:
        with self._lock:
            self._items[stack_id] = definition
            self._items.move_to_end(stack_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, runtime: Runtime, stack: Stack) -> Definition:
        with self._lock:
            if stack.id in self._items:
                self._items.move_to_end(stack.id)
                return self._items[stack.id]
            loading = self._loading.setdefault(stack.id, threading.Lock())
        with loading:
            with self._lock:
                if stack.id in self._items:
                    return self._items[stack.id]
            definition = load_definition(runtime, stack)
            self.put(stack.id, definition)
        with self._lock:
            self._loading.pop(stack.id, None)
        return definition


def load_definition(runtime: Runtime, stack: Stack) -> Definition:
    files = dict(stack.files or {})
    template = parse_template(stack.template_source or stack.template,
                              filename=stack.template_name or "template", files=files)
    environment = build_environment(stack.environment, [], files)
    params = {k: (json.loads(runtime.keyring.decrypt(v)) if is_encrypted(v) else v)
              for k, v in (stack.parameters or {}).items()}
    return Definition(template, environment, params, files)


class Resolver:
    """The ResolveContext a template resolves against: parameters, and resource ids and attributes.

    `lookup(name)` returns (class, physical_id, attributes, data) for a resource, or None when it
    has no state yet.
    """

    def __init__(self, runtime: Runtime, stack: Stack, definition: Definition, lookup):
        self.runtime = runtime
        self.files = definition.files
        self._params = definition.parameters
        self._pseudo = pseudo_parameters(stack)
        self._lookup = lookup

    def get_param(self, name: str) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        return self._params.get(name)

    def get_resource(self, name: str) -> Any:
        found = self._lookup(name)
        if found is None:
            return None
        cls, physical_id, _attributes, data = found
        return cls.reference_id(self.runtime, physical_id, data)

    def get_attr(self, resource: str, attribute: str | None) -> Any:
        found = self._lookup(resource)
        if found is None:
            return None
        cls, physical_id, attributes, data = found
        return cls.attribute(self.runtime, attribute, physical_id, attributes, data)
