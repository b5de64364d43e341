"""Tests for engine.template.snippets: finding calls in snippets and checking them."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import functions_for, unavailable_for
from engine.template.snippets import call_in, calls, check_calls

FUNCTIONS = functions_for("2015-10-15")


def test_call_in_needs_exactly_one_known_key():
    assert call_in({"get_param": "x"}, FUNCTIONS) == ("get_param", "x")
    assert call_in({"get_param": "x", "y": 1}, FUNCTIONS) is None
    assert call_in({"unknown": "x"}, FUNCTIONS) is None
    assert call_in(["get_param"], FUNCTIONS) is None


def test_calls_are_found_outer_first_with_their_paths():
    snippet = {
        "a": [{"str_replace": {"template": "t", "params": {"x": {"get_param": "p"}}}}],
        "b": {"get_resource": "r"},
    }
    found = [(name, path) for name, _, path in calls(snippet, FUNCTIONS, ("properties",))]
    assert found == [
        ("str_replace", ("properties", "a", 0)),
        ("get_param", ("properties", "a", 0, "str_replace", "params", "x")),
        ("get_resource", ("properties", "b")),
    ]


def test_calls_in_a_very_deep_snippet_do_not_exhaust_the_stack():
    snippet = {"get_param": "p"}
    for _ in range(5000):
        snippet = [snippet]
    assert [name for name, _, _ in calls(snippet, FUNCTIONS)] == ["get_param"]


def test_check_calls_reports_unavailable_functions_and_undefined_names():
    unavailable = unavailable_for("2015-10-15")
    with pytest.raises(TemplateError) as caught:
        check_calls({"x": {"Fn::Select": [0, ["a"]]}}, ("p",), FUNCTIONS, unavailable, lambda kind, name: True)
    assert (caught.value.reason, caught.value.path) == (
        "The template version is invalid: The function Fn::Select is not supported in this version of HOT.",
        ("p", "x", "Fn::Select"),
    )
    with pytest.raises(TemplateError) as caught:
        check_calls([{"get_attr": ["db", "ip"]}], ("p",), FUNCTIONS, unavailable, lambda kind, name: kind != "resource")
    assert (caught.value.reason, caught.value.path) == ("get_attr refers to undefined resource 'db'", ("p", "0"))
