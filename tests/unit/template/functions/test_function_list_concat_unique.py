"""Tests for list_concat_unique (2017-09-01 on): each distinct item once, where it last occurs, as in Heat."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import list_concat_unique


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, value",
    [
        ([["a", "b"], ["b", "c"]], ["a", "b", "c"]),
        ([["a", "b"], ["a"]], ["a", "b"]),
        ([[{"k": 1}, ["x"]], [{"k": 1}], None], [{"k": 1}, ["x"]]),
        ([[1, 1, 1]], [1]),
    ],
)
def test_each_item_once_where_it_first_occurs(args, value):
    assert list_concat_unique.resolve(args, literal, None) == value


def test_resolve_and_validate_errors_name_the_function():
    with pytest.raises(TemplateError) as caught:
        list_concat_unique.resolve([["a"], 3], literal, None)
    assert (
        caught.value.reason
        == 'Incorrect arguments: Items to concat must be lists. [["a"], 3] contains an item that is not a list: 3'
    )
    with pytest.raises(TemplateError) as caught:
        list_concat_unique.resolve("a", literal, None)
    assert caught.value.reason == (
        'Incorrect arguments to "list_concat_unique" should be: '
        '"list_concat_unique" : [ [ <value 1>, <value 2> ], [ <value 3>, <value 4> ] ]'
    )


def test_needs_2017_09_01(hot):
    body = """\
        outputs:
          o: {value: {list_concat_unique: [[a], [a, b]]}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2017-02-24", body)
    template = hot.parse("2017-09-01", body)
    assert template.resolve(template.outputs["o"].value, None) == ["a", "b"]
