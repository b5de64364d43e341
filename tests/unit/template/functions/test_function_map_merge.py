"""Tests for map_merge (2016-04-08 on): merging in order, nulls, calls for the list, and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import map_merge


def literal(snippet, *segments):
    return snippet


def test_later_keys_override_earlier_ones():
    assert map_merge.resolve([{"a": 1, "b": 1}, {"b": 2}, {}, {"c": [3]}], literal, None) == {"a": 1, "b": 2, "c": [3]}


def test_a_map_not_available_yet_merges_as_nothing():
    assert map_merge.resolve([{"a": 1}, None], literal, None) == {"a": 1}


def test_the_list_itself_may_come_from_a_call():
    def evaluate(snippet, *segments):
        return [{"a": 1}, {"a": 2}] if segments == () else snippet

    assert map_merge.resolve({"get_param": "maps"}, evaluate, None) == {"a": 2}


@pytest.mark.parametrize(
    "args, evaluate, reason",
    [
        (
            [{"a": 1}, ["b"]],
            literal,
            "Incorrect arguments: Items to merge must be maps. ['b'] is type <class 'list'> instead of a dict",
        ),
        (
            {"get_param": "maps"},
            lambda snippet, *segments: {"a": 1},
            'Incorrect arguments to "map_merge" should be: "map_merge" : [ { "key1": "val1" }, { "key2": "val2" } ]',
        ),
    ],
)
def test_resolve_errors(args, evaluate, reason):
    with pytest.raises(TemplateError) as caught:
        map_merge.resolve(args, evaluate, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        ("a", "map_merge: expected a list of maps"),
        ({"a": 1, "b": 2}, "map_merge: expected a list of maps"),
        ([{"a": 1}, "b"], "map_merge: item 1 must be a map"),
    ],
)
def test_validate_leaves_shapes_to_resolve(args, reason):
    # Heat checks these arguments only when it resolves them, and so does Hearth.
    map_merge.validate(args, ("outputs", "o", "value"))


def test_needs_2016_04_08(hot, fake_stack):
    body = """\
        parameters:
          extra: {type: json}
        outputs:
          o: {value: {map_merge: [{a: 1}, {get_param: extra}]}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2015-10-15", body)
    template = hot.parse("2016-04-08", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"extra": {"b": 2}})) == {"a": 1, "b": 2}


def test_argument_errors_name_file_line_and_path(hot, fake_stack):
    template = hot.parse(
        "2016-04-08",
        """\
        resources:
          web:
            type: X
            metadata:
              merged: {map_merge: [{a: 1}, [b]]}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.resources["web"].metadata, fake_stack(), ("resources", "web", "metadata"))
    assert str(caught.value) == (
        "web.yaml:6: resources.web.metadata.merged: Incorrect arguments: Items "
        "to merge must be maps. ['b'] is type <class 'list'> instead of a dict"
    )
