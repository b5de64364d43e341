"""Tests for contains (2017-09-01 on, in values and in conditions): membership, substrings and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import contains


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [
        (["a", ["a", "b"]], True),
        (["c", ["a", "b"]], False),
        ([{"k": 1}, [{"k": 1}]], True),
        ([1, [1.0]], True),
        (["ell", "hello"], True),
        (["x", []], False),
    ],
)
def test_membership(args, value):
    assert contains.resolve(args, literal, None) is value


@pytest.mark.parametrize(
    "args, reason",
    [
        (["a", {"a": 1}], 'Second argument to "contains" should be a sequence.'),
        (["a", None], 'Second argument to "contains" should be a sequence.'),
        ([1, "123"], "'in <string>' requires string as left operand, not int"),
    ],
)
def test_resolve_errors(args, reason):
    with pytest.raises(TemplateError) as caught:
        contains.resolve(args, literal, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        ("a", 'Incorrect arguments to "contains" should be: "contains" : [ "value1", [ "value1", "value2"]]'),
        (["a"], 'Arguments to "contains" must be of the form: [value1, [value1, value2]]'),
        (["a", ["a"], ["b"]], 'Arguments to "contains" must be of the form: [value1, [value1, value2]]'),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        contains.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "o", "value"))


def test_needs_2017_09_01_in_values_and_in_conditions(hot, fake_stack):
    body = """\
        parameters:
          zones: {type: comma_delimited_list}
        conditions:
          has_a: {contains: [a, {get_param: zones}]}
        outputs:
          o: {value: {contains: [b, {get_param: zones}]}}
        """
    assert hot.error("2017-02-24", body) == (
        "web.yaml: Condition validation error: The definition of condition \"has_a\" is invalid: {'contains': ['a', {'get_param': 'zones'}]}"
    )
    template = hot.parse("2017-09-01", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"zones": ["a", "b"]})) is True
    assert template.with_conditions({"zones": ["b"]}, {}).condition_values == {"has_a": False}


def test_argument_errors_name_file_line_and_path(hot):
    assert (
        hot.error(
            "2017-09-01",
            """\
        conditions:
          c: {contains: [a]}
        """,
        )
        == 'web.yaml:3: conditions.c.contains: Arguments to "contains" must be of the form: [value1, [value1, value2]]'
    )
