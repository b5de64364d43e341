"""OS::Heat::ScalingPolicy and AWS::AutoScaling::ScalingPolicy, with Heat's scaling arithmetic
(pure); no I/O: a policy keeps what a signal needs in its resource data, and the signal itself
is handled by engine/service/scaling.py.

A policy resizes the group its `auto_scaling_group_id` (`AutoScalingGroupName`) names when it
is signalled with an alarm's state `alarm` (or with no body): by `scaling_adjustment` members,
to exactly that many, or by that percentage of the current size, within the group's bounds.
`alarm_url` is a signed URL that signals it without a credential (valid while the policy
lives); `signal_url` is the orchestration API's resource signal.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any
from urllib.parse import quote

from engine.errors import TemplateError
from engine.guest import credentials, urls
from engine.resources.base import Done, Resource
from engine.resources.schema import Prop, validate_properties

ADJUSTMENT_TYPES = (CHANGE_IN_CAPACITY, EXACT_CAPACITY, PERCENT_CHANGE_IN_CAPACITY) = (
    "change_in_capacity",
    "exact_capacity",
    "percent_change_in_capacity",
)
CFN_ADJUSTMENT_TYPES = (CFN_CHANGE_IN_CAPACITY, CFN_EXACT_CAPACITY, CFN_PERCENT_CHANGE_IN_CAPACITY) = (
    "ChangeInCapacity",
    "ExactCapacity",
    "PercentChangeInCapacity",
)
# A signed alarm_url never expires while its policy lives (Heat's never_expire): its expiry is
# this far away, and deleting the policy revokes it.
ALARM_URL_SECONDS = 10 * 365 * 24 * 3600


def new_capacity(
    current: int,
    adjustment: float,
    adjustment_type: str,
    min_adjustment_step: int | None,
    minimum: int,
    maximum: int,
) -> int:
    """The group's size after an adjustment, as Heat computes it (heat.scaling.scalingutil):
    a percentage under one member rounds away from zero, a larger one towards zero, then
    `min_adjustment_step` raises its size; the result is kept within minimum and maximum."""
    if adjustment_type in (CHANGE_IN_CAPACITY, CFN_CHANGE_IN_CAPACITY):
        capacity = current + adjustment
    elif adjustment_type in (EXACT_CAPACITY, CFN_EXACT_CAPACITY):
        capacity = adjustment
    else:
        delta = current * adjustment / 100.0
        if math.fabs(delta) < 1.0:
            rounded = int(math.ceil(delta) if delta > 0.0 else math.floor(delta))
        else:
            rounded = int(math.floor(delta) if delta > 0.0 else math.ceil(delta))
        if min_adjustment_step and min_adjustment_step > abs(rounded):
            rounded = min_adjustment_step if rounded > 0 else -min_adjustment_step
        capacity = current + rounded
    if capacity > maximum:
        return maximum
    if capacity < minimum:
        return minimum
    return int(capacity)


def alarm_state(details: Any) -> str:
    """The alarm state a signal reports, as Heat reads it: Aodh's `current` (or `state`),
    lower-cased; a signal with no body is an alarm."""
    if isinstance(details, dict):
        return str(details.get("current", details.get("state", "alarm"))).lower()
    return "alarm"


def signal_reason(details: Any) -> str:
    """The reason of the policy's SIGNAL event, as Heat words it."""
    if details is None:
        return "No signal details provided"
    if isinstance(details, str):
        return details
    if isinstance(details, dict) and all(k in details for k in ("previous", "current", "reason")):
        return "alarm state changed from {previous} to {current} ({reason})".format(**details)
    return "Unknown"


def policy_signal_path(policy_id: str) -> str:
    return f"{urls.GUEST_ROOT}/policies/{policy_id}/signal"


class ScalingPolicy(Resource):
    """Resizes an OS::Heat::AutoScalingGroup when signalled (an alarm's webhook, a user's
    resource signal): `scaling_adjustment` of `adjustment_type`, then the group waits
    `cooldown` seconds (the policy's, else the group's) before it scales again. A signal
    refused (cooldown, a scaling or an operation in progress, a group not COMPLETE) is an event
    and a 409 to its caller, not Heat's silent drop."""

    type_name = "OS::Heat::ScalingPolicy"
    support_status = {"version": "2014.1"}
    # (group, adjustment, type, cooldown, step) property names, in this type's spelling.
    KEYS = ("auto_scaling_group_id", "scaling_adjustment", "adjustment_type", "cooldown", "min_adjustment_step")
    PERCENT = PERCENT_CHANGE_IN_CAPACITY
    properties_schema = {
        "auto_scaling_group_id": Prop("string", "AutoScaling group ID to apply policy to.", required=True),
        "scaling_adjustment": Prop("number", "Size of adjustment.", required=True, update_allowed=True),
        "adjustment_type": Prop(
            "string",
            "Type of adjustment (absolute or percentage).",
            required=True,
            allowed=ADJUSTMENT_TYPES,
            update_allowed=True,
        ),
        "cooldown": Prop("number", "Cooldown period, in seconds.", update_allowed=True),
        "min_adjustment_step": Prop(
            "integer",
            "Minimum number of resources that are added or removed when the AutoScaling group "
            "scales up or down. This can be used only when specifying percent_change_in_capacity "
            "for the adjustment_type property.",
            min=0,
            update_allowed=True,
        ),
    }
    attributes_schema = {
        "alarm_url": "A signed url to handle the alarm.",
        "signal_url": "A url to handle the alarm using native API.",
    }
    attribute_types = {"alarm_url": "string", "signal_url": "string"}
    # The signed URL is a credential: get_attr gives it, resource show masks it.
    secret_attributes = frozenset({"alarm_url"})

    @classmethod
    def check_properties(cls, values, unresolved=None):
        checked = validate_properties(cls.properties_schema, values, unresolved=unresolved)
        _, _, kind, _, step = cls.KEYS
        if checked.get(step) is not None and checked.get(kind) != cls.PERCENT and kind in checked:
            # Heat's ResourcePropertyValueDependency, recorded from Heat 27.0.1.
            raise TemplateError(f"{step} property should only be specified for {kind} with value {cls.PERCENT}.")
        return checked

    def _data(self) -> dict[str, Any]:
        group, adjustment, kind, cooldown, step = (self.properties.get(k) for k in self.KEYS)
        return {
            "group": group,
            "adjustment": adjustment,
            "adjustment_type": kind,
            "cooldown": cooldown,
            "min_adjustment_step": step,
        }

    def create(self) -> Done:
        expires = int(self.runtime.now().replace(tzinfo=dt.UTC).timestamp()) + ALARM_URL_SECONDS
        stack = f"{quote(self.state.stack_name, safe='')}/{self.state.stack_id}"
        signal = f"/v1/{quote(self.state.project, safe='')}/stacks/{stack}/resources/{quote(self.state.name, safe='')}/signal"
        return Done(
            physical_id=uuid.uuid4().hex,
            data={**self._data(), "url_expires": expires, "signal_path": signal},
        )

    def update(self) -> Done:
        return Done(data=self._data())

    @classmethod
    def alarm_url(cls, runtime, physical_id: str | None, data: dict[str, Any]) -> str | None:
        if physical_id is None or not data.get("url_expires"):
            return None
        path = policy_signal_path(physical_id)
        return credentials.signed_url(runtime.keyring, runtime.public_url, "POST", path, int(data["url_expires"]))

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        values = {
            "alarm_url": cls.alarm_url(runtime, physical_id, data),
            "signal_url": runtime.api_url + data["signal_path"] if physical_id and data.get("signal_path") else None,
        }
        if name is None:
            return values
        return values.get(name)


class AWSScalingPolicy(ScalingPolicy):
    """AWS::AutoScaling::ScalingPolicy: the same, in CloudFormation's names; its Ref is the
    signed alarm URL (Heat's), and `AlarmUrl` the same URL."""

    type_name = "AWS::AutoScaling::ScalingPolicy"
    KEYS = ("AutoScalingGroupName", "ScalingAdjustment", "AdjustmentType", "Cooldown", "MinAdjustmentStep")
    PERCENT = CFN_PERCENT_CHANGE_IN_CAPACITY
    properties_schema = {
        "AutoScalingGroupName": Prop("string", "AutoScaling group name to apply policy to.", required=True),
        "ScalingAdjustment": Prop("integer", "Size of adjustment.", required=True, update_allowed=True),
        "AdjustmentType": Prop(
            "string",
            "Type of adjustment (absolute or percentage).",
            required=True,
            allowed=CFN_ADJUSTMENT_TYPES,
            update_allowed=True,
        ),
        "Cooldown": Prop("integer", "Cooldown period, in seconds.", update_allowed=True),
        "MinAdjustmentStep": Prop(
            "integer",
            "Minimum number of resources that are added or removed when the AutoScaling group "
            "scales up or down. This can be used only when specifying PercentChangeInCapacity "
            "for the AdjustmentType property.",
            min=0,
            update_allowed=True,
        ),
    }
    attributes_schema = {"AlarmUrl": "A signed url to handle the alarm. (Heat extension)."}
    attribute_types = {"AlarmUrl": "string"}
    secret_attributes = frozenset({"AlarmUrl"})

    @classmethod
    def reference_id(cls, runtime, physical_id, data):
        return cls.alarm_url(runtime, physical_id, data)

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        values = {"AlarmUrl": cls.alarm_url(runtime, physical_id, data)}
        return values if name is None else values.get(name)
