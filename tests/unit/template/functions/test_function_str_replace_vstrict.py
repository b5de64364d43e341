"""Tests for str_replace_vstrict (2017-09-01 on): str_replace_strict where no value may be null or empty."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import str_replace_vstrict


def literal(snippet, *segments):
    return snippet


def test_replaces_like_str_replace_strict():
    args = {"template": "$a $b $c", "params": {"$a": "x", "$b": 0, "$c": False}}
    assert str_replace_vstrict.resolve(args, literal, None) == "x 0 False"


@pytest.mark.parametrize("value, shown", [(None, "null"), ("", "empty"), ([], "empty"), ({}, "empty")])
def test_null_and_empty_values_are_refused(value, shown):
    with pytest.raises(TemplateError) as caught:
        str_replace_vstrict.resolve({"template": "$a", "params": {"$a": value}}, literal, None)
    assert (
        caught.value.reason
        == "str_replace_vstrict has an undefined or empty value for param $a, must be a defined non-empty value"
    )


def test_params_must_occur_in_the_template():
    with pytest.raises(TemplateError) as caught:
        str_replace_vstrict.resolve({"template": "$a", "params": {"$a": "1", "$b": "2"}}, literal, None)
    assert caught.value.reason == "The following params were not found in the template: $b"


def test_validate_refuses_bad_shapes():
    with pytest.raises(TemplateError) as caught:
        str_replace_vstrict.validate({"params": {}}, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (
        "'\"str_replace_vstrict\" syntax should be str_replace_vstrict:\\n              template: This is var1 template var2\\n              params:\\n                var1: a\\n                var2: string'",
        ("outputs", "o", "value"),
    )


def test_needs_2017_09_01(hot, fake_stack):
    body = """\
        parameters:
          name: {type: string}
        outputs:
          o:
            value: {str_replace_vstrict: {template: "n=$n", params: {$n: {get_param: name}}}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2017-02-24", body)
    template = hot.parse("2017-09-01", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"name": "web"})) == "n=web"
    with pytest.raises(TemplateError) as caught:
        template.resolve(template.outputs["o"].value, fake_stack(params={"name": ""}), ("outputs", "o", "value"))
    assert str(caught.value) == (
        "web.yaml:6: outputs.o.value: str_replace_vstrict has an undefined or empty value for param $n, must be a defined non-empty value"
    )
