"""The pure parts of groups: member names, removal policies, index substitution, generated templates."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.resources.group import (
    batches,
    by_attribute,
    check_update_policy,
    group_template,
    member_names,
    removal_blacklist,
    replace_index,
)
from engine.template import parse_template


def test_member_names_skip_the_blacklist_and_never_reuse_it():
    assert member_names(3, []) == ["0", "1", "2"]
    assert member_names(3, ["1"]) == ["0", "2", "3"]
    assert member_names(2, ["0", "1", "7"]) == ["2", "3"]
    assert member_names(0, ["0"]) == []


def test_removal_while_creating_takes_names_as_given():
    assert removal_blacklist([{"resource_list": [1, "4"]}], "append", [], None, {}) == ["1", "4"]


def test_removal_of_members_by_name_or_reference_appends_to_the_blacklist():
    refs = {"0": "id-0", "1": "id-1", "2": "id-2"}
    policies = [{"resource_list": ["2", "id-0", "unknown", "id-9"]}]
    assert removal_blacklist(policies, "append", ["5"], ["0", "1", "2"], refs) == ["0", "2", "5"]


def test_removal_mode_update_replaces_the_blacklist():
    refs = {"0": "id-0", "1": "id-1"}
    assert removal_blacklist([{"resource_list": ["1"]}], "update", ["5"], ["0", "1"], refs) == ["1"]
    assert removal_blacklist([], "update", ["5"], ["0", "1"], refs) == []
    # an entry already blacklisted stays blacklisted although it is no member any more
    assert removal_blacklist([{"resource_list": ["5"]}], "update", ["5"], ["0", "1"], refs) == ["5"]


def test_index_is_replaced_in_every_string():
    value = {"name": "web-%index%", "tags": ["%index%", 3, {"x": "a%index%b%index%"}], "n": None}
    assert replace_index(value, "%index%", "7") == {"name": "web-7", "tags": ["7", 3, {"x": "a7b7"}], "n": None}
    assert replace_index("$i-$i", "$i", "0") == "0-0"


def test_group_template_is_heats_shape_and_parses():
    """As recorded from Heat (groups/member-metadata): the index is replaced in the properties,
    not in the metadata; the one output is refs_map."""
    resource_def = {
        "type": "OS::Heat::Value",
        "properties": {"value": "v-%index%", "type": None},
        "metadata": {"slot": "%index%"},
    }
    template = group_template(["0", "2"], resource_def, "%index%")
    assert template == {
        "heat_template_version": "2015-04-30",
        "resources": {
            "0": {"type": "OS::Heat::Value", "properties": {"value": "v-0"}, "metadata": {"slot": "%index%"}},
            "2": {"type": "OS::Heat::Value", "properties": {"value": "v-2"}, "metadata": {"slot": "%index%"}},
        },
        "outputs": {
            "refs_map": {"value": {"0": {"get_resource": "0"}, "2": {"get_resource": "2"}}},
        },
    }
    parsed = parse_template(template, filename="group")
    assert list(parsed.resources) == ["0", "2"] and set(parsed.outputs) == {"refs_map"}


def test_empty_group_template_parses():
    template = group_template([], {"type": "OS::Heat::None"}, "%index%")
    assert template["resources"] == {} and template["outputs"]["refs_map"] == {"value": {}}
    assert parse_template(template).resources == {}


def definition(value: str) -> dict:
    return {"type": "OS::Heat::Value", "properties": {"value": value}}


def test_batch_create_adds_members_a_batch_at_a_time():
    plans = batches({}, lambda n: member_names(n, []), 5, 2, 0, lambda name: definition("new"))
    assert [list(plan) for plan in plans] == [["0", "1"], ["0", "1", "2", "3"], ["0", "1", "2", "3", "4"]]


def test_rolling_update_replaces_the_highest_numbered_members_first():
    current = {n: definition("old") for n in ("0", "1", "2")}
    plans = batches(current, lambda n: member_names(n, []), 3, 1, 0, lambda name: definition("new"))
    assert [sorted(n for n, d in plan.items() if d == definition("new")) for plan in plans] == [
        ["2"],
        ["1", "2"],
        ["0", "1", "2"],
    ]


def test_rolling_update_keeps_members_in_service():
    current = {n: definition("old") for n in ("0", "1")}
    plans = batches(current, lambda n: member_names(n, []), 2, 2, 1, lambda name: definition("new"))
    # one extra member carries the new definition while the old ones stay, then they go
    assert [len(plan) for plan in plans][-1] == 2
    assert all(d == definition("new") for d in plans[-1].values())


def test_update_policy_is_checked_with_its_path():
    check_update_policy({})
    check_update_policy(
        {
            "rolling_update": {"max_batch_size": 2, "min_in_service": 1, "pause_time": 0},
            "batch_create": {"max_batch_size": 5},
        }
    )
    with pytest.raises(TemplateError) as error:
        check_update_policy({"rolling_update": {"max_batch_size": 0}})
    assert str(error.value) == (
        "template: update_policy.rolling_update.max_batch_size: 0 is out of range (min: 1, max: None)"
    )
    with pytest.raises(TemplateError) as error:
        check_update_policy({"batch_create": {"min_in_service": 1}})
    # Heat's words (recorded: groups/unknown-update-policy-key)
    assert "Property error: update_policy.batch_create: Unknown Property min_in_service" in str(error.value)
    with pytest.raises(TemplateError) as error:
        check_update_policy({"rolling": {}})
    assert "update_policy: Unknown Property rolling" in str(error.value)


def test_attributes_by_member_become_members_by_attribute():
    members = {"0": {"a": 1, "b": 2}, "1": {"a": 3}, "2": None}
    assert by_attribute(members) == {"a": {"0": 1, "1": 3, "2": None}, "b": {"0": 2, "1": None, "2": None}}
