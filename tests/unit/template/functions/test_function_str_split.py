"""Tests for str_split (2015-10-15 on): splitting, picking an item by index, nulls and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import str_split


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [
        ([",", "a,b,,c"], ["a", "b", "", "c"]),
        (["::", "x::y"], ["x", "y"]),
        ([",", "a,b,c", 1], "b"),
        ([",", "a,b,c", "2"], "c"),
        ([",", "a,b,c", -1], "c"),
        ([",", "", 0], ""),
    ],
)
def test_splits_and_picks(args, value):
    assert str_split.resolve(args, literal, None) == value


def test_a_string_not_available_yet_splits_into_null():
    assert str_split.resolve([",", None], literal, None) is None


@pytest.mark.parametrize(
    "args, reason",
    [
        ([",", "a,b", 2], 'Incorrect index to "str_split" should be between 0 and 1'),
        (["", "a,b"], "empty separator"),
        ([3, "a,b"], 'Incorrect arguments to "str_split" should be: "str_split" : [ ",", "apples,pears", <index>]'),
        ([",", ["a"]], 'Incorrect arguments to "str_split" should be: "str_split" : [ ",", "apples,pears", <index>]'),
        (
            [",", "a,b", "first"],
            'Incorrect index to "str_split" should be: "str_split" : [ ",", "apples,pears", <index>]',
        ),
    ],
)
def test_resolve_errors(args, reason):
    with pytest.raises(TemplateError) as caught:
        str_split.resolve(args, literal, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        ("a,b", 'Incorrect arguments to "str_split" should be: "str_split" : [ ",", "apples,pears", <index>]'),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        str_split.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "o", "value"))


def test_in_a_template_with_calls_for_arguments(hot, fake_stack):
    template = hot.parse(
        "2015-10-15",
        """\
        parameters:
          hosts: {type: string}
        outputs:
          second: {value: {str_split: [",", {get_param: hosts}, 1]}}
        """,
    )
    assert template.resolve(template.outputs["second"].value, fake_stack(params={"hosts": "a,b"})) == "b"


def test_needs_2015_10_15(hot):
    body = """\
        outputs:
          o: {value: {str_split: [",", "a,b"]}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2015-04-30", body)
    assert hot.parse("2015-10-15", body).outputs["o"].value == {"str_split": [",", "a,b"]}


def test_argument_errors_name_file_line_and_path(hot, fake_stack):
    assert (
        hot.error(
            "2015-10-15",
            """\
        outputs:
          o:
            value: {str_split: "a,b"}
        """,
        )
        == "web.yaml:4: outputs.o.value.str_split: " + str_split.USAGE
    )
    template = hot.parse(
        "2015-10-15",
        """\
        outputs:
          o:
            value: {str_split: [",", "a,b", 5]}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.outputs["o"].value, fake_stack(), ("outputs", "o", "value"))
    assert str(caught.value) == (
        'web.yaml:4: outputs.o.value: Incorrect index to "str_split" should be between 0 and 1'
    )
