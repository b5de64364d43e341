"""Tests for the function registry (engine.template.functions) and its shared argument rules."""
from __future__ import annotations

import pytest

from engine.template import VERSIONS
from engine.template.functions import (
    FUNCTIONS,
    functions_for,
    get_attr,
    get_attr_named,
    list_join,
    list_join_strings,
    str_replace,
    str_replace_scalars,
    unavailable_for,
)
from engine.template.functions.args import is_call, step


def test_every_canonical_version_has_a_table():
    assert set(FUNCTIONS) == set(VERSIONS.values())


@pytest.mark.parametrize("version, expected", [
    ("2013-05-23", (get_attr_named, list_join_strings, str_replace_scalars)),
    ("2015-04-30", (get_attr_named, list_join_strings, str_replace_scalars)),
    ("2015-10-15", (get_attr, list_join, str_replace)),
    ("2021-04-16", (get_attr, list_join, str_replace)),
])
def test_versions_choose_heat_semantics(version, expected):
    functions = functions_for(version)
    assert (functions["get_attr"], functions["list_join"], functions["str_replace"]) == expected
    assert set(functions) == {"get_attr", "get_file", "get_param", "get_resource", "list_join", "str_replace"}


def test_functions_for_returns_a_copy():
    functions_for("2013-05-23").clear()
    assert "get_param" in functions_for("2013-05-23")


def test_every_module_offers_both_verbs():
    for table in FUNCTIONS.values():
        for module in table.values():
            assert callable(module.validate) and callable(module.resolve)


def test_unavailable_names_follow_heat():
    assert unavailable_for("2013-05-23")["Ref"] == "function 'Ref' is not supported by Hearth yet"
    assert unavailable_for("2014-10-16")["Ref"] == "function 'Ref' is not available in heat_template_version 2014-10-16"
    assert "repeat" not in unavailable_for("2014-10-16") and "repeat" in unavailable_for("2015-04-30")
    assert "Fn::Select" in unavailable_for("2015-10-15") and "yaql" in unavailable_for("2016-10-14")
    assert "contains" in unavailable_for("2021-04-16") and "get_param" not in unavailable_for("2021-04-16")


def test_is_call_is_a_one_key_mapping():
    assert is_call({"get_param": "x"}) and not is_call({"a": 1, "b": 2}) and not is_call("get_param")


@pytest.mark.parametrize("collection, key, value", [({"a": 1}, "a", 1), ([1, 2], 1, 2), ([1, 2], "1", 2), ([1, 2], "-1", 2)])
def test_step(collection, key, value):
    assert step(collection, key) == value


@pytest.mark.parametrize("collection, key", [({"a": 1}, "b"), ([1], 3), ([1], "x"), ("text", 0), ([1], True)])
def test_step_that_leads_nowhere(collection, key):
    with pytest.raises(LookupError):
        step(collection, key)
