"""Strict parsing of request numbers and JSON, each refusal a 400 that names what was wrong; pure
functions of text and bytes, touching nothing.

Strict parsing of what a request carries: numbers (finite, in range, whole where whole is meant) and
JSON (standard JSON only, nested at most so deep), each refusal a 400 that names what was wrong and
what is accepted. Pure functions of text and bytes; requests_ applies them.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from engine.errors import HTTPBadRequest, InvalidRequest

# A bound every store and every client language holds as an integer (PostgreSQL's INTEGER,
# a JavaScript number): a larger page size, depth or version is no request anyone means.
MAX_INTEGER = 2**31 - 1
_INTEGER = re.compile(r"-?[0-9]+")
# Decimal and exponent forms only: float() would also take 'inf', 'nan', '1_000' and
# non-ASCII digits, none of which a client means as a number here.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN = 40  # characters of a refused value quoted back


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def integer(name: str, text: str, *, minimum: int = 0, maximum: int = MAX_INTEGER) -> int:
    """`text` as a whole number from `minimum` to `maximum`, or HTTPBadRequest in Heat's words
    (Heat's param_utils.extract_int) followed by what the parameter accepts."""
    accepts = f"'{name}' takes a whole number from {minimum} to {maximum}."
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        raise HTTPBadRequest(f"Only integer is acceptable by '{name}'. {accepts}")
    # Compared as text first: int() of thousands of digits is refused by Python itself.
    value = int(text) if len(text.lstrip("-").lstrip("0")) <= 30 else None
    if value is not None and minimum <= value <= maximum:
        return value
    if text.startswith("-") and minimum == 0:
        raise HTTPBadRequest(
            f"Value '{_shown(text)}' is invalid for '{name}' which only accepts non-negative integer. {accepts}"
        )
    raise HTTPBadRequest(f"Value '{_shown(text)}' is invalid for '{name}'. {accepts}")


def number(name: str, text: str, *, minimum: float = 0, maximum: float | None = None) -> float:
    """`text` as a finite decimal number from `minimum` (to `maximum`, when there is one);
    `1.5`, `30` and `1e3` are numbers, `inf`, `nan` and `1e400` are not."""
    bounds = f"from {minimum:g}" + (f" to {maximum:g}" if maximum is not None else " up")
    accepts = f"'{name}' takes a finite number {bounds}, for example 30 or 0.5."
    text = text.strip()
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value):
        raise HTTPBadRequest(f"Value '{_shown(text)}' is invalid for '{name}'. {accepts}")
    if value < minimum or (maximum is not None and value > maximum):
        raise HTTPBadRequest(f"Value '{_shown(text)}' is out of range for '{name}'. {accepts}")
    return value


# JSON ------------------------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256)]


def nests_deeper_than(raw: bytes, depth: int) -> bool:
    """Whether arrays and objects nest more than `depth` deep in the UTF-8 JSON text `raw`
    (brackets inside strings do not count), found without parsing it, so that a text nested
    too deeply for the parser, or for code that walks what it parsed, is refused before either
    sees it. Invalid JSON may get either answer: the parser refuses it anyway."""
    if raw.count(b"[") + raw.count(b"{") <= depth:
        return False  # fewer openings than levels: the common case, at the cost of a count
    # In UTF-8 no byte of a multi-byte character is a quote, backslash or bracket.
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0) > depth


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {_shown(text)} is too large")
    return value


def _whole(text: str) -> int:
    if len(text) > 4000:  # Python refuses to convert such text; say it in JSON's words
        raise ValueError(f"an integer of {len(text)} digits is too large")
    return int(text)


def json_document(raw: bytes, max_depth: int, what: str = "the body") -> Any:
    """Standard JSON (no NaN, Infinity, or numbers beyond a float's range) nested at most
    `max_depth` arrays and objects deep, or InvalidRequest saying which rule it broke."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            f"{what} is not valid JSON: JSON is sent as UTF-8, and byte {error.start} is not UTF-8"
        ) from None
    if nests_deeper_than(raw, max_depth):
        raise InvalidRequest(
            f"{what} nests arrays and objects more than {max_depth} levels deep (setting max_json_depth)"
        )
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_finite, parse_int=_whole)
    except RecursionError:  # max_json_depth set above what this Python can parse
        raise InvalidRequest(f"{what} is nested too deeply to parse") from None
    except ValueError as error:
        raise InvalidRequest(f"{what} is not valid JSON: {error}") from None
