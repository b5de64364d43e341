"""OS::Heat::Stack and AWS::CloudFormation::Stack: nested stacks on real stores (SQLite file and PostgreSQL)."""

from __future__ import annotations

import pytest

from engine.config import Config
from engine.errors import NotFound
from engine.service import build_service
from tests.support import create, settle


def running_service(db_url, tmp_path):
    """A started engine service on the store at `db_url`, with the `deployed` compute driver."""
    svc = build_service(Config.from_env({}, db_url=db_url, data_dir=str(tmp_path / "data"), compute="deployed"))
    svc.start()
    yield svc
    svc.stop()
    svc.runtime.store.dispose()


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


def resources(service, stack_id):
    return {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}


def outputs(service, stack_id):
    return {o["output_key"]: o["output_value"] for o in service.stacks.show_stack("admin", stack_id)["outputs"]}


CHILD = """heat_template_version: 2018-08-31
parameters:
  word: {type: string}
resources:
  echo: {type: OS::Heat::Value, properties: {value: {str_replace: {template: "said $w", params: {$w: {get_param: word}}}}}}
outputs:
  said: {value: {get_attr: [echo, value]}}
"""

HEAT_STACK = """heat_template_version: 2018-08-31
resources:
  inner:
    type: OS::Heat::Stack
    properties:
      template: {get_file: child.yaml}
      parameters: {word: hello}
outputs:
  said: {value: {get_attr: [inner, outputs, said]}}
  name: {value: {get_attr: [inner, stack_name]}}
  id: {value: {get_resource: inner}}
"""


def test_heat_stack_is_a_nested_stack_shown_by_its_id_and_deleted_with_its_parent(service):
    stack_id = create(service, "outer", HEAT_STACK, files={"child.yaml": CHILD})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    child_id = resources(service, stack_id)["inner"]["physical_resource_id"]
    child = service.stacks.show_stack("admin", child_id)
    assert child["stack_status"] == "CREATE_COMPLETE" and child["stack_name"].startswith("outer-inner-")
    assert {o["output_key"]: o["output_value"] for o in child["outputs"]}["said"] == "said hello"
    assert outputs(service, stack_id) == {"said": "said hello", "name": child["stack_name"], "id": child_id}
    # hidden from the stack list unless nested stacks are asked for
    assert [s["id"] for s in service.stacks.list_stacks("admin")] == [stack_id]
    listed = [s["id"] for s in service.stacks.list_stacks("admin", filters={"show_nested": "true"})]
    assert sorted(listed) == sorted([stack_id, child_id])
    # Heat makes OS::Heat::Stack's stack a stack of its own: not listed with nested_depth
    nested = service.resources.list_resources("admin", stack_id, nested_depth=1)
    assert {(r["resource_name"], r.get("parent_resource")) for r in nested} == {("inner", None)}
    service.stacks.delete_stack("admin", stack_id)
    assert settle(service, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert service.stacks.show_stack("admin", child_id, resolve_outputs=False)["stack_status"] == "DELETE_COMPLETE"


CFN_PARENT = """heat_template_version: 2018-08-31
resources:
  inner:
    type: AWS::CloudFormation::Stack
    properties:
      TemplateURL: nested/child.yaml
      Parameters: {word: {get_param: "OS::stack_name"}}
      TimeoutInMinutes: 5
outputs:
  said: {value: {get_attr: [inner, Outputs.said]}}
  ref: {value: {get_resource: inner}}
"""


def test_cfn_stack_finds_its_template_relative_to_the_parents_and_answers_outputs(service):
    stack_id = service.stacks.create_stack(
        "admin",
        {
            "stack_name": "cfn",
            "template": CFN_PARENT,
            "template_name": "file:///work/stacks/cfn.yaml",
            "files": {"file:///work/stacks/nested/child.yaml": CHILD},
        },
    )["id"]
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    child_id = resources(service, stack_id)["inner"]["physical_resource_id"]
    child = service.stacks.show_stack("admin", child_id, resolve_outputs=False)
    assert child["timeout_mins"] == 5
    values = outputs(service, stack_id)
    assert values["said"] == "said cfn"
    assert values["ref"] == f"arn:openstack:heat::admin:stacks/{child['stack_name']}/{child_id}"


def test_cfn_stack_without_its_template_fails_naming_the_url(service):
    stack_id = create(service, "nofile", CFN_PARENT)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    reason = resources(service, stack_id)["inner"]["resource_status_reason"]
    assert "template 'nested/child.yaml' is not in the files map" in reason


FAILING_CHILD = """heat_template_version: 2018-08-31
resources:
  fine: {type: OS::Heat::Value, properties: {value: 1}}
  broken: {type: OS::Heat::TestResource, properties: {fail: true}}
"""


def test_a_failing_nested_resource_fails_the_parent_naming_it(service):
    template = HEAT_STACK.replace("parameters: {word: hello}", "parameters: {}")
    stack_id = create(service, "sad", template, files={"child.yaml": FAILING_CHILD})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    inner = resources(service, stack_id)["inner"]
    assert inner["resource_status"] == "CREATE_FAILED"
    # Heat's shape (recorded from Heat 27.0.1 with a failing TestResource in a provider
    # template): the error name, then the owner's path followed by the nested resource's.
    assert inner["resource_status_reason"] == (
        "ValueError: resources.inner.resources.broken: Test Resource failed broken"
    )
    assert stack["stack_status_reason"] == "Resource CREATE failed: " + inner["resource_status_reason"]
    child = service.stacks.show_stack("admin", inner["physical_resource_id"], resolve_outputs=False)
    assert child["stack_status"] == "CREATE_FAILED"


def test_nested_stacks_inherit_the_parents_parameter_defaults(service):
    template = HEAT_STACK.replace("parameters: {word: hello}", "parameters: {}")
    stack_id = create(
        service,
        "defaults",
        template,
        files={"child.yaml": CHILD},
        environment={"parameter_defaults": {"word": "by default"}},
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert outputs(service, stack_id)["said"] == "said by default"


def test_updating_the_nested_template_updates_the_nested_stack_in_place(service):
    stack_id = create(service, "grow", HEAT_STACK, files={"child.yaml": CHILD})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child_id = resources(service, stack_id)["inner"]["physical_resource_id"]
    service.operations.update_stack(
        "admin",
        stack_id,
        {"template": HEAT_STACK.replace("word: hello", "word: again"), "files": {"child.yaml": CHILD}},
        patch=False,
    )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]
    assert resources(service, stack_id)["inner"]["physical_resource_id"] == child_id
    assert service.stacks.show_stack("admin", child_id, resolve_outputs=False)["stack_status"] == "UPDATE_COMPLETE"
    assert outputs(service, stack_id)["said"] == "said again"


def test_suspend_and_resume_reach_the_nested_stack(service):
    stack_id = create(service, "sleepy", HEAT_STACK, files={"child.yaml": CHILD})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child_id = resources(service, stack_id)["inner"]["physical_resource_id"]
    for action in ("suspend", "resume", "check"):
        service.operations.stack_action("admin", stack_id, action)
        stack = settle(service, stack_id)
        assert stack["stack_status"] == f"{action.upper()}_COMPLETE", stack["stack_status_reason"]
        child = service.stacks.show_stack("admin", child_id, resolve_outputs=False)
        assert child["stack_status"] == f"{action.upper()}_COMPLETE"


def test_a_deleted_nested_stack_is_shown_by_id_but_not_by_name(service):
    stack_id = create(service, "gone", HEAT_STACK, files={"child.yaml": CHILD})
    settle(service, stack_id)
    child_id = resources(service, stack_id)["inner"]["physical_resource_id"]
    name = service.stacks.show_stack("admin", child_id, resolve_outputs=False)["stack_name"]
    service.stacks.delete_stack("admin", stack_id)
    settle(service, stack_id)
    assert service.stacks.find_stack("admin", child_id).id == child_id
    with pytest.raises(NotFound):
        service.stacks.find_stack("admin", name)
