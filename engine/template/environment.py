"""Environments: parse one, merge several in order, and map a resource's type through the resource_registry."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from engine.errors import TemplateError
from engine.template.functions.args import type_name
from engine.template.loader import load_yaml

SECTIONS = ("parameters", "parameter_defaults", "resource_registry", "encrypted_param_names",
            "event_sinks", "parameter_merge_strategies")
_LIST_SECTIONS = ("encrypted_param_names", "event_sinks")
# Registry keys that are not type names: where relative template names are found, and the
# per-resource overrides; inside an override, hooks and restricted actions are not types either.
_REGISTRY_SETTINGS = ("base_url", "resources")
_OVERRIDE_SETTINGS = ("hooks", "restricted_actions")
_TEMPLATE_SUFFIXES = (".yaml", ".yml", ".template")
# A glob whose value extends its own prefix ("A::*": "A::B::*") never repeats a type, so
# loops are also cut off by length.
_MAX_STEPS = 32


@dataclass
class Environment:
    """Values and type mappings given alongside a template.

    `parameters` are the user's values; `parameter_defaults` override template defaults (and
    may name parameters a template does not declare); `resource_registry` maps type names to
    other types or to provider templates, globally or under `resources: {name: {...}}`.
    The encrypted_param_names, event_sinks and parameter_merge_strategies sections are
    accepted for compatibility with Heat and not used.
    """

    parameters: dict = field(default_factory=dict)
    parameter_defaults: dict = field(default_factory=dict)
    resource_registry: dict = field(default_factory=dict)
    filename: str = "environment"

    def resolve_type(self, resource_name: str, type_name: str) -> str:
        """The type (or provider template name) that `resource_name`, of `type_name`, becomes.

        Each step tries the resource's own overrides, then the global mappings; in each, an
        exact name before the longest matching glob. Steps repeat until a type maps to nothing
        or to itself, or becomes a template file name.
        """
        overrides = _types(self.resource_registry.get("resources", {}).get(resource_name) or {},
                           _OVERRIDE_SETTINGS)
        mappings = _types(self.resource_registry, _REGISTRY_SETTINGS)
        chain = [type_name]
        while not is_template_name(chain[-1]):
            target = _lookup(overrides, chain[-1])
            if target is None:
                target = _lookup(mappings, chain[-1])
            if target is None or target == chain[-1]:
                break
            chain.append(target)
            if target in chain[:-1] or len(chain) > _MAX_STEPS:
                raise TemplateError("resource_registry mappings loop: " + " -> ".join(chain),
                                    path=("resource_registry", type_name), file=self.filename)
        return chain[-1]


def is_template_name(name: str) -> bool:
    """Whether a registry value names a provider template rather than a resource type."""
    return name.endswith(_TEMPLATE_SUFFIXES) or "/" in name


def _types(registry: dict, settings: tuple) -> dict[str, str]:
    return {key: value for key, value in registry.items() if key not in settings}


def _lookup(mappings: dict[str, str], type_name: str) -> str | None:
    if type_name in mappings:
        return mappings[type_name]
    globs = [key for key in mappings if key.endswith("*") and type_name.startswith(key[:-1])]
    if not globs:
        return None
    key = max(globs, key=len)
    value = mappings[key]
    return value[:-1] + type_name[len(key) - 1:] if value.endswith("*") else value


def parse_environment(source: str | dict, filename: str = "environment") -> Environment:
    """Parse and check an environment given as YAML/JSON text or as already-parsed data."""
    if isinstance(source, str):
        raw, lines = load_yaml(source, filename, allow_empty=True)
    elif isinstance(source, dict):
        raw, lines = copy.deepcopy(source), {}
    else:
        raise TemplateError(f"expected environment text or a map, not {type(source).__name__}",
                            file=filename)
    try:
        environment = _environment(raw, filename)
        for registered in _types(environment.resource_registry, _REGISTRY_SETTINGS):
            environment.resolve_type("", registered)
    except TemplateError as error:
        raise error.located(path=error.path, file=filename,
                            line=_line_for(lines, error.path)) from None
    return environment


def _line_for(lines: dict[tuple, int], path: tuple) -> int | None:
    # Error paths hold their segments as text; the loader's hold the keys as written.
    by_text = {tuple(str(segment) for segment in key): line for key, line in lines.items()}
    for end in range(len(path), 0, -1):
        if path[:end] in by_text:
            return by_text[path[:end]]
    return None


def _environment(raw: dict, filename: str) -> Environment:
    for name, value in raw.items():
        if name not in SECTIONS:
            raise TemplateError(f"unknown section {name!r} (allowed: {', '.join(SECTIONS)})",
                                path=(name,))
        kind, word = (list, "a list") if name in _LIST_SECTIONS else (dict, "a map")
        if value is not None and not isinstance(value, kind):
            raise TemplateError(f"'{name}' must be {word}, not {type_name(value)}", path=(name,))
    registry = raw.get("resource_registry") or {}
    _check_registry(registry)
    return Environment(parameters=raw.get("parameters") or {},
                       parameter_defaults=raw.get("parameter_defaults") or {},
                       resource_registry=registry, filename=filename)


def _check_registry(registry: dict) -> None:
    for key, value in registry.items():
        path = ("resource_registry", key)
        if key == "resources":
            if not isinstance(value, dict):
                raise TemplateError("'resources' must map resource names to their overrides",
                                    path=path)
            for name, overrides in value.items():
                if not isinstance(overrides, dict):
                    raise TemplateError("overrides must be a map", path=path + (name,))
                _check_mappings(overrides, _OVERRIDE_SETTINGS, path + (name,))
        elif key == "base_url":
            if not isinstance(value, str):
                raise TemplateError("'base_url' must be a string", path=path)
    _check_mappings(registry, _REGISTRY_SETTINGS, ("resource_registry",))


def _check_mappings(mappings: dict, settings: tuple, path: tuple) -> None:
    for key, value in mappings.items():
        if key in settings:
            continue
        if not isinstance(key, str) or not key:
            raise TemplateError("type names must be non-empty strings", path=path + (key,))
        if not isinstance(value, str) or not value:
            raise TemplateError("must map to a type name or a template file name",
                                path=path + (key,))


def merge_environments(environments: list[Environment]) -> Environment:
    """One environment from several; a later one wins key by key (per resource in `resources`)."""
    merged = Environment(filename=", ".join(dict.fromkeys(env.filename for env in environments))
                         or "environment")
    overrides: dict[str, dict] = {}
    for environment in environments:
        merged.parameters.update(copy.deepcopy(environment.parameters))
        merged.parameter_defaults.update(copy.deepcopy(environment.parameter_defaults))
        for key, value in environment.resource_registry.items():
            if key == "resources":
                for name, entries in value.items():
                    overrides.setdefault(name, {}).update(copy.deepcopy(entries))
            else:
                merged.resource_registry[key] = copy.deepcopy(value)
    if overrides:
        merged.resource_registry["resources"] = overrides
    return merged
