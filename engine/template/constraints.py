"""Parameter constraints: parse a parameter's `constraints` list, then say in Heat's words how a
value breaks one; pure, touches nothing."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from engine.errors import TemplateError
from engine.template.snippets import Path, Snippet
from engine.template.versions import since

_ALL_TYPES = ("string", "number", "json", "comma_delimited_list", "boolean")

# Which parameter types each constraint applies to, as in Heat.
APPLIES_TO = {
    "length": ("string", "comma_delimited_list", "json"),
    "range": ("number",),
    "modulo": ("number",),
    "allowed_values": ("string", "number", "comma_delimited_list", "boolean"),
    "allowed_pattern": ("string",),
    "custom_constraint": _ALL_TYPES,
}
# Heat names a constraint by its class in "Range constraint invalid for string".
CLASS_NAMES = {
    "length": "Length",
    "range": "Range",
    "modulo": "Modulo",
    "allowed_values": "AllowedValues",
    "allowed_pattern": "AllowedPattern",
    "custom_constraint": "CustomConstraint",
}
KEYS = ("description", "length", "range", "modulo", "allowed_values", "allowed_pattern", "custom_constraint")
# The order Heat looks for a constraint's kind in; the first found wins.
_ORDER = ("range", "length", "allowed_values", "allowed_pattern", "custom_constraint")
MODULO_SINCE = "2017-02-24"


@dataclass(frozen=True)
class Constraint:
    """One constraint: `kind` is a key of APPLIES_TO; `spec` is its parsed definition.

    length and range: (min, max), either may be None; modulo: (step, offset); allowed_values:
    the values as written; allowed_pattern: the pattern text; custom_constraint: its name
    (checked where Hearth knows it without a cloud: net_cidr, ip_addr).
    """

    kind: str
    spec: Any
    description: str | None = None


def _error(message: str, path: Path) -> TemplateError:
    return TemplateError(message, path=path, kind="InvalidSchemaError")


def parse_constraints(entries: Any, name: str, parameter_type: str, version: str, path: Path) -> tuple[Constraint, ...]:
    """Parse a HOT `constraints` list, refusing what Heat refuses with its messages."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise _error(f"Invalid parameter constraints for parameter {name}, expected a list", path)
    return tuple(_parse_one(entry, version, path + (number,)) for number, entry in enumerate(entries))


def check_dict(value: Any, allowed: tuple[str, ...], entity: str, path: Path) -> None:
    if not isinstance(value, dict):
        raise _error(f"Invalid {entity}, expected a mapping", path)
    for key in value:
        if key not in allowed:
            raise _error(f"Invalid key '{key}' for {entity}", path)


def _parse_one(entry: Any, version: str, path: Path) -> Constraint:
    check_dict(entry, KEYS, "parameter constraints", path)
    description = entry.get("description")
    order = (("modulo",) if since(version, MODULO_SINCE) else ()) + _ORDER
    kind = next((k for k in order if k in entry), None)
    if kind is None:
        raise _error("No constraint expressed", path)
    spec = entry[kind]
    where = path + (kind,)
    if kind in ("range", "length"):
        check_dict(spec, ("min", "max"), f"{kind} constraint", where)
        spec = bounds(kind, _num(spec.get("min")), _num(spec.get("max")), where)
    elif kind == "modulo":
        check_dict(spec, ("step", "offset"), "modulo constraint", where)
        spec = modulo(_num(spec.get("step")), _num(spec.get("offset")), where)
    elif kind == "allowed_values":
        spec = allowed_values(spec, where)
    elif kind == "allowed_pattern":
        spec = allowed_pattern(spec, where)
    return Constraint(kind, spec, None if description is None else str(description))


def _num(value: Any) -> Any:
    """A bound as Heat reads it (Schema.get_num): text becomes a number."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return float(value)
        except (TypeError, ValueError):
            return value


def bounds(kind: str, low: Any, high: Any, path: Path) -> tuple[Any, Any]:
    if kind == "length":
        if low is None and high is None:
            raise _error("A length constraint must have a min value and/or a max value specified.", path)
    for bound in (low, high):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            raise _error("min/max must be numeric", path)
    if kind == "range" and low is None and high is None:
        raise _error("A range constraint must have a min value and/or a max value specified.", path)
    if kind == "length" and any(b is not None and not isinstance(b, int) for b in (low, high)):
        raise _error("min/max length must be integral", path)
    return low, high


def modulo(step: Any, offset: Any, path: Path) -> tuple[int, int]:
    if step is None or offset is None:
        raise _error("A modulo constraint must have a step value and an offset value specified.", path)
    for number in (step, offset):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise _error("step/offset must be numeric", path)
        if int(number) != number:
            raise _error("step/offset must be integer", path)
    step, offset = int(step), int(offset)
    if step == 0:
        raise _error("step cannot be 0.", path)
    if abs(offset) >= abs(step):
        raise _error("offset must be smaller (by absolute value) than step.", path)
    if step * offset < 0:
        raise _error("step and offset must be both positive or both negative.", path)
    return step, offset


def allowed_values(spec: Any, path: Path) -> tuple[Snippet, ...]:
    if not isinstance(spec, list):
        raise _error("AllowedValues must be a list", path)
    return tuple(spec)


def allowed_pattern(spec: Any, path: Path) -> str:
    if not isinstance(spec, str):
        raise _error("AllowedPattern must be a string", path)
    try:
        re.compile(spec)
    except (re.error, OverflowError, RecursionError) as error:
        raise _error(f"Invalid AllowedPattern {spec}: {error}", path) from None
    return spec


def violation(constraint: Constraint, value: Any, raw: Any) -> str | None:
    """How `value` (typed; `raw` as given) breaks `constraint`, in Heat's words, or None."""
    kind, spec = constraint.kind, constraint.spec
    if kind == "length":
        low, high = spec
        if (low is None or len(value) >= low) and (high is None or len(value) <= high):
            return None
        return f"length ({len(value)}) is out of range (min: {low}, max: {high})"
    if kind == "range":
        low, high = spec
        if (low is None or value >= low) and (high is None or value <= high):
            return None
        return f"{_as_given(value, raw)} is out of range (min: {low}, max: {high})"
    if kind == "modulo":
        step, offset = spec
        if value % step == offset:
            return None
        return f"{_as_given(value, raw)} is not a multiple of {step} with an offset of {offset}"
    if kind == "allowed_values":
        if isinstance(value, list):
            if all(item in spec for item in value):
                return None
        elif value in tuple(_like(value, allowed) for allowed in spec):
            return None
        shown = json.dumps(value if isinstance(value, list) else raw)
        return f"{shown} is not an allowed value [{', '.join(json.dumps(a) for a in spec)}]"
    if kind == "allowed_pattern":
        match = re.match(spec, value)
        if match is not None and match.end() == len(value):
            return None
        return f'"{value}" does not match pattern "{spec}"'
    check = CUSTOM.get(spec)
    return None if check is None else check(value)


def _as_given(value: Any, raw: Any) -> Any:
    """A number as the user wrote it, as Heat quotes it."""
    return raw if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else value


def _like(value: Any, allowed: Any) -> Any:
    """An allowed value typed like the parameter's value, as Heat compares them."""
    try:
        if isinstance(value, bool):
            return (
                allowed
                if isinstance(allowed, bool)
                else str(allowed).strip().lower() in ("1", "t", "true", "on", "y", "yes")
            )
        if isinstance(value, (int, float)):
            return _num(allowed)
        if isinstance(value, str):
            return allowed if isinstance(allowed, str) else str(allowed)
    except (TypeError, ValueError):
        pass
    return allowed


def _net_cidr(value: Any) -> str | None:
    try:
        ipaddress.ip_network(str(value), strict=False)
        if "/" not in str(value):
            raise ValueError(value)
    except ValueError:
        return f"Error validating value '{value}': Invalid net cidr invalid IPNetwork {value} "
    return None


def _ip_addr(value: Any) -> str | None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return f"Error validating value '{value}': Invalid IP address"
    return None


# Custom constraints Heat registers that need no cloud to check. Others are accepted, since
# the things they name (images, flavors, networks) are not Hearth's to look up.
CUSTOM = {"net_cidr": _net_cidr, "ip_addr": _ip_addr}
