"""Tests for engine.template.cfn: CFN-format templates parsed into the Template the engine runs, errors with file:line:path."""

from __future__ import annotations

import json
import textwrap

import pytest

from engine.errors import DependencyCycle, TemplateError
from engine.orchestration.graph import Readiness
from engine.template import Template, parse_template
from engine.template.cfn import CfnTemplate, cfn_path
from engine.template.parameters import MISSING


def creation_order(template) -> list[str]:
    """The order a create starts the resources in: engine.orchestration.graph.Readiness, as a run
    uses it, each resource done as soon as it is taken."""
    requires = {name: sorted(needs) for name, needs in template.dependencies().items()}
    ready, order = Readiness(requires, requires), []
    while batch := ready.take():
        for name in batch:
            order.append(name)
            ready.done(name)
    return order


def parse(text: str, **kwargs):
    return parse_template(textwrap.dedent(text), filename="stack.template", **kwargs)


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(TemplateError) as caught:
        parse(text, **kwargs)
    return str(caught.value)


WEB = """\
    AWSTemplateFormatVersion: '2010-09-09'
    Description: A web server
    Parameters:
      ImageId:
        Type: String
        Default: cirros
        Description: the image
      Password:
        Type: String
        NoEcho: 'true'
    Resources:
      db:
        Type: OS::Nova::Server
      web:
        Type: OS::Nova::Server
        Properties:
          image: {Ref: ImageId}
          db_host: {"Fn::GetAtt": [db, first_address]}
        Metadata:
          port: {Ref: port}
        DeletionPolicy: Retain
        UpdatePolicy: {pause: 1}
      port:
        Type: OS::Neutron::Port
        DependsOn: db
    Outputs:
      address:
        Description: where to browse
        Value: {"Fn::GetAtt": [web, first_address]}
    """


def test_template_attributes_are_the_ones_the_engine_uses():
    template = parse(WEB)
    assert isinstance(template, CfnTemplate) and isinstance(template, Template)
    assert (template.filename, template.version, template.description) == (
        "stack.template",
        "2010-09-09",
        "A web server",
    )
    assert list(template.resources) == ["db", "web", "port"]
    web = template.resources["web"]
    assert (web.name, web.type, web.line, web.deletion_policy, web.update_policy) == (
        "web",
        "OS::Nova::Server",
        14,
        "Retain",
        {"pause": 1},
    )
    assert web.properties == {"image": {"Ref": "ImageId"}, "db_host": {"Fn::GetAtt": ["db", "first_address"]}}
    assert web.metadata == {"port": {"Ref": "port"}}
    assert template.resources["port"].depends_on == ["db"]
    output = template.outputs["address"]
    assert (output.description, output.value, output.line) == (
        "where to browse",
        {"Fn::GetAtt": ["web", "first_address"]},
        27,
    )
    image = template.parameters["ImageId"]
    assert (image.type, image.default, image.description, image.hidden) == ("string", "cirros", "the image", False)
    assert template.parameters["Password"].default is MISSING
    assert template.hidden_parameters() == {"Password"}
    assert (template.parameter_groups, template.conditions) == ([], {})


def test_dependencies_come_from_ref_get_att_and_depends_on():
    template = parse(WEB)
    # Ref to a parameter is no dependency; Ref to a resource is.
    assert template.dependencies() == {"db": set(), "web": {"db", "port"}, "port": {"db"}}
    assert creation_order(template) == ["db", "port", "web"]


def test_heat_template_format_version_and_json_text():
    text = json.dumps(
        {"HeatTemplateFormatVersion": "2012-12-12", "Resources": {"a": {"Type": "OS::Heat::None"}}}, indent=2
    )
    template = parse_template(text, filename="old.json")
    assert (type(template), template.version, list(template.resources)) == (CfnTemplate, "2012-12-12", ["a"])


def test_parsed_data_as_python_heatclient_sends_it():
    raw = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"a": {"Type": "X", "Properties": ["x"]}}}
    with pytest.raises(TemplateError) as caught:
        parse_template(raw, filename="data")
    assert str(caught.value) == "data: Resources.a.Properties: 'Properties' must be a map, not a list"


def test_unquoted_yaml_date_version_is_accepted():
    assert parse("AWSTemplateFormatVersion: 2010-09-09\n").version == "2010-09-09"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "AWSTemplateFormatVersion: '2012-12-12'\n",
            'stack.template:1: AWSTemplateFormatVersion: The template version is invalid: "AWSTemplateFormatVersion: 2012-12-12". "AWSTemplateFormatVersion" should be: 2010-09-09',
        ),
        (
            "HeatTemplateFormatVersion: '2010-09-09'\n",
            'stack.template:1: HeatTemplateFormatVersion: The template version is invalid: "HeatTemplateFormatVersion: 2010-09-09". "HeatTemplateFormatVersion" should be: 2012-12-12',
        ),
        (
            "AWSTemplateFormatVersion: '2010-09-09'\nHeatTemplateFormatVersion: '2012-12-12'\n",
            "stack.template: The template version is invalid: Ambiguous versions (AWSTemplateFormatVersion, HeatTemplateFormatVersion)",
        ),
        (
            "AWSTemplateFormatVersion: '2010-09-09'\nresources: {}\n",
            "stack.template:2: resources: The template section is invalid: resources",
        ),
        (
            "AWSTemplateFormatVersion: '2010-09-09'\nDescription: [x]\n",
            "stack.template:2: Description: 'Description' must be a string",
        ),
        (
            "HeatTemplateFormatVersion: '2012-12-12'\nConditions: {}\n",
            "stack.template:2: Conditions: The template section is invalid: Conditions",
        ),
    ],
)
def test_format_and_section_errors(text, message):
    assert error_of(text) == message


RESOURCE = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  db: {Type: X}\n  web:\n"


@pytest.mark.parametrize(
    "body, message",
    [
        ("    Properties: {}\n", "stack.template:4: Resources.web.Type: 'Type' is required and must be a string"),
        (
            "    Type: X\n    Metadata: [a]\n",
            "stack.template:6: Resources.web.Metadata: 'Metadata' must be a map, not a list",
        ),
        (
            "    Type: X\n    DeletionPolicy: Keep\n",
            "stack.template:6: Resources.web.DeletionPolicy: 'Keep' is not a deletion policy (one of: Delete, Retain, Snapshot)",
        ),
        (
            "    Type: X\n    DependsOn: nothing\n",
            "stack.template:6: Resources.web.DependsOn: DependsOn refers to undefined resource 'nothing'",
        ),
        (
            "    Type: X\n    DependsOn: [db, web]\n",
            "stack.template:6: Resources.web.DependsOn.1: a resource cannot depend on itself",
        ),
        ("    Type: X\n    Condition: prod\n", 'stack.template:6: Resources.web.Condition: Invalid condition "prod"'),
        (
            "    Type: X\n    Description: 3\n",
            "stack.template:6: Resources.web.Description: 'Description' must be a string",
        ),
    ],
)
def test_resource_errors(body, message):
    assert error_of(RESOURCE + body) == message


def test_resource_must_be_a_map():
    assert error_of(RESOURCE + "    X\n") == "stack.template:4: Resources.web: a resource must be a map, not a string"


def test_heat_format_has_no_condition_keys():
    text = "HeatTemplateFormatVersion: '2012-12-12'\nOutputs:\n  o: {Value: 1, Condition: true}\n"
    assert error_of(text) == (
        "stack.template:3: Outputs.o.Condition: 'Condition' needs AWSTemplateFormatVersion 2010-09-09"
    )


def test_output_needs_a_value():
    text = "AWSTemplateFormatVersion: '2010-09-09'\nOutputs:\n  o: {Description: x}\n"
    assert error_of(text) == "stack.template:3: Outputs.o: 'Value' is required"


def test_mappings_hold_maps_of_maps():
    text = "AWSTemplateFormatVersion: '2010-09-09'\nMappings:\n  Sizes:\n    small: 4\n"
    assert error_of(text) == (
        "stack.template:4: Mappings.Sizes.small: each key of a mapping must hold a map, not a number"
    )
    assert error_of(text.replace("  Sizes:\n    small: 4\n", "  Sizes: [1]\n")) == (
        "stack.template:3: Mappings.Sizes: a mapping must be a map, not a list"
    )


def test_a_dependency_cycle_names_its_members():
    text = """\
        AWSTemplateFormatVersion: '2010-09-09'
        Resources:
          a: {Type: X, Properties: {x: {Ref: b}}}
          b: {Type: X, Properties: {x: {"Fn::GetAtt": [a, y]}}}
        """
    with pytest.raises(DependencyCycle) as caught:
        parse(text)
    assert caught.value.members == ["a", "b"]


def test_errors_from_the_engine_are_located_in_cfn_spelling():
    template = parse(WEB)
    error = template.error("value must be a string", ("resources", "web", "properties", "image"))
    assert str(error) == "stack.template:17: Resources.web.Properties.image: value must be a string"
    assert cfn_path(("outputs", "address", "value", "Fn::GetAtt")) == ("Outputs", "address", "Value", "Fn::GetAtt")
    assert cfn_path(("Resources", "web", "Properties")) == ("Resources", "web", "Properties")


# Parameters -------------------------------------------------------------------------------
PARAMETERS = """\
    AWSTemplateFormatVersion: '2010-09-09'
    Parameters:
      Flavor:
        Type: String
        Default: m1.small
        AllowedValues: [m1.small, m1.large]
        ConstraintDescription: must be a known flavor
      Name:
        Type: String
        MinLength: '2'
        MaxLength: 8
        AllowedPattern: '[a-z]+'
      Count:
        Type: Number
        MinValue: 1
        MaxValue: '5'
      Zones:
        Type: CommaDelimitedList
        Default: a,b
      Ports:
        Type: List<Number>
        Default: '80,443'
      Config:
        Type: Json
        Default: {a: 1}
      Debug:
        Type: Boolean
        Default: 'false'
    """


def test_parameter_types_and_defaults():
    template = parse(PARAMETERS)
    kinds = {name: schema.type for name, schema in template.parameters.items()}
    assert kinds == {
        "Flavor": "string",
        "Name": "string",
        "Count": "number",
        "Zones": "comma_delimited_list",
        "Ports": "comma_delimited_list",
        "Config": "json",
        "Debug": "boolean",
    }
    values = template.validate_parameters({"Name": "web", "Count": "3"})
    assert values == {
        "Flavor": "m1.small",
        "Name": "web",
        "Count": 3,
        "Zones": ["a", "b"],
        "Ports": ["80", "443"],
        "Config": {"a": 1},
        "Debug": False,
    }


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"Name": "web", "Count": 1, "Flavor": "m1.tiny"},
            "stack.template: parameters.Flavor: Parameter 'Flavor' is invalid: must be a known flavor",
        ),
        (
            {"Name": "w", "Count": 1},
            "stack.template: parameters.Name: Parameter 'Name' is invalid: length (1) is out of range (min: 2, max: 8)",
        ),
        (
            {"Name": "Web", "Count": 1},
            'stack.template: parameters.Name: Parameter \'Name\' is invalid: "Web" does not match pattern "[a-z]+"',
        ),
        (
            {"Name": "web", "Count": 6},
            "stack.template: parameters.Count: Parameter 'Count' is invalid: 6 is out of range (min: 1, max: 5)",
        ),
        ({"Name": "web"}, "stack.template: parameters.Count: The Parameter (Count) was not provided."),
        (
            {"Name": "web", "Count": 1, "Ports": "80,http"},
            "stack.template:20: Parameters.Ports: 'http' in parameter 'Ports' is not a number",
        ),
        (
            {"Name": "web", "Count": 1, "Other": 1},
            "stack.template: parameters.Other: The Parameter (Other) was not defined in template.",
        ),
    ],
)
def test_parameter_values_are_checked(values, message):
    with pytest.raises(TemplateError) as caught:
        parse(PARAMETERS).validate_parameters(values)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "declaration, message",
    [
        (
            "{}",
            (
                "stack.template:3: Parameters.P: 'Type' is required (one of: String, Number, CommaDelimitedList, "
                "Json, Boolean, List<Number>, List<String>)"
            ),
        ),
        (
            "{Type: string}",
            (
                "stack.template:3: Parameters.P.Type: unknown type 'string' (one of: String, Number, "
                "CommaDelimitedList, Json, Boolean, List<Number>, List<String>)"
            ),
        ),
        (
            "{Type: String, Hidden: true}",
            (
                "stack.template:3: Parameters.P.Hidden: unknown key 'Hidden' (allowed: Type, "
                "Default, NoEcho, AllowedValues, AllowedPattern, MinLength, MaxLength, "
                "MinValue, MaxValue, Description, ConstraintDescription, Label)"
            ),
        ),
        (
            "{Type: String, MinValue: 1}",
            ("stack.template:3: Parameters.P.MinValue: 'MinValue' does not apply to a String parameter"),
        ),
        (
            "{Type: Number, AllowedPattern: x}",
            ("stack.template:3: Parameters.P.AllowedPattern: 'AllowedPattern' does not apply to a Number parameter"),
        ),
        ("{Type: String, MinLength: two}", "stack.template:3: Parameters.P.MinLength: 'MinLength' must be an integer"),
        (
            "{Type: Number, MinValue: 5, MaxValue: 1}",
            ("stack.template:3: Parameters.P.MinValue: 'MinValue' (5) is greater than 'MaxValue' (1)"),
        ),
        (
            "{Type: String, AllowedPattern: '('}",
            "stack.template:3: Parameters.P.AllowedPattern: Invalid AllowedPattern (: missing ), unterminated subpattern at position 0",
        ),
        ("{Type: String, NoEcho: maybe}", "stack.template:3: Parameters.P.NoEcho: 'NoEcho' must be true or false"),
        (
            "{Type: String, Default: b, AllowedValues: [a]}",
            'stack.template:3: Parameters.P.Default: Parameter \'P\' is invalid: Invalid default b ("b" is not an allowed value ["a"])',
        ),
        ("[String]", "stack.template:3: Parameters.P: a parameter must be a map, not a list"),
    ],
)
def test_parameter_declaration_errors(declaration, message):
    assert error_of(f"AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  P: {declaration}\n") == message


def test_no_echo_hides_the_value_in_messages():
    text = "AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  P: {Type: String, NoEcho: true, MinLength: 9}\n"
    template = parse(text)
    assert template.hidden_parameters() == {"P"}
    with pytest.raises(TemplateError) as caught:
        template.validate_parameters({"P": "secret"})
    assert "secret" not in str(caught.value)


def test_a_cfn_template_built_without_a_format_key_says_which_it_needs():
    with pytest.raises(TemplateError) as caught:
        CfnTemplate({"Resources": {}}, filename="bare.json")
    assert str(caught.value) == ("bare.json: Template not in valid format: Template format version not found.")
