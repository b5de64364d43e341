"""SoftwareDeploymentGroup and StructuredDeploymentGroup on real stores, signalled as a server's agent would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from engine import software_formats
from engine.guest.service import GuestAuth
from engine.store.models import Server
from tests.support import wait_for
from tests.unit.engine.test_nested_stacks import create, outputs, resources, running_service, settle


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


GROUP = """heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\n"
      inputs: [{name: colour}]
      outputs: [{name: shade}]
  left: {type: OS::Heat::DeployedServer}
  right: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::SoftwareDeploymentGroup
    properties:
      config: {get_resource: config}
      servers: {a: {get_resource: left}, b: {get_resource: right}}
      input_values: {colour: blue}
outputs:
  stdouts: {value: {get_attr: [deploy, deploy_stdouts]}}
  stderrs: {value: {get_attr: [deploy, deploy_stderrs]}}
  codes: {value: {get_attr: [deploy, deploy_status_codes]}}
  shades: {value: {get_attr: [deploy, shade]}}
  a_stdout: {value: {get_attr: [deploy, deploy_stdouts, a]}}
"""


def deployment_entry(service, server_id):
    def entry():
        with service.runtime.store.session() as session:
            row = session.get(Server, server_id)
            doc = software_formats.open_document(service.runtime.keyring, row.metadata_doc) if row else {}
        return doc["deployments"][0] if doc.get("deployments") else None

    return wait_for(entry, 30, message="the deployment to reach the server's metadata")


def signal(service, entry, body):
    url = next(i["value"] for i in entry["inputs"] if i["name"] == "deploy_signal_id")
    query = parse_qs(urlparse(url).query)
    auth = GuestAuth(expires=query["expires"][0], signature=query["signature"][0])
    return service.guest.signal_deployment(auth, entry["id"], body)


def test_each_server_gets_a_member_named_by_its_key_and_attributes_are_maps(service):
    stack_id = create(service, "fleet", GROUP)
    servers = wait_for(
        lambda: (lambda r: r if r["left"]["physical_resource_id"] and r["right"]["physical_resource_id"] else None)(
            resources(service, stack_id)
        ),
        30,
        message="the servers",
    )
    entries = {
        key: deployment_entry(service, servers[name]["physical_resource_id"])
        for key, name in (("a", "left"), ("b", "right"))
    }
    child_id = wait_for(lambda: resources(service, stack_id)["deploy"]["physical_resource_id"], 10)
    child_name = service.stacks.show_stack("admin", child_id, resolve_outputs=False)["stack_name"]
    for key, entry in entries.items():
        inputs = {i["name"]: i["value"] for i in entry["inputs"]}
        assert inputs["deploy_resource_name"] == key and inputs["colour"] == "blue"
        assert inputs["deploy_stack_id"] == f"{child_name}/{child_id}"
        signal(
            service,
            entry,
            {"deploy_stdout": f"out-{key}", "deploy_stderr": "", "deploy_status_code": 0, "shade": f"navy-{key}"},
        )
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    assert sorted(resources(service, child_id)) == ["a", "b"]
    values = outputs(service, stack_id)
    assert values["stdouts"] == {"a": "out-a", "b": "out-b"}
    assert values["stderrs"] == {"a": "", "b": ""}
    assert values["codes"] == {"a": 0, "b": 0}
    assert values["shades"] == {"a": "navy-a", "b": "navy-b"}
    assert values["a_stdout"] == "out-a"


def test_a_failed_member_deployment_fails_the_group(service):
    stack_id = create(service, "broken", GROUP)
    left = wait_for(lambda: resources(service, stack_id)["left"]["physical_resource_id"], 30)
    signal(service, deployment_entry(service, left), {"deploy_status_code": 3, "deploy_stderr": "no disk"})
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_FAILED"
    reason = resources(service, stack_id)["deploy"]["resource_status_reason"]
    # Heat's shape: the member's path after the group's, then the member's own message.
    assert reason.startswith("ResourceFailure: resources.deploy.resources.a: Deployment to server failed: ")


STRUCTURED = """heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::StructuredConfig
    properties:
      group: json-file
      config: {settings: {colour: {get_input: colour}, kept: {fetch: colour}}}
  box: {type: OS::Heat::DeployedServer}
  deploy:
    type: OS::Heat::StructuredDeployments
    properties:
      config: {get_resource: config}
      servers: {only: {get_resource: box}}
      input_values: {colour: green}
      input_key: fetch
      signal_transport: NO_SIGNAL
"""


def test_structured_deployment_group_substitutes_its_input_key(service):
    stack_id = create(service, "structured", STRUCTURED)
    stack = settle(service, stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    entry = deployment_entry(service, resources(service, stack_id)["box"]["physical_resource_id"])
    assert entry["config"] == {"settings": {"colour": {"get_input": "colour"}, "kept": "green"}}
    member = resources(service, resources(service, stack_id)["deploy"]["physical_resource_id"])["only"]
    assert member["resource_type"] == "OS::Heat::StructuredDeployment"
