"""Tests for repeat: repeat (2017-09-01 on), repeat_product (2016-10-14, 2017-02-24) and repeat_lists (2015-04-30 to 2016-04-08)."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import functions_for, repeat, repeat_lists, repeat_product


def literal(snippet, *segments):
    return snippet


def test_one_copy_per_value():
    args = {"for_each": {"%port%": ["80", 443]}, "template": {"protocol": "tcp", "port": "%port%"}}
    assert repeat.resolve(args, literal, None) == [
        {"protocol": "tcp", "port": "80"},
        {"protocol": "tcp", "port": "443"},
    ]


def test_several_placeholders_repeat_every_combination():
    args = {"for_each": {"<%a%>": ["x", "y"], "<%b%>": ["1", "2"]}, "template": "<%a%>-<%b%>"}
    assert repeat.resolve(args, literal, None) == ["x-1", "x-2", "y-1", "y-2"]
    assert repeat_lists.resolve(args, literal, None) == ["x-1", "x-2", "y-1", "y-2"]


def test_placeholders_in_map_keys_and_lists_are_replaced():
    args = {"for_each": {"%n%": ["a"]}, "template": {"key_%n%": ["%n%", 1, None, {"deep": "%n%!"}]}}
    assert repeat.resolve(args, literal, None) == [{"key_a": ["a", 1, None, {"deep": "a!"}]}]


def test_without_permutations_lists_are_paired_item_by_item():
    args = {"for_each": {"%a%": ["x", "y"], "%b%": ["1", "2"]}, "template": "%a%%b%", "permutations": False}
    assert repeat.resolve(args, literal, None) == ["x1", "y2"]


def test_maps_stand_for_their_keys_from_2016_10_14():
    args = {"for_each": {"%k%": {"a": 1, "b": 2}}, "template": "%k%"}
    assert repeat.resolve(args, literal, None) == ["a", "b"]
    assert repeat_product.resolve(args, literal, None) == ["a", "b"]
    with pytest.raises(TemplateError) as caught:
        repeat_lists.resolve(args, literal, None)
    assert caught.value.reason == 'The values of the "for_each" argument to "repeat" must be lists'


def test_values_not_available_yet_repeat_nothing():
    assert repeat.resolve({"for_each": {"%a%": None, "%b%": ["1"]}, "template": "x"}, literal, None) == []


def test_the_body_is_resolved_before_the_values_go_in():
    seen = []

    def evaluate(snippet, *segments):
        seen.append(segments)
        return "resolved %x%" if segments == ("template",) else snippet

    assert repeat.resolve({"for_each": {"%x%": ["1", "2"]}, "template": {"get_param": "t"}}, evaluate, None) == [
        "resolved 1",
        "resolved 2",
    ]
    assert seen == [("for_each",), ("template",)]


@pytest.mark.parametrize(
    "module, args, reason",
    [
        (
            repeat,
            {"for_each": {"%a%": ["x"], "%b%": ["1", "2"]}, "template": "t", "permutations": False},
            "For repeat, the length of for_each values should be equal if no nested loop.",
        ),
        (
            repeat,
            {"for_each": {"%a%": {"k": 1}}, "template": "t", "permutations": False},
            'The values of the "for_each" argument to "repeat" must be lists',
        ),
        (
            repeat,
            {"for_each": {"%a%": [{"k": 1}]}, "template": "t"},
            "repeat: the values of '%a%' must be strings or numbers, not a map",
        ),
        (
            repeat,
            {"for_each": {"%a%": "xy"}, "template": "t"},
            'The values of the "for_each" argument to "repeat" must be lists or maps',
        ),
        (repeat, {"for_each": ["x"], "template": "t"}, 'The "for_each" argument to "repeat" must contain a map'),
    ],
)
def test_resolve_errors(module, args, reason):
    with pytest.raises(TemplateError) as caught:
        module.resolve(args, literal, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "module, args, reason",
    [
        (repeat, ["x"], 'Arguments to "repeat" must be a map'),
        (
            repeat,
            {"template": "x"},
            "'\"repeat\" syntax should be repeat:\\n              template: This is %var%\\n              for_each:\\n                %var%: [\\'a\\', \\'b\\', \\'c\\']'",
        ),
        (
            repeat,
            {"template": "x", "for_each": {"%a%": [1]}, "permutations": "no"},
            '"permutations" should be boolean type for repeat function.',
        ),
        (repeat, {"template": "x", "for_each": []}, 'The "for_each" argument to "repeat" must contain a map'),
    ],
)
def test_validate_refuses_bad_shapes(module, args, reason):
    with pytest.raises(TemplateError) as caught:
        module.validate(args, ("resources", "web", "properties", "rules"))
    assert (caught.value.reason, caught.value.path) == (reason, ("resources", "web", "properties", "rules"))


def test_validate_accepts_calls():
    repeat.validate({"template": {"get_param": "t"}, "for_each": {"get_param": "loops"}}, ())
    repeat.validate({"template": "%a%", "for_each": {"%a%": {"get_param": "a"}, "%b%": {"get_attr": ["x", "y"]}}}, ())


@pytest.mark.parametrize(
    "version, module",
    [
        ("2015-04-30", repeat_lists),
        ("2016-04-08", repeat_lists),
        ("2016-10-14", repeat_product),
        ("2017-02-24", repeat_product),
        ("2017-09-01", repeat),
        ("2021-04-16", repeat),
    ],
)
def test_versions_choose_heats_repeat(version, module):
    assert functions_for(version)["repeat"] is module


def test_in_a_template(hot, fake_stack):
    template = hot.parse(
        "2017-09-01",
        """\
        parameters:
          ports: {type: comma_delimited_list, default: "80,443"}
        resources:
          group:
            type: X
            properties:
              rules:
                repeat:
                  for_each:
                    <%port%>: {get_param: ports}
                  template:
                    port: <%port%>
        """,
    )
    properties = template.resources["group"].properties
    assert template.resolve(properties, fake_stack(params={"ports": ["80", "443"]})) == {
        "rules": [{"port": "80"}, {"port": "443"}]
    }


def test_needs_2015_04_30(hot):
    body = """\
        outputs:
          o: {value: {repeat: {for_each: {"%a%": [x]}, template: "%a%"}}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2014-10-16", body)
    assert hot.parse("2015-04-30", body).resolve({"repeat": {"for_each": {"%a%": ["x"]}, "template": "%a%"}}, None) == [
        "x"
    ]


def test_permutations_need_2017_09_01(hot):
    body = """\
        outputs:
          o:
            value:
              repeat: {for_each: {"%a%": [x]}, template: "%a%", permutations: false}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2017-02-24", body)
    hot.parse("2017-09-01", body)


def test_resolve_errors_name_file_line_and_path(hot, fake_stack):
    template = hot.parse(
        "2017-09-01",
        """\
        parameters:
          names: {type: json}
        outputs:
          o:
            value:
              repeat: {for_each: {"%a%": {get_param: names}}, template: "%a%", permutations: false}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.outputs["o"].value, fake_stack(params={"names": {"k": 1}}), ("outputs", "o", "value"))
    assert (
        str(caught.value)
        == 'web.yaml:6: outputs.o.value: The values of the "for_each" argument to "repeat" must be lists'
    )
