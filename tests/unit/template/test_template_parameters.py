"""Tests for engine.template.parameters: declarations, typing user values, defaults and hidden values."""

from __future__ import annotations

import textwrap

import pytest

from engine.errors import TemplateError
from engine.template import ParameterSchema, parse_template
from engine.template.constraints import Constraint
from engine.template.parameters import MISSING


def template(parameters: str, version: str = "2015-10-15"):
    text = f"heat_template_version: {version}\nparameters:\n" + textwrap.indent(textwrap.dedent(parameters), "  ")
    return parse_template(text, filename="params.yaml")


def rejected(tmpl, values, defaults=None) -> str:
    with pytest.raises(TemplateError) as caught:
        tmpl.validate_parameters(values, defaults)
    return str(caught.value)


def test_schema_fields():
    schema = template("""\
        flavor:
          type: string
          label: Flavor
          description: the size
          default: m1.small
          immutable: true
          constraints:
            - allowed_values: [m1.small, m1.large]
              description: a known flavour
        """).parameters["flavor"]
    assert schema == ParameterSchema(
        name="flavor",
        type="string",
        default="m1.small",
        hidden=False,
        label="Flavor",
        description="the size",
        constraints=(Constraint("allowed_values", ("m1.small", "m1.large"), "a known flavour"),),
        immutable=True,
        raw_default="m1.small",
    )


@pytest.mark.parametrize("given, typed", [("web", "web"), (42, "42"), (2.5, "2.5"), (True, "True")])
def test_string_values(given, typed):
    assert template("name: {type: string}\n").validate_parameters({"name": given}) == {"name": typed}


@pytest.mark.parametrize(
    "given, typed",
    [
        # As Heat reads numbers: int() first, else float().
        ("42", 42),
        (" 7 ", 7),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        (3.0, 3.0),
        (-4, -4),
        ("+1", 1),
        (0.25, 0.25),
    ],
)
def test_number_values(given, typed):
    result = template("n: {type: number}\n").validate_parameters({"n": given})["n"]
    assert result == typed and type(result) is type(typed)


@pytest.mark.parametrize("given", ["forty", "nan", "inf", "1e999", [1], ""])
def test_number_refusals(given):
    message = rejected(template("n: {type: number}\n"), {"n": given})
    assert message.startswith("params.yaml:3: parameters.n: Parameter 'n' is invalid: ")


@pytest.mark.parametrize(
    "given, typed",
    [('{"a": [1, 2]}', {"a": [1, 2]}), ("[1]", [1]), ({"k": "v"}, {"k": "v"}), ([1, "x"], [1, "x"]), ("", {})],
)
def test_json_values(given, typed):
    assert template("j: {type: json}\n").validate_parameters({"j": given}) == {"j": typed}


@pytest.mark.parametrize(
    "given",
    [
        '{"a":',
    ],
)
def test_json_refusals(given):
    assert rejected(template("j: {type: json}\n"), {"j": given}) == (
        "params.yaml:3: parameters.j: Parameter 'j' is invalid: Value must be valid JSON: Expecting value: "
        "line 1 column 6 (char 5)"
    )


@pytest.mark.parametrize(
    "given, typed",
    [
        # Heat splits on commas and keeps the spaces.
        ("a,b, c", ["a", "b", " c"]),
        ("single", ["single"]),
        ("", []),
        (["x", 2], ["x", "2"]),
    ],
)
def test_comma_delimited_list_values(given, typed):
    assert template("l: {type: comma_delimited_list}\n").validate_parameters({"l": given}) == {"l": typed}


def test_comma_delimited_list_refuses_maps():
    assert rejected(template("l: {type: comma_delimited_list}\n"), {"l": {"a": 1}}) == (
        "params.yaml:3: parameters.l: Parameter 'l' is invalid: Value must be a comma-delimited list string: {'a': 1}"
    )


@pytest.mark.parametrize(
    "given, typed",
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        ("t", True),
        ("Y", True),
        (1, True),
        (True, True),
        ("false", False),
        ("No", False),
        ("OFF", False),
        ("0", False),
        ("f", False),
        ("n", False),
        (0, False),
    ],
)
def test_boolean_values(given, typed):
    assert template("b: {type: boolean}\n").validate_parameters({"b": given}) == {"b": typed}


@pytest.mark.parametrize("given", ["maybe", 2, 1.0, [True]])
def test_boolean_refusals(given):
    assert rejected(template("b: {type: boolean}\n"), {"b": given}).endswith(
        "acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
    )


def test_value_required_without_default():
    assert rejected(template("name: {type: string}\n"), {}) == (
        "params.yaml:3: parameters.name: The Parameter (name) was not provided."
    )


def test_null_value_counts_as_not_given():
    assert template("name: {type: string, default: x}\n").validate_parameters({"name": None}) == {"name": "x"}


def test_undeclared_value_is_refused():
    assert rejected(template("name: {type: string, default: x}\n"), {"nmae": "y"}) == (
        "params.yaml:2: parameters.nmae: The Parameter (nmae) was not defined in template."
    )


def test_environment_defaults_override_template_defaults_and_values_override_both():
    tmpl = template("""\
        a: {type: number, default: 1}
        b: {type: number, default: 1}
        c: {type: number, default: 1}
        """)
    assert tmpl.validate_parameters({"a": "3"}, {"a": 2, "b": "2", "unrelated": 9}) == {"a": 3, "b": 2, "c": 1}


def test_environment_defaults_are_checked():
    tmpl = template("port: {type: number, default: 1, constraints: [range: {max: 5}]}\n")
    assert (
        rejected(tmpl, {}, {"port": 9})
        == "params.yaml:3: parameters.port: Parameter 'port' is invalid: 9 is out of range (min: None, max: 5)"
    )


def test_template_default_must_satisfy_type_and_constraints():
    with pytest.raises(TemplateError) as caught:
        template("port:\n  type: number\n  default: 9\n  constraints:\n    - range: {min: 1, max: 5}\n")
    assert (
        str(caught.value)
        == "params.yaml:5: parameters.port.default: Parameter 'port' is invalid: Invalid default 9 (9 is out of range (min: 1, max: 5))"
    )
    # A default of the wrong type is refused when it is used, as in Heat.
    assert rejected(template("flag:\n  type: boolean\n  default: perhaps\n"), {}).startswith(
        "params.yaml:3: parameters.flag: Parameter 'flag' is invalid: Unrecognized value 'perhaps'"
    )


def test_defaults_are_typed():
    tmpl = template("""\
        n: {type: number, default: "5"}
        l: {type: comma_delimited_list, default: "a,b"}
        j: {type: json, default: {k: 1}}
        """)
    assert tmpl.validate_parameters({}) == {"n": 5, "l": ["a", "b"], "j": {"k": 1}}
    assert tmpl.parameters["n"].default == 5


def test_constraint_description_replaces_the_message():
    tmpl = template("""\
        port:
          type: number
          constraints:
            - range: {min: 1, max: 5}
              description: pick a port from 1 to 5
        """)
    assert (
        rejected(tmpl, {"port": "7"})
        == "params.yaml:3: parameters.port: Parameter 'port' is invalid: pick a port from 1 to 5"
    )


def test_hidden_values_never_appear_in_messages():
    tmpl = template("""\
        password:
          type: string
          hidden: true
          constraints:
            - length: {min: 8}
            - allowed_pattern: "[a-z]+"
            - allowed_values: [abcdefghij]
        pin:
          type: number
          hidden: true
          default: 1
        keys:
          type: comma_delimited_list
          hidden: true
          default: abcdefghij
          constraints:
            - allowed_values: [abcdefghij]
        """)
    messages = [
        rejected(tmpl, {"password": "s3cr3t"}),
        rejected(tmpl, {"password": "S3CR3TS3CR3T"}),
        rejected(tmpl, {"password": "secretsecret"}),
        rejected(tmpl, {"password": "abcdefghij", "pin": "s3cr3t"}),
        rejected(tmpl, {"password": "abcdefghij", "keys": "abcdefghij,s3cr3t"}),
    ]
    assert messages == [
        "params.yaml:3: parameters.password: Parameter 'password' is invalid: length (6) is out of range (min: 8, max: None)",
        "params.yaml:3: parameters.password: Parameter 'password' is invalid: the value is not allowed by the allowed_pattern constraint",
        "params.yaml:3: parameters.password: Parameter 'password' is invalid: the value is not allowed by the allowed_values constraint",
        "params.yaml:10: parameters.pin: Parameter 'pin' is invalid: the value is not a valid number",
        "params.yaml:14: parameters.keys: Parameter 'keys' is invalid: the value is not allowed by the allowed_values constraint",
    ]
    assert not any("s3cr3t" in message.lower() or "secretsecret" in message for message in messages)


@pytest.mark.parametrize(
    "declaration, message",
    [
        ("p: string", "parameters.p: Invalid parameter (p), expected a mapping"),
        ("p: {label: x}", "parameters.p: Missing parameter type for parameter: p"),
        ("p: {type: string, secret: true}", "parameters.p.secret: Invalid key 'secret' for parameter (p)"),
        ("p: {type: string, tags: x}", "parameters.p.tags: Invalid key 'tags' for parameter (p)"),  # before 2018-03-02
    ],
)
def test_declaration_errors(declaration, message):
    with pytest.raises(TemplateError) as caught:
        template(declaration + "\n")
    assert str(caught.value) == f"params.yaml:3: {message}"


def test_missing_default_is_the_sentinel():
    assert template("p: {type: string}\n").parameters["p"].default is MISSING
    assert repr(MISSING) == "MISSING"
