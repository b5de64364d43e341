"""Parameter declarations and values: parse a `parameters` entry into a schema, then type and check values against it."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from engine.errors import TemplateError
from engine.template.constraints import Constraint, parse_constraints, violation
from engine.template.functions.args import type_name

TYPES = ("string", "number", "json", "comma_delimited_list", "boolean")
KEYS = ("type", "label", "description", "default", "hidden", "constraints", "immutable", "tags")
PSEUDO_PARAMETERS = ("OS::stack_name", "OS::stack_id", "OS::project_id")

_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


class _Missing:
    """The default of a parameter that declares none (None is a value a default can have)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ParameterSchema:
    """One declared parameter; `default` is already typed, or MISSING."""

    name: str
    type: str
    default: Any = MISSING
    hidden: bool = False
    label: str | None = None
    description: str = ""
    constraints: tuple[Constraint, ...] = ()
    immutable: bool = False
    tags: tuple[str, ...] = ()


def parse_schema(name: Any, declaration: Any, version: str) -> ParameterSchema:
    """Parse one entry of the `parameters` section; errors carry their template path."""
    path = ("parameters", name)
    if not isinstance(name, str) or not name:
        raise TemplateError("parameter names must be non-empty strings", path=path)
    if not isinstance(declaration, dict):
        raise TemplateError(f"a parameter must be a map, not {type_name(declaration)}", path=path)
    for key in declaration:
        if key not in KEYS:
            raise TemplateError(f"unknown key '{key}' (allowed: {', '.join(KEYS)})",
                                path=path + (key,))
    kind = declaration.get("type")
    if kind not in TYPES:
        message = "'type' is required" if kind is None else f"unknown type {kind!r}"
        raise TemplateError(f"{message} (one of: {', '.join(TYPES)})", path=path + ("type",))
    for key in ("label", "description"):
        if declaration.get(key) is not None and not isinstance(declaration[key], str):
            raise TemplateError(f"'{key}' must be a string", path=path + (key,))
    for key in ("hidden", "immutable"):
        if not isinstance(declaration.get(key, False), bool):
            raise TemplateError(f"'{key}' must be true or false", path=path + (key,))
    tags = declaration.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise TemplateError("'tags' must be a list of strings", path=path + ("tags",))
    schema = ParameterSchema(
        name=name, type=kind, hidden=declaration.get("hidden", False),
        label=declaration.get("label"), description=declaration.get("description") or "",
        constraints=parse_constraints(declaration.get("constraints"), kind, version,
                                      path + ("constraints",), _item_conversion(kind)),
        immutable=declaration.get("immutable", False), tags=tuple(tags))
    if "default" in declaration and declaration["default"] is not None:
        default = checked_value(schema, declaration["default"], path + ("default",))
        schema = replace(schema, default=default)
    return schema


def checked_value(schema: ParameterSchema, value: Any, path: tuple) -> Any:
    """`value` converted to the parameter's type and checked against its constraints."""
    shown = "value" if schema.hidden else _shown(value)
    typed = _typed(schema.type, value, shown, path)
    for constraint in schema.constraints:
        reason = violation(constraint, typed, shown, schema.hidden)
        if reason is not None:
            raise TemplateError(constraint.description or reason, path=path)
    return typed


def parameter_values(schemas: Mapping[str, ParameterSchema], values: Mapping[str, Any],
                     defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A typed value for every declared parameter, from the user's values, then the
    environment's defaults, then the template's own defaults."""
    for name in values:
        if name not in schemas:
            raise TemplateError(f"parameter '{name}' is not defined in the template",
                                path=("parameters", name))
    typed = {}
    for name, schema in schemas.items():
        path = ("parameters", name)
        if values.get(name) is not None:
            typed[name] = checked_value(schema, values[name], path)
        elif defaults.get(name) is not None:
            typed[name] = checked_value(schema, defaults[name], path)
        elif schema.default is not MISSING:
            typed[name] = schema.default
        else:
            raise TemplateError(f"value required for parameter '{name}'", path=path)
    return typed


def _shown(value: Any) -> str:
    """A value quoted for a message, shortened so that a large json value stays readable."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _typed(kind: str, value: Any, shown: str, path: tuple) -> Any:
    try:
        return _CONVERSIONS[kind](value)
    except (TypeError, ValueError, RecursionError):
        raise TemplateError(f"{shown} is not {_ARTICLES[kind]}", path=path) from None


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise TypeError(value)


def _number(value: Any) -> int | float:
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(value)
        if value.is_integer():
            return int(value)
    return value


def _json(value: Any) -> dict | list:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value, (dict, list)):
        raise TypeError(value)
    return value


def _comma_delimited_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")] if value.strip() else []
    if isinstance(value, list):
        return [_string(item) for item in value]
    return [_string(value)]


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _item_conversion(kind: str):
    """How an allowed value is typed: like the parameter, or like its items for a list."""
    return _CONVERSIONS["string" if kind == "comma_delimited_list" else kind]


_CONVERSIONS = {"string": _string, "number": _number, "json": _json,
                "comma_delimited_list": _comma_delimited_list, "boolean": _boolean}
_ARTICLES = {"string": "a string", "number": "a number", "json": "a JSON map or list",
             "comma_delimited_list": "a comma-delimited list", "boolean": "a boolean"}
