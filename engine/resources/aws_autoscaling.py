"""AWS::AutoScaling::LaunchConfiguration and AWS::AutoScaling::AutoScalingGroup: the
CloudFormation twins of OS::Heat::AutoScalingGroup, whose members are AWS::EC2::Instance
resources made from a launch configuration; reads the launch configuration's row through
`runtime.store`, no other I/O.

A launch configuration makes nothing: it keeps its properties and its Metadata (cfn-init's
AWS::CloudFormation::Init lives there) for the groups that name it. Its Ref is its physical
name, as in Heat.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from engine import secrets
from engine.errors import TemplateError
from engine.resources.autoscaling import AutoScalingGroup
from engine.resources.aws_instance import BLOCK_DEVICE_MAPPING
from engine.resources.base import Done, Resource, UpdateReplace
from engine.resources.health import HEALTH_CHECK
from engine.resources.schema import Prop, validate_properties
from engine.store.models import Resource as ResourceRow

LAUNCH_CONFIGURATION = "AWS::AutoScaling::LaunchConfiguration"
MEMBER_TYPE = "AWS::EC2::Instance"
SCALED_RESOURCE = "OS::Heat::ScaledResource"  # the members' type, mapped to MEMBER_TYPE


_DURATION = re.compile(r"P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def iso_duration(text: str) -> float:
    """Seconds of an ISO 8601 duration as Heat's PauseTime takes it (PT1H2M3S); TemplateError
    for anything else."""
    found = _DURATION.fullmatch(text.strip())
    if not found:
        raise TemplateError(f"Only ISO 8601 duration format of the form PT#H#M#S is supported: '{text}'")
    hours, minutes, seconds = (int(v or 0) for v in found.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def _pairs(description: str, **keys: Prop) -> Prop:
    return Prop("list", description, item=Prop("map", fields=keys))


class LaunchConfiguration(Resource):
    """What each member of an AWS::AutoScaling::AutoScalingGroup is made from: the instance's
    properties and the resource's Metadata. Any change replaces it (and so rolls the groups that
    name it onto the new one), as in Heat."""

    type_name = LAUNCH_CONFIGURATION
    inline = True
    properties_schema = {
        "ImageId": Prop("string", "Glance image ID or name.", custom_constraint="glance.image"),
        "InstanceType": Prop("string", "Nova instance type (flavor).", custom_constraint="nova.flavor"),
        "InstanceId": Prop(
            "string",
            "The ID of an existing instance you want to use to create the launch configuration. "
            "All properties are derived from the instance with the exception of BlockDeviceMapping.",
            custom_constraint="nova.server",
        ),
        "KeyName": Prop("string", "Optional Nova keypair name.", custom_constraint="nova.keypair"),
        "UserData": Prop("string", "User data to pass to instance."),
        "SecurityGroups": Prop("list", "Security group names to assign."),
        "KernelId": Prop("string", "Not Implemented.", implemented=False),
        "RamDiskId": Prop("string", "Not Implemented.", implemented=False),
        "BlockDeviceMappings": Prop(
            "list", "Block device mappings to attach to instance.", item=Prop("map", fields=BLOCK_DEVICE_MAPPING)
        ),
        "NovaSchedulerHints": _pairs(
            "Scheduler hints to pass to Nova (Heat extension).",
            Key=Prop("string", required=True),
            Value=Prop("string", required=True),
        ),
    }

    def create(self) -> Done:
        given = {k: v for k, v in self.properties.items() if v is not None and k != "InstanceId"}
        if self.properties.get("InstanceId"):
            raise self.fail("InstanceId needs a compute service to read the instance from: give ImageId instead")
        keyring = self.runtime.keyring
        return Done(
            # Heat's: no physical id (""), and the physical name as its reference.
            physical_id="",
            data={
                "name": self.physical_name(),
                "properties": secrets.seal_value(keyring, given) if self.state.secret_paths else given,
                "metadata": (
                    secrets.seal_value(keyring, self.state.metadata)
                    if self.state.secret_metadata
                    else dict(self.state.metadata or {})
                ),
                "secret": bool(self.state.secret_paths or self.state.secret_metadata),
            },
        )

    def update(self):
        raise UpdateReplace()

    @classmethod
    def reference_id(cls, runtime, physical_id, data):
        return data.get("name") or physical_id


class AWSAutoScalingGroup(AutoScalingGroup):
    """AWS::AutoScaling::AutoScalingGroup: MinSize..MaxSize AWS::EC2::Instance members made from
    `LaunchConfigurationName` (its properties, Metadata and the group's Tags, with Heat's
    `metering.groupname` and `metering.AutoScalingGroupName` tags naming the group), resized by
    AWS::AutoScaling::ScalingPolicy signals with Heat's cooldown. `InstanceList` is the members'
    PublicIp, comma-separated."""

    type_name = "AWS::AutoScaling::AutoScalingGroup"
    support_status = {"version": "2014.1"}
    generated_name = "AutoScalingGroup"
    COOLDOWN = "Cooldown"
    properties_schema = {
        "AvailabilityZones": Prop("list", "Not Implemented.", required=True),
        "LaunchConfigurationName": Prop(
            "string",
            "The reference to a LaunchConfiguration resource.",
            update_allowed=True,
        ),
        "InstanceId": Prop(
            "string",
            "The ID of an existing instance to use to create the Auto Scaling group. If specify "
            "this property, will create the group use an existing instance instead of a launch "
            "configuration.",
            custom_constraint="nova.server",
        ),
        "MaxSize": Prop("integer", "Maximum number of instances in the group.", required=True, update_allowed=True),
        "MinSize": Prop("integer", "Minimum number of instances in the group.", required=True, update_allowed=True),
        "Cooldown": Prop("integer", "Cooldown period, in seconds.", update_allowed=True),
        "DesiredCapacity": Prop("integer", "Desired initial number of instances.", update_allowed=True),
        "HealthCheckGracePeriod": Prop("integer", "Not Implemented.", implemented=False),
        "HealthCheckType": Prop("string", "Not Implemented.", allowed=("EC2", "ELB"), implemented=False),
        "LoadBalancerNames": Prop("list", "List of LoadBalancer resources."),
        "VPCZoneIdentifier": Prop(
            "list",
            "Use only with Neutron, to list the internal subnet to which the instance will be "
            "attached; needed only if multiple exist; list length must be exactly 1.",
            item=Prop("string", "UUID of the internal subnet to which the instance will be attached."),
        ),
        "health_check": HEALTH_CHECK,
        "Tags": _pairs(
            "Tags to attach to this group.", Key=Prop("string", required=True), Value=Prop("string", required=True)
        ),
    }
    attributes_schema = {"InstanceList": "A comma-delimited list of server ip addresses. (Heat extension)."}
    attribute_types = {"InstanceList": "string"}
    attribute_patterns: dict[str, str] = {}
    dynamic_attributes = False
    SHOWN_ATTRIBUTES = ("InstanceList",)

    @classmethod
    def check_properties(cls, values, unresolved=None):
        checked = validate_properties(cls.properties_schema, values, unresolved=unresolved)
        low, high, desired = (checked.get(k) for k in ("MinSize", "MaxSize", "DesiredCapacity"))
        # Heat's words (StackValidationFailed).
        if isinstance(low, int) and isinstance(high, int) and high < low:
            raise TemplateError("MinSize can not be greater than MaxSize")
        if isinstance(low, int) and low < 0:
            raise TemplateError("The size of AutoScalingGroup can not be less than zero")
        if isinstance(desired, int) and isinstance(low, int) and isinstance(high, int) and not low <= desired <= high:
            raise TemplateError("DesiredCapacity must be between MinSize and MaxSize")
        zones = checked.get("VPCZoneIdentifier")
        if isinstance(zones, list) and len(zones) != 1:
            raise TemplateError("Anything other than one VPCZoneIdentifier is not supported.")
        known = not (
            unresolved and (unresolved(values.get("InstanceId")) or unresolved(values.get("LaunchConfigurationName")))
        )
        if known and bool(checked.get("InstanceId")) == bool(checked.get("LaunchConfigurationName")):
            raise TemplateError("Either 'InstanceId' or 'LaunchConfigurationName' must be provided.")
        return checked

    def member_changed(self) -> bool:
        return bool({"LaunchConfigurationName", "Tags", "VPCZoneIdentifier"} & set(self.state.changed))

    def rolling_policy(self) -> dict[str, Any] | None:
        """Heat's AutoScalingRollingUpdate update policy, in the OS group's terms; None without
        one (the members then keep their definition, as in Heat, and new ones get the new one)."""
        policy = (self.state.update_policy or {}).get("AutoScalingRollingUpdate")
        if not isinstance(policy, dict):
            return None
        return {
            "min_in_service": int(policy.get("MinInstancesInService") or 0),
            "max_batch_size": int(policy.get("MaxBatchSize") or 1),
            "pause_time": iso_duration(str(policy.get("PauseTime") or "PT0S")),
        }

    def child_environment(self, parent) -> dict[str, Any]:
        """Heat's: members are OS::Heat::ScaledResource, an AWS::EC2::Instance by the nested
        stack's registry (so that a mapping of AWS::EC2::Instance applies to them too)."""
        environment = super().child_environment(parent)
        registry = dict(environment.get("resource_registry") or {})
        registry[SCALED_RESOURCE] = MEMBER_TYPE
        return {**environment, "resource_registry": registry}

    def sizes(self) -> tuple[int, int, int | None]:
        props = self.properties
        return props["MinSize"], props["MaxSize"], props["DesiredCapacity"]

    def _launch_configuration(self) -> dict[str, Any]:
        name = self.properties.get("LaunchConfigurationName")
        if self.properties.get("InstanceId") or not name:
            raise self.fail("InstanceId needs a compute service to read the instance from: use a LaunchConfiguration")
        with self.runtime.store.session() as session:
            rows = session.scalars(
                select(ResourceRow).where(
                    ResourceRow.stack_id == self.state.stack_id, ResourceRow.type == LAUNCH_CONFIGURATION
                )
            )
            data = next((dict(r.data) for r in rows if (r.data or {}).get("name") == name), None)
        if data is None:
            raise self.fail(
                f"LaunchConfigurationName ({name}) requires a reference to the configuration not just the name of the resource."
            )
        return data

    def member_definition(self) -> dict:
        config = self._launch_configuration()
        keyring = self.runtime.keyring
        properties = dict(secrets.open_value(keyring, config.get("properties")) or {})
        metadata = secrets.open_value(keyring, config.get("metadata")) or {}
        zones = self.properties.get("VPCZoneIdentifier")
        if zones:
            properties["SubnetId"] = zones[0]
        properties["Tags"] = self._tags()
        member: dict[str, Any] = {"type": SCALED_RESOURCE, "properties": properties}
        if metadata:
            member["metadata"] = metadata
        return member

    def member_is_secret(self) -> bool:
        return bool(self._launch_configuration().get("secret")) or self.derived_from_secret()

    def _tags(self) -> list[dict[str, str]]:
        """The group's Tags, with Heat's metering tags naming the group (alarms match on them)."""
        tags = list(self.properties.get("Tags") or [])
        name = self.physical_name()
        if not any(str(t.get("Key", "")).startswith("metering.") for t in tags):
            tags.append({"Key": "metering.groupname", "Value": name})
        return [*tags, {"Key": "metering.AutoScalingGroupName", "Value": name}]

    @classmethod
    def attribute_at(cls, runtime, name, path, physical_id, attributes, data):
        if name is None:
            return dict(attributes)
        if name == "show":
            return dict.fromkeys(cls.SHOWN_ATTRIBUTES)
        if name != "InstanceList" or physical_id is None:
            return None
        members = list(data.get("members") or [])
        ips = [runtime.stacks.resource_attribute(physical_id, m, "PublicIp") for m in members]
        try:
            return ",".join(ips) or None
        except TypeError as error:  # a member with no PublicIp: Heat's join fails the same way
            raise TemplateError(str(error)) from None
