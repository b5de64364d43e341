"""CFN parameter declarations (`Type`, `Default`, `NoEcho`, `AllowedValues`, ...) parsed into the
engine's ParameterSchema; pure, touches nothing."""

from __future__ import annotations

import re
from typing import Any

from engine.errors import TemplateError
from engine.template.constraints import Constraint, allowed_pattern, allowed_values
from engine.template.functions.args import type_name
from engine.template.parameters import MISSING, ParameterSchema, with_default
from engine.template.snippets import Path, Snippet

KEYS = (
    "Type",
    "Default",
    "NoEcho",
    "AllowedValues",
    "AllowedPattern",
    "MinLength",
    "MaxLength",
    "MinValue",
    "MaxValue",
    "Description",
    "ConstraintDescription",
    "Label",
)
# CFN type names and the engine's parameter types they stand for.
TYPES = {
    "String": "string",
    "Number": "number",
    "CommaDelimitedList": "comma_delimited_list",
    "Json": "json",
    "Boolean": "boolean",
}
# `List<Number>`, `List<String>` or `List<AWS::EC2::...>`: comma-delimited lists, typed by item.
_LIST_TYPE = re.compile(r"List<(Number|String|AWS::[A-Za-z0-9:]+)>")
PSEUDO_PARAMETERS = ("AWS::StackId", "AWS::StackName", "AWS::Region")
_NUMBER = re.compile(r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")

# Which parameter types each constraint key applies to, as Heat checks them.
_APPLIES_TO = {
    "AllowedValues": ("string", "number", "comma_delimited_list", "boolean"),
    "AllowedPattern": ("string",),
    "MinLength": ("string", "comma_delimited_list", "json"),
    "MaxLength": ("string", "comma_delimited_list", "json"),
    "MinValue": ("number",),
    "MaxValue": ("number",),
}


def parse_cfn_schema(name: Any, declaration: Any) -> tuple[ParameterSchema, bool]:
    """One entry of `Parameters` as a ParameterSchema, and whether it is a `List<Number>`."""
    path = ("Parameters", name)
    if not isinstance(name, str) or not name:
        raise TemplateError("parameter names must be non-empty strings", path=path)
    if not isinstance(declaration, dict):
        raise TemplateError(f"a parameter must be a map, not {type_name(declaration)}", path=path)
    for key in declaration:
        if key not in KEYS:
            raise TemplateError(f"unknown key {key!r} (allowed: {', '.join(KEYS)})", path=path + (key,))
    declared = declaration.get("Type")
    kind, numbers = _kind(declared, path + ("Type",))
    for key in ("Description", "ConstraintDescription", "Label"):
        if declaration.get(key) is not None and not isinstance(declaration[key], str):
            raise TemplateError(f"'{key}' must be a string", path=path + (key,))
    hidden = declaration.get("NoEcho", False)
    if not isinstance(hidden, (bool, str)) or str(hidden).lower() not in ("true", "false"):
        raise TemplateError("'NoEcho' must be true or false", path=path + ("NoEcho",))
    schema = ParameterSchema(
        name=name,
        type=kind,
        hidden=str(hidden).lower() == "true",
        label=declaration.get("Label"),
        description=declaration.get("Description") or "",
        constraints=_constraints(declaration, kind, declared, path),
    )
    if declaration.get("Default") is not None:
        schema = with_default(schema, declaration["Default"], path + ("Default",))
        if numbers and schema.default is not MISSING:
            check_numbers(name, schema.default, path + ("Default",))
    return schema, numbers


def check_numbers(name: str, items: list[str], path: Path) -> None:
    """A `List<Number>` value: every item must be a number."""
    for item in items:
        if not _NUMBER.fullmatch(item):
            raise TemplateError(f"{item!r} in parameter '{name}' is not a number", path=path)


def _kind(declared: Any, path: Path) -> tuple[str, bool]:
    if isinstance(declared, str) and declared in TYPES:
        return TYPES[declared], False
    if isinstance(declared, str):
        match = _LIST_TYPE.fullmatch(declared)
        if match:
            return "comma_delimited_list", match.group(1) == "Number"
    message = "'Type' is required" if declared is None else f"unknown type {declared!r}"
    raise TemplateError(
        f"{message} (one of: {', '.join(TYPES)}, List<Number>, List<String>)",
        path=path if declared is not None else path[:-1],
    )


def _constraints(
    declaration: dict[str, Snippet], kind: str, declared: str | None, path: Path
) -> tuple[Constraint, ...]:
    description = declaration.get("ConstraintDescription")
    for key, kinds in _APPLIES_TO.items():
        if key in declaration and kind not in kinds:
            raise TemplateError(f"'{key}' does not apply to a {declared} parameter", path=path + (key,))
    found = []
    if "MinLength" in declaration or "MaxLength" in declaration:
        found.append(Constraint("length", _bounds(declaration, "MinLength", "MaxLength", int, path), description))
    if "MinValue" in declaration or "MaxValue" in declaration:
        found.append(Constraint("range", _bounds(declaration, "MinValue", "MaxValue", float, path), description))
    if "AllowedValues" in declaration:
        found.append(
            Constraint(
                "allowed_values", _allowed(declaration["AllowedValues"], kind, path + ("AllowedValues",)), description
            )
        )
    if "AllowedPattern" in declaration:
        found.append(
            Constraint(
                "allowed_pattern", _pattern(declaration["AllowedPattern"], path + ("AllowedPattern",)), description
            )
        )
    return tuple(found)


def _bounds(
    declaration: dict[str, Snippet], low_key: str, high_key: str, number: type[int] | type[float], path: Path
) -> tuple[float | None, float | None]:
    """(min, max) from CFN keys; numbers may be written as text ('MinLength': '1'), as Heat reads them."""
    bounds: list[float | None] = []  # ints stay ints: `float` admits them
    for key in (low_key, high_key):
        value = declaration.get(key)
        if value is None:
            bounds.append(None)
            continue
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(value)
            parsed = float(value)
            if number is int and not parsed.is_integer():
                raise ValueError(value)
        except ValueError:
            word = "an integer" if number is int else "a number"
            raise TemplateError(f"'{key}' must be {word}", path=path + (key,)) from None
        bounds.append(int(parsed) if parsed.is_integer() else parsed)
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise TemplateError(f"'{low_key}' ({low}) is greater than '{high_key}' ({high})", path=path + (low_key,))
    return low, high


def _allowed(values: Any, kind: str, path: Path) -> tuple[Snippet, ...]:
    return allowed_values(values, path)


def _pattern(pattern: Any, path: Path) -> str:
    return allowed_pattern(pattern, path)
