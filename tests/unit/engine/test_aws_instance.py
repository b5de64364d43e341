"""AWS::EC2::Instance end to end: a real server on 127.0.0.1 and the `local` compute driver (a real
agent process per instance) run a deployment to it; in-place and replacing updates; delete."""

from __future__ import annotations

import email
import json
import os

import pytest

from tests.support import wait_for

pytestmark = pytest.mark.e2e

TEMPLATE = """
heat_template_version: 2013-05-23
parameters:
  flavor: {type: string, default: m1.small}
  image: {type: string, default: fedora}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        printf 'deployed %s' "$deploy_action" > "$heat_outputs_path.result"
  instance:
    type: AWS::EC2::Instance
    metadata:
      AWS::CloudFormation::Init:
        config:
          files: {/tmp/hearth-ec2-marker: {content: hello}}
    properties:
      ImageId: {get_param: image}
      InstanceType: {get_param: flavor}
      UserData: "#!/bin/sh\\necho booted\\n"
      Tags: [{Key: role, Value: web}]
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: instance}
      signal_transport: HEAT_SIGNAL
outputs:
  ref: {value: {get_resource: instance}}
  ip: {value: {get_attr: [instance, PublicIp]}}
  private_ip: {value: {get_attr: [instance, PrivateIp]}}
  dns: {value: {get_attr: [instance, PublicDnsName]}}
  private_dns: {value: {get_attr: [instance, PrivateDnsName]}}
  zone: {value: {get_attr: [instance, AvailabilityZone]}}
  result: {value: {get_attr: [deploy, result]}}
"""


def _patch(hearth, name, parameters):
    stack = hearth.stack(name)
    response = hearth.http.patch(
        f"{hearth.api}/stacks/{name}/{stack['id']}", json={"parameters": parameters}, timeout=30
    )
    assert response.status_code == 202, response.text
    stack = hearth.wait_stack(name, ("UPDATE_COMPLETE",), timeout=90)
    assert stack["stack_status"] == "UPDATE_COMPLETE", stack["stack_status_reason"]


def _agent(hearth, server_id):
    return hearth.service.runtime.compute.agent_status(server_id) or {}


def test_instance_runs_its_agent_resolves_attributes_updates_and_deletes(hearth):
    hearth.create_stack("ec2", TEMPLATE)
    stack = hearth.wait_stack("ec2", ("CREATE_COMPLETE",), timeout=90)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    instance = hearth.resources("ec2")["instance"]
    first = instance["physical_resource_id"]
    outputs = hearth.outputs("ec2")
    assert outputs["ref"] == first  # Ref is the server's id, as in Heat
    assert outputs["result"] == "deployed CREATE"  # the instance's agent ran the deployment
    assert (outputs["ip"], outputs["private_ip"], outputs["zone"]) == ("127.0.0.1", "127.0.0.1", "nova")
    assert outputs["dns"] == outputs["private_dns"] == "127.0.0.1"  # Heat answers the IP for both
    agent = _agent(hearth, first)
    assert agent["state"] == "running"
    pid = agent["pid"]

    # Heat's user data for an instance: ec2-user, the UserData as cfn-userdata, and the
    # resource's Metadata (AWS::CloudFormation::Init) as cfn-init-data for cfn-init.
    home = hearth.service.runtime.compute.root / first
    parts = {
        p.get_filename(): p.get_payload(decode=True).decode()
        for p in email.message_from_bytes((home / "user-data").read_bytes()).get_payload()
    }
    assert "user: ec2-user" in parts["cloud-config"]
    assert parts["cfn-userdata"] == "#!/bin/sh\necho booted\n"
    init = json.loads(parts["cfn-init-data"])
    assert init == {
        "AWS::CloudFormation::Init": {"config": {"files": {"/tmp/hearth-ec2-marker": {"content": "hello"}}}}
    }
    assert parts["cfn-metadata-server"] == hearth.url
    # The metadata is served over the CFN API with the instance's own key pair.
    show = hearth.http.get(f"{hearth.api}/stacks/ec2/{stack['id']}/resources/instance/metadata", timeout=30).json()
    assert show["metadata"]["AWS::CloudFormation::Init"] == init["AWS::CloudFormation::Init"]

    # InstanceType is update_allowed in Heat: changed in place, the same agent keeps running.
    _patch(hearth, "ec2", {"flavor": "m1.large"})
    assert hearth.resources("ec2")["instance"]["physical_resource_id"] == first
    assert _agent(hearth, first)["pid"] == pid

    # ImageId is not: the instance is replaced and the old one's agent stopped.
    _patch(hearth, "ec2", {"image": "ubuntu"})
    second = hearth.resources("ec2")["instance"]["physical_resource_id"]
    assert second != first
    assert hearth.outputs("ec2")["ref"] == second
    assert _agent(hearth, second)["state"] == "running"
    assert not home.exists()
    wait_for(lambda: not _alive(pid), 10, message="the replaced instance's agent to stop")

    new_pid = _agent(hearth, second)["pid"]
    assert hearth.delete("ec2")["stack_status"] == "DELETE_COMPLETE"
    wait_for(lambda: not _alive(new_pid), 10, message="the deleted instance's agent to stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead too
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_instance_schema_is_heats(shared_hearth):
    """`resource_types/AWS::EC2::Instance` shows Heat 27's schema (recorded from
    heat/engine/resources/aws/ec2/instance.py): Not Implemented properties left out."""
    body = shared_hearth.http.get(f"{shared_hearth.api}/resource_types/AWS::EC2::Instance", timeout=30).json()
    props = body["properties"]
    assert sorted(props) == [
        "AvailabilityZone",
        "BlockDeviceMappings",
        "ImageId",
        "InstanceType",
        "KeyName",
        "NetworkInterfaces",
        "NovaSchedulerHints",
        "SecurityGroupIds",
        "SecurityGroups",
        "SubnetId",
        "Tags",
        "UserData",
        "Volumes",
    ]
    assert sorted(k for k, p in props.items() if p["update_allowed"]) == [
        "InstanceType",
        "NetworkInterfaces",
        "SubnetId",
        "Tags",
    ]
    assert sorted(k for k, p in props.items() if p["required"]) == ["ImageId", "InstanceType"]
    assert props["ImageId"]["constraints"] == [{"custom_constraint": "glance.image"}]
    assert props["Volumes"]["default"] == []
    assert props["Tags"]["schema"]["*"]["schema"]["Key"] == {
        "type": "string",
        "required": True,
        "update_allowed": False,
        "immutable": False,
    }
    ebs = props["BlockDeviceMappings"]["schema"]["*"]["schema"]["Ebs"]["schema"]
    assert sorted(ebs) == ["DeleteOnTermination", "Iops", "SnapshotId", "VolumeSize", "VolumeType"]
    assert ebs["DeleteOnTermination"]["default"] is True
    assert {k: v["type"] for k, v in body["attributes"].items()} == {
        "AvailabilityZone": "string",
        "PrivateDnsName": "string",
        "PublicDnsName": "string",
        "PrivateIp": "string",
        "PublicIp": "string",
        "show": "map",
    }
    assert body["support_status"] == {"status": "SUPPORTED", "version": None, "message": None, "previous_status": None}


def test_not_implemented_property_is_refused_as_heat_refuses_it(shared_hearth):
    template = (
        "heat_template_version: 2013-05-23\nresources:\n  i:\n    type: AWS::EC2::Instance\n"
        "    properties: {ImageId: a, InstanceType: b, KernelId: k}\n"
    )
    response = shared_hearth.http.post(f"{shared_hearth.api}/validate", json={"template": template}, timeout=30)
    assert response.status_code == 400, response.text
    assert "Property KernelId not implemented yet" in response.json()["error"]["message"]
