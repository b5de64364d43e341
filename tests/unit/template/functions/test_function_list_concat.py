"""Tests for list_concat (2017-09-01 on): concatenation, nulls, calls for the list, and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import list_concat


def literal(snippet, *segments):
    return snippet


def test_items_of_every_list_in_order():
    assert list_concat.resolve([["a", 1], [], [{"m": 1}, "a"]], literal, None) == ["a", 1, {"m": 1}, "a"]


def test_a_list_not_available_yet_adds_nothing():
    assert list_concat.resolve([["a"], None], literal, None) == ["a"]


def test_the_lists_may_come_from_one_call():
    def evaluate(snippet, *segments):
        return [["a"], ["b"]] if segments == () else snippet

    assert list_concat.resolve({"get_attr": ["group", "lists"]}, evaluate, None) == ["a", "b"]


@pytest.mark.parametrize(
    "args, evaluate, reason",
    [
        (
            [["a"], "b"],
            literal,
            'Incorrect arguments: Items to concat must be lists. [["a"], "b"] contains an item that is not a list: "b"',
        ),
        (
            {"get_param": "x"},
            lambda snippet, *segments: "ab",
            'Incorrect arguments to "list_concat" should be: "list_concat" : [ [ <value 1>, <value 2> ], [ <value 3>, <value 4> ] ]',
        ),
    ],
)
def test_resolve_errors(args, evaluate, reason):
    with pytest.raises(TemplateError) as caught:
        list_concat.resolve(args, evaluate, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        ("ab", "list_concat: expected a list of lists"),
        ([["a"], "b"], "list_concat: item 1 must be a list"),
        ([["a"], {"a": 1, "b": 2}], "list_concat: item 1 must be a list"),
    ],
)
def test_validate_leaves_shapes_to_resolve(args, reason):
    # Heat checks these arguments only when it resolves them, and so does Hearth.
    list_concat.validate(args, ("outputs", "o", "value"))


def test_needs_2017_09_01(hot, fake_stack):
    body = """\
        parameters:
          more: {type: comma_delimited_list}
        outputs:
          o: {value: {list_concat: [[a], {get_param: more}]}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2017-02-24", body)
    template = hot.parse("pike", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"more": ["b"]})) == ["a", "b"]
