"""OS::Heat::AutoScalingGroup on real stores: members with Heat's random names in Heat's order,
its attributes, resizing on update (oldest removed first), and Heat's refusals (recorded from
Heat 27.0.1, and the case of Heat's functional test_path_attrs_nested)."""

from __future__ import annotations

import re

import pytest

from engine.errors import TemplateError
from engine.resources.autoscaling import new_capacity, scaled_members
from tests.unit.engine.test_nested_stacks import create, outputs, resources, running_service, settle


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


GROUP = """heat_template_version: 2014-10-16
parameters:
  size: {type: number, default: 3}
  length: {type: number, default: 8}
resources:
  random_group:
    type: OS::Heat::AutoScalingGroup
    properties:
      desired_capacity: {get_param: size}
      max_size: 5
      min_size: 2
      resource:
        type: OS::Heat::RandomString
        properties: {length: {get_param: length}}
outputs:
  all_values: {value: {get_attr: [random_group, outputs_list, value]}}
  outputs: {value: {get_attr: [random_group, outputs, value]}}
  value_0: {value: {get_attr: [random_group, resource.0.value]}}
  value_0_path: {value: {get_attr: [random_group, resource.0, value]}}
  first: {value: {get_attr: [random_group, resource.0]}}
  size: {value: {get_attr: [random_group, current_size]}}
  refs: {value: {get_attr: [random_group, refs]}}
  refs_map: {value: {get_attr: [random_group, refs_map]}}
"""


def members(service, stack_id) -> list[str]:
    """The member names in Heat's order (creation, then name)."""
    return list(outputs(service, stack_id)["refs_map"])


def update(service, stack_id, **parameters):
    service.operations.update_stack("admin", stack_id, {"template": GROUP, "parameters": parameters}, patch=False)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    return outputs(service, stack_id)


def test_members_have_heats_names_and_attributes(service):
    stack_id = create(service, "types-asg", GROUP)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    values = outputs(service, stack_id)
    names = list(values["refs_map"])
    # Recorded from Heat 27.0.1: names like "4dmqpbsjurej", members made together sorted by name.
    assert all(re.fullmatch(r"[a-z2-7]{12}", n) for n in names) and names == sorted(names)
    refs = [values["refs_map"][n] for n in names]
    assert values["size"] == 3 and values["refs"] == refs == values["all_values"]
    assert values["outputs"] == dict(zip(names, refs, strict=True))
    assert values["first"] == values["value_0"] == values["value_0_path"] == refs[0]
    child = resources(service, stack_id)["random_group"]["physical_resource_id"]
    assert sorted(resources(service, child)) == names
    # Recorded from Heat 27.0.1: resource show lists the attributes without values.
    assert service.resources.show_resource("admin", stack_id, "random_group")["attributes"] == dict.fromkeys(
        ("current_size", "outputs_list", "refs", "refs_map", "outputs")
    )


def test_resizing_adds_new_members_last_and_removes_the_oldest(service):
    stack_id = create(service, "types-asg-resize", GROUP)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    first = members(service, stack_id)
    child = resources(service, stack_id)["random_group"]["physical_resource_id"]
    # Recorded from Heat 27.0.1: 3 -> 4 appends one member; 4 -> 2 keeps the two newest; a new
    # member definition updates them in place (same names, same nested stack).
    grown = list(update(service, stack_id, size=4)["refs_map"])
    assert grown[:3] == first and len(grown) == 4
    shrunk = list(update(service, stack_id, size=2)["refs_map"])
    assert shrunk == grown[2:]
    values = update(service, stack_id, size=2, length=10)
    assert list(values["refs_map"]) == shrunk
    assert all(len(v) == 10 for v in values["all_values"])
    assert resources(service, stack_id)["random_group"]["physical_resource_id"] == child


@pytest.mark.parametrize(
    "properties, message",
    [
        # Recorded from Heat 27.0.1 (400 StackValidationFailed).
        ("{desired_capacity: 6, max_size: 5, min_size: 2}", "DesiredCapacity must be between MinSize and MaxSize"),
        ("{desired_capacity: 1, max_size: 5, min_size: 2}", "DesiredCapacity must be between MinSize and MaxSize"),
        ("{max_size: 5, min_size: 6}", "MinSize can not be greater than MaxSize"),
    ],
)
def test_sizes_out_of_order_are_refused(service, properties, message):
    template = (
        "heat_template_version: 2014-10-16\nresources:\n  g:\n    type: OS::Heat::AutoScalingGroup\n"
        f"    properties: {{resource: {{type: OS::Heat::None}}, {properties[1:]}\n"
    )
    with pytest.raises(TemplateError) as error:
        create(service, "types-asg-bad", template)
    assert error.value.reason == message


def test_capacity_rules_as_heat_applies_them():
    # Heat's handle_update: "desired_capacity or current size", bounded (recorded from Heat
    # 27.0.1: desired_capacity 0 with min_size 0 keeps a group of 2 at 2).
    assert new_capacity(2, 0, 0, 5) == 2
    assert new_capacity(2, None, 3, 5) == 3
    assert new_capacity(4, 9, 0, 5) == 5
    names = iter(["zz", "aa"])
    assert scaled_members(["a", "b", "c"], 5, lambda: next(names)) == ["a", "b", "c", "aa", "zz"]
    assert scaled_members(["a", "b", "c"], 1) == ["c"]


NESTED = """heat_template_version: 2014-10-16
resources:
  random_group:
    type: OS::Heat::AutoScalingGroup
    properties:
      desired_capacity: 3
      max_size: 5
      min_size: 2
      resource:
        type: randomstr.yaml
outputs:
  all_values: {value: {get_attr: [random_group, outputs_list, random_str]}}
  value_0: {value: {get_attr: [random_group, resource.0.random_str]}}
  value_1: {value: {get_attr: [random_group, resource.1.random_str]}}
  value_2: {value: {get_attr: [random_group, resource.2.random_str]}}
"""
RANDOM_STR = """heat_template_version: 2013-05-23
resources:
  random_str:
    type: OS::Heat::RandomString
outputs:
  random_str:
    value: {get_attr: [random_str, value]}
"""


def test_provider_members_answer_their_outputs(service):
    # Heat's functional HeatAutoscalingTest.test_path_attrs_nested.
    stack_id = create(service, "types-asg-nested", NESTED, files={"randomstr.yaml": RANDOM_STR})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    values = outputs(service, stack_id)
    assert len(values["all_values"]) == 3
    assert values["all_values"] == [values["value_0"], values["value_1"], values["value_2"]]
