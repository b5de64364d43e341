"""Stack update, suspend, resume and check reaching SoftwareDeployment and UpdateWaitConditionHandle
on real stacks (deployed servers, SQLite and PostgreSQL), completed as an agent would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import delete

from engine.errors import Forbidden
from engine.guest.service import GuestAuth
from engine.store.models import Deployment
from tests.support import settle, wait_for
from tests.unit.engine.agentless import entries, entry_for, resource, signal, status, values


def output(service, stack_id, key):
    return service.stacks.show_output("admin", stack_id, key)["output_value"]


def update(service, stack_id, **parameters):
    service.operations.update_stack("admin", stack_id, {"parameters": parameters}, patch=True)


TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  colour: {type: string, default: blue}
  mode: {type: string, default: fast}
  actions: {type: comma_delimited_list, default: "CREATE,UPDATE"}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\n"
      inputs: [{name: colour}, {name: mode, replace_on_change: true}]
      outputs: [{name: shade}]
  server: {type: OS::Heat::DeployedServer}
  other: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      actions: {get_param: actions}
      input_values: {colour: {get_param: colour}, mode: {get_param: mode}}
outputs:
  shade: {value: {get_attr: [deploy, shade]}}
"""


def created(service, name, **parameters):
    stack_id = service.stacks.create_stack(
        "admin", {"stack_name": name, "template": TEMPLATE, "parameters": parameters}
    )["id"]
    first = entry_for(service, stack_id, "CREATE")
    signal(service, first, {"shade": "created"})
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    return stack_id, first


def test_changed_input_values_re_run_the_config_as_update(service):
    stack_id, first = created(service, "rerun")
    deployment_id = resource(service, stack_id, "deploy")["physical_resource_id"]
    update(service, stack_id, colour="red")
    second = entry_for(service, stack_id, "UPDATE")
    assert values(second)["colour"] == "red" and second["id"] != first["id"]
    assert [e["id"] for e in entries(service, stack_id)] == [second["id"]]  # the old run left the server
    assert status(service, stack_id) == "UPDATE_IN_PROGRESS"
    assert resource(service, stack_id, "deploy")["resource_status"] == "UPDATE_IN_PROGRESS"
    signal(service, second, {"shade": "updated"})
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert resource(service, stack_id, "deploy")["physical_resource_id"] == deployment_id
    assert output(service, stack_id, "shade") == "updated"


def test_an_update_that_changes_nothing_runs_nothing(service):
    stack_id, first = created(service, "steady")
    update(service, stack_id, colour="blue")
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert [e["id"] for e in entries(service, stack_id)] == [first["id"]]


def test_update_not_listed_completes_at_once_with_the_new_values_kept(service):
    stack_id, first = created(service, "quiet", actions="CREATE")
    update(service, stack_id, colour="green")
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert [e["id"] for e in entries(service, stack_id)] == [first["id"]]
    assert output(service, stack_id, "shade") == "created"


def test_a_replace_on_change_input_replaces_the_deployment(service):
    stack_id, first = created(service, "replaced")
    old_id = resource(service, stack_id, "deploy")["physical_resource_id"]
    update(service, stack_id, mode="slow")
    second = entry_for(service, stack_id, "CREATE", exclude={first["id"]})
    assert values(second)["mode"] == "slow"
    signal(service, second, {"shade": "new"})
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert resource(service, stack_id, "deploy")["physical_resource_id"] != old_id
    with service.runtime.store.session() as session:
        assert session.get(Deployment, old_id) is None
    assert [e["id"] for e in entries(service, stack_id)] == [second["id"]]


def test_a_new_server_replaces_the_deployment(service):
    template = TEMPLATE.replace(
        "server: {get_resource: server}\n      actions", "server: {get_resource: other}\n      actions"
    )
    stack_id, _first = created(service, "moved")
    old_id = resource(service, stack_id, "deploy")["physical_resource_id"]
    service.operations.update_stack("admin", stack_id, {"template": template}, patch=True)
    moved = entry_for(service, stack_id, "CREATE", server="other")
    signal(service, moved, {"shade": "elsewhere"})
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert resource(service, stack_id, "deploy")["physical_resource_id"] != old_id
    assert entries(service, stack_id, "server") == []
    assert output(service, stack_id, "shade") == "elsewhere"


def test_suspend_and_resume_run_the_config_when_listed(service):
    stack_id, _ = created(service, "napping", actions="CREATE,SUSPEND,RESUME")
    service.operations.stack_action("admin", stack_id, "suspend")
    suspending = entry_for(service, stack_id, "SUSPEND")
    assert status(service, stack_id) == "SUSPEND_IN_PROGRESS"
    signal(service, suspending, {"shade": "asleep"})
    assert settle(service, stack_id)["stack_status"] == "SUSPEND_COMPLETE"
    assert output(service, stack_id, "shade") == "asleep"
    service.operations.stack_action("admin", stack_id, "resume")
    resuming = entry_for(service, stack_id, "RESUME")
    assert status(service, stack_id) == "RESUME_IN_PROGRESS"
    signal(service, resuming, {"shade": "awake"})
    assert settle(service, stack_id)["stack_status"] == "RESUME_COMPLETE"
    assert output(service, stack_id, "shade") == "awake"


def test_suspend_not_listed_completes_at_once_and_a_failed_suspend_run_fails_it(service):
    stack_id, first = created(service, "unlisted")
    service.operations.stack_action("admin", stack_id, "suspend")
    assert settle(service, stack_id)["stack_status"] == "SUSPEND_COMPLETE"
    assert [e["id"] for e in entries(service, stack_id)] == [first["id"]]
    failing, _ = created(service, "failing", actions="CREATE,SUSPEND")
    service.operations.stack_action("admin", failing, "suspend")
    signal(service, entry_for(service, failing, "SUSPEND"), {"deploy_status_code": 2})
    stack = settle(service, failing)
    assert stack["stack_status"] == "SUSPEND_FAILED"
    assert "Deployment to server failed" in stack["stack_status_reason"]


def test_check_passes_for_a_healthy_deployment_and_fails_when_its_record_is_gone(service):
    stack_id, _ = created(service, "checked")
    service.operations.stack_action("admin", stack_id, "check")
    assert settle(service, stack_id)["stack_status"] == "CHECK_COMPLETE"
    with service.runtime.store.session() as session:
        session.execute(delete(Deployment))
    service.operations.stack_action("admin", stack_id, "check")
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CHECK_FAILED"
    assert "the deployment record is gone" in stack["stack_status_reason"]


HANDLE = """heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: 1}
resources:
  handle: {type: OS::Heat::UpdateWaitConditionHandle}
  wait:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: handle}, timeout: 60, count: {get_param: count}}
  cfn_wait:
    type: AWS::CloudFormation::WaitCondition
    properties: {Handle: {get_resource: handle}, Timeout: 60}
outputs:
  url: {value: {get_resource: handle}}
  data: {value: {get_attr: [wait, data]}}
"""


def cfn_signal(service, url, unique):
    """What cfn-signal does with the handle's URL: PUT of the CloudFormation JSON."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    auth = GuestAuth(method="PUT", expires=query["expires"][0], signature=query["signature"][0])
    return service.guest.signal_handle(
        auth, parsed.path.rsplit("/", 1)[1], {"Status": "SUCCESS", "UniqueId": unique, "Data": unique}, parsed.path
    )


def test_every_update_gives_the_update_handle_a_new_url_and_the_conditions_wait_again(service):
    stack_id = service.stacks.create_stack("admin", {"stack_name": "rolling", "template": HANDLE})["id"]
    first = wait_for(lambda: output(service, stack_id, "url"), 30, message="the handle URL")
    cfn_signal(service, first, "a")
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    service.operations.update_stack("admin", stack_id, {}, patch=True)  # nothing changed at all
    second = wait_for(
        lambda: (lambda u: u if u and u != first else None)(output(service, stack_id, "url")),
        30,
        message="a new handle URL",
    )
    assert status(service, stack_id) == "UPDATE_IN_PROGRESS"
    with pytest.raises(Forbidden):  # the old handle is gone, and its signed URL with it
        cfn_signal(service, first, "late")
    cfn_signal(service, second, "b")
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert output(service, stack_id, "data") == '{"b": "b"}'


def test_a_changed_count_waits_again_on_the_new_handle(service):
    stack_id = service.stacks.create_stack("admin", {"stack_name": "more", "template": HANDLE})["id"]
    first = wait_for(lambda: output(service, stack_id, "url"), 30, message="the URL")
    cfn_signal(service, first, "a")
    settle(service, stack_id)
    update(service, stack_id, count=2)
    second = wait_for(
        lambda: (lambda u: u if u and u != first else None)(output(service, stack_id, "url")),
        30,
        message="a new handle URL",
    )
    cfn_signal(service, second, "x")
    # A condition on a new handle is replaced (Heat's CREATE_* of the replacement) or updated.
    wait_for(
        lambda: (
            len(
                [
                    e
                    for e in service.resources.list_events("admin", stack_id)
                    if e["resource_name"] == "cfn_wait" and e["resource_status"].endswith("_COMPLETE")
                ]
            )
            >= 2
        ),
        30,
        message="the one-signal condition",
    )
    assert status(service, stack_id) == "UPDATE_IN_PROGRESS"  # count 2 is still one short
    assert resource(service, stack_id, "wait")["resource_status"].endswith("_IN_PROGRESS")
    cfn_signal(service, second, "y")
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert output(service, stack_id, "data") == '{"x": "x", "y": "y"}'
