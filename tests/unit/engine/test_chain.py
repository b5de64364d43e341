"""OS::Heat::ResourceChain on real stores: members "0", "1", ... in a nested stack, each after the
one before; its attributes; updates in place or by replacement (recorded from Heat 27.0.1, and
the cases of Heat's functional test_resource_chain)."""

from __future__ import annotations

import pytest

from engine.resources.chain import chain_template
from tests.unit.engine.test_nested_stacks import create, outputs, resources, running_service, settle


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


CHAIN = """heat_template_version: 2016-04-08
parameters:
  length: {type: number, default: 8}
  types: {type: comma_delimited_list, default: "OS::Heat::RandomString,OS::Heat::RandomString"}
  concurrent: {type: boolean, default: false}
resources:
  chain:
    type: OS::Heat::ResourceChain
    properties:
      resources: {get_param: types}
      concurrent: {get_param: concurrent}
      resource_properties:
        length: {get_param: length}
outputs:
  refs: {value: {get_attr: [chain, refs]}}
  second_ref: {value: {get_attr: [chain, refs, 1]}}
  first: {value: {get_attr: [chain, resource.0]}}
  first_value: {value: {get_attr: [chain, resource.0, value]}}
  first_value_dotted: {value: {get_attr: [chain, resource.0.value]}}
  by_member: {value: {get_attr: [chain, attributes, value]}}
  values: {value: {get_attr: [chain, value]}}
"""


def members(service, stack_id):
    """{member name: (type, physical id)} of the chain's nested stack, and its id."""
    child = resources(service, stack_id)["chain"]["physical_resource_id"]
    return child, {n: (r["resource_type"], r["physical_resource_id"]) for n, r in resources(service, child).items()}


def test_members_and_attributes_as_heat_answers_them(service):
    stack_id = create(service, "types-chain", CHAIN)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    child, found = members(service, stack_id)
    assert {n: t for n, (t, _) in found.items()} == {"0": "OS::Heat::RandomString", "1": "OS::Heat::RandomString"}
    values = outputs(service, stack_id)
    # Recorded from Heat 27.0.1 (RandomString's reference is its value).
    first, second = values["refs"]
    assert len(first) == len(second) == 8
    assert values["second_ref"] == second
    assert values["first"] == values["first_value"] == values["first_value_dotted"] == first
    assert values["by_member"] == {"0": first, "1": second}
    assert values["values"] == [first, second]
    assert service.resources.show_resource("admin", stack_id, "chain")["attributes"] == {
        "attributes": None,
        "refs": [first, second],
    }
    # Each member depends on the one before, in Heat's generated member template.
    template = service.stacks.find_stack("admin", child, by_id_only=True).template
    assert template["resources"]["1"]["depends_on"] == ["0"]
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"


def test_member_template_each_after_the_one_before_unless_concurrent():
    # Recorded from Heat 27.0.1 (one engine, so its concurrency limit is 1).
    assert chain_template(["A", "B", "C"], {"length": 10}, None) == {
        "heat_template_version": "2015-04-30",
        "resources": {
            "0": {"type": "A", "properties": {"length": 10}},
            "1": {"type": "B", "properties": {"length": 10}, "depends_on": ["0"]},
            "2": {"type": "C", "properties": {"length": 10}, "depends_on": ["1"]},
        },
        "outputs": {"refs": {"value": [{"get_resource": "0"}, {"get_resource": "1"}, {"get_resource": "2"}]}},
    }
    assert chain_template(["A", "B", "C"], None, 1) == chain_template(["A", "B", "C"], None, None)
    concurrent = chain_template(["A", "B", "C"], None, 2)["resources"]
    assert [m.get("depends_on") for m in concurrent.values()] == [None, None, ["0"]]


def test_new_types_update_the_nested_stack_and_new_properties_replace_the_chain(service):
    stack_id = create(service, "types-chain-update", CHAIN)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child, before = members(service, stack_id)

    def update(**parameters):
        service.operations.update_stack("admin", stack_id, {"template": CHAIN, "parameters": parameters}, patch=False)
        stack = settle(service, stack_id)
        assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
        return members(service, stack_id)

    # Recorded from Heat 27.0.1: `resources` updates the same nested stack, members kept ...
    same, after = update(types="OS::Heat::RandomString,OS::Heat::RandomString,OS::Heat::None")
    assert same == child
    assert after["0"] == before["0"] and after["1"] == before["1"] and after["2"][0] == "OS::Heat::None"
    # ... `resource_properties` and `concurrent` cannot change in place: a new chain each time.
    types = "OS::Heat::RandomString,OS::Heat::RandomString,OS::Heat::None"
    replaced, _ = update(types=types, length=10)
    assert replaced != child
    assert len(outputs(service, stack_id)["first_value"]) == 10
    again, _ = update(types=types, length=10, concurrent=True)
    assert again not in (child, replaced)


PARAM_DRIVEN = """heat_template_version: 2016-04-08
parameters:
  chain-types: {type: comma_delimited_list}
resources:
  my-chain:
    type: OS::Heat::ResourceChain
    properties:
      resources: {get_param: chain-types}
"""


def test_types_from_parameters_and_the_environment(service):
    # Heat's functional test_resources_param_driven and test_resources_env_defined.
    stack_id = create(
        service,
        "types-chain-params",
        PARAM_DRIVEN,
        parameters={"chain-types": "OS::Heat::None,OS::Heat::RandomString,OS::Heat::None"},
    )
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = resources(service, stack_id)["my-chain"]["physical_resource_id"]
    assert {n: r["resource_type"] for n, r in resources(service, child).items()} == {
        "0": "OS::Heat::None",
        "1": "OS::Heat::RandomString",
        "2": "OS::Heat::None",
    }
    env_id = create(
        service, "types-chain-env", PARAM_DRIVEN, environment={"parameters": {"chain-types": "OS::Heat::None"}}
    )
    assert settle(service, env_id)["stack_status"] == "CREATE_COMPLETE"
    child = resources(service, env_id)["my-chain"]["physical_resource_id"]
    assert {n: r["resource_type"] for n, r in resources(service, child).items()} == {"0": "OS::Heat::None"}


def test_attributes_without_a_name_is_an_output_error(service):
    template = """heat_template_version: 2018-08-31
resources:
  c: {type: OS::Heat::ResourceChain, properties: {resources: [OS::Heat::None]}}
outputs:
  a: {value: {get_attr: [c, attributes]}}
"""
    stack_id = create(service, "types-chain-attrs", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    output = service.stacks.show_stack("admin", stack_id)["outputs"][0]
    # Recorded from Heat 27.0.1: the stack completes; the output has no value and this error.
    assert output["output_value"] is None
    assert output["output_error"] == "The Referenced Attribute (c attributes) is incorrect."
