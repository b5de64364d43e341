"""engine.service.catalog from literals: type lists and schemas, generated templates, versions, validation."""

from __future__ import annotations

import pytest

from engine.errors import InvalidRequest, NotFound, TemplateError
from engine.resources import types
from engine.resources.base import Resource
from engine.resources.schema import Prop
from engine.service import catalog
from engine.template import parse_template
from engine.template.functions import condition_functions_for, functions_for
from engine.template.versions import VERSIONS


class Widget(Resource):
    """Makes widgets.

    A second paragraph."""

    properties_schema = {
        "size": Prop("integer", "how big", default=3, min=1, max=9, update_allowed=True),
        "colour": Prop("string", "which colour", required=True, allowed=("red", "blue")),
        "tags": Prop("list", "labels", item=Prop("string", min=1)),
        "spec": Prop("map", "details", fields={"depth": Prop("number", required=True)}),
        "on": Prop("boolean", "switched on"),
    }
    attributes_schema = {"serial": "the serial number"}


class Retired(Resource):
    support_status = {"status": "DEPRECATED", "version": "2.0.0", "message": "use Widget"}


class Secret(Resource):
    support_status = {"status": "HIDDEN"}


TYPES = {"Acme::Widget": Widget, "Acme::Retired": Retired, "Acme::Secret": Secret}


def test_list_filters_by_name_regex_status_and_version_and_hides_hidden():
    assert catalog.list_types(TYPES) == ["Acme::Retired", "Acme::Widget"]
    assert catalog.list_types(TYPES, name="Acme::W") == ["Acme::Widget"]
    assert catalog.list_types(TYPES, name=".*tired") == ["Acme::Retired"]
    assert catalog.list_types(TYPES, name="[") == []  # not a regular expression: no match
    assert catalog.list_types(TYPES, status="DEPRECATED") == ["Acme::Retired"]
    assert catalog.list_types(TYPES, version="2.0.0") == ["Acme::Retired"]
    assert catalog.list_types(TYPES, name="Acme::W", with_description=True) == [
        {"resource_type": "Acme::Widget", "description": "Makes widgets.\n\nA second paragraph."}
    ]
    with pytest.raises(InvalidRequest, match="support_status must be one of"):
        catalog.list_types(TYPES, status="GREAT")


def test_schema_shows_properties_attributes_and_support_status_as_heat_does():
    schema = catalog.resource_schema(TYPES, "Acme::Widget")
    assert set(schema) == {"resource_type", "properties", "attributes", "support_status"}
    assert schema["properties"]["size"] == {
        "type": "integer",
        "description": "how big",
        "default": 3,
        "required": False,
        "constraints": [{"range": {"min": 1, "max": 9}}],
        "update_allowed": True,
        "immutable": False,
    }
    assert schema["properties"]["colour"]["constraints"] == [{"allowed_values": ["red", "blue"]}]
    assert schema["properties"]["colour"]["required"] is True
    assert schema["properties"]["tags"]["schema"]["*"]["constraints"] == [{"length": {"min": 1}}]
    assert schema["properties"]["spec"]["schema"]["depth"]["required"] is True
    # Every type has Heat's base attribute `show`, a map (recorded from Heat 27.0.1).
    assert schema["attributes"] == {
        "serial": {"description": "the serial number"},
        "show": {"description": catalog.SHOW[1], "type": "map"},
    }
    assert schema["support_status"] == {
        "status": "SUPPORTED",
        "version": None,
        "message": None,
        "previous_status": None,
    }
    described = catalog.resource_schema(TYPES, "Acme::Retired", with_description=True)
    assert described["support_status"]["message"] == "use Widget"
    assert described["description"] == "No description available"  # not Resource's docstring
    # Heat's answers (recorded from Heat 27.0.1): a hidden type is not supported, an unknown one
    # not found.
    with pytest.raises(InvalidRequest, match=r"Acme::Secret is not supported\."):
        catalog.resource_schema(TYPES, "Acme::Secret")
    with pytest.raises(NotFound, match=r"The Resource Type \(Acme::Nothing\) could not be found."):
        catalog.resource_schema(TYPES, "Acme::Nothing")


def test_generated_templates_map_properties_to_parameters_and_attributes_to_outputs():
    hot = catalog.provider_template(TYPES, "Acme::Widget", "hot")
    assert hot["heat_template_version"] == "2016-10-14"
    assert hot["description"] == "Initial template of Widget"
    assert hot["parameters"]["size"] == {
        "type": "number",
        "description": "how big",
        "default": 3,
        "constraints": [{"range": {"min": 1, "max": 9}}],
    }
    assert hot["parameters"]["tags"]["type"] == "comma_delimited_list"
    assert hot["parameters"]["spec"]["type"] == "json"
    assert hot["resources"] == {
        "Widget": {
            "type": "Acme::Widget",
            "properties": {name: {"get_param": name} for name in Widget.properties_schema},
        }
    }
    # Heat's generated templates add `show` and the resource's id as OS::stack_id.
    assert hot["outputs"] == {
        "serial": {"description": "the serial number", "value": {"get_attr": ["Widget", "serial"]}},
        "show": {"description": catalog.SHOW[1], "value": {"get_attr": ["Widget", "show"]}},
        "OS::stack_id": {"value": {"get_resource": "Widget"}},
    }
    cfn = catalog.provider_template(TYPES, "Acme::Widget")  # cfn is Heat's default
    assert cfn["HeatTemplateFormatVersion"] == "2012-12-12"
    assert cfn["Parameters"]["size"] == {
        "Type": "Number",
        "Description": "how big",
        "Default": 3,
        "MinValue": 1,
        "MaxValue": 9,
    }
    assert cfn["Parameters"]["on"]["AllowedValues"] == ["True", "true", "False", "false"]
    assert cfn["Resources"]["Widget"]["Properties"]["tags"] == {"Fn::Split": [",", {"Ref": "tags"}]}
    assert cfn["Outputs"]["serial"] == {
        "Description": "the serial number",
        "Value": {"Fn::GetAtt": ["Widget", "serial"]},
    }
    with pytest.raises(InvalidRequest, match="template_type must be one of: cfn, hot"):
        catalog.provider_template(TYPES, "Acme::Widget", "yaml")


# Heat's own generated template for OS::Heat::RandomString does not validate (its list
# parameter's default is a list of maps); Hearth answers the same template (recorded from
# Heat 27.0.1 in tests/differential/cases/catalog), so it is left out here.
# Likewise TestResource's, AWS::EC2::Instance's and the AWS scaling group's and launch
# configuration's: Heat keeps a custom constraint as an empty map in it
# (test_custom_constraints_stay_empty_maps_as_in_heat checks that they do).
INVALID_AS_IN_HEAT = {
    "OS::Heat::RandomString",
    "OS::Heat::TestResource",
    "AWS::EC2::Instance",
    "AWS::AutoScaling::AutoScalingGroup",
    "AWS::AutoScaling::LaunchConfiguration",
}
HIDDEN = {n for n, cls in types().items() if cls.support_status.get("status") == "HIDDEN"}


@pytest.mark.parametrize("type_name", sorted(set(types()) - INVALID_AS_IN_HEAT - HIDDEN))
def test_every_registered_types_hot_template_is_a_valid_template(type_name):
    generated = catalog.provider_template(types(), type_name, "hot")
    template = parse_template(generated, filename=f"{type_name}.yaml")
    cls = types()[type_name]
    # Hearth's own hidden properties (a group's health_check) stay out of Heat's template.
    shown = {} if cls.open_properties else {n for n, p in cls.properties_schema.items() if not p.hidden}
    assert set(template.parameters) == set(shown)
    assert set(template.outputs) == set(types()[type_name].attributes_schema) | {"show", "OS::stack_id"}


def test_versions_list_every_hot_date_with_its_release_names_as_aliases():
    versions = catalog.template_versions()
    hot = [v for v in versions if v["type"] == "hot"]
    assert [v["version"] for v in hot] == [f"heat_template_version.{d}" for d in sorted(set(VERSIONS.values()))]
    newton = next(v for v in hot if v["version"] == "heat_template_version.2016-10-14")
    assert newton["aliases"] == ["heat_template_version.newton"]
    assert all(v["type"] == "cfn" for v in versions[: len(versions) - len(hot)])


def test_functions_come_from_the_version_tables():
    listed = catalog.function_list("heat_template_version.2018-08-31")
    # Heat's order, which is not alphabetical.
    assert sorted(f["functions"] for f in listed) == sorted(functions_for("2018-08-31"))
    assert all(f["description"] and f["description"][0].isupper() for f in listed)
    by_alias = catalog.function_list("heat_template_version.rocky")
    assert by_alias == listed
    old = {f["functions"]: f["description"] for f in catalog.function_list("heat_template_version.2013-05-23")}
    assert set(old) == set(functions_for("2013-05-23"))
    newton = catalog.function_list("heat_template_version.2016-10-14", with_condition=True)
    assert {f["functions"] for f in newton} == set(functions_for("2016-10-14")) | set(
        condition_functions_for("2016-10-14")
    )
    assert condition_functions_for("2016-10-14").keys() - functions_for("2016-10-14").keys()
    for unknown in ("heat_template_version.1999-01-01", "2018-08-31", "nonsense"):
        with pytest.raises(NotFound, match="not found"):
            catalog.function_list(unknown)


TEMPLATE = """heat_template_version: 2018-08-31
description: Two knobs.
parameter_groups:
  - label: Sizing
    parameters: [size]
parameters:
  size:
    type: number
    label: Size
    description: how many
    default: 2
    constraints:
      - range: {min: 1, max: 5}
        description: one to five
      - modulo: {step: 2, offset: 0}
  name:
    type: string
    hidden: true
    tags: [identity]
    constraints:
      - length: {max: 8}
      - allowed_pattern: "[a-z]+"
        description: lower case
  zones:
    type: comma_delimited_list
    default: a,b
    constraints:
      - allowed_values: [a, b, c]
resources:
  v: {type: OS::Heat::Value, properties: {value: {get_param: size}}}
"""


def checked(definition):
    checked.seen = definition


def test_validate_describes_parameters_groups_and_environment():
    answer = catalog.validate(
        {"template": TEMPLATE, "parameters": {"name": "abc"}, "environment": {"parameter_defaults": {"size": 4}}},
        checked,
    )
    assert checked.seen.template.description == "Two knobs."
    assert answer["Description"] == "Two knobs."
    assert answer["ParameterGroups"] == [{"label": "Sizing", "parameters": ["size"]}]
    assert answer["Parameters"]["size"] == {
        "Type": "Number",
        "Description": "how many",
        "NoEcho": "false",
        "Label": "Size",
        "Default": 4,
        "MinValue": 1,
        "MaxValue": 5,
        "Step": 2,
        "Offset": 0,
        "ConstraintDescription": "one to five",
    }
    assert answer["Parameters"]["name"] == {
        "Type": "String",
        "Description": "",
        "NoEcho": "true",
        "Label": "name",
        "Value": "abc",
        "Tags": ["identity"],
        "MaxLength": 8,
        "AllowedPattern": "[a-z]+",
        "ConstraintDescription": "lower case",
    }
    assert answer["Parameters"]["zones"]["Default"] == "a,b"
    assert answer["Parameters"]["zones"]["AllowedValues"] == ["a", "b", "c"]
    assert answer["Environment"]["parameters"] == {"name": "abc"}
    assert answer["Environment"]["parameter_defaults"] == {"size": 4}
    assert answer["Environment"]["resource_registry"] == {"resources": {}}
    assert "NestedParameters" not in answer


def test_validate_shows_a_value_unchecked_and_refuses_an_unknown_parameter_and_a_bad_template():
    # Heat's validate shows a given value without checking it (create checks it).
    shown = catalog.validate({"template": TEMPLATE, "template_name": "t.yaml", "parameters": {"name": "ABC"}}, checked)
    assert shown["Parameters"]["name"]["Value"] == "ABC"
    with pytest.raises(TemplateError, match=r"The Parameter \(colour\) was not defined in template."):
        catalog.validate({"template": TEMPLATE, "parameters": {"colour": "red"}}, checked)
    with pytest.raises(TemplateError) as broken:
        catalog.validate(
            {"template": TEMPLATE.replace("type: number", "type: numeral"), "template_name": "t.yaml"}, checked
        )
    assert str(broken.value).startswith("t.yaml:8: parameters.size.type: Invalid type (numeral)")
    for body, message in (
        ([], "JSON object"),
        ({}, "No Template provided."),
        ({"template": TEMPLATE, "files": ["a"]}, "'files' must map"),
        ({"template": TEMPLATE, "parameters": [1]}, "'parameters' must be a map"),
    ):
        with pytest.raises(InvalidRequest, match=message):
            catalog.validate(body, checked)


def test_validate_show_nested_describes_templates_in_the_files_map():
    inner = (
        "heat_template_version: 2018-08-31\ndescription: The inner one.\n"
        "parameters:\n  flavor: {type: string}\n  count: {type: number, default: 1}\n"
        "resources:\n  deeper: {type: deep.yaml}\n"
    )
    deep = "heat_template_version: 2018-08-31\nparameters:\n  x: {type: string, default: y}\n"
    outer = (
        "heat_template_version: 2018-08-31\nresources:\n"
        "  box: {type: My::Box, properties: {flavor: small, count: {get_param: n}}}\n"
        "parameters:\n  n: {type: number, default: 3}\n"
    )
    body = {
        "template": outer,
        "files": {"box.yaml": inner, "deep.yaml": deep},
        "environment": {"resource_registry": {"My::Box": "box.yaml"}},
    }
    answer = catalog.validate(body, checked, show_nested=True)
    box = answer["NestedParameters"]["box"]
    assert box["Type"] == "My::Box" and box["Description"] == "The inner one."
    assert box["Parameters"]["flavor"]["Value"] == "small"
    assert "Value" not in box["Parameters"]["count"]  # a function call is not a literal value
    assert box["NestedParameters"]["deeper"]["Parameters"]["x"]["Default"] == "y"
    assert "NestedParameters" not in catalog.validate(body, checked)


def test_validate_describes_a_cfn_template_too():
    cfn = (
        "AWSTemplateFormatVersion: '2010-09-09'\nDescription: CFN.\nParameters:\n"
        "  Size: {Type: Number, Default: 3, MinValue: 1, ConstraintDescription: at least one}\n"
        "Resources:\n  V: {Type: 'OS::Heat::None'}\n"
    )
    answer = catalog.validate({"template": cfn}, checked)
    assert answer["Description"] == "CFN."
    assert answer["Parameters"]["Size"] == {
        "Type": "Number",
        "Description": "",
        "NoEcho": "false",
        "Label": "Size",
        "Default": 3,
        "MinValue": 1,
        "ConstraintDescription": "at least one",
    }


def test_cfn_condition_functions_are_listed_by_name():
    from engine.service import catalog

    names = {f["functions"] for f in catalog.function_list("AWSTemplateFormatVersion.2010-09-09", with_condition=True)}
    assert {"Fn::Equals", "Fn::If", "Ref"} <= names and "2010-09-09" not in names


def test_custom_constraints_stay_empty_maps_as_in_heat():
    generated = catalog.provider_template(types(), "AWS::EC2::Instance", "hot")
    for name in ("ImageId", "InstanceType", "KeyName"):
        assert generated["parameters"][name]["constraints"] == [{}], name
    # Everything but those empty maps is a valid template.
    for parameter in generated["parameters"].values():
        if parameter.get("constraints"):
            parameter["constraints"] = [c for c in parameter["constraints"] if c]
            if not parameter["constraints"]:
                del parameter["constraints"]
    implemented = {
        name for name, prop in types()["AWS::EC2::Instance"].properties_schema.items() if prop.implemented
    }  # Heat leaves its "Not Implemented" properties out
    assert set(parse_template(generated, filename="instance.yaml").parameters) == implemented
