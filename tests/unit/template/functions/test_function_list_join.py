"""Tests for list_join (2015-10-15 on) and list_join_strings (before)."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import list_join, list_join_strings


def literal(snippet, *segments):
    return snippet


def test_joins_one_list():
    assert list_join.resolve([", ", ["one", "two", "and three"]], literal, None) == "one, two, and three"


def test_joins_several_lists_and_json_encodes_maps_and_lists():
    assert list_join.resolve(["|", ["a"], [{"k": 1, "a": 2}, ["x"]], []], literal, None) == ('a|{"a": 2, "k": 1}|["x"]')


def test_a_list_not_available_yet_joins_as_nothing():
    assert list_join.resolve([",", ["a"], None], literal, None) == "a"


def test_a_null_item_joins_as_an_empty_string_as_in_heat():
    assert list_join.resolve([",", ["a", None, "b"]], literal, None) == "a,,b"
    assert list_join_strings.resolve([",", [None, "b"]], literal, None) == ",b"


@pytest.mark.parametrize(
    "args, reason",
    [
        ([",", ["a", 1]], "Items to join must be string, map or list not 1"),
        ([",", "a,b"], '"list_join" must operate on a list'),
        ([1, ["a"]], '"list_join" delimiter must be a string'),
    ],
)
def test_resolve_errors(args, reason):
    with pytest.raises(TemplateError) as caught:
        list_join.resolve(args, literal, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        ("a,b", 'Incorrect arguments to "list_join" should be: "list_join" : [ " ", [ "str1", "str2"] ...]'),
        ([","], 'Incorrect arguments to "list_join" should be: "list_join" : [ " ", [ "str1", "str2"] ...]'),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        list_join.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "o", "value"))


def test_before_2015_10_15_one_list_of_strings():
    assert list_join_strings.resolve(["-", ["a", "b"]], literal, None) == "a-b"
    with pytest.raises(TemplateError) as caught:
        list_join_strings.validate([",", ["a"], ["b"]], ())
    assert (
        caught.value.reason == 'Incorrect arguments to "list_join" should be: "list_join" : [ " ", [ "str1", "str2"]]'
    )
    with pytest.raises(TemplateError) as caught:
        list_join_strings.resolve([",", [{"a": 1}]], literal, None)
    assert caught.value.reason == ("Items to join must be strings not {'a': 1}")


def test_validate_accepts_calls_where_literals_go():
    list_join.validate([{"get_param": "sep"}, {"get_attr": ["web", "ips"]}, ["x"]], ())
    assert (
        list_join.resolve(
            [{"get_param": "sep"}, ["a", "b"]], lambda snippet, *segments: "+" if segments == (0,) else snippet, None
        )
        == "a+b"
    )
