"""CloudFormation functions inside HOT templates: all of them in 2013-05-23, Fn::Select alone until 2015-10-15."""

from __future__ import annotations

import pytest

BODY = """\
parameters:
  zones: {type: comma_delimited_list, default: "nova,zone-b"}
outputs:
  o:
    value: %s
"""


def resolved(hot, fake_stack, version, value):
    parsed = hot.parse(version, BODY % value)
    stack = fake_stack(params={"zones": ["nova", "zone-b"]})
    return parsed.resolve(parsed.outputs["o"].value, stack, ("outputs", "o", "value"))


@pytest.mark.parametrize(
    "value, expected",
    [
        ("{'Fn::Join': [' ', {get_param: zones}]}", "nova zone-b"),
        ("{'Fn::Select': ['1', {get_param: zones}]}", "zone-b"),
        ("{'Fn::Split': ['.', shop.example.com]}", ["shop", "example", "com"]),
        ("{'Fn::Replace': [{'%z%': {'Fn::Select': [0, {get_param: zones}]}}, 'in %z%']}", "in nova"),
        ("{'Fn::Base64': {list_join: ['', ['#!', /bin/sh]]}}", "#!/bin/sh"),
        ("{'Fn::MemberListToMap': [Key, Value, ['.member.0.Key=team', '.member.0.Value=web']]}", {"team": "web"}),
        ("{str_replace: {template: 'a-Z', params: {Z: {'Fn::Join': [',', [x, y]]}}}}", "a-x,y"),
    ],
)
def test_the_first_hot_version_resolves_cloudformation_functions_beside_its_own(hot, fake_stack, value, expected):
    assert resolved(hot, fake_stack, "2013-05-23", value) == expected


@pytest.mark.parametrize("version", ["2014-10-16", "2015-04-30"])
def test_fn_select_stays_until_2015_10_15(hot, fake_stack, version):
    assert resolved(hot, fake_stack, version, "{'Fn::Select': ['0', {get_param: zones}]}") == "nova"
    assert resolved(hot, fake_stack, version, "{'Fn::Select': [id4, '{\"id4\": \"data4\"}']}") == "data4"


@pytest.mark.parametrize(
    "version, value, name",
    [
        ("2014-10-16", "{'Fn::Join': [' ', [a]]}", "Fn::Join"),
        ("2014-10-16", "{Ref: zones}", "Ref"),
        ("2015-04-30", "{'Fn::Base64': text}", "Fn::Base64"),
        ("2015-10-15", "{'Fn::Select': [0, [a]]}", "Fn::Select"),
        ("2021-04-16", "{'Fn::Select': [0, [a]]}", "Fn::Select"),
    ],
)
def test_later_versions_refuse_what_heat_removed(hot, version, value, name):
    assert hot.error(version, BODY % value) == (
        f"web.yaml:6: outputs.o.value.{name}: The template version is invalid: The function {name} is "
        "not supported in this version of HOT."
    )


def test_calls_are_checked_before_anything_runs(hot):
    assert hot.error("2013-05-23", BODY % "{'Fn::Split': ['', text]}") == (
        "web.yaml:6: outputs.o.value.Fn::Split: Fn::Split: the delimiter must be a non-empty string"
    )


def test_names_heat_never_offered_in_hot_are_data(hot, fake_stack):
    # Fn::GetAtt and Fn::FindInMap are not HOT functions in any version: Heat passes them on.
    assert resolved(hot, fake_stack, "2013-05-23", "{'Fn::GetAtt': [a, b]}") == {"Fn::GetAtt": ["a", "b"]}
