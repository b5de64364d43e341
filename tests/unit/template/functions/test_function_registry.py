"""Tests for the function registry (engine.template.functions) and its shared argument rules."""

from __future__ import annotations

import pytest

from engine.template import VERSIONS
from engine.template.cfn import FUNCTIONS as CFN_FUNCTIONS
from engine.template.functions import (
    CONDITION_FUNCTIONS,
    FUNCTIONS,
    HEAT_ADDED,
    HEAT_REMOVED,
    condition_functions_for,
    functions_for,
    get_attr,
    get_attr_named,
    if_condition,
    if_condition_both,
    list_join,
    list_join_strings,
    repeat,
    repeat_lists,
    repeat_product,
    str_replace,
    str_replace_scalars,
    unavailable_for,
)
from engine.template.functions.args import is_call, step

# Heat's function tables (heat/engine/hot/template.py, HOTemplate20130523 to HOTemplate20210416).
# The first HOT version also offers CloudFormation's functions (not Fn::GetAtt nor Fn::FindInMap);
# 2014-10-16 keeps Fn::Select alone of them, and 2015-10-15 removes it too.
_HOT_2013 = {"get_attr", "get_file", "get_param", "get_resource", "list_join", "resource_facade", "str_replace"}
_CFN_IN_2013 = {
    "Fn::Base64",
    "Fn::GetAZs",
    "Fn::Join",
    "Fn::MemberListToMap",
    "Fn::Replace",
    "Fn::ResourceFacade",
    "Fn::Select",
    "Fn::Split",
    "Ref",
}
_2013 = _HOT_2013 | _CFN_IN_2013
_2014_10 = _HOT_2013 | {"Fn::Select"}
_2015_04 = _2014_10 | {"digest", "repeat"}
_2015_10 = _2015_04 - {"Fn::Select"} | {"str_split"}
_2016_04 = _2015_10 | {"map_merge"}
_2016_10 = _2016_04 | {"if", "map_replace", "yaql"}
_2017_02 = _2016_10 | {"filter", "str_replace_strict"}
_2017_09 = _2017_02 | {"contains", "list_concat", "list_concat_unique", "make_url", "str_replace_vstrict"}
HEAT_FUNCTIONS = {
    "2013-05-23": _2013,
    "2014-10-16": _2014_10,
    "2015-04-30": _2015_04,
    "2015-10-15": _2015_10,
    "2016-04-08": _2016_04,
    "2016-10-14": _2016_10,
    "2017-02-24": _2017_02,
    "2017-09-01": _2017_09,
    "2018-03-02": _2017_09,
    "2018-08-31": _2017_09,
    "2021-04-16": _2017_09,
}
_CONDITIONS_2016 = {"and", "equals", "get_param", "not", "or"}
HEAT_CONDITION_FUNCTIONS = {
    **{version: set() for version in ("2013-05-23", "2014-10-16", "2015-04-30", "2015-10-15", "2016-04-08")},
    "2016-10-14": _CONDITIONS_2016,
    "2017-02-24": _CONDITIONS_2016,
    **{
        version: _CONDITIONS_2016 | {"contains", "yaql"}
        for version in ("2017-09-01", "2018-03-02", "2018-08-31", "2021-04-16")
    },
}


def test_every_canonical_version_has_a_table():
    assert set(FUNCTIONS) == set(VERSIONS.values()) == set(CONDITION_FUNCTIONS)


@pytest.mark.parametrize("version", sorted(HEAT_FUNCTIONS))
def test_each_version_offers_exactly_heats_functions(version):
    assert set(functions_for(version)) == HEAT_FUNCTIONS[version]
    assert set(condition_functions_for(version)) == HEAT_CONDITION_FUNCTIONS[version]


@pytest.mark.parametrize(
    "version, expected",
    [
        ("2013-05-23", (get_attr_named, list_join_strings, str_replace_scalars, None, None)),
        ("2015-04-30", (get_attr_named, list_join_strings, str_replace_scalars, repeat_lists, None)),
        ("2015-10-15", (get_attr, list_join, str_replace, repeat_lists, None)),
        ("2016-10-14", (get_attr, list_join, str_replace, repeat_product, if_condition_both)),
        ("2017-02-24", (get_attr, list_join, str_replace, repeat_product, if_condition_both)),
        ("2017-09-01", (get_attr, list_join, str_replace, repeat, if_condition_both)),
        ("2018-08-31", (get_attr, list_join, str_replace, repeat, if_condition_both)),
        ("2021-04-16", (get_attr, list_join, str_replace, repeat, if_condition)),
    ],
)
def test_versions_choose_heat_semantics(version, expected):
    functions = functions_for(version)
    chosen = tuple(functions.get(name) for name in ("get_attr", "list_join", "str_replace", "repeat", "if"))
    assert chosen == expected


def test_functions_for_returns_a_copy():
    functions_for("2013-05-23").clear()
    condition_functions_for("2016-10-14").clear()
    assert "get_param" in functions_for("2013-05-23") and "equals" in condition_functions_for("2016-10-14")


def test_every_module_offers_both_verbs():
    for table in list(FUNCTIONS.values()) + list(CONDITION_FUNCTIONS.values()):
        for module in table.values():
            assert callable(module.validate) and callable(module.resolve)


def test_the_cloudformation_names_evaluate_as_in_the_cfn_format():
    cfn = CFN_FUNCTIONS["2012-12-12"]
    in_hot = functions_for("2013-05-23")
    assert {name: in_hot[name] for name in _CFN_IN_2013} == {name: cfn[name] for name in _CFN_IN_2013}
    assert functions_for("2015-04-30")["Fn::Select"] is cfn["Fn::Select"]


def test_unavailable_names_follow_heat():
    assert (
        unavailable_for("2014-10-16")["Ref"]
        == "The template version is invalid: The function Ref is not supported in this version of HOT."
    )
    assert unavailable_for("2015-04-30")["Fn::Join"] == (
        "The template version is invalid: The function Fn::Join is not supported in this version of HOT."
    )
    assert unavailable_for("2015-10-15")["Fn::Select"] == (
        "The template version is invalid: The function Fn::Select is not supported in this version of HOT."
    )
    assert not {"Ref", "Fn::Join", "Fn::Select"} & unavailable_for("2013-05-23").keys()
    assert "Fn::Select" not in unavailable_for("2014-10-16") and "Fn::Select" not in unavailable_for("2015-04-30")
    # A function of a later version is data in an earlier one, as in Heat.
    assert "repeat" not in unavailable_for("2014-10-16")
    assert "get_param" not in unavailable_for("2021-04-16") and "if" not in unavailable_for("2016-10-14")


@pytest.mark.parametrize("version", sorted(FUNCTIONS))
def test_no_function_heat_offers_waits_for_hearth(version):
    waiting = [name for name, reason in unavailable_for(version).items() if "not supported by Hearth yet" in reason]
    assert waiting == []
    added = {name for date, names in HEAT_ADDED.items() if date <= version for name in names}
    removed = {name for date, names in HEAT_REMOVED.items() if date <= version for name in names}
    assert added - removed == set(functions_for(version))


def test_is_call_is_a_one_key_mapping():
    assert is_call({"get_param": "x"}) and not is_call({"a": 1, "b": 2}) and not is_call("get_param")


@pytest.mark.parametrize(
    "collection, key, value",
    [({"a": 1}, "a", 1), ([1, 2], 1, 2), ([1, 2], "1", 2), ([1, 2], "-1", 2), ("text", 0, "t"), ("text", "-1", "t")],
)
def test_step(collection, key, value):
    assert step(collection, key) == value


@pytest.mark.parametrize(
    "collection, key", [({"a": 1}, "b"), ([1], 3), ([1], "x"), ("text", 9), ("text", "x"), ([1], True), (3, 0)]
)
def test_step_that_leads_nowhere(collection, key):
    with pytest.raises(LookupError):
        step(collection, key)
