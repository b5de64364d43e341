"""metadata_server/strict.py with literals: numbers are finite, in range and whole where whole
is meant; JSON is standard and nested at most so deep, checked before it is parsed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from engine.errors import HTTPBadRequest, InvalidRequest
from metadata_server import strict


@pytest.mark.parametrize("text, value", [("0", 0), ("7", 7), (" 12 ", 12), ("007", 7), ("2147483647", 2**31 - 1)])
def test_whole_numbers_in_range_are_accepted(text, value):
    assert strict.integer("limit", text) == value


@pytest.mark.parametrize(
    "text",
    [
        "inf",
        "-inf",
        "nan",
        "1e400",
        "1.5",
        "1e3",
        "0x1F",
        "1_000",
        "",
        "+",
        "\u0663",
        "\u00b2",
        "abc",
        "9" * 5000 + ".5",
    ],
)
def test_anything_but_a_whole_number_is_refused_in_heats_words(text):
    with pytest.raises(HTTPBadRequest) as refused:
        strict.integer("limit", text)
    assert refused.value.message == (
        "Only integer is acceptable by 'limit'. 'limit' takes a whole number from 0 to 2147483647."
    )


def test_a_negative_number_is_refused_in_heats_words():
    with pytest.raises(HTTPBadRequest) as refused:
        strict.integer("limit", "-1")
    assert refused.value.message.startswith(
        "Value '-1' is invalid for 'limit' which only accepts non-negative integer."
    )


@pytest.mark.parametrize("text", ["2147483648", "9" * 5000, "-" + "9" * 5000])
def test_numbers_out_of_range_are_refused_quoting_them_briefly(text):
    with pytest.raises(HTTPBadRequest) as refused:
        strict.integer("nested_depth", text)
    assert "'nested_depth' takes a whole number from 0 to 2147483647." in refused.value.message
    assert len(refused.value.message) < 250


def test_a_minimum_is_part_of_the_refusal():
    with pytest.raises(HTTPBadRequest) as refused:
        strict.integer("marker", "0", minimum=1)
    assert (
        refused.value.message
        == "Value '0' is invalid for 'marker'. 'marker' takes a whole number from 1 to 2147483647."
    )


@pytest.mark.parametrize("text, value", [("30", 30.0), ("0.5", 0.5), ("1e3", 1000.0), (".5", 0.5), ("1e308", 1e308)])
def test_numbers_of_seconds_may_be_decimal(text, value):
    assert strict.number("wait", text) == value


@pytest.mark.parametrize(
    "text", ["inf", "nan", "NaN", "Infinity", "1e400", "9" * 5000, "0x10", "1_0", "\u0663", "", "."]
)
def test_numbers_of_seconds_must_be_finite_decimals(text):
    with pytest.raises(HTTPBadRequest) as refused:
        strict.number("wait", text)
    assert "'wait' takes a finite number from 0 up, for example 30 or 0.5." in refused.value.message


def test_numbers_of_seconds_below_the_minimum_are_refused():
    with pytest.raises(HTTPBadRequest, match="out of range for 'wait'"):
        strict.number("wait", "-0.1")


@given(st.integers(min_value=0, max_value=2**31 - 1))
@settings(max_examples=200, deadline=None)
def test_every_whole_number_in_range_reads_back(value):
    assert strict.integer("limit", str(value)) == value


def test_json_as_deep_as_allowed_parses():
    assert strict.json_document(b"[" * 100 + b"]" * 100, 100) is not None
    assert strict.json_document(json.dumps({"a": [{"b": "[[[[[[" * 100}]}).encode(), 3) == {
        "a": [{"b": "[[[[[[" * 100}]
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 101 + b"]" * 101,
        b'{"a":' * 5000 + b"0" + b"}" * 5000,
        b"[" * 100000,
        b'{"k": "\\"", "v": ' + b"[" * 200 + b"]" * 200 + b"}",
    ],
)
def test_json_nested_deeper_is_refused_before_it_is_parsed(raw):
    with pytest.raises(InvalidRequest) as refused:
        strict.json_document(raw, 100)
    assert refused.value.message == (
        "the body nests arrays and objects more than 100 levels deep (setting max_json_depth)"
    )


@pytest.mark.parametrize(
    "raw, words",
    [
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b"[Infinity]", "Infinity is not a JSON value"),
        (b"[-Infinity]", "-Infinity is not a JSON value"),
        (b"[1e400]", "the number 1e400 is too large"),
        (b"[" + b"9" * 5000 + b"]", "an integer of 5000 digits is too large"),
        (b"\xff\xfe[\x00]\x00", "JSON is sent as UTF-8, and byte 0 is not UTF-8"),
        (b"{", "Expecting"),
    ],
)
def test_json_is_standard_json(raw, words):
    with pytest.raises(InvalidRequest) as refused:
        strict.json_document(raw, 100)
    assert refused.value.message.startswith("the body is not valid JSON: ") and words in refused.value.message


def test_a_utf8_byte_order_mark_is_allowed():
    assert strict.json_document(b"\xef\xbb\xbf{}", 100) == {}


def test_brackets_inside_strings_do_not_count_whatever_escapes_they_hold():
    text = json.dumps(["[" * 500, '\\"[[[[', "\u00e9{{{{{" * 100])
    assert not strict.nests_deeper_than(text.encode(), 1)
    assert strict.nests_deeper_than(b'["\\\\", [[]]]', 2)  # an escaped backslash ends no string
