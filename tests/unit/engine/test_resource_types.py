"""Contract: every registered resource type is documented, declares schemas, and creates and deletes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from engine.config import Config
from engine.guest.service import GuestAuth
from engine.resources import types
from engine.resources.schema import Prop
from engine.service import build_service
from tests.support import wait_for

HEAD = "heat_template_version: 2018-08-31\nresources:\n"
TEMPLATES = {
    "OS::Heat::None": "  it: {type: OS::Heat::None, properties: {anything: [1, 2]}}\n",
    "OS::Heat::Value": "  it: {type: OS::Heat::Value, properties: {value: {a: 1}}}\n",
    "OS::Hearth::Facts": "  it: {type: OS::Hearth::Facts}\n",
    "OS::Heat::RandomString": "  it: {type: OS::Heat::RandomString, properties: {length: 8, character_classes: [{class: digits, min: 8}]}}\n",
    "OS::Heat::TestResource": "  it: {type: OS::Heat::TestResource, properties: {value: v}}\n",
    "OS::Heat::Delay": "  it: {type: OS::Heat::Delay, properties: {min_wait: 0}}\n",
    "OS::Heat::SoftwareConfig": "  it: {type: OS::Heat::SoftwareConfig, properties: {group: script, config: echo}}\n",
    "OS::Heat::SoftwareDeployment": (
        "  s: {type: OS::Heat::DeployedServer}\n"
        "  it: {type: OS::Heat::SoftwareDeployment, properties: {server: {get_resource: s}, signal_transport: NO_SIGNAL}}\n"
    ),
    "OS::Heat::WaitConditionHandle": "  it: {type: OS::Heat::WaitConditionHandle}\n",
    "OS::Heat::WaitCondition": (
        "  h: {type: OS::Heat::WaitConditionHandle}\n"
        "  it: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: h}, timeout: 60}}\n"
    ),
    "AWS::CloudFormation::WaitConditionHandle": "  it: {type: AWS::CloudFormation::WaitConditionHandle}\n",
    "AWS::CloudFormation::WaitCondition": (
        "  h: {type: AWS::CloudFormation::WaitConditionHandle}\n"
        "  it: {type: AWS::CloudFormation::WaitCondition, properties: {Handle: {get_resource: h}, Timeout: 60}}\n"
    ),
    "OS::Heat::StructuredConfig": "  it: {type: OS::Heat::StructuredConfig, properties: {config: {a: {get_input: b}}}}\n",
    "OS::Heat::StructuredDeployment": (
        "  s: {type: OS::Heat::DeployedServer}\n"
        "  it: {type: OS::Heat::StructuredDeployment, properties: {server: {get_resource: s}, signal_transport: NO_SIGNAL}}\n"
    ),
    "OS::Heat::SoftwareComponent": "  it: {type: OS::Heat::SoftwareComponent, properties: {configs: [{tool: script, config: echo}]}}\n",
    "OS::Heat::CloudConfig": "  it: {type: OS::Heat::CloudConfig, properties: {cloud_config: {runcmd: [date]}}}\n",
    "OS::Heat::MultipartMime": "  it: {type: OS::Heat::MultipartMime, properties: {parts: [{config: echo}]}}\n",
    "OS::Heat::UpdateWaitConditionHandle": "  it: {type: OS::Heat::UpdateWaitConditionHandle}\n",
    "OS::Heat::Stack": "  it: {type: OS::Heat::Stack, properties: {template: {get_file: inner.yaml}}}\n",
    "AWS::CloudFormation::Stack": "  it: {type: AWS::CloudFormation::Stack, properties: {TemplateURL: inner.yaml}}\n",
    "OS::Heat::ResourceGroup": (
        "  it: {type: OS::Heat::ResourceGroup, properties: {count: 2, resource_def: {type: OS::Heat::None}}}\n"
    ),
    "OS::Heat::AutoScalingGroup": (
        "  it: {type: OS::Heat::AutoScalingGroup, properties: {min_size: 1, max_size: 2, "
        "resource: {type: OS::Heat::None}}}\n"
    ),
    "OS::Heat::ResourceChain": (
        "  it: {type: OS::Heat::ResourceChain, properties: {resources: [OS::Heat::None, OS::Heat::Value], "
        "resource_properties: {value: 1}}}\n"
    ),
    **{
        name: (
            "  s: {type: OS::Heat::DeployedServer}\n"
            f"  it: {{type: {name}, properties: {{servers: {{a: {{get_resource: s}}}}, signal_transport: NO_SIGNAL}}}}\n"
        )
        for name in (
            "OS::Heat::SoftwareDeploymentGroup",
            "OS::Heat::StructuredDeploymentGroup",
            "OS::Heat::SoftwareDeployments",
            "OS::Heat::StructuredDeployments",
        )
    },
    "OS::Nova::Server": "  it: {type: OS::Nova::Server, properties: {image: i, flavor: f}}\n",
    "OS::Heat::DeployedServer": "  it: {type: OS::Heat::DeployedServer}\n",
    "AWS::EC2::Instance": "  it: {type: AWS::EC2::Instance, properties: {ImageId: i, InstanceType: f}}\n",
    "OS::Heat::ScalingPolicy": (
        "  g: {type: OS::Heat::AutoScalingGroup, properties: {min_size: 1, max_size: 2, resource: {type: OS::Heat::None}}}\n"
        "  it: {type: OS::Heat::ScalingPolicy, properties: {auto_scaling_group_id: {get_resource: g}, "
        "scaling_adjustment: 1, adjustment_type: change_in_capacity}}\n"
    ),
    "AWS::AutoScaling::LaunchConfiguration": (
        "  it: {type: AWS::AutoScaling::LaunchConfiguration, properties: {ImageId: i, InstanceType: f}}\n"
    ),
    "AWS::AutoScaling::AutoScalingGroup": (
        "  c: {type: AWS::AutoScaling::LaunchConfiguration, properties: {ImageId: i, InstanceType: f}}\n"
        "  it: {type: AWS::AutoScaling::AutoScalingGroup, properties: {AvailabilityZones: [z], "
        "LaunchConfigurationName: {get_resource: c}, MinSize: 1, MaxSize: 2}}\n"
    ),
    "AWS::AutoScaling::ScalingPolicy": (
        "  c: {type: AWS::AutoScaling::LaunchConfiguration, properties: {ImageId: i, InstanceType: f}}\n"
        "  g: {type: AWS::AutoScaling::AutoScalingGroup, properties: {AvailabilityZones: [z], "
        "LaunchConfigurationName: {get_resource: c}, MinSize: 1, MaxSize: 2}}\n"
        "  it: {type: AWS::AutoScaling::ScalingPolicy, properties: {AutoScalingGroupName: {get_resource: g}, "
        "ScalingAdjustment: 1, AdjustmentType: ChangeInCapacity}}\n"
    ),
    "OS::Aodh::Alarm": "  it: {type: OS::Aodh::Alarm, properties: {meter_name: cpu_util, threshold: 50}}\n",
    "AWS::CloudWatch::Alarm": (
        "  it: {type: AWS::CloudWatch::Alarm, properties: {MetricName: m, Statistic: Average, Period: '60', "
        "EvaluationPeriods: '1', Threshold: '5', ComparisonOperator: GreaterThanThreshold}}\n"
    ),
}


def test_every_type_has_a_contract_case_docstring_and_schemas():
    registry = types()
    assert set(registry) == set(TEMPLATES)
    for name, cls in registry.items():
        assert cls.type_name == name
        assert (cls.__doc__ or "").strip(), f"{name} has no docstring"
        assert all(isinstance(p, Prop) for p in cls.properties_schema.values())
        assert all(isinstance(d, str) and d for d in cls.attributes_schema.values())


def test_docs_resources_md_is_what_the_generator_prints_from_the_registry():
    """docs/resources.md is generated (docs/gen_resources.py): a type changed without it fails here."""
    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location("gen_resources", root / "docs" / "gen_resources.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (root / "docs" / "resources.md").read_text() == generator.render(), (
        "run `python docs/gen_resources.py > docs/resources.md`"
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("types")
    svc = build_service(Config.from_env({}, db_url=f"sqlite:///{tmp}/t.db", data_dir=str(tmp), compute="deployed"))
    svc.start()
    yield svc
    svc.stop()
    svc.runtime.store.dispose()


def _status(service, stack_id):
    return service.stacks.show_stack("admin", stack_id, resolve_outputs=False)["stack_status"]


@pytest.mark.parametrize("type_name", sorted(TEMPLATES))
def test_type_creates_and_deletes(service, type_name):
    template = HEAD + TEMPLATES[type_name]
    if type_name == "OS::Heat::WaitCondition":
        template += "outputs:\n  token: {value: {get_attr: [h, token]}}\n"
    if type_name == "AWS::CloudFormation::WaitCondition":
        template += "outputs:\n  url: {value: {get_resource: h}}\n"
    name = "t-" + type_name.replace("::", "-").lower()
    files = {"inner.yaml": HEAD + "  v: {type: OS::Heat::Value, properties: {value: 1}}\n"}
    stack_id = service.stacks.create_stack("admin", {"stack_name": name, "template": template, "files": files})["id"]
    if type_name == "OS::Heat::WaitCondition":

        def handle():
            resources = {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}
            return resources["h"]["physical_resource_id"]

        handle_id = wait_for(handle, 10, message="the handle")
        token = wait_for(lambda: service.stacks.show_output("admin", stack_id, "token")["output_value"], 10)
        service.guest.signal_handle(GuestAuth(bearer=token), handle_id, {"data": "ok"}, "")
    if type_name == "AWS::CloudFormation::WaitCondition":
        url = urlparse(wait_for(lambda: service.stacks.show_output("admin", stack_id, "url")["output_value"], 10))
        query = parse_qs(url.query)
        auth = GuestAuth(method="PUT", expires=query["expires"][0], signature=query["signature"][0])
        service.guest.signal_handle(auth, url.path.rsplit("/", 1)[1], {"Status": "SUCCESS", "UniqueId": "1"}, url.path)
    wait_for(lambda: _status(service, stack_id) != "CREATE_IN_PROGRESS", 20, message="create")
    stack = service.stacks.show_stack("admin", stack_id)
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    it = {r["resource_name"]: r for r in service.resources.list_resources("admin", stack_id)}["it"]
    assert it["resource_status"] == "CREATE_COMPLETE"
    service.stacks.delete_stack("admin", stack_id)
    wait_for(lambda: _status(service, stack_id) != "DELETE_IN_PROGRESS", 20, message="delete")
    assert _status(service, stack_id) == "DELETE_COMPLETE"
