"""Scaling by signals on real stores: OS::Heat::ScalingPolicy resizing an
OS::Heat::AutoScalingGroup with Heat's arithmetic, cooldown and scaling_in_progress, refusals
answered 409 with their reason and left as events, scale-in removing failed members first and then
the oldest, and the AWS twins (AutoScalingGroup, LaunchConfiguration, ScalingPolicy)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import Conflict, InvalidRequest
from engine.resources.scaling_policy import alarm_state, new_capacity, signal_reason
from engine.store.models import Resource
from tests.support import create, settle, wait_for
from tests.unit.engine.test_nested_stacks import outputs, running_service


@pytest.fixture
def service(db_url, tmp_path):
    yield from running_service(db_url, tmp_path)


def group_template(cooldown=0, policy_cooldown=None, adjustment=1, kind="change_in_capacity", step=None, low=1, high=4):
    policy = {
        "auto_scaling_group_id": {"get_resource": "group"},
        "scaling_adjustment": adjustment,
        "adjustment_type": kind,
    }
    if policy_cooldown is not None:
        policy["cooldown"] = policy_cooldown
    if step is not None:
        policy["min_adjustment_step"] = step
    return {
        "heat_template_version": "2016-10-14",
        "resources": {
            "group": {
                "type": "OS::Heat::AutoScalingGroup",
                "properties": {
                    "min_size": low,
                    "max_size": high,
                    "cooldown": cooldown,
                    "resource": {"type": "OS::Heat::RandomString"},
                },
            },
            "policy": {"type": "OS::Heat::ScalingPolicy", "properties": policy},
        },
        "outputs": {
            "size": {"value": {"get_attr": ["group", "current_size"]}},
            "refs": {"value": {"get_attr": ["group", "refs_map"]}},
            "alarm_url": {"value": {"get_attr": ["policy", "alarm_url"]}},
            "signal_url": {"value": {"get_attr": ["policy", "signal_url"]}},
        },
    }


def signal(service, stack_id, body=None, resource="policy"):
    service.operations.signal_resource("admin", stack_id, resource, body)


def metadata(service, stack_id):
    return service.resources.resource_metadata("admin", stack_id, "group")


def settled_size(service, stack_id, size):
    """Wait until the group's resize has ended at `size` members."""

    def done():
        meta = metadata(service, stack_id)
        out = outputs(service, stack_id)
        return out if not meta.get("scaling_in_progress") and out["size"] == size else None

    return wait_for(done, 30, message=f"the group to settle at {size} members")


def events(service, stack_id, resource):
    """(action_status, reason) of the resource's events, in order."""
    listed = service.resources.list_events("admin", stack_id, resource=resource)
    return [(e["resource_status"], e["resource_status_reason"]) for e in listed]


@pytest.mark.parametrize(
    ("current", "adjustment", "kind", "step", "expected"),
    [
        (1, 1, "change_in_capacity", None, 2),
        (3, -1, "change_in_capacity", None, 2),
        (2, 3, "exact_capacity", None, 3),
        (1, 50, "percent_change_in_capacity", None, 2),  # 0.5 rounds away from zero
        (3, 50, "percent_change_in_capacity", None, 4),  # 1.5 rounds towards zero
        (3, -33, "percent_change_in_capacity", None, 2),  # -0.99 rounds away from zero
        (10, -33, "percent_change_in_capacity", None, 7),  # -3.3 rounds towards zero
        (4, 10, "percent_change_in_capacity", 2, 6),  # 0.4 -> 1, raised to the step
        (4, 100, "change_in_capacity", None, 10),  # kept within the maximum
        (4, -100, "change_in_capacity", None, 0),  # and the minimum
        (2, 3, "ExactCapacity", None, 3),
        (3, 50, "PercentChangeInCapacity", None, 4),
    ],
)
def test_new_capacity_is_heats(current, adjustment, kind, step, expected):
    assert new_capacity(current, adjustment, kind, step, 0, 10) == expected


def test_alarm_state_and_reason_read_as_heat_reads_them():
    assert alarm_state(None) == "alarm"
    assert alarm_state({"current": "OK"}) == "ok"
    assert alarm_state({"state": "alarm"}) == "alarm"
    body = {"previous": "ok", "current": "alarm", "reason": "cpu high"}
    assert signal_reason(body) == "alarm state changed from ok to alarm (cpu high)"
    assert signal_reason(None) == "No signal details provided"
    assert signal_reason({"x": 1}) == "Unknown"


def test_signals_grow_the_group_within_its_bounds_and_say_so(service):
    stack_id = create(service, "scale-up", group_template())
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert outputs(service, stack_id)["size"] == 1
    signal(service, stack_id)
    first = settled_size(service, stack_id, 2)
    signal(service, stack_id, {"previous": "ok", "current": "alarm", "reason": "cpu high", "reason_data": {}})
    second = settled_size(service, stack_id, 3)
    # Members keep their names and order; the new one comes last.
    assert list(second["refs"])[:2] == list(first["refs"])
    # An `ok` alarm does nothing, and is not refused.
    signal(service, stack_id, {"current": "ok", "previous": "alarm", "reason": "fine"})
    signal(service, stack_id)
    settled_size(service, stack_id, 4)
    # At the maximum: no change, answered without error, and an event says why.
    signal(service, stack_id)
    assert outputs(service, stack_id)["size"] == 4
    # The parent stack keeps its status: only the nested stack was updated.
    assert service.stacks.show_stack("admin", stack_id, resolve_outputs=False)["stack_status"] == "CREATE_COMPLETE"
    meta = metadata(service, stack_id)
    assert meta["scaling_in_progress"] is False
    assert list(meta["cooldown_end"].values()) == ["change_in_capacity : 1"]
    # Heat's SIGNAL event on the policy, after each resize; Hearth's own decisions beside them.
    policy = events(service, stack_id, "policy")
    assert ("SIGNAL_COMPLETE", "No signal details provided") in policy
    assert ("SIGNAL_COMPLETE", "alarm state changed from ok to alarm (cpu high)") in policy
    assert policy[-1][0] == "SIGNAL_COMPLETE" and policy[-1][1].startswith("No change: the group 'group' stays at 4")
    group = events(service, stack_id, "group")
    launched = [r for s, r in group if r.startswith("Member ") and "launched: scaling out by policy 'policy'" in r]
    assert len(launched) == 3
    assert [s for s, r in group if r.startswith("Scaled from")] == ["SIGNAL_COMPLETE"] * 3
    assert any(
        r.startswith("Scaling out from 1 to 2 members (change_in_capacity : 1) by policy 'policy'") for _, r in group
    )


def test_cooldown_refuses_with_a_reason(service):
    stack_id = create(service, "cooldown", group_template(policy_cooldown=3600))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    signal(service, stack_id)
    settled_size(service, stack_id, 2)
    with pytest.raises(Conflict, match=r"in cooldown until .* \(cooldown 3600 s\)"):
        signal(service, stack_id)
    assert outputs(service, stack_id)["size"] == 2
    refused = events(service, stack_id, "policy")[-1]
    assert refused[0] == "SIGNAL_FAILED" and refused[1].startswith("Scaling refused: the group 'group' is in cooldown")


def test_group_cooldown_starts_when_the_group_is_created(service):
    stack_id = create(service, "group-cooldown", group_template(cooldown=3600))
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    assert list(metadata(service, stack_id)["cooldown_end"].values()) == ["ExactCapacity : 1"]
    with pytest.raises(Conflict, match="cooldown"):
        signal(service, stack_id)


def test_a_non_object_body_is_refused(service):
    stack_id = create(service, "bad-body", group_template())
    settle(service, stack_id)
    with pytest.raises(InvalidRequest, match="JSON object"):
        signal(service, stack_id, ["alarm"])


def test_min_adjustment_step_needs_a_percentage(service):
    with pytest.raises(Exception, match="min_adjustment_step property should only be specified for adjustment_type"):
        create(service, "bad-step", group_template(step=2))


def test_scale_in_removes_the_oldest(service):
    stack_id = create(service, "scale-in", group_template(adjustment=-1, low=0))
    settle(service, stack_id)
    template = group_template(adjustment=-1, low=0)
    template["resources"]["group"]["properties"]["desired_capacity"] = 3
    service.operations.update_stack("admin", stack_id, {"template": template}, patch=False)
    assert settle(service, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    names = list(outputs(service, stack_id)["refs"])
    assert len(names) == 3
    signal(service, stack_id)
    after = settled_size(service, stack_id, 2)
    assert list(after["refs"]) == names[1:]


def test_scale_in_removes_failed_members_first(service):
    template = group_template(adjustment=-1, low=0)
    template["resources"]["group"]["properties"]["desired_capacity"] = 3
    stack_id = create(service, "scale-in-failed", template)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    names = list(outputs(service, stack_id)["refs"])
    child = service.resources.show_resource("admin", stack_id, "group")["physical_resource_id"]
    service.operations.mark_unhealthy("admin", child, names[1], True, "a broken member")
    signal(service, stack_id)
    after = settled_size(service, stack_id, 2)
    assert list(after["refs"]) == [names[0], names[2]]
    terminated = [r for s, r in events(service, stack_id, "group") if "terminated" in r]
    assert terminated == [f"Member '{names[1]}' terminated: scaling in by policy 'policy' (it had failed)"]


AWS_GROUP = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "config": {
            "Type": "AWS::AutoScaling::LaunchConfiguration",
            "Metadata": {"AWS::CloudFormation::Init": {"config": {"files": {"/tmp/x": {"content": "x"}}}}},
            "Properties": {"ImageId": "fedora", "InstanceType": "m1.small", "UserData": "#!/bin/sh\n"},
        },
        "group": {
            "Type": "AWS::AutoScaling::AutoScalingGroup",
            "Properties": {
                "AvailabilityZones": ["nova"],
                "LaunchConfigurationName": {"Ref": "config"},
                "MinSize": "1",
                "MaxSize": "3",
                "Tags": [{"Key": "tier", "Value": "web"}],
            },
        },
        "up": {
            "Type": "AWS::AutoScaling::ScalingPolicy",
            "Properties": {
                "AutoScalingGroupName": {"Ref": "group"},
                "ScalingAdjustment": "2",
                "AdjustmentType": "ChangeInCapacity",
            },
        },
    },
    "Outputs": {"url": {"Value": {"Ref": "up"}}, "alarm": {"Value": {"Fn::GetAtt": ["up", "AlarmUrl"]}}},
}


def test_aws_group_members_come_from_the_launch_configuration(service):
    environment = {"resource_registry": {"AWS::EC2::Instance": "OS::Heat::None"}}
    stack_id = create(service, "aws-group", AWS_GROUP, environment=environment)
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    child = service.resources.show_resource("admin", stack_id, "group")["physical_resource_id"]
    members = service.runtime.stacks.template(child)["resources"]
    assert len(members) == 1
    member = next(iter(members.values()))
    assert member["type"] == "AWS::EC2::Instance"
    assert member["properties"]["ImageId"] == "fedora"
    assert member["metadata"]["AWS::CloudFormation::Init"]["config"]["files"]["/tmp/x"] == {"content": "x"}
    tags = {t["Key"]: t["Value"] for t in member["properties"]["Tags"]}
    assert tags["tier"] == "web" and tags["metering.AutoScalingGroupName"].startswith("aws-group-group-")
    out = outputs(service, stack_id)
    # The policy's Ref is its signed alarm URL, as in Heat.
    assert out["url"] == out["alarm"] and "/guest/v1/policies/" in out["url"] and "signature=" in out["url"]
    signal(service, stack_id, resource="up")

    def grown():
        names = service.runtime.stacks.resource_names(child)
        return names if len(names) == 3 and not metadata_of(service, stack_id)["scaling_in_progress"] else None

    wait_for(grown, 30, message="the AWS group to grow by 2")


def metadata_of(service, stack_id):
    return service.resources.resource_metadata("admin", stack_id, "group")


def test_mark_unhealthy_takes_a_physical_id_and_unmarking_a_group_unsticks_its_scaling(service):
    stack_id = create(service, "unstick", group_template())
    assert settle(service, stack_id)["stack_status"] == "CREATE_COMPLETE"
    group_id = service.resources.show_resource("admin", stack_id, "group")["physical_resource_id"]
    with service.runtime.store.session() as session:
        row = session.scalar(select(Resource).where(Resource.stack_id == stack_id, Resource.name == "group"))
        row.data = {**row.data, "scaling": {**row.data["scaling"], "scaling_in_progress": True}}
    with pytest.raises(Conflict, match="already scaling"):
        signal(service, stack_id)
    service.operations.mark_unhealthy("admin", stack_id, group_id, True, "stuck")
    shown = service.resources.show_resource("admin", stack_id, "group")
    assert (shown["resource_status"], shown["resource_status_reason"]) == ("CHECK_FAILED", "stuck")
    service.operations.mark_unhealthy("admin", stack_id, "group", False, "fixed")
    assert metadata(service, stack_id)["scaling_in_progress"] is False
    assert service.resources.show_resource("admin", stack_id, "group")["resource_status"] == "CHECK_COMPLETE"
    signal(service, stack_id)
    settled_size(service, stack_id, 2)
