"""Ref, Fn::GetAZs and Fn::ResourceFacade inside HOT 2013-05-23: what they name, what they need, and a real stack."""

from __future__ import annotations

import pytest

from engine.config import Config
from engine.service import build_service
from tests.support import wait_for

BODY = """\
parameters:
  size: {type: string, default: small}
resources:
  server: {type: OS::Heat::None}
  reader: {type: OS::Heat::Value, properties: {value: %s}}
outputs:
  o:
    value: %s
"""


def parse(hot, value, output="x"):
    return hot.parse("2013-05-23", BODY % (value, output))


def resolved(hot, stack, value):
    parsed = parse(hot, "x", value)
    return parsed.resolve(parsed.outputs["o"].value, stack, ("outputs", "o", "value"))


def test_ref_answers_a_resource_before_a_parameter(hot, fake_stack):
    stack = fake_stack(params={"size": "small", "OS::stack_name": "web"}, resources={"server": "server-id"})
    assert (
        resolved(hot, stack, "{'Fn::Join': ['-', [{Ref: size}, {Ref: server}, {Ref: 'OS::stack_name'}]]}")
        == "small-server-id-web"
    )
    assert stack.asked == [("get_param", "size"), ("get_resource", "server"), ("get_param", "OS::stack_name")]


def test_ref_to_a_resource_is_a_dependency_and_to_a_parameter_is_not(hot):
    assert parse(hot, "{Ref: server}").dependencies()["reader"] == {"server"}
    assert parse(hot, "{Ref: size}").dependencies()["reader"] == set()


@pytest.mark.parametrize("name", ["nothing", "AWS::StackName"])
def test_ref_to_what_the_template_lacks_is_left_to_resolve(hot, name):
    # Heat checks an output's Ref when it shows the output, not before.
    hot.parse("2013-05-23", BODY % ("x", f"{{Ref: '{name}'}}"))


def test_get_azs_answers_nova_unless_the_engine_knows_its_zones(hot, fake_stack):
    assert resolved(hot, fake_stack(), "{'Fn::GetAZs': ''}") == ["nova"]

    class Zoned(fake_stack):
        def availability_zones(self):
            return ["az1", "az2"]

    assert resolved(hot, Zoned(), "{'Fn::GetAZs': ''}") == ["az1", "az2"]


def test_resource_facade_in_either_spelling_asks_the_engine_in_hot_words(hot, fake_stack):
    nested = fake_stack(facade={"metadata": {"role": "db"}, "deletion_policy": "Retain"})
    assert resolved(hot, nested, "{'Fn::ResourceFacade': Metadata}") == {"role": "db"}
    assert resolved(hot, nested, "{resource_facade: deletion_policy}") == "Retain"
    assert nested.asked == [("resource_facade", "metadata"), ("resource_facade", "deletion_policy")]


@pytest.fixture
def service(db_url, tmp_path):
    svc = build_service(Config.from_env({}, db_url=db_url, data_dir=str(tmp_path / "data"), compute="deployed"))
    svc.start()
    yield svc
    svc.stop()
    svc.runtime.store.dispose()


STACK = """heat_template_version: 2013-05-23
parameters:
  site: {type: string, default: shop}
resources:
  first: {type: OS::Heat::RandomString, properties: {length: 6}}
  second:
    type: OS::Heat::Value
    properties:
      value: {'Fn::Join': [' ', [{Ref: site}, {Ref: first}, {'Fn::Select': [0, {'Fn::GetAZs': ''}]}]]}
outputs:
  joined: {value: {get_attr: [second, value]}}
  first: {value: {get_attr: [first, value]}}
"""


def test_a_2013_stack_runs_its_cloudformation_functions_after_what_they_name(service):
    stack_id = service.stacks.create_stack(
        "admin", {"stack_name": "old", "template": STACK, "template_name": "old.yaml"}
    )["id"]

    def settled():
        stack = service.stacks.show_stack("admin", stack_id)
        return stack if not stack["stack_status"].endswith("IN_PROGRESS") else None

    stack = wait_for(settled, 30, message="the stack to settle")
    assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
    outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
    assert outputs["joined"] == f"shop {outputs['first']} nova"
    events = [
        e["resource_name"]
        for e in service.resources.list_events("admin", stack_id)
        if e["resource_status"] == "CREATE_COMPLETE"
    ]
    assert events.index("first") < events.index("second")
