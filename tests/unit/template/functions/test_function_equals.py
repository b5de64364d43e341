"""Tests for equals (in conditions, 2016-10-14 on): comparing resolved values, and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import equals


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [
        (["prod", "prod"], True),
        (["prod", "dev"], False),
        ([1, 1.0], True),
        ([{"a": [1]}, {"a": [1]}], True),
        ([None, ""], False),
        (["1", 1], False),
    ],
)
def test_compares(args, value):
    assert equals.resolve(args, literal, None) is value


@pytest.mark.parametrize("args", ["a", ["a"], ["a", "b", "c"], {"a": 1}])
def test_validate_refuses_bad_shapes(args):
    with pytest.raises(TemplateError) as caught:
        equals.validate(args, ("conditions", "c"))
    assert (caught.value.reason, caught.value.path) == (
        'Arguments to "equals" must be of the form: [value_1, value_2]',
        ("conditions", "c"),
    )


CONDITIONS = """\
    parameters:
      env: {type: string}
      size: {type: number}
    conditions:
      prod: {equals: [{get_param: env}, prod]}
      big: {equals: [{get_param: size}, 3]}
      stack_a: {equals: [{get_param: OS::stack_name}, a]}
    """


def test_in_conditions_with_parameters_and_pseudo_parameters(hot):
    template = hot.parse("2016-10-14", CONDITIONS)
    derived = template.with_conditions({"env": "prod", "size": 3}, {"OS::stack_name": "b"})
    assert derived.condition_values == {"prod": True, "big": True, "stack_a": False}


def test_conditions_need_2016_10_14(hot):
    assert hot.error("2016-04-08", CONDITIONS) == (
        "web.yaml:5: conditions: The template section is invalid: conditions"
    )


def test_outside_conditions_it_is_data_as_in_heat(hot):
    template = hot.parse("2016-10-14", "outputs:\n  o: {value: {equals: [a, a]}}\n")
    assert template.resolve(template.outputs["o"].value, None) == {"equals": ["a", "a"]}


def test_argument_errors_name_file_line_and_path(hot):
    assert (
        hot.error(
            "2016-10-14",
            """\
        conditions:
          c:
            equals: [a, b, c]
        """,
        )
        == 'web.yaml:4: conditions.c.equals: Arguments to "equals" must be of the form: [value_1, value_2]'
    )
