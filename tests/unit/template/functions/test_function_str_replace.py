"""Tests for str_replace (2015-10-15 on) and str_replace_scalars (before)."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import str_replace, str_replace_scalars


def literal(snippet, *segments):
    return snippet


def replaced(params, template="$host:$port", module=str_replace):
    return module.resolve({"template": template, "params": params}, literal, None)


def test_placeholders_are_replaced():
    assert replaced({"$host": "db", "$port": 5432}) == "db:5432"


def test_longer_placeholders_win_whatever_the_order():
    template = "$host_name on $host"
    assert replaced({"$host": "A", "$host_name": "B"}, template) == "B on A"
    assert replaced({"$host_name": "B", "$host": "A"}, template) == "B on A"


def test_substituted_text_is_not_scanned_again():
    assert replaced({"$a": "$b", "$b": "x"}, "$a $b") == "$b x"


def test_values_are_rendered_as_text():
    assert replaced({"N": 2.5, "B": True, "M": {"b": 1, "a": [1]}, "L": ["x"]}, "N B M L") == (
        '2.5 True {"a": [1], "b": 1} ["x"]'
    )


def test_a_null_value_stands_for_the_empty_string_as_in_heat():
    assert replaced({"$host": None, "$port": 1}) == ":1"
    assert replaced({"$host": None, "$port": 1}, module=str_replace_scalars) == ":1"


def test_unused_placeholders_are_fine():
    assert replaced({"$host": "db", "$port": 1, "$user": "x"}) == "db:1"


def test_before_2015_10_15_maps_and_lists_are_refused():
    assert replaced({"$host": "db", "$port": 1}, module=str_replace_scalars) == "db:1"
    with pytest.raises(TemplateError) as caught:
        replaced({"$host": ["db"], "$port": 1}, module=str_replace_scalars)
    assert caught.value.reason == ('"str_replace" params must be strings or numbers, param $host is not valid')


def test_resolved_arguments_are_checked():
    def evaluate(snippet, *segments):
        return {"template": 3, "params": {}}[segments[0]]

    with pytest.raises(TemplateError) as caught:
        str_replace.resolve({"template": {"get_param": "t"}, "params": {}}, evaluate, None)
    assert caught.value.reason == '"str_replace" template must be a string'

    def evaluate(snippet, *segments):
        return {"template": "t", "params": ["x"]}[segments[0]]

    with pytest.raises(TemplateError) as caught:
        str_replace.resolve({"template": "t", "params": {"get_param": "p"}}, evaluate, None)
    assert caught.value.reason == '"str_replace" params must be a map'


@pytest.mark.parametrize(
    "args, reason",
    [
        ("text", 'Arguments to "str_replace" must be a map'),
        (
            {"template": "x"},
            "'\"str_replace\" syntax should be str_replace:\\n              template: This is var1 template var2\\n              params:\\n                var1: a\\n                var2: string'",
        ),
        ({"template": "x", "params": ["a"]}, '"str_replace" parameters must be a mapping'),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        str_replace.validate(args, ("resources", "web", "properties", "user_data"))
    assert (caught.value.reason, caught.value.path) == (reason, ("resources", "web", "properties", "user_data"))


def test_validate_accepts_calls_where_literals_go():
    str_replace.validate({"template": {"get_file": "boot.sh"}, "params": {"get_param": "values"}}, ())
    str_replace_scalars.validate({"template": {"get_file": "boot.sh"}, "params": {"$x": {"get_param": "x"}}}, ())
    assert str_replace.replace("aXb", {"X": "-"}) == "a-b"
