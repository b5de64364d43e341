"""Tests for map_replace (2016-10-14 on): renaming keys, replacing values, collisions and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import map_replace


def literal(snippet, *segments):
    return snippet


def test_keys_and_values_are_replaced():
    args = [{"k1": "v1", "k2": "v2", "k3": ["l"]}, {"keys": {"k1": "K1"}, "values": {"v2": "V2", "nope": "x"}}]
    assert map_replace.resolve(args, literal, None) == {"K1": "v1", "k2": "V2", "k3": ["l"]}


def test_keys_or_values_alone_and_nulls():
    assert map_replace.resolve([{"a": 1}, {"values": {1: 2}}], literal, None) == {"a": 2}
    assert map_replace.resolve([{"a": 1}, {"keys": {"a": "b"}}], literal, None) == {"b": 1}
    assert map_replace.resolve([None, {"keys": {"a": "b"}}], literal, None) == {}
    assert map_replace.resolve([{"a": 1}, None], literal, None) == {"a": 1}


def test_a_key_may_be_replaced_by_itself():
    assert map_replace.resolve([{"a": 1, "b": 2}, {"keys": {"a": "a"}}], literal, None) == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "args, reason",
    [
        ([{"a": 1, "b": 2}, {"keys": {"a": "b"}}], "key replacement b collides with a key in the input map"),
        ([{"a": 1, "b": 2}, {"keys": {"a": "c", "b": "c"}}], "key replacement c collides with a key in the output map"),
        (
            [["a"], {"keys": {}}],
            'Incorrect arguments: to "map_replace", arguments must be a list of maps. Example:  "map_replace" : [ { "key1": "val1" }, {"keys": {"key1": "key2"}, "values": {"val1": "val2"}}]',
        ),
        (
            [{"a": 1}, {"keys": ["a"]}],
            'Incorrect arguments: to "map_replace", arguments must be a list of maps. Example:  "map_replace" : [ { "key1": "val1" }, {"keys": {"key1": "key2"}, "values": {"val1": "val2"}}]',
        ),
        (
            [{"a": 1}, {"names": {}}],
            'Incorrect arguments to "map_replace" should be: "map_replace" : [ { "key1": "val1" }, {"keys": {"key1": "key2"}, "values": {"val1": "val2"}}]',
        ),
    ],
)
def test_resolve_errors(args, reason):
    with pytest.raises(TemplateError) as caught:
        map_replace.resolve(args, literal, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        ({"a": 1}, "map_replace: expected [<map>, {keys: {<old>: <new>}, values: {<old>: <new>}}]"),
        ([{"a": 1}], "map_replace: expected [<map>, {keys: {<old>: <new>}, values: {<old>: <new>}}]"),
        ([["a"], {"keys": {}}], "map_replace: argument 0 must be a map"),
        (
            [{"a": 1}, {"keys": {}, "vals": {}}],
            "map_replace: unknown key 'vals' in the replacements (allowed: keys, values)",
        ),
        ([{"a": 1}, {"values": "x"}], "map_replace: 'values' must be a map"),
    ],
)
def test_validate_leaves_shapes_to_resolve(args, reason):
    # Heat checks these arguments only when it resolves them, and so does Hearth.
    map_replace.validate(args, ("outputs", "o", "value"))


def test_validate_accepts_calls():
    map_replace.validate([{"get_param": "m"}, {"get_param": "replacements"}], ())
    map_replace.validate([{"get_param": "m"}, {"keys": {"get_param": "renames"}}], ())


def test_needs_2016_10_14(hot, fake_stack):
    body = """\
        parameters:
          config: {type: json}
        outputs:
          o: {value: {map_replace: [{get_param: config}, {keys: {port: Port}}]}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2016-04-08", body)
    template = hot.parse("newton", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"config": {"port": 80}})) == {"Port": 80}


def test_argument_errors_name_file_line_and_path(hot, fake_stack):
    template = hot.parse(
        "2016-10-14",
        """\
        outputs:
          o:
            value: {map_replace: [{a: 1}, {keys: {}, other: {}}]}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.outputs["o"].value, fake_stack(), ("outputs", "o", "value"))
    assert str(caught.value) == "web.yaml:4: outputs.o.value: " + map_replace.USAGE
