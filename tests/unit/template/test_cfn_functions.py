"""Tests for the CFN intrinsic functions (engine/template/functions/cfn_*.py), resolved through a CFN template."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template import parse_template

HEAD = """\
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Size: {Type: String, Default: small}
  Zones: {Type: CommaDelimitedList, Default: 'a,b,c'}
  Config: {Type: Json, Default: {port: 80}}
Mappings:
  Sizes:
    small: {Words: 4, Zone: a}
    2012: {Words: 6}
Resources:
  server: {Type: OS::Heat::None}
Outputs:
  o:
    Value: """


def template(value: str):
    return parse_template(HEAD + value + "\n", filename="stack.template")


def resolved(value: str, fake_stack, **answers):
    stack = fake_stack(
        params={
            "Size": "small",
            "Zones": ["a", "b", "c"],
            "Config": {"port": 80},
            "AWS::StackName": "web",
            "AWS::Region": "ap-southeast-1",
            **answers.pop("params", {}),
        },
        resources={"server": "server-id"},
        attributes={"server": {"first_address": "10.0.0.5", "networks": ["n"]}},
        **answers,
    )
    parsed = template(value)
    return parsed.resolve(parsed.outputs["o"].value, stack, ("outputs", "o", "value"))


def parse_error(value: str) -> str:
    with pytest.raises(TemplateError) as caught:
        template(value)
    return str(caught.value)


def resolve_error(value: str, fake_stack, **answers) -> str:
    with pytest.raises(TemplateError) as caught:
        resolved(value, fake_stack, **answers)
    return str(caught.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("{Ref: Size}", "small"),
        ("{Ref: Zones}", ["a", "b", "c"]),
        ("{Ref: server}", "server-id"),
        ("{Ref: 'AWS::StackName'}", "web"),
        ("{'Fn::GetAtt': [server, first_address]}", "10.0.0.5"),
        ("{'Fn::GetAtt': [server, {Ref: Size}]}", None),
        ("{'Fn::Join': [',', [a, {Ref: Size}, null]]}", "a,small,"),
        ("{'Fn::Join': [' ', {Ref: Zones}]}", "a b c"),
        ("{'Fn::Select': ['1', {Ref: Zones}]}", "b"),
        ("{'Fn::Select': [-1, [x, y]]}", "y"),
        ("{'Fn::Select': [5, [x, y]]}", ""),
        ("{'Fn::Select': [port, {Ref: Config}]}", 80),
        ("{'Fn::Select': [host, {port: 1}]}", ""),
        ("{'Fn::Select': [0, '[\"j\", \"k\"]']}", "j"),
        ("{'Fn::Select': [0, '']}", ""),
        ("{'Fn::Split': [',', 'a,,b']}", ["a", "", "b"]),
        ("{'Fn::Replace': [{$a: {Ref: Size}, $ab: long, $n: 3, $z: null}, '$ab $a $n$z']}", "long small 3"),
        ("{'Fn::Base64': {'Fn::Join': ['', ['#!', /bin/sh]]}}", "#!/bin/sh"),
        ("{'Fn::GetAZs': ''}", ["nova"]),
        ("{'Fn::GetAZs': {Ref: 'AWS::Region'}}", ["nova"]),
        ("{'Fn::FindInMap': [Sizes, {Ref: Size}, Words]}", 4),
        ("{'Fn::FindInMap': [Sizes, '2012', Words]}", 6),
        (
            (
                "{'Fn::MemberListToMap': [Name, Value, ['.member.1.Name=b', '.member.1.Value=2', '.member.0.Name=a', "
                "'.member.0.Value=1', '.member.2.Name=lonely', 'other=x']]}"
            ),
            {"a": "1", "b": "2"},
        ),
    ],
)
def test_functions_resolve(value, expected, fake_stack):
    assert resolved(value, fake_stack) == expected


def test_get_azs_asks_the_engine_when_it_knows_its_zones(fake_stack):
    class Zoned(fake_stack):
        def availability_zones(self):
            return ["az1", "az2"]

    parsed = template("{'Fn::GetAZs': ''}")
    assert parsed.resolve(parsed.outputs["o"].value, Zoned(), ()) == ["az1", "az2"]


def test_resource_facade_reads_the_parent_resource_in_a_nested_stack(fake_stack):
    parsed = template("{'Fn::ResourceFacade': Metadata}")
    nested = fake_stack(facade={"metadata": {"role": "db"}})
    assert parsed.resolve(parsed.outputs["o"].value, nested, ()) == {"role": "db"}
    assert nested.asked == [("resource_facade", "metadata")]

    class TopLevel:
        """A stack without a parent: its context has no resource_facade."""

        files: dict = {}

    with pytest.raises(TemplateError) as caught:
        parsed.resolve(parsed.outputs["o"].value, TopLevel(), ("outputs", "o", "value"))
    assert str(caught.value) == (
        "stack.template:14: Outputs.o.Value: Fn::ResourceFacade: this stack is not a "
        "nested stack, so it has no parent resource to read from"
    )


def test_only_the_values_needed_are_asked_for(fake_stack):
    stack = fake_stack(params={"Size": "small"}, resources={"server": "id"})
    parsed = template("{'Fn::Join': ['-', [{Ref: Size}, {Ref: server}]]}")
    assert parsed.resolve(parsed.outputs["o"].value, stack, ()) == "small-id"
    assert stack.asked == [("get_param", "Size"), ("get_resource", "server")]


@pytest.mark.parametrize(
    "value, message",
    [
        ("{Ref: [Size]}", "Outputs.o.Value.Ref: Ref: expected the name of a parameter or a resource"),
        ("{'Fn::GetAtt': [server]}", "Outputs.o.Value.Fn::GetAtt: Fn::GetAtt: expected [resource, attribute]"),
        (
            "{'Fn::GetAtt': [nothing, x]}",
            'Outputs.o.Value.Fn::GetAtt: The specified reference "nothing" (in unknown) is incorrect.',
        ),
        (
            "{'Fn::GetAtt': [{Ref: Size}, x]}",
            "Outputs.o.Value.Fn::GetAtt: Fn::GetAtt: the resource name must be a string",
        ),
        (
            "{'Fn::Join': [',']}",
            'Outputs.o.Value.Fn::Join: Incorrect arguments to "Fn::Join" should be: "Fn::Join" : [ " ", [ "str1", "str2"]]',
        ),
        (
            "{'Fn::Select': [0]}",
            'Outputs.o.Value.Fn::Select: Arguments to "Fn::Select" must be of the form [index, collection]',
        ),
        (
            "{'Fn::Select': [true, [a]]}",
            "Outputs.o.Value.Fn::Select: Fn::Select: the index must be an integer or a key",
        ),
        ("{'Fn::Split': ['', a]}", "Outputs.o.Value.Fn::Split: Fn::Split: the delimiter must be a non-empty string"),
        (
            "{'Fn::Split': [{Ref: Size}, a]}",
            "Outputs.o.Value.Fn::Split: Fn::Split: the delimiter must be a non-empty string",
        ),
        ("{'Fn::Split': [',', [a]]}", "Outputs.o.Value.Fn::Split: Fn::Split: the text to split must be a string"),
        (
            "{'Fn::Replace': ['text', {a: b}]}",
            "Outputs.o.Value.Fn::Replace: Fn::Replace: the first argument must be a map of placeholders",
        ),
        (
            "{'Fn::Replace': [{'': b}, text]}",
            "Outputs.o.Value.Fn::Replace: Fn::Replace: placeholder '' must be a non-empty string",
        ),
        ("{'Fn::Base64': [a]}", "Outputs.o.Value.Fn::Base64: Fn::Base64: expected a string"),
        ("{'Fn::GetAZs': [a]}", "Outputs.o.Value.Fn::GetAZs: Fn::GetAZs: expected a region name (it may be empty)"),
        (
            "{'Fn::FindInMap': [Sizes, small]}",
            'Outputs.o.Value.Fn::FindInMap: Arguments to "Fn::FindInMap" must be of the form [mapping name, key, second-level key]',
        ),
        (
            "{'Fn::FindInMap': [Colours, a, b]}",
            "Outputs.o.Value.Fn::FindInMap: Fn::FindInMap refers to undefined mapping 'Colours'",
        ),
        (
            "{'Fn::MemberListToMap': [Name, Value]}",
            "Outputs.o.Value.Fn::MemberListToMap: Fn::MemberListToMap: expected [key name, value name, ['.member.0.<key name>=<key>', '.member.0.<value name>=<value>', ...]]",
        ),
        (
            "{'Fn::MemberListToMap': [{Ref: Size}, Value, []]}",
            "Outputs.o.Value.Fn::MemberListToMap: Fn::MemberListToMap: the key name must be a string",
        ),
        (
            "{'Fn::ResourceFacade': Properties}",
            "Outputs.o.Value.Fn::ResourceFacade: Fn::ResourceFacade: expected one of: Metadata, DeletionPolicy, UpdatePolicy",
        ),
        ("{'Fn::Equals': [a, a]}", "Outputs.o.Value.Fn::Equals: function 'Fn::Equals' may only be used in Conditions"),
        (
            "{'Fn::If': [prod, a]}",
            'Outputs.o.Value.Fn::If: Arguments to "Fn::If" must be of the form: [condition_name, value_if_true, value_if_false]',
        ),
        ("{'Fn::If': [prod, a, b]}", 'Outputs.o.Value.Fn::If: Invalid condition "prod"'),
        (
            "[{'Fn::Join': [',', [{'Fn::Select': [0]}]]}]",
            'Outputs.o.Value.0.Fn::Join.1.0.Fn::Select: Arguments to "Fn::Select" must be of the form [index, collection]',
        ),
    ],
)
def test_invalid_calls_are_refused_at_parse_time_with_file_line_and_path(value, message):
    assert parse_error(value) == "stack.template:14: " + message


@pytest.mark.parametrize(
    "value, params, message",
    [
        (
            "{'Fn::GetAtt': [server, {Ref: Zones}]}",
            {},
            "Outputs.o.Value: Fn::GetAtt: the attribute name must be a string, not a list",
        ),
        (
            "{'Fn::Join': [',', [{Ref: Zones}]]}",
            {},
            "Outputs.o.Value: Items to join must be strings not ['a', 'b', 'c']",
        ),
        ("{'Fn::Join': [',', {Ref: Size}]}", {}, 'Outputs.o.Value: "Fn::Join" must operate on a list'),
        (
            "{'Fn::Select': [a, [x]]}",
            {},
            ("Outputs.o.Value: Fn::Select: the index into a list must be an integer, not 'a'"),
        ),
        (
            "{'Fn::Select': [0, {Ref: Config}]}",
            {},
            ("Outputs.o.Value: Fn::Select: the key into a map must be a string, not a number"),
        ),
        (
            "{'Fn::Select': [0, {Ref: Size}]}",
            {},
            (
                "Outputs.o.Value: Fn::Select: the text to select from is "
                "not JSON: Expecting value: line 1 column 1 (char 0)"
            ),
        ),
        (
            "{'Fn::Select': [0, 5]}",
            {},
            ("Outputs.o.Value: Fn::Select: expected a list or a map to select from, not a number"),
        ),
        (
            "{'Fn::Split': [',', {Ref: Zones}]}",
            {},
            ("Outputs.o.Value: Fn::Split: the text to split must be a string, not a list"),
        ),
        (
            "{'Fn::Replace': [{$a: {Ref: Zones}}, $a]}",
            {},
            ("Outputs.o.Value: Fn::Replace: the value for '$a' must be a string or a number, not a list"),
        ),
        ("{'Fn::Base64': {Ref: Config}}", {}, "Outputs.o.Value: Fn::Base64: expected a string, not a map"),
        (
            "{'Fn::FindInMap': [Sizes, {Ref: Size}, Words]}",
            {"Size": "huge"},
            "Outputs.o.Value: 'huge' is not a key of mapping 'Sizes'",
        ),
        (
            "{'Fn::FindInMap': [Sizes, small, Colour]}",
            {},
            "Outputs.o.Value: 'Colour' is not a key of 'small' in mapping 'Sizes'",
        ),
        (
            "{'Fn::MemberListToMap': [Name, Value, [broken]]}",
            {},
            ("Outputs.o.Value: Fn::MemberListToMap: item 0 must be a string of the form '.member.<n>.<name>=<value>'"),
        ),
        (
            "{'Fn::MemberListToMap': [Name, Value, {Ref: Size}]}",
            {},
            "Outputs.o.Value: Fn::MemberListToMap: the member list must be a list, not a string",
        ),
    ],
)
def test_bad_resolved_values_fail_with_file_line_and_path(value, params, message, fake_stack):
    assert resolve_error(value, fake_stack, params=params) == "stack.template:14: " + message


def test_heat_format_offers_no_condition_functions():
    text = "HeatTemplateFormatVersion: '2012-12-12'\nOutputs:\n  o:\n    Value: {'Fn::If': [prod, a, b]}\n"
    with pytest.raises(TemplateError) as caught:
        parse_template(text, filename="old.template")
    assert str(caught.value) == (
        "old.template:4: Outputs.o.Value.Fn::If: function 'Fn::If' needs AWSTemplateFormatVersion 2010-09-09"
    )


def test_hot_function_names_are_plain_data_in_a_cfn_template(fake_stack):
    assert resolved("{get_param: Size}", fake_stack) == {"get_param": "Size"}
