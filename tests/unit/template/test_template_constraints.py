"""Tests for engine.template.constraints: each constraint's syntax, where it applies, and its message."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template import parse_template


def template(kind: str, constraint: str, version: str = "2017-02-24"):
    text = (
        f"heat_template_version: {version}\nparameters:\n  p:\n    type: {kind}\n"
        f"    constraints:\n      - {constraint}\n"
    )
    return parse_template(text, filename="c.yaml")


def verdict(kind: str, constraint: str, value) -> str | None:
    try:
        template(kind, constraint).validate_parameters({"p": value})
    except TemplateError as error:  # a helper: no error is a verdict too, so no pytest.raises
        assert error.line == 3 and error.path == ("parameters", "p")  # noqa: PT017
        return error.reason
    return None


@pytest.mark.parametrize(
    "kind, constraint, value, reason",
    [
        (
            "string",
            "length: {min: 2, max: 3}",
            "abcd",
            "Parameter 'p' is invalid: length (4) is out of range (min: 2, max: 3)",
        ),
        ("string", "length: {min: 2, max: 3}", "abc", None),
        ("string", "length: {min: 2}", "a", "Parameter 'p' is invalid: length (1) is out of range (min: 2, max: None)"),
        (
            "string",
            "length: {max: 1}",
            "ab",
            "Parameter 'p' is invalid: length (2) is out of range (min: None, max: 1)",
        ),
        (
            "comma_delimited_list",
            "length: {max: 1}",
            "a,b",
            "Parameter 'p' is invalid: length (2) is out of range (min: None, max: 1)",
        ),
        ("json", "length: {min: 1}", "{}", "Parameter 'p' is invalid: length (0) is out of range (min: 1, max: None)"),
        ("number", "range: {min: 1, max: 5}", "7", "Parameter 'p' is invalid: 7 is out of range (min: 1, max: 5)"),
        ("number", "range: {min: 1, max: 5}", 7, "Parameter 'p' is invalid: 7 is out of range (min: 1, max: 5)"),
        ("number", "range: {min: 1, max: 5}", "5", None),
        ("number", "range: {min: 0.5}", 0.25, "Parameter 'p' is invalid: 0.25 is out of range (min: 0.5, max: None)"),
        ("number", "modulo: {step: 2, offset: 1}", 3, None),
        (
            "number",
            "modulo: {step: 2, offset: 1}",
            4,
            "Parameter 'p' is invalid: 4 is not a multiple of 2 with an offset of 1",
        ),
        (
            "number",
            "modulo: {step: 3, offset: 0}",
            4,
            "Parameter 'p' is invalid: 4 is not a multiple of 3 with an offset of 0",
        ),
        ("string", "allowed_values: [a, b]", "c", 'Parameter \'p\' is invalid: "c" is not an allowed value ["a", "b"]'),
        ("string", "allowed_values: [80, b]", "80", None),
        ("number", "allowed_values: [1, '2']", "2", None),
        ("number", "allowed_values: [1, 2]", 3, "Parameter 'p' is invalid: 3 is not an allowed value [1, 2]"),
        (
            "comma_delimited_list",
            "allowed_values: [a, b]",
            "a,c",
            'Parameter \'p\' is invalid: ["a", "c"] is not an allowed value ["a", "b"]',
        ),
        ("boolean", "allowed_values: [true]", "no", "Parameter 'p' is invalid: \"no\" is not an allowed value [true]"),
        ("string", "allowed_pattern: '[a-z]+'", "abc", None),
        (
            "string",
            "allowed_pattern: '[a-z]+'",
            "abc1",
            'Parameter \'p\' is invalid: "abc1" does not match pattern "[a-z]+"',
        ),
        ("string", "custom_constraint: nova.flavor", "anything", None),
    ],
)
def test_constraints(kind, constraint, value, reason):
    assert verdict(kind, constraint, value) == reason


@pytest.mark.parametrize(
    "kind, constraint, message",
    [
        ("string", "range: {min: 1}", "parameters.p: Parameter 'p' is invalid: Range constraint invalid for string"),
        (
            "number",
            "allowed_pattern: x",
            "parameters.p: Parameter 'p' is invalid: AllowedPattern constraint invalid for number",
        ),
        (
            "string",
            "{length: {min: 1}, range: {min: 1}}",
            "parameters.p: Parameter 'p' is invalid: Range constraint invalid for string",
        ),
        ("string", "{description: only words}", "parameters.p.constraints.0: No constraint expressed"),
        (
            "string",
            "length: {least: 3}",
            "parameters.p.constraints.0.length: Invalid key 'least' for length constraint",
        ),
        ("string", "length: {min: 1.5}", "parameters.p.constraints.0.length: min/max length must be integral"),
        ("number", "range: {max: high}", "parameters.p.constraints.0.range: min/max must be numeric"),
        ("number", "modulo: {step: 0, offset: 0}", "parameters.p.constraints.0.modulo: step cannot be 0."),
        (
            "string",
            "allowed_pattern: '[a-'",
            "parameters.p.constraints.0.allowed_pattern: Invalid AllowedPattern [a-: unterminated character set at position 0",
        ),
    ],
)
def test_constraint_syntax_errors(kind, constraint, message):
    with pytest.raises(TemplateError) as caught:
        template(kind, constraint)
    assert str(caught.value).split(": ", 1)[1] == message
    assert caught.value.file == "c.yaml" and caught.value.line is not None


def test_modulo_needs_2017_02_24():
    with pytest.raises(TemplateError) as caught:
        template("number", "modulo: {step: 2, offset: 0}", version="2016-10-14")
    assert caught.value.reason == "No constraint expressed"


def test_constraints_must_be_a_list():
    with pytest.raises(TemplateError) as caught:
        parse_template(
            "heat_template_version: 2013-05-23\nparameters:\n  p:\n    type: string\n    constraints: {length: {min: 1}}\n",
            filename="c.yaml",
        )
    assert (
        str(caught.value)
        == "c.yaml:5: parameters.p.constraints: Invalid parameter constraints for parameter p, expected a list"
    )
