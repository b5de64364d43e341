"""Tests for str_replace_strict (2017-02-24 on): str_replace where every param must occur in the template."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import str_replace_strict


def literal(snippet, *segments):
    return snippet


def test_replaces_like_str_replace():
    args = {"template": "$host:$port $data", "params": {"$host": "db", "$port": 5432, "$data": {"a": [1]}}}
    assert str_replace_strict.resolve(args, literal, None) == 'db:5432 {"a": [1]}'


def test_null_values_are_empty_strings():
    assert str_replace_strict.resolve({"template": "[$x]", "params": {"$x": None}}, literal, None) == "[]"


def test_params_missing_from_the_template_are_named_longest_first():
    args = {"template": "$a", "params": {"$a": "1", "$b": "2", "$long": "3"}}
    with pytest.raises(TemplateError) as caught:
        str_replace_strict.resolve(args, literal, None)
    assert caught.value.reason == "The following params were not found in the template: $long,$b"


def test_a_param_inside_a_longer_one_counts_only_where_it_stands_alone():
    with pytest.raises(TemplateError) as caught:
        str_replace_strict.resolve(
            {"template": "$host_name", "params": {"$host_name": "a", "$host": "b"}}, literal, None
        )
    assert caught.value.reason == "The following params were not found in the template: $host"


@pytest.mark.parametrize(
    "args, reason",
    [
        (
            {"template": "x"},
            "'\"str_replace_strict\" syntax should be str_replace_strict:\\n              template: This is var1 template var2\\n              params:\\n                var1: a\\n                var2: string'",
        ),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        str_replace_strict.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "o", "value"))


def test_needs_2017_02_24(hot):
    body = """\
        outputs:
          o:
            value: {str_replace_strict: {template: "x=$x", params: {$x: 1}}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2016-10-14", body)
    template = hot.parse("2017-02-24", body)
    assert template.resolve(template.outputs["o"].value, None) == "x=1"


def test_errors_name_file_line_and_path(hot):
    template = hot.parse(
        "2017-02-24",
        """\
        outputs:
          o:
            value: {str_replace_strict: {template: "x", params: {$x: 1}}}
        """,
    )
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.outputs["o"].value, None, ("outputs", "o", "value"))
    assert str(caught.value) == "web.yaml:4: outputs.o.value: The following params were not found in the template: $x"
