"""Property schemas declared as data, and their validation with template paths in every error;
pure, no I/O."""

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
    item: Prop | None = None  # schema of each list item
    fields: Mapping[str, Prop] = field(default_factory=dict)  # schema of a map's known keys
    # Accepted but left out of the type's published schema (Heat's HIDDEN support status:
    # a deprecated property kept working for old templates).
    hidden: bool = False
    # A list property that also takes comma-separated text (Heat's allow_conversion: the
    # properties a provider template's parameters make); other list properties refuse text.
    allow_conversion: bool = False
    # A named check of Heat's that Hearth publishes but need not run (TestResource's test_constr).
    custom_constraint: str | None = None
    # Heat's `implemented=False`: a property of the AWS schema Heat never implemented. Left out
    # of the published schema (at the top level; a map's fields still show it, as in Heat) and
    # refused when given: "Property KernelId not implemented yet".
    implemented: bool = True


def validate_properties(
    schema: Mapping[str, Prop], values: Any, *, unresolved: Callable[[Any], bool] | None = None
) -> dict:
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
            # Heat's words; its path stops at `properties`.
            raise TemplateError(f"Unknown Property {key}")
    for key, prop in schema.items():
        if not prop.implemented and key in values:
            raise TemplateError(f"Property {key} not implemented yet")  # Heat's words
        if key in values and values[key] is not None:
            result[key] = check_value(prop, values[key], (key,), unresolved)
        elif prop.required:
            raise TemplateError(f"Property {key} not assigned")
        else:
            result[key] = prop.default
    return result


def check_value(prop: Prop, value: Any, path: tuple, unresolved=None) -> Any:
    if unresolved is not None and unresolved(value):
        return value
    kind = prop.type
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TemplateError(f"Value must be a string; got {value!r}", path=path)
        value = str(value)
    elif kind in ("integer", "number"):
        value = _number(value, kind == "integer", path)
    elif kind == "boolean":
        value = _boolean(value, path)
    elif kind == "map":
        if isinstance(value, str):
            value = _json(value, dict, path)
        if not isinstance(value, dict):
            raise TemplateError(f'"{value}" is not a map', path=path)
        for key, field_prop in prop.fields.items():
            if field_prop.required and value.get(key) is None:
                raise TemplateError(f"'{key}' is required", path=path + (key,))
            if value.get(key) is None and field_prop.default is not None:
                value = {**value, key: field_prop.default}  # Heat fills a map's defaults
        value = {
            k: (check_value(prop.fields[k], v, path + (k,), unresolved) if k in prop.fields and v is not None else v)
            for k, v in value.items()
        }
    elif kind == "list":
        if isinstance(value, str) and prop.allow_conversion:
            value = value.split(",") if value else []  # as Heat: items keep their spaces
        if not isinstance(value, list):
            raise TemplateError(f'"{value!r}" is not a list', path=path)
        if prop.item is not None:
            value = [check_value(prop.item, v, path + (i,), unresolved) for i, v in enumerate(value)]
    if prop.allowed and kind == "list":
        # Heat's AllowedValues on a list holds each item to the choices.
        for index, item in enumerate(value):
            if item not in prop.allowed:
                choices = ", ".join(json.dumps(a) for a in prop.allowed)
                raise TemplateError(f"{json.dumps(item)} is not an allowed value [{choices}]", path=path + (index,))
    elif prop.allowed and value not in prop.allowed:
        choices = ", ".join(json.dumps(a) for a in prop.allowed)
        raise TemplateError(f"{json.dumps(value)} is not an allowed value [{choices}]", path=path)
    _check_range(prop, value, path)
    return value


def _check_range(prop: Prop, value: Any, path: tuple) -> None:
    if prop.min is None and prop.max is None:
        return
    sized = isinstance(value, (str, list, dict))
    measure = len(value) if sized else value
    if (prop.min is not None and measure < prop.min) or (prop.max is not None and measure > prop.max):
        low, high = (None if b is None else int(b) if float(b).is_integer() else b for b in (prop.min, prop.max))
        shown = f"length ({measure})" if sized else f"{measure}"
        raise TemplateError(f"{shown} is out of range (min: {low}, max: {high})", path=path)


def _number(value: Any, integer: bool, path: tuple):
    """A number as Heat reads a property: int(value) for an integer, else int or float."""
    if integer:
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        except ValueError:
            raise TemplateError(f"Value '{value}' is not an integer", path=path) from None
        except TypeError:
            # Heat shows Python's TypeError here (docs/heat-differences.md); Hearth says it plainly.
            raise TemplateError(f"Value '{value}' is not an integer", path=path) from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError as error:
            raise TemplateError(str(error), path=path) from None
    except TypeError as error:
        raise TemplateError(str(error), path=path) from None


def _boolean(value: Any, path: tuple) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise TemplateError(f'"{str(value).lower()}" is not a valid boolean', path=path)


def _json(value: str, kind: type, path: tuple):
    try:
        parsed = json.loads(value)
    except ValueError:
        raise TemplateError(f'"{value}" is not a map', path=path) from None
    return parsed


def _kind(value: Any) -> str:
    return {dict: "a map", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )
