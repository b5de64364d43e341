"""The resources, outputs, parameter_groups and conditions sections of a HOT template, checked and
turned into definitions; pure, touches nothing."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name
from engine.template.parameters import PSEUDO_PARAMETERS
from engine.template.snippets import Path, Snippet
from engine.template.versions import since

SECTIONS = (
    "heat_template_version",
    "description",
    "parameter_groups",
    "parameters",
    "resources",
    "outputs",
    "conditions",
)
CONDITIONS_SINCE = "2016-10-14"
RESOURCE_KEYS = (
    "type",
    "properties",
    "metadata",
    "depends_on",
    "deletion_policy",
    "update_policy",
    "description",
    "condition",
    "external_id",
)
OUTPUT_KEYS = ("value", "description", "condition")
# Keys that only exist from the version that added conditions on.
_SINCE_CONDITIONS = ("condition", "external_id")
DELETION_POLICIES = ("Delete", "Retain", "Snapshot")
_LOWER_CASE_POLICIES = ("delete", "retain", "snapshot")

LineFor = Callable[[Path], "int | None"]


@dataclass(frozen=True)
class ResourceDefinition:
    """A resource as written: `properties` and `metadata` are raw snippets that may hold calls."""

    name: str
    type: str
    properties: dict[str, Snippet] = field(default_factory=dict)
    metadata: dict[str, Snippet] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    # A policy name, or (until Template.with_conditions resolves it) a call that gives one.
    deletion_policy: Any = None
    update_policy: dict[str, Snippet] = field(default_factory=dict)
    line: int | None = None
    condition: Any = None
    external_id: Any = None
    description: str = ""


@dataclass(frozen=True)
class OutputDefinition:
    """An output as written: `value` is a raw snippet, resolved when the output is shown."""

    name: str
    value: Any
    description: str = ""
    line: int | None = None
    condition: Any = None


def section(raw: dict[str, Snippet], name: str, kind: type, word: str) -> Any:
    """A top-level section, with an empty one (`resources:` and nothing after) as empty."""
    value = raw.get(name)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        if name in ("conditions", "Conditions"):
            raise TemplateError(
                f"Condition definitions must be a map. Found a {type(value).__name__} instead",
                heading="Conditions validation error",
            )
        raise TemplateError(f"'{name}' must be {word}, not {type_name(value)}", path=(name,))
    return value


def check_top_level(raw: dict[str, Snippet], version: str) -> None:
    for name in raw:
        if name not in SECTIONS or (name == "conditions" and not since(version, CONDITIONS_SINCE)):
            raise TemplateError(f"The template section is invalid: {name}", path=(name,))


def resource_definitions(
    resources: dict[str, Snippet], version: str, conditions: Collection[str], line_for: LineFor
) -> dict[str, ResourceDefinition]:
    names = set(resources)
    return {name: _resource(name, body, version, names, conditions, line_for) for name, body in resources.items()}


def _resource(
    name: Any, body: Any, version: str, names: Collection[str], conditions: Collection[str], line_for: LineFor
) -> ResourceDefinition:
    path = ("resources", name)
    if not isinstance(name, str) or not name or "/" in name:
        raise TemplateError("resource names must be non-empty strings without '/'", path=path)
    if not isinstance(body, dict):
        raise TemplateError(
            f'"resources" must contain a map of resource maps. Found a [{type(body)}] instead', path=path
        )
    if not body:
        raise TemplateError("Each resource must contain a type key.", path=path)
    _check_keys(body, RESOURCE_KEYS, version, path)
    if "type" not in body:
        raise TemplateError("Each resource must contain a type key.", path=path)
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise TemplateError(f"Resource {name} type type must be string", path=path + ("type",))
    for key in ("properties", "metadata", "update_policy"):
        if not isinstance(body.get(key) or {}, dict):
            raise TemplateError(f"Resource {name} {key} type must be object", path=path + (key,))
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise TemplateError(f"Resource {name} description type must be string", path=path + ("description",))
    external_id = body.get("external_id")
    if external_id is not None and not (isinstance(external_id, str) or is_call(external_id)):
        raise TemplateError("'external_id' must be a string", path=path + ("external_id",))
    return ResourceDefinition(
        name=name,
        type=kind,
        properties=body.get("properties") or {},
        metadata=body.get("metadata") or {},
        depends_on=_depends_on(body.get("depends_on"), name, names, path + ("depends_on",)),
        deletion_policy=_deletion_policy(body.get("deletion_policy"), version, path + ("deletion_policy",)),
        update_policy=body.get("update_policy") or {},
        line=line_for(path),
        condition=_condition(body.get("condition"), conditions, path + ("condition",)),
        external_id=external_id,
        description=description,
    )


def _check_keys(body: dict[str, Snippet], allowed: tuple[str, ...], version: str, path: Path) -> None:
    for key in body:
        if key in _SINCE_CONDITIONS and not since(version, CONDITIONS_SINCE):
            raise TemplateError(f"Invalid keyword(s) inside a resource definition: {key}", path=path + (key,))
        if key not in allowed:
            # Heat's own message here is an unformatted "%s" (docs/heat-differences.md).
            raise TemplateError(
                f'"{key}" is not a valid keyword inside a resource definition (allowed: {", ".join(allowed)})',
                path=path + (key,),
            )


def _depends_on(value: Any, name: str, names: Collection[str], path: Path) -> list[str]:
    targets = [value] if isinstance(value, str) else value or []
    if not isinstance(targets, list):
        raise TemplateError(f"Resource {name} depends_on type must be list or string", path=path)
    for number, target in enumerate(targets):
        if not isinstance(target, str):
            raise TemplateError(f"Resource {name} depends_on must be a list of strings", path=path + (number,))
        if target not in names:
            raise TemplateError(
                f'The specified reference "{target}" (in {name}) is incorrect.',
                path=path + (number,),
                kind="InvalidTemplateReference",
            )
    # Depending on itself is a loop, which the dependency graph reports.
    return list(dict.fromkeys(targets))


def _deletion_policy(value: Any, version: str, path: Path) -> Any:
    # A call ({get_param: policy}, {if: ...}) is resolved once parameter values are known.
    return value if is_call(value) else deletion_policy(value, version, path)


def deletion_policy(value: Any, version: str, path: Path) -> str | None:
    """The policy a deletion_policy value names, in its capitalised spelling (None: none given)."""
    if value is None:
        return None
    # Heat added the lower-case spellings in 2016-10-14, and only those.
    if since(version, CONDITIONS_SINCE) and value in _LOWER_CASE_POLICIES:
        value = value.capitalize()
    if value not in DELETION_POLICIES:
        raise TemplateError(f'Invalid deletion policy "{value}"', path=path)
    policy: str = value  # one of DELETION_POLICIES: text
    return policy


def _condition(value: Any, conditions: Collection[str], path: Path) -> Any:
    if value is None or isinstance(value, bool) or is_call(value):
        return value
    if not isinstance(value, str) or value not in conditions:
        raise TemplateError(f'Invalid condition "{value}"', path=path)
    return value


def output_definitions(
    outputs: dict[str, Snippet], version: str, conditions: Collection[str], line_for: LineFor
) -> dict[str, OutputDefinition]:
    definitions = {}
    for name, body in outputs.items():
        path = ("outputs", name)
        if not isinstance(name, str) or not name:
            raise TemplateError("output names must be non-empty strings", path=path)
        if not isinstance(body, dict):
            raise TemplateError(
                f"Output definitions must be a map. Found a {type(body).__name__} instead",
                path=path,
                heading="Output validation error",
            )
        # Heat ignores keys it does not know in an output (condition before 2016-10-14 too).
        if "value" not in body:
            raise TemplateError(
                "Each output definition must contain a value key.", path=path, heading="Output validation error"
            )
        description = body.get("description") or ""
        if not isinstance(description, str):
            description = str(description)
        definitions[name] = OutputDefinition(
            name=name,
            value=body["value"],
            description=description,
            line=line_for(path),
            condition=_condition(body.get("condition"), conditions, path + ("condition",))
            if since(version, CONDITIONS_SINCE)
            else None,
        )
    return definitions


def check_parameter_groups(groups: list[Snippet], parameters: Collection[str]) -> None:
    """Each group lists parameters of the template, each in one group only (Heat's checks and
    words; a group is named by its label in the path, as Heat names it).

    Heat reads label, description and parameters and ignores any other key; so does Hearth.
    Pseudo-parameters count as parameters there too.
    """
    grouped: set[str] = set()
    for group in groups:
        label = group.get("label", "") if isinstance(group, dict) else ""
        path = ("parameter_groups", label)
        members = group.get("parameters") if isinstance(group, dict) else None
        if members is None:
            raise TemplateError(
                "The parameters must be provided for each parameter group.", path=path, heading="Parameter Groups error"
            )
        if not isinstance(members, list):
            raise TemplateError(
                "The parameters of parameter group should be a list.", path=path, heading="Parameter Groups error"
            )
        for name in members:
            if name in grouped:
                raise TemplateError(
                    f"The {name} parameter must be assigned to one parameter group only.",
                    path=("parameter_groups", ""),
                    heading="Parameter Groups error",
                )
            grouped.add(name)
            if not isinstance(name, str) or (name not in parameters and name not in PSEUDO_PARAMETERS):
                raise TemplateError(
                    f"The grouped parameter {name} does not reference a valid parameter.",
                    path=path,
                    heading="Parameter Groups error",
                )


def check_conditions(conditions: dict[str, Snippet]) -> None:
    for name in conditions:
        if not isinstance(name, str) or not name:
            raise TemplateError("condition names must be non-empty strings", path=("conditions", name))
