"""Environments: parse one, merge several in order, map a resource's type through the
resource_registry as Heat does; pure: parses text it is given, reads no file."""

from __future__ import annotations

import copy
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import type_name as _type_name
from engine.template.loader import load_yaml
from engine.template.snippets import Path, Snippet

SECTIONS = (
    "parameters",
    "resource_registry",
    "parameter_defaults",
    "encrypted_param_names",
    "event_sinks",
    "parameter_merge_strategies",
)
_LIST_SECTIONS = ("encrypted_param_names", "event_sinks")
# Registry keys that are not type names: where relative template names are found, and the
# per-resource overrides; inside an override, hooks and restricted actions are not types either.
_REGISTRY_SETTINGS = ("base_url", "resources")
_OVERRIDE_SETTINGS = ("hooks", "restricted_actions")
HOOK_TYPES = ("pre-create", "pre-update", "pre-delete", "post-create", "post-update", "post-delete")
RESTRICTED_ACTIONS = ("update", "replace")
EVENT_SINK_TYPES = ("zaqar-queue", "webhook")
# Each sink type's keys: (required, optional). Heat's ZaqarEventSink takes target and ttl; the
# webhook is Hearth's own (docs/webhooks.md).
_SINK_KEYS = {"zaqar-queue": (("target",), ("ttl",)), "webhook": (("url", "secret"), ("attempts",))}
MIN_SINK_SECRET = 16  # characters of a webhook's HMAC key at least
MOST_SINK_ATTEMPTS = 50
# Heat takes a type ending so for a template (and Hearth also a name with a path in it).
_TEMPLATE_SUFFIXES = (".yaml", ".yml", ".template")
# A glob whose value extends its own prefix ("A::*": "A::B::*") never repeats a type, so
# loops are also cut off by length.
_MAX_STEPS = 32
_TEMPLATE = object()  # the registry entry Heat makes up for a type that is a template name


@dataclass
class Environment:
    """Values and type mappings given alongside a template.

    `parameters` are the user's values; `parameter_defaults` override template defaults (and
    may name parameters a template does not declare); `resource_registry` maps type names to
    other types or to provider templates, globally or under `resources: {name: {...}}`.
    `encrypted_param_names` is kept as given; `event_sinks` are checked here and delivered by
    engine/sinks/ (docs/webhooks.md);
    `parameter_merge_strategies` matters only while environment files merge (files.py).
    """

    parameters: dict[str, Snippet] = field(default_factory=dict)
    parameter_defaults: dict[str, Snippet] = field(default_factory=dict)
    resource_registry: dict[str, Snippet] = field(default_factory=dict)
    encrypted_param_names: list[Snippet] = field(default_factory=list)
    event_sinks: list[Snippet] = field(default_factory=list)
    filename: str = "environment"

    def resolve_type(self, resource_name: str, type_name: str, known: Container[str] | None = None) -> str:
        """The type (or provider template name) that `resource_name`, of `type_name`, becomes.

        Heat's order: the resource's own override first, then the global mappings that match
        (the exact name and every glob whose prefix it has), taken in the order of their keys
        ("A::*" before "A::B::*" before "A::B::Value"). A mapping whose target leads to no
        `known` type is passed over for the next one. The result is a template name, or a type
        no mapping matches; with `known`, a TemplateError when the type leads to no known type.
        """
        found = self._resolve(resource_name, type_name, known, [])
        if found is None:
            raise TemplateError(f"The Resource Type ({type_name}) could not be found.", kind="StackValidationFailed")
        return found[0]

    def registrations(self, resource_name: str, type_name: str, known: Container[str] | None = None) -> dict[str, str]:
        """What Heat writes into the stack's registry while it resolves `type_name`: a type
        that is a template name maps to itself, a type a glob led to a built-in type maps to
        that glob's value (what `stack environment` then shows)."""
        try:
            found = self._resolve(resource_name, type_name, known, [])
        except TemplateError:
            return {}
        return found[1] if found else {}

    def facade(self, resource_name: str, type_name: str, provider: str, known: Container[str]) -> str | None:
        """The type (or provider template name) `provider`, the template `resource_name` of
        `type_name` resolved to, stands in for: the next resolution of `type_name` once the
        mapping that led to `provider` is passed over (Heat's get_resource_info `ignore`), or
        None when there is none. Heat checks the provider's interface against it."""
        passed_over = False
        for key, value, _own in self._candidates(resource_name, type_name):
            if value is _TEMPLATE:
                found = type_name
            elif is_template_name(value):
                found = value
            else:
                target = value[:-1] + type_name[len(key) - 1 :] if key.endswith("*") and value.endswith("*") else value
                try:
                    resolved = self._resolve(resource_name, target, known, [type_name])
                except TemplateError:
                    continue
                if resolved is None:
                    continue
                found = resolved[0]
            if found == provider and not passed_over:
                passed_over = True
                continue
            return found
        return type_name if type_name in known else None

    def _resolve(
        self, resource_name: str, type_name: str, known: Container[str] | None, chain: list[str]
    ) -> tuple[str, dict[str, str]] | None:
        chain = chain + [type_name]
        if type_name in chain[:-1] or len(chain) > _MAX_STEPS:
            raise TemplateError(
                "resource_registry mappings loop: " + " -> ".join(chain),
                path=("resource_registry", chain[0]),
                file=self.filename,
            )
        for key, value, own in self._candidates(resource_name, type_name):
            if value is _TEMPLATE:
                return type_name, {type_name: type_name}
            if is_template_name(value):
                return value, {}
            target = value[:-1] + type_name[len(key) - 1 :] if key.endswith("*") and value.endswith("*") else value
            found = self._resolve(resource_name, target, known, chain)
            if found is not None:
                shown = dict(found[1])
                if key.endswith("*") and not is_template_name(found[0]) and not own:
                    shown[type_name] = value
                return found[0], shown
        if known is None or type_name in known:
            return type_name, {}
        return None

    def _candidates(self, resource_name: str, type_name: str) -> list[tuple[str, Any, bool]]:
        own = (self.resource_registry.get("resources") or {}).get(resource_name) or {}
        first = [(type_name, own[type_name], True)] if isinstance(own.get(type_name), str) else []
        template = is_template_name(type_name)
        # value: a type or template name, or _TEMPLATE.
        mappings: list[tuple[str, Any, bool]] = [
            (key, value, False)
            for key, value in _types(self.resource_registry).items()
            if isinstance(value, str)
            and (
                (key == type_name and not template)
                or (key.endswith("*") and type_name.startswith(key[:-1]) and type_name != value)
            )
        ]
        if template:  # Heat makes up an entry for it, keyed by the name itself
            mappings.append((type_name, _TEMPLATE, False))
        return first + sorted(mappings, key=lambda m: m[0])

    def shown(self) -> dict[str, Any]:
        """The environment as Heat stores and shows it (`stack environment`)."""
        registry = copy.deepcopy(self.resource_registry)
        registry.setdefault("resources", {})
        return {
            "parameters": copy.deepcopy(self.parameters),
            "parameter_defaults": copy.deepcopy(self.parameter_defaults),
            "resource_registry": registry,
            "event_sinks": copy.deepcopy(self.event_sinks),
            "encrypted_param_names": list(self.encrypted_param_names),
        }


def is_template_name(name: str) -> bool:
    """Whether a registry value names a provider template rather than a resource type."""
    return isinstance(name, str) and (name.endswith(_TEMPLATE_SUFFIXES) or "/" in name)


def _types(registry: dict[str, Snippet]) -> dict[str, Any]:
    return {key: value for key, value in registry.items() if key not in _REGISTRY_SETTINGS}


def parse_environment(source: str | dict[str, Snippet], filename: str = "environment") -> Environment:
    """Parse and check an environment given as YAML/JSON text or as already-parsed data."""
    if isinstance(source, str):
        raw, lines = load_yaml(source, filename, allow_empty=True)
        if raw is not None and not isinstance(raw, dict):
            raise TemplateError(
                "The environment is not a valid YAML mapping data type.", file=filename, kind="HTTPBadRequest"
            )
    elif isinstance(source, dict):
        raw, lines = copy.deepcopy(source), {}
    else:
        raise TemplateError(f"expected environment text or a map, not {type(source).__name__}", file=filename)
    try:
        environment = _environment(raw or {}, filename)
    except TemplateError as error:
        raise error.located(path=error.path, file=filename, line=line_for(lines, error.path)) from None
    return environment


def check_sections(raw: dict[str, Snippet]) -> None:
    """Heat's check of an environment's sections: only its own, none left empty."""
    for name, value in raw.items():
        if name not in SECTIONS:
            raise TemplateError(
                f'Environment not in valid format: environment has wrong section "{name}"',
                path=(name,),
                kind="HTTPBadRequest",
            )
        if value is None:
            raise TemplateError(
                f'Environment not in valid format: environment has empty section "{name}"',
                path=(name,),
                kind="HTTPBadRequest",
            )


def line_for(lines: dict[Path, int], path: Path) -> int | None:
    # Error paths hold their segments as text; the loader's hold the keys as written.
    by_text: dict[Path, int] = {tuple(str(segment) for segment in key): line for key, line in lines.items()}
    for end in range(len(path), 0, -1):
        if path[:end] in by_text:
            return by_text[path[:end]]
    return None


def _environment(raw: dict[str, Snippet], filename: str) -> Environment:
    check_sections(raw)
    for name, value in raw.items():
        kind, word = (list, "a list") if name in _LIST_SECTIONS else (dict, "a map")
        if not isinstance(value, kind):
            raise TemplateError(f"'{name}' must be {word}, not {_type_name(value)}", path=(name,))
    registry = raw.get("resource_registry") or {}
    _check_registry(registry)
    sinks = raw.get("event_sinks") or []
    check_event_sinks(sinks)
    return Environment(
        parameters=raw.get("parameters") or {},
        parameter_defaults=raw.get("parameter_defaults") or {},
        resource_registry=registry,
        encrypted_param_names=list(raw.get("encrypted_param_names") or []),
        event_sinks=list(sinks),
        filename=filename,
    )


def check_event_sinks(sinks: list[Snippet]) -> None:
    """Each entry of `event_sinks`: a map of a known type with that type's keys, each valid."""
    for index, sink in enumerate(sinks):
        here = ("event_sinks", index)
        if not isinstance(sink, dict) or sink.get("type") not in EVENT_SINK_TYPES:
            raise TemplateError(
                f"an event sink is a map whose type is one of: {', '.join(EVENT_SINK_TYPES)}", path=here
            )
        required, optional = _SINK_KEYS[sink["type"]]
        for key in required:
            if key not in sink:
                raise TemplateError(f"a {sink['type']} sink needs '{key}'", path=here)
        unknown = sorted(str(k) for k in sink if k not in ("type", *required, *optional))
        if unknown:
            allowed = ", ".join(("type", *required, *optional))
            raise TemplateError(f"unknown key '{unknown[0]}' (a {sink['type']} sink takes {allowed})", path=here)
        for key, value in sink.items():
            problem = _sink_value_problem(key, value)
            if problem:
                raise TemplateError(problem, path=here + (key,))


def _sink_value_problem(key: str, value: Any) -> str:
    if key in ("target", "url", "secret") and (not isinstance(value, str) or not value):
        return f"must be a non-empty string, not {_type_name(value)}"
    if key == "url" and not value.lower().startswith(("http://", "https://")):
        return "must be an http:// or https:// URL"
    if key == "secret" and len(value) < MIN_SINK_SECRET:
        return f"the HMAC key must be at least {MIN_SINK_SECRET} characters long"
    if key == "ttl" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        return "must be a number of seconds (an integer, 0 or more)"
    if key == "attempts" and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MOST_SINK_ATTEMPTS
    ):
        return f"must be an integer from 1 to {MOST_SINK_ATTEMPTS}"
    return ""


def _check_registry(registry: dict[str, Snippet], path: Path = ("resource_registry",)) -> None:
    for key, value in registry.items():
        here = path + (key,)
        if key == "hooks":
            _check_names(
                value,
                HOOK_TYPES,
                "InvalidBreakPointHook",
                'Invalid hook type "{}" for resource breakpoint, acceptable hook types are: {}',
                here,
            )
        elif key == "restricted_actions":
            _check_names(
                value,
                RESTRICTED_ACTIONS,
                "InvalidRestrictedAction",
                'Invalid restricted_action type "{}" for resource, acceptable restricted_action types are: {}',
                here,
            )
        elif key == "resources" and len(path) == 1:
            if not isinstance(value, dict):
                raise TemplateError("'resources' must map resource names to their overrides", path=here)
            for name, overrides in value.items():
                if not isinstance(overrides, dict):
                    raise TemplateError("overrides must be a map", path=here + (name,))
                _check_registry(overrides, here + (name,))
        elif key == "base_url" and len(path) == 1:
            if not isinstance(value, str):
                raise TemplateError("'base_url' must be a string", path=here)
        elif not isinstance(key, str) or not key:
            raise TemplateError("type names must be non-empty strings", path=here)
        elif value is not None and (not isinstance(value, str) or not value):
            raise TemplateError("must map to a type name or a template file name", path=here)


def _check_names(value: Any, allowed: tuple[str, ...], kind: str, message: str, path: Path) -> None:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(name in allowed for name in names):
        raise TemplateError(message.format(value, allowed), path=path, kind=kind)


def merge_environments(environments: list[Environment]) -> Environment:
    """One environment from several; a later one wins key by key (per resource in `resources`)."""
    merged = Environment(filename=", ".join(dict.fromkeys(env.filename for env in environments)) or "environment")
    overrides: dict[str, dict[str, Snippet]] = {}
    for environment in environments:
        merged.parameters.update(copy.deepcopy(environment.parameters))
        merged.parameter_defaults.update(copy.deepcopy(environment.parameter_defaults))
        merged.encrypted_param_names += list(environment.encrypted_param_names)
        merged.event_sinks += copy.deepcopy(environment.event_sinks)
        for key, value in environment.resource_registry.items():
            if key == "resources":
                for name, entries in value.items():
                    overrides.setdefault(name, {}).update(copy.deepcopy(entries))
            elif value is None:
                merged.resource_registry.pop(key, None)
            else:
                merged.resource_registry[key] = copy.deepcopy(value)
    if overrides:
        merged.resource_registry["resources"] = overrides
    return merged


def load_environment(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Heat's Environment.load of `extra` over `base` (both as `Environment.shown()` gives
    them): registry entries loaded one by one (per-resource ones key by key; a null removes),
    parameters and parameter_defaults updated, event_sinks added to."""
    merged = copy.deepcopy(base)
    _load_registry(merged.setdefault("resource_registry", {}), extra.get("resource_registry") or {})
    for section in ("parameters", "parameter_defaults"):
        merged.setdefault(section, {}).update(copy.deepcopy(extra.get(section) or {}))
    merged["event_sinks"] = list(merged.get("event_sinks") or []) + list(extra.get("event_sinks") or [])
    return merged


def _load_registry(registry: dict[str, Snippet], entries: dict[str, Snippet]) -> None:
    for key, value in entries.items():
        if value is None:
            for name in [k for k in registry if k == key or (key.endswith("*") and k.startswith(key[:-1]))]:
                del registry[name]
        elif isinstance(value, dict):
            _load_registry(registry.setdefault(key, {}), value)
        else:
            registry[key] = copy.deepcopy(value)
