"""Parameter constraints: parse a parameter's `constraints` list, then say in words how a typed value breaks one."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from engine.errors import TemplateError
from engine.template.functions.args import type_name
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
MODULO_SINCE = "2017-02-24"


@dataclass(frozen=True)
class Constraint:
    """One constraint: `kind` is a key of APPLIES_TO; `spec` is its parsed definition.

    length and range: (min, max), either may be None; modulo: (step, offset); allowed_values:
    a tuple of values typed like the parameter (its items, for a list); allowed_pattern: the
    pattern text; custom_constraint: the constraint's name (accepted, not checked).
    """

    kind: str
    spec: Any
    description: str | None = None


def parse_constraints(entries: Any, parameter_type: str, version: str, path: tuple,
                      convert: Callable[[Any], Any]) -> tuple[Constraint, ...]:
    """Parse a `constraints` list; `convert` types an allowed value like the parameter's values."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise TemplateError("constraints must be a list", path=path)
    return tuple(_parse_one(entry, parameter_type, version, path + (number,), convert)
                 for number, entry in enumerate(entries))


def _parse_one(entry: Any, parameter_type: str, version: str, path: tuple,
               convert: Callable[[Any], Any]) -> Constraint:
    if not isinstance(entry, dict):
        raise TemplateError(f"a constraint must be a map, not {type_name(entry)}", path=path)
    kinds = [key for key in entry if key != "description"]
    if len(kinds) != 1 or kinds[0] not in APPLIES_TO:
        raise TemplateError("a constraint needs exactly one of: " + ", ".join(APPLIES_TO),
                            path=path)
    kind = kinds[0]
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise TemplateError("a constraint's description must be a string",
                            path=path + ("description",))
    if parameter_type not in APPLIES_TO[kind]:
        raise TemplateError(f"'{kind}' does not apply to a {parameter_type} parameter",
                            path=path + (kind,))
    if kind == "modulo" and not since(version, MODULO_SINCE):
        raise TemplateError(f"'modulo' needs heat_template_version {MODULO_SINCE} or later",
                            path=path + (kind,))
    return Constraint(kind, _SPECS[kind](entry[kind], path + (kind,), convert), description)


def _bounds(spec: Any, path: tuple, whole: bool) -> tuple[Any, Any]:
    if not isinstance(spec, dict) or not spec or set(spec) - {"min", "max"}:
        raise TemplateError("expected a map with 'min', 'max' or both", path=path)
    for key, bound in spec.items():
        if isinstance(bound, bool) or not isinstance(bound, int if whole else (int, float)):
            raise TemplateError(f"'{key}' must be {'an integer' if whole else 'a number'}",
                                path=path + (key,))
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None and low > high:
        raise TemplateError(f"'min' ({low}) is greater than 'max' ({high})", path=path)
    return low, high


def _modulo(spec: Any, path: tuple, convert) -> tuple[int, int]:
    if not isinstance(spec, dict) or set(spec) != {"step", "offset"}:
        raise TemplateError("expected a map with 'step' and 'offset'", path=path)
    step, offset = spec["step"], spec["offset"]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (step, offset)):
        raise TemplateError("'step' and 'offset' must be integers", path=path)
    if step < 1 or not 0 <= offset < step:
        raise TemplateError("'step' must be positive and 'offset' between 0 and step - 1",
                            path=path)
    return step, offset


def _allowed_values(spec: Any, path: tuple, convert) -> tuple:
    if not isinstance(spec, list) or not spec:
        raise TemplateError("expected a non-empty list of values", path=path)
    allowed = []
    for number, value in enumerate(spec):
        try:
            allowed.append(convert(value))
        except (TypeError, ValueError):
            raise TemplateError(f"{value!r} cannot be a value of this parameter",
                                path=path + (number,)) from None
    return tuple(allowed)


def _allowed_pattern(spec: Any, path: tuple, convert) -> str:
    if not isinstance(spec, str):
        raise TemplateError("expected a regular expression", path=path)
    try:
        re.compile(spec)
    except (re.error, OverflowError, RecursionError) as error:
        raise TemplateError(f"not a valid regular expression: {error}", path=path) from None
    return spec


def _custom_constraint(spec: Any, path: tuple, convert) -> str:
    if not isinstance(spec, str) or not spec:
        raise TemplateError("expected the name of a custom constraint", path=path)
    return spec


_SPECS = {
    "length": lambda spec, path, convert: _bounds(spec, path, whole=True),
    "range": lambda spec, path, convert: _bounds(spec, path, whole=False),
    "modulo": _modulo,
    "allowed_values": _allowed_values,
    "allowed_pattern": _allowed_pattern,
    "custom_constraint": _custom_constraint,
}


def violation(constraint: Constraint, value: Any, shown: str, hidden: bool) -> str | None:
    """How the typed `value` (quoted in messages as `shown`) breaks `constraint`, or None."""
    kind, spec = constraint.kind, constraint.spec
    if kind == "length":
        return _outside(len(value), spec, f"length of {shown}")
    if kind == "range":
        return _outside(value, spec, shown)
    if kind == "modulo":
        step, offset = spec
        if value % step == offset:
            return None
        if offset == 0:
            return f"{shown} is not a multiple of {step}"
        return f"{shown} is not {offset} more than a multiple of {step}"
    if kind == "allowed_values":
        choices = ", ".join(_quoted(choice) for choice in spec)
        for item in value if isinstance(value, list) else [value]:
            if item not in spec:
                subject = shown if not isinstance(value, list) else (
                    f"an item of {shown}" if hidden else _quoted(item))
                return f"{subject} is not one of {choices}"
        return None
    if kind == "allowed_pattern":
        return None if re.fullmatch(spec, value) else f"{shown} does not match the pattern {spec!r}"
    return None  # custom_constraint: named checks are the engine's concern, not the template's


def _outside(measure: Any, bounds: tuple[Any, Any], subject: str) -> str | None:
    low, high = bounds
    if (low is None or measure >= low) and (high is None or measure <= high):
        return None
    if low is not None and high is not None:
        return f"{subject} is not in range {low}..{high}"
    if low is not None:
        return f"{subject} is less than {low}"
    return f"{subject} is more than {high}"


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
