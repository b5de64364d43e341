"""A CFN-format template run as a real stack through engine.service, on real stores (SQLite file and PostgreSQL)."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from tests.support import settle


def create(service, name, template, **body):
    return service.stacks.create_stack(
        "admin", {"stack_name": name, "template": template, "template_name": f"{name}.template", **body}
    )["id"]


WEB = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: Values, a random string and a mapping, in CFN form
Parameters:
  Size:
    Type: String
    Default: short
    AllowedValues: [short, long]
  Prefix:
    Type: String
    Default: web
  Secret:
    Type: String
    NoEcho: 'true'
    Default: hunter2
Mappings:
  Lengths:
    short: {Chars: 6}
    long: {Chars: 20}
Conditions:
  IsLong: {"Fn::Equals": [{Ref: Size}, long]}
Resources:
  secret:
    Type: OS::Heat::RandomString
    Properties:
      length: {"Fn::FindInMap": [Lengths, {Ref: Size}, Chars]}
      character_classes: [{class: lowercase}]
  greeting:
    Type: OS::Heat::Value
    Properties:
      value: {"Fn::Join": ["-", [{Ref: Prefix}, {Ref: "AWS::StackName"}]]}
  combined:
    Type: OS::Heat::Value
    Properties:
      value:
        "Fn::Replace":
          - {"%greeting%": {"Fn::GetAtt": [greeting, value]}, "%secret%": {Ref: secret}}
          - "%greeting%/%secret%"
  extra:
    Type: OS::Heat::None
    Condition: IsLong
    DependsOn: combined
Outputs:
  combined:
    Description: greeting and secret
    Value: {"Fn::GetAtt": [combined, value]}
  secret:
    Value: {"Fn::GetAtt": [secret, value]}
  zone:
    Value: {"Fn::Select": [0, {"Fn::GetAZs": {Ref: "AWS::Region"}}]}
  size:
    Value: {"Fn::If": [IsLong, a long one, a short one]}
  extra:
    Value: {Ref: extra}
    Condition: IsLong
"""


def outputs(service, stack_id) -> dict:
    return {o["output_key"]: o["output_value"] for o in service.stacks.show_stack("admin", stack_id)["outputs"]}


def test_a_cfn_stack_is_created_with_its_parameters_mappings_refs_and_attributes(service):
    stack_id = create(service, "cfn-web", WEB)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    values = outputs(service, stack_id)
    secret = values["secret"]
    assert len(secret) == 6 and secret.islower()
    assert values["combined"] == f"web-cfn-web/{secret}"
    assert (values["zone"], values["size"]) == ("nova", "a short one")
    assert values["extra"] is None  # its Condition is false: Heat lists it, null
    resources = {r["resource_name"]: r["resource_status"] for r in service.resources.list_resources("admin", stack_id)}
    assert resources == {"secret": "CREATE_COMPLETE", "greeting": "CREATE_COMPLETE", "combined": "CREATE_COMPLETE"}
    assert service.stacks.show_stack("admin", stack_id)["parameters"]["Secret"] == "******"
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


def test_parameters_and_conditions_change_what_the_stack_has(service):
    stack_id = create(service, "cfn-long", WEB, parameters={"Size": "long", "Prefix": "db"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    values = outputs(service, stack_id)
    assert len(values["secret"]) == 20
    assert values["combined"] == f"db-cfn-long/{values['secret']}"
    assert values["size"] == "a long one" and values["extra"]
    resources = {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}
    assert resources["extra"]["resource_status"] == "CREATE_COMPLETE"
    assert values["extra"] == resources["extra"]["physical_resource_id"]


def test_a_bad_parameter_is_refused_with_file_line_and_path(service):
    with pytest.raises(TemplateError) as caught:
        create(service, "cfn-bad", WEB, parameters={"Size": "huge"})
    assert (
        str(caught.value)
        == 'cfn-bad.template: parameters.Size: Parameter \'Size\' is invalid: "huge" is not an allowed value ["short", "long"]'
    )


def test_a_bad_property_is_refused_in_cfn_spelling(service):
    template = WEB.replace("      character_classes: [{class: lowercase}]\n", "      colour: blue\n")
    with pytest.raises(TemplateError) as caught:
        create(service, "cfn-prop", template)
    assert str(caught.value).startswith(
        "cfn-prop.template:24: Property error: Resources.secret.Properties: Unknown Property colour"
    )


def test_a_heat_format_template_sent_as_data_runs_too(service):
    # python-heatclient sends the template already parsed, as a JSON object.
    template = {
        "HeatTemplateFormatVersion": "2012-12-12",
        "Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": "a,b,c"}},
        "Resources": {
            "pick": {"Type": "OS::Heat::Value", "Properties": {"value": {"Fn::Select": ["1", {"Ref": "Names"}]}}}
        },
        "Outputs": {
            "picked": {"Value": {"Fn::GetAtt": ["pick", "value"]}},
            "split": {"Value": {"Fn::Split": [",", "x,y"]}},
        },
    }
    stack_id = create(service, "cfn-data", template)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id) == {"picked": "b", "split": ["x", "y"]}
