"""Tests for the get_param function: names, paths into values, and argument shapes."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import get_param


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [
        ("flavor", "m1.small"),
        (["servers", "web", "ports", 1], 8443),
        (["servers", "web", "ports", "0"], 80),
        (["names", 1], "b"),
        (["servers", "db"], {"ports": [5432]}),
    ],
)
def test_resolve_walks_into_values(fake_stack, args, value):
    stack = fake_stack(
        params={
            "flavor": "m1.small",
            "names": ["a", "b"],
            "servers": {"web": {"ports": [80, 8443]}, "db": {"ports": [5432]}},
        }
    )
    assert get_param.resolve(args, literal, stack) == value


@pytest.mark.parametrize(
    "args", [["servers", "nope"], ["servers", "web", "ports", 5], ["names", "x"], ["flavor", "deeper"]]
)
def test_a_path_that_leads_nowhere_gives_an_empty_string_as_in_heat(fake_stack, args):
    stack = fake_stack(params={"flavor": "m1", "names": ["a"], "servers": {"web": {"ports": [80]}}})
    assert get_param.resolve(args, literal, stack) == ""


def test_path_items_may_be_calls(fake_stack):
    stack = fake_stack(params={"servers": {"web": 1}, "which": "web"})

    def evaluate(snippet, *segments):
        return stack.get_param(snippet["get_param"]) if isinstance(snippet, dict) else snippet

    assert get_param.resolve(["servers", {"get_param": "which"}], evaluate, stack) == 1


def test_resolved_path_items_must_be_keys(fake_stack):
    with pytest.raises(TemplateError) as caught:
        get_param.resolve(
            ["servers", {"get_param": "x"}], lambda snippet, *segments: [1], fake_stack(params={"servers": {}})
        )
    assert caught.value.reason == 'Parameter name in "get_param" must be string'


@pytest.mark.parametrize(
    "args, reason",
    [
        ([], "get_param: expected a parameter name or [name, key or index, ...]"),
        ({"name": "x"}, "get_param: expected a parameter name or [name, key or index, ...]"),
        ("", "get_param: expected a parameter name or [name, key or index, ...]"),
        ([3, "key"], "get_param: the parameter name must be a string"),
        (["p", ["x"]], "get_param: argument 1 must be a key, an index or a function"),
        (["p", "k", True], "get_param: argument 2 must be a key, an index or a function"),
    ],
)
def test_validate_leaves_shapes_to_resolve(args, reason):
    # Heat checks these arguments only when it resolves them, and so does Hearth.
    get_param.validate(args, ("outputs", "o", "value"))


def test_reference_names_the_parameter():
    assert get_param.reference("p") == ("parameter", "p")
    assert get_param.reference(["p", "k"]) == ("parameter", "p")


def test_a_string_is_walked_as_its_characters_as_in_heat(fake_stack):
    stack = fake_stack(params={"name": "web"})
    assert get_param.resolve(["name", 0], literal, stack) == "w"
    assert get_param.resolve(["name", "-1"], literal, stack) == "b"
    assert get_param.resolve(["name", "x"], literal, stack) == ""


@pytest.mark.parametrize("version", ["2013-05-23", "2015-10-15", "2021-04-16"])
def test_paths_in_a_template_of_every_version(hot, fake_stack, version):
    template = hot.parse(
        version,
        """\
        parameters:
          config: {type: json}
        outputs:
          port: {value: {get_param: [config, servers, 0, port]}}
          missing: {value: {get_param: [config, servers, 5, port]}}
          stack: {value: {get_param: OS::stack_name}}
        """,
    )
    stack = fake_stack(params={"config": {"servers": [{"port": 80}]}, "OS::stack_name": "s1"})
    assert {name: template.resolve(output.value, stack) for name, output in template.outputs.items()} == {
        "port": 80,
        "missing": "",
        "stack": "s1",
    }


def test_as_a_condition_and_inside_one(hot):
    template = hot.parse(
        "2016-10-14",
        """\
        parameters:
          ha: {type: boolean}
          tiers: {type: json}
        conditions:
          ha: {get_param: ha}
          two_tiers: {equals: [{get_param: [tiers, count]}, 2]}
        """,
    )
    assert template.with_conditions({"ha": True, "tiers": {"count": 2}}, {}).condition_values == {
        "ha": True,
        "two_tiers": True,
    }


def test_undefined_parameters_name_file_line_and_path(hot):
    # Heat looks a parameter up when it resolves the call, and so does Hearth.
    hot.parse(
        "2016-10-14",
        """\
        conditions:
          c: {equals: [{get_param: [nope, 0]}, 1]}
        """,
    )
