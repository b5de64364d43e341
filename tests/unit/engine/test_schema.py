"""Property schema validation: coercion, constraints, unknown and missing properties, unresolved values."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.resources.schema import Prop, check_value, validate_properties

SCHEMA = {
    "name": Prop("string", required=True),
    "size": Prop("integer", default=1, min=1, max=10),
    "flag": Prop("boolean", default=False),
    "kind": Prop("string", allowed=("a", "b")),
    "tags": Prop("list", item=Prop("string")),
    "spec": Prop("map", fields={"port": Prop("integer")}),
}


def test_defaults_and_coercion():
    values = validate_properties(
        SCHEMA, {"name": 7, "size": "3", "flag": "yes", "tags": ["x", "y"], "spec": {"port": "80"}}
    )
    assert values == {"name": "7", "size": 3, "flag": True, "kind": None, "tags": ["x", "y"], "spec": {"port": 80}}


def test_a_list_takes_text_only_where_heat_converts_it():
    # Heat's allow_conversion (a provider template's list parameters): split on commas, the
    # items keep their spaces; any other list property refuses text (recorded from Heat 27.0.1).
    assert check_value(Prop("list", allow_conversion=True), "x, y", ()) == ["x", " y"]
    with pytest.raises(TemplateError, match=r""""'x, y'" is not a list"""):
        check_value(Prop("list"), "x, y", ())


# Heat's words; a missing or unknown property is named in the message, its path stops above it.
@pytest.mark.parametrize(
    "values, path, words",
    [
        ({}, (), "Property name not assigned"),
        ({"name": "n", "colour": 1}, (), "Unknown Property colour"),
        ({"name": ["l"]}, ("name",), "Value must be a string; got ['l']"),
        ({"name": "n", "size": 11}, ("size",), "11 is out of range (min: 1, max: 10)"),
        ({"name": "n", "size": "big"}, ("size",), "Value 'big' is not an integer"),
        ({"name": "n", "size": 1.5}, ("size",), "not an integer"),
        ({"name": "n", "flag": "maybe"}, ("flag",), '"maybe" is not a valid boolean'),
        ({"name": "n", "kind": "c"}, ("kind",), '"c" is not an allowed value ["a", "b"]'),
        ({"name": "n", "tags": [1, {}]}, ("tags", 1), "Value must be a string"),
        ({"name": "n", "spec": {"port": "x"}}, ("spec", "port"), "Value 'x' is not an integer"),
    ],
)
def test_errors_carry_the_property_path(values, path, words):
    with pytest.raises(TemplateError) as error:
        validate_properties(SCHEMA, values)
    assert error.value.path == tuple(str(p) for p in path)
    assert words in error.value.reason


def test_unresolved_function_calls_are_skipped_until_resolved():
    def unresolved(value):
        return isinstance(value, dict) and set(value) == {"get_param"}

    values = validate_properties(
        SCHEMA, {"name": {"get_param": "x"}, "size": {"get_param": "y"}}, unresolved=unresolved
    )
    assert values["size"] == {"get_param": "y"}


def test_required_keys_inside_maps_are_enforced():
    schema = {"inputs": Prop("list", item=Prop("map", fields={"name": Prop("string", required=True)}))}
    with pytest.raises(TemplateError) as error:
        validate_properties(schema, {"inputs": [{"name": "a"}, {"description": "no name"}]})
    assert error.value.path == ("inputs", "1", "name") and "required" in error.value.reason
