"""Property schemas declared as data, and their validation with template paths in every error."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import TemplateError

_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


@dataclass(frozen=True)
class Prop:
    """One property: its type (string, integer, number, boolean, map, list, any) and constraints."""

    type: str
    description: str = ""
    required: bool = False
    default: Any = None
    allowed: tuple = ()
    min: float | None = None
    max: float | None = None
    update_allowed: bool = False
    item: "Prop | None" = None  # schema of each list item
    fields: Mapping[str, "Prop"] = field(default_factory=dict)  # schema of a map's known keys
    # Accepted but left out of the type's published schema (Heat's HIDDEN support status:
    # a deprecated property kept working for old templates).
    hidden: bool = False


def validate_properties(schema: Mapping[str, Prop], values: Any, *,
                        unresolved: Callable[[Any], bool] | None = None) -> dict:
    """Check `values` against `schema`; return them with defaults applied and scalars coerced.

    Errors are TemplateErrors whose path is relative to the properties section. With
    `unresolved`, values it flags (intrinsic function calls not yet resolved) are skipped, so
    a template can be validated before its resources exist.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise TemplateError("properties must be a map")
    result: dict[str, Any] = {}
    for key in values:
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            raise TemplateError(f"unknown property '{key}' (known properties: {known})", path=(key,))
    for key, prop in schema.items():
        if key in values and values[key] is not None:
            result[key] = check_value(prop, values[key], (key,), unresolved)
        elif prop.required:
            raise TemplateError(f"property '{key}' is required", path=(key,))
        else:
            result[key] = prop.default
    return result


def check_value(prop: Prop, value: Any, path: tuple, unresolved=None) -> Any:
    if unresolved is not None and unresolved(value):
        return value
    kind = prop.type
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TemplateError(f"value must be a string, not {_kind(value)}", path=path)
        value = str(value)
    elif kind in ("integer", "number"):
        value = _number(value, kind == "integer", path)
    elif kind == "boolean":
        value = _boolean(value, path)
    elif kind == "map":
        if isinstance(value, str):
            value = _json(value, dict, path)
        if not isinstance(value, dict):
            raise TemplateError(f"value must be a map, not {_kind(value)}", path=path)
        for key, field_prop in prop.fields.items():
            if field_prop.required and value.get(key) is None:
                raise TemplateError(f"'{key}' is required", path=path + (key,))
            if value.get(key) is None and field_prop.default is not None:
                value = {**value, key: field_prop.default}  # Heat fills a map's defaults
        value = {k: (check_value(prop.fields[k], v, path + (k,), unresolved)
                     if k in prop.fields and v is not None else v) for k, v in value.items()}
    elif kind == "list":
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")] if value else []
        if not isinstance(value, list):
            raise TemplateError(f"value must be a list, not {_kind(value)}", path=path)
        if prop.item is not None:
            value = [check_value(prop.item, v, path + (i,), unresolved) for i, v in enumerate(value)]
    if prop.allowed and kind == "list":
        # Heat's AllowedValues on a list holds each item to the choices.
        for index, item in enumerate(value):
            if item not in prop.allowed:
                choices = ", ".join(str(a) for a in prop.allowed)
                raise TemplateError(f"'{item}' is not one of the allowed values: {choices}", path=path + (index,))
    elif prop.allowed and value not in prop.allowed:
        choices = ", ".join(str(a) for a in prop.allowed)
        raise TemplateError(f"'{value}' is not one of the allowed values: {choices}", path=path)
    _check_range(prop, value, path)
    return value


def _check_range(prop: Prop, value: Any, path: tuple) -> None:
    if prop.min is None and prop.max is None:
        return
    measure = len(value) if isinstance(value, (str, list, dict)) else value
    what = "length" if isinstance(value, (str, list, dict)) else "value"
    if prop.min is not None and measure < prop.min:
        raise TemplateError(f"{what} {measure} is less than the minimum {prop.min:g}", path=path)
    if prop.max is not None and measure > prop.max:
        raise TemplateError(f"{what} {measure} is more than the maximum {prop.max:g}", path=path)


def _number(value: Any, integer: bool, path: tuple):
    if isinstance(value, bool):
        raise TemplateError("value must be a number, not a boolean", path=path)
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise TemplateError(f"'{value}' is not a number", path=path) from None
    if not isinstance(value, (int, float)):
        raise TemplateError(f"value must be a number, not {_kind(value)}", path=path)
    if integer:
        if value != int(value):
            raise TemplateError(f"{value} is not an integer", path=path)
        return int(value)
    return value


def _boolean(value: Any, path: tuple) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise TemplateError(f"'{value}' is not a boolean", path=path)


def _json(value: str, kind: type, path: tuple):
    try:
        parsed = json.loads(value)
    except ValueError:
        raise TemplateError("value must be a map (or a JSON object string)", path=path) from None
    return parsed


def _kind(value: Any) -> str:
    return {dict: "a map", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
