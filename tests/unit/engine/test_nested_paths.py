"""get_attr paths through nested stacks, in real stacks: `[group, resource.0.server, key]`,
`[group, attr, key]` taken from each member, and `[provider, resource.NAME, attr]`."""

from __future__ import annotations

from tests.support import wait_for

MEMBER = """heat_template_version: 2018-08-31
parameters:
  index: {type: string}
resources:
  inner:
    type: OS::Heat::Value
    properties:
      value: {first_address: {list_join: ['', ['10.0.0.', {get_param: index}]]}}
outputs:
  server: {value: {get_attr: [inner, value]}}
"""

PARENT = """heat_template_version: 2018-08-31
resources:
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def: {type: member.yaml, properties: {index: '%index%'}}
  single: {type: member.yaml, properties: {index: 9}}
outputs:
  first: {value: {get_attr: [group, resource.0.server, first_address]}}
  each: {value: {get_attr: [group, server, first_address]}}
  through: {value: {get_attr: [single, resource.inner, value, first_address]}}
  missing: {value: {get_attr: [group, resource.5.server, first_address]}}
"""


def test_paths_reach_through_groups_and_provider_templates(service):
    stack_id = service.stacks.create_stack(
        "admin",
        {"stack_name": "paths", "template": PARENT, "template_name": "parent.yaml", "files": {"member.yaml": MEMBER}},
    )["id"]

    def settled():
        stack = service.stacks.show_stack("admin", stack_id)
        return None if stack["stack_status"].endswith("IN_PROGRESS") else stack

    stack = wait_for(settled, 60, message="the stack to settle")
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
    assert outputs == {"first": "10.0.0.0", "each": ["10.0.0.0", "10.0.0.1"], "through": "10.0.0.9", "missing": None}
