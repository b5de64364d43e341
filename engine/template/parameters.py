"""Parameter declarations and values: parse a `parameters` entry into a schema, then type and check
values against it; pure, touches nothing."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.errors import TemplateError
from engine.template.constraints import (
    APPLIES_TO,
    CLASS_NAMES,
    Constraint,
    parse_constraints,
    violation,
)
from engine.template.snippets import Path, Snippet
from engine.template.versions import since

TYPES = ("string", "number", "json", "comma_delimited_list", "boolean")
KEYS = ("type", "description", "default", "schema", "constraints", "hidden", "label", "immutable")
TAGS_SINCE = "2018-03-02"
PSEUDO_PARAMETERS = ("OS::stack_name", "OS::stack_id", "OS::project_id")

# oslo's bool_from_string, which Heat reads boolean parameters with (strict).
_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")


class _Missing:
    """The default of a parameter that declares none (None is a value a default can have)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ParameterSchema:
    """One declared parameter; `default` is already typed, or MISSING.

    A default that is not of the parameter's type (Heat checks it only when it is used) is kept
    as written in `raw_default`, with `default` MISSING; using it fails as a bad value does.
    """

    name: str
    type: str
    default: Any = MISSING
    hidden: bool = False
    label: str | None = None
    description: str = ""
    constraints: tuple[Constraint, ...] = ()
    immutable: bool = False
    tags: tuple[str, ...] = ()
    raw_default: Any = None


def schema_error(message: str, path: Path) -> TemplateError:
    """A parameter declaration Heat refuses (its InvalidSchemaError)."""
    return TemplateError(message, path=path, kind="InvalidSchemaError")


def parse_schema(name: Any, declaration: Any, version: str) -> ParameterSchema:
    """Parse one entry of the `parameters` section; errors carry their template path."""
    path = ("parameters", name)
    if not isinstance(name, str) or not name:
        raise schema_error("parameter names must be non-empty strings", path)
    if not isinstance(declaration, dict):
        raise schema_error(f"Invalid parameter ({name}), expected a mapping", path)
    keys = KEYS + (("tags",) if since(version, TAGS_SINCE) else ())
    for key in declaration:
        if key not in keys:
            raise schema_error(f"Invalid key '{key}' for parameter ({name})", path + (key,))
    if "type" not in declaration:
        raise schema_error(f"Missing parameter type for parameter: {name}", path)
    kind = declaration["type"]
    if kind not in TYPES:
        raise schema_error(f"Invalid type ({kind})", path + ("type",))
    tags = declaration.get("tags") or []
    if not isinstance(tags, list):
        raise schema_error(f"Tags property should be a list for parameter: {name}", path + ("tags",))
    label, description = declaration.get("label"), declaration.get("description")
    schema = ParameterSchema(
        name=name,
        type=kind,
        hidden=bool(declaration.get("hidden", False)),
        label=None if label is None else str(label),
        description="" if description is None else str(description),
        constraints=parse_constraints(declaration.get("constraints"), name, kind, version, path + ("constraints",)),
        immutable=bool(declaration.get("immutable", False)),
        tags=tuple(str(t) for t in tags),
    )
    check_applicable(schema, path)
    if "default" in declaration and declaration["default"] is not None:
        schema = with_default(schema, declaration["default"], path + ("default",))
    return schema


def check_applicable(schema: ParameterSchema, path: Path, type_word: str | None = None) -> None:
    """Each constraint must apply to the parameter's type, as Heat's schema checks."""
    for constraint in schema.constraints:
        if schema.type not in APPLIES_TO[constraint.kind]:
            raise schema_error(
                f"Parameter '{schema.name}' is invalid: {CLASS_NAMES[constraint.kind]} "
                f"constraint invalid for {type_word or schema.type}",
                path,
            )


def with_default(schema: ParameterSchema, raw: Any, path: Path) -> ParameterSchema:
    """`schema` with its default: typed when it converts; it must meet the constraints."""
    try:
        typed = typed_value(schema.type, raw)
    except (TypeError, ValueError, RecursionError):
        # Heat checks a default's type only when the default is used.
        return replace(schema, raw_default=raw)
    for constraint in schema.constraints:
        if constraint.kind == "custom_constraint":
            continue
        reason = violation(constraint, typed, raw)
        if reason is not None:
            shown = ",".join(raw) if isinstance(raw, list) and schema.type == "comma_delimited_list" else raw
            raise schema_error(
                f"Parameter '{schema.name}' is invalid: Invalid default {shown} ({constraint.description or reason})",
                path,
            )
    return replace(schema, default=typed, raw_default=raw)


def checked_value(schema: ParameterSchema, value: Any, path: Path) -> Any:
    """`value` converted to the parameter's type and checked against its constraints."""
    reason: str | None  # a message, or (from violation) None for a constraint kept
    try:
        typed = typed_value(schema.type, value)
    except (TypeError, ValueError, RecursionError) as error:
        # Heat's message quotes the value; a hidden one stays hidden in Hearth.
        reason = f"the value is not a valid {schema.type}" if schema.hidden else str(error)
        raise invalid(schema, reason, path) from None
    for constraint in schema.constraints:
        reason = violation(constraint, typed, value)
        if reason is not None:
            if schema.hidden and constraint.kind in ("allowed_values", "allowed_pattern"):
                # Heat echoes the value here; a hidden one stays hidden in Hearth.
                reason = f"the value is not allowed by the {constraint.kind} constraint"
            raise invalid(schema, constraint.description or reason, path)
    return typed


def invalid(schema: ParameterSchema, reason: str, path: Path) -> TemplateError:
    return TemplateError(f"Parameter '{schema.name}' is invalid: {reason}", path=path)


def parameter_values(
    schemas: Mapping[str, ParameterSchema], values: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """A typed value for every declared parameter, from the user's values, then the
    environment's defaults, then the template's own defaults."""
    for name in values:
        if name not in schemas:
            raise TemplateError(
                f"The Parameter ({name}) was not defined in template.",
                path=("parameters", name),
                kind="UnknownUserParameter",
            )
    typed = {}
    for name, schema in schemas.items():
        path = ("parameters", name)
        if values.get(name) is not None:
            typed[name] = checked_value(schema, values[name], path)
        elif defaults.get(name) is not None:
            typed[name] = checked_value(schema, defaults[name], path)
        elif schema.default is not MISSING:
            typed[name] = schema.default
        elif schema.raw_default is not None:
            typed[name] = checked_value(schema, schema.raw_default, path)
        else:
            raise TemplateError(f"The Parameter ({name}) was not provided.", path=path, kind="UserParameterMissing")
    return typed


def typed_value(kind: str, value: Any) -> Any:
    """`value` as a parameter of `kind` holds it; TypeError or ValueError in Heat's words."""
    return _CONVERSIONS[kind](value)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    raise TypeError(f"Value must be a string; got {json.dumps(value)}")


def str_to_num(value: Any) -> int | float:
    """A number from its text, as Heat's Schema.str_to_num reads it (int first, then float)."""
    if isinstance(value, (int, float)):
        return value
    try:
        return int(value)
    except ValueError:
        number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"could not convert string to float: {value!r}")
    return number


def _json(value: Any) -> Snippet:
    # Any JSON value: a map or a list as a rule, but a scalar (`5`) parses too and is kept.
    try:
        text = value if isinstance(value, str) else json.dumps(value)
        if not text:
            return {}
        parsed = json.loads(text)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Value must be valid JSON: {error}") from None
    return parsed


def _comma_delimited_list(value: Any) -> list[str]:
    """Heat splits on commas and keeps the spaces around each item."""
    if isinstance(value, list):
        return [_string(item) if not isinstance(item, (dict, list)) else str(item) for item in value]
    if isinstance(value, str):
        return value.split(",") if value else []
    raise ValueError(f"Value must be a comma-delimited list string: {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    acceptable = ", ".join(f"'{word}'" for word in sorted(_TRUE + _FALSE))
    raise ValueError(f"Unrecognized value '{value}', acceptable values are: {acceptable}")


_CONVERSIONS = {
    "string": _string,
    "number": str_to_num,
    "json": _json,
    "comma_delimited_list": _comma_delimited_list,
    "boolean": _boolean,
}
