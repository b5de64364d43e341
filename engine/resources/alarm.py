"""OS::Aodh::Alarm and AWS::CloudWatch::Alarm: threshold alarms Hearth evaluates itself; their
handlers own the alarm's row in `alarms` (rule, actions sealed, enabled) and touch nothing
else; its state is the evaluator's (engine/alarms/evaluator.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import secrets
from engine.alarms.matching import metering_key
from engine.alarms.rule import STATISTICS, UNKNOWN
from engine.alarms.schedule import Cron, CronError
from engine.errors import TemplateError
from engine.resources.base import Done, Resource
from engine.resources.schema import Prop
from engine.runtime import iso
from engine.store.models import Alarm as AlarmRow

OPERATORS = ("le", "ge", "eq", "lt", "gt", "ne")
QUERY_TYPES = ("integer", "float", "string", "boolean", "datetime")
ACTION_PROPERTIES = ("alarm_actions", "ok_actions", "insufficient_data_actions")

# Heat's alarm_base.common_properties_schema.
COMMON = {
    "description": Prop("string", "Description for the alarm.", update_allowed=True),
    "enabled": Prop("boolean", "True if alarm evaluation/actioning is enabled.", default=True, update_allowed=True),
    "alarm_actions": Prop(
        "list", "A list of URLs (webhooks) to invoke when state transitions to alarm.", update_allowed=True
    ),
    "ok_actions": Prop(
        "list", "A list of URLs (webhooks) to invoke when state transitions to ok.", update_allowed=True
    ),
    "insufficient_data_actions": Prop(
        "list", "A list of URLs (webhooks) to invoke when state transitions to insufficient-data.", update_allowed=True
    ),
    "alarm_queues": Prop(
        "list",
        "A list of Zaqar queues to post to when state transitions to alarm (recorded, not posted: Hearth's queues take event sinks' events, not alarm actions).",
        default=[],
        item=Prop("string"),
        update_allowed=True,
    ),
    "ok_queues": Prop(
        "list",
        "A list of Zaqar queues to post to when state transitions to ok (recorded, not posted: Hearth's queues take event sinks' events, not alarm actions).",
        default=[],
        item=Prop("string"),
        update_allowed=True,
    ),
    "insufficient_data_queues": Prop(
        "list",
        "A list of Zaqar queues to post to when state transitions to insufficient-data (recorded, not posted: Hearth's queues take event sinks' events, not alarm actions).",
        default=[],
        item=Prop("string"),
        update_allowed=True,
    ),
    "repeat_actions": Prop(
        "boolean",
        "False to trigger actions when the threshold is reached AND the alarm's state has changed. "
        "By default, actions are called each time the threshold is reached.",
        default=True,
        update_allowed=True,
    ),
    "severity": Prop(
        "string", "Severity of the alarm.", default="low", allowed=("low", "moderate", "critical"), update_allowed=True
    ),
    "time_constraints": Prop(
        "list",
        "Describe time constraints for the alarm. Only evaluate the alarm if the time at evaluation "
        "is within this time constraint. Start point(s) of the constraint are specified with a cron expression, whereas its duration is given in seconds.",
        default=[],
        item=Prop(
            "map",
            fields={
                "name": Prop("string", "Name for the time constraint.", required=True),
                "start": Prop(
                    "string", "Start time for the time constraint. A CRON expression property.", required=True
                ),
                "description": Prop("string", "Description for the time constraint."),
                "duration": Prop("integer", "Duration for the time constraint.", required=True, min=0),
                "timezone": Prop("string", "Timezone for the time constraint (eg. 'Asia/Taipei', 'Europe/Amsterdam')."),
            },
        ),
    ),
}


def check_time_constraints(checked: dict[str, Any], unresolved=None) -> None:
    """Heat's cron_expression and timezone constraints on each time constraint."""
    for index, constraint in enumerate(checked.get("time_constraints") or []):
        if not isinstance(constraint, dict):
            continue
        start, zone = constraint.get("start"), constraint.get("timezone")
        if isinstance(start, str) and (unresolved is None or not unresolved(start)):
            try:
                Cron.parse(start)
            except CronError as error:
                raise TemplateError(
                    f"Invalid CRON expression: {error}", path=("time_constraints", index, "start")
                ) from None
        if isinstance(zone, str) and zone and (unresolved is None or not unresolved(zone)):
            try:
                ZoneInfo(zone)
            except (ValueError, ZoneInfoNotFoundError):
                raise TemplateError(
                    f"Invalid timezone: '{zone}'", path=("time_constraints", index, "timezone")
                ) from None


class AlarmBase(Resource):
    """What both alarm types share: the row, its verbs and the `show` attribute."""

    attributes_schema = {"show": "Detailed information about resource."}
    attribute_types = {"show": "map"}
    # `show` lists the action URLs, which may be pre-signed (a scaling policy's alarm_url).
    secret_attributes = frozenset({"show"})

    def spec(self, alarm_id: str) -> dict[str, Any]:
        """The row's columns from the properties: rule, actions (plain), repeat_actions,
        enabled, severity, description."""
        raise NotImplementedError

    def _columns(self, alarm_id: str) -> dict[str, Any]:
        spec = self.spec(alarm_id)
        spec["actions"] = secrets.seal_value(self.runtime.keyring, spec["actions"])
        return spec

    def create(self) -> Done:
        alarm_id, now = str(uuid.uuid4()), self.runtime.now()
        with self.runtime.store.session() as session:
            session.add(
                AlarmRow(
                    id=alarm_id,
                    stack_id=self.state.stack_id,
                    resource_name=self.state.name,
                    resource_type=self.type_name,
                    project=self.state.project,
                    name=self.physical_name(),
                    state=UNKNOWN,
                    state_reason="",
                    created_at=now,
                    **self._columns(alarm_id),
                )
            )
        return Done(physical_id=alarm_id, data=self.reference_data(alarm_id))

    def reference_data(self, alarm_id: str) -> dict[str, Any]:
        return {}

    def update(self) -> Done:
        with self.runtime.store.session() as session:
            row = session.get(AlarmRow, self.state.physical_id)
            if row is None:
                raise self.fail(f"The alarm {self.state.physical_id} could not be found.")
            for key, value in self._columns(row.id).items():
                setattr(row, key, value)
            row.updated_at = self.runtime.now()
        return Done(physical_id=self.state.physical_id, data=self.reference_data(self.state.physical_id))

    def _enable(self, enabled: bool) -> None:
        if not self.state.physical_id:
            return
        with self.runtime.store.session() as session:
            row = session.get(AlarmRow, self.state.physical_id)
            if row is not None:
                row.enabled, row.updated_at = enabled, self.runtime.now()

    def suspend(self) -> Done:
        self._enable(False)  # Heat: {'enabled': False}
        return Done(physical_id=self.state.physical_id)

    def resume(self) -> Done:
        self._enable(True)
        return Done(physical_id=self.state.physical_id)

    def delete(self) -> Done:
        if self.state.physical_id:
            with self.runtime.store.session() as session:
                row = session.get(AlarmRow, self.state.physical_id)
                if row is not None:
                    session.delete(row)
        return Done()

    def check(self) -> None:
        with self.runtime.store.session() as session:
            if session.get(AlarmRow, self.state.physical_id) is None:
                raise self.fail(f"The alarm {self.state.physical_id} could not be found.")

    @classmethod
    def attribute(cls, runtime, name, physical_id, attributes, data):
        if name not in (None, "show"):
            return None
        with runtime.store.session() as session:
            row = session.get(AlarmRow, physical_id) if physical_id else None
            shown = show(runtime, row) if row is not None else None
        return {"show": shown} if name is None else shown


def show(runtime, row: AlarmRow) -> dict[str, Any]:
    """The alarm as Aodh shows one (GET /v2/alarms/<id>)."""
    actions = secrets.open_value(runtime.keyring, row.actions) or {}
    rule = {k: row.rule.get(k) for k in ("meter_name", "statistic", "period", "evaluation_periods", "threshold")}
    rule["comparison_operator"] = row.rule.get("comparison_operator")
    rule["query"] = row.rule.get("query") or []
    changed: dt.datetime | None = row.state_changed_at or row.created_at
    return {
        "alarm_id": row.id,
        "name": row.name,
        "type": "threshold",
        "description": row.description,
        "enabled": row.enabled,
        "state": row.state,
        "state_reason": row.state_reason,
        "severity": row.severity,
        "repeat_actions": row.repeat_actions,
        "project_id": row.project,
        "threshold_rule": rule,
        "time_constraints": row.rule.get("time_constraints") or [],
        "state_timestamp": iso(changed),
        "timestamp": iso(row.updated_at or row.created_at),
        **{key: list(actions.get(key) or []) for key in ACTION_PROPERTIES},
    }


def _actions(properties: dict[str, Any]) -> dict[str, list[str]]:
    """Each state's action URLs; Zaqar queues as Heat names them (`trust+zaqar://?queue_name=Q`),
    which the evaluator skips with a warning."""
    result = {}
    for key in ACTION_PROPERTIES:
        urls = [str(u) for u in properties.get(key) or [] if u]
        queues = properties.get(key.replace("_actions", "_queues")) or []
        result[key] = urls + [f"trust+zaqar://?queue_name={q}" for q in queues]
    return result


class AodhAlarm(AlarmBase):
    """A threshold alarm on samples Hearth stores (`metric_samples`), evaluated by Hearth itself as
    Aodh's threshold evaluator does: every `alarm_evaluation_interval` seconds the statistic of
    each `period` over the last `evaluation_periods` periods (plus one period of look-back) is
    compared with `threshold`; every period breaching is `alarm`, none is `ok`, too few periods
    with samples is `insufficient data`, a mix keeps the state. Each state's actions are URLs
    POSTed Aodh's webhook body (`alarm_id`, `alarm_name`, `severity`, `previous`, `current`,
    `reason`, `reason_data`), such as a scaling policy's `alarm_url`.

    Samples match when their meter is `meter_name` in the stack's project and every factor of
    `query` and `matching_metadata` holds: `metadata.user_metadata.KEY` (or
    `metadata.metering.KEY`) is the `metering.KEY` pair of the Nova `metadata` of the server
    that reported the sample (a group's members), `resource_id` the server's id, any other field
    a dimension of the sample. With `time_constraints` the alarm is evaluated only within one
    of them (Aodh's rule); the Zaqar queues are recorded, not acted on. get_resource gives the
    alarm's id."""

    type_name = "OS::Aodh::Alarm"
    support_status = {
        "status": "DEPRECATED",
        "version": "10.0.0",
        "message": "Theshold alarm relies on ceilometer-api and has been deprecated in aodh since Ocata. "
        "Use OS::Aodh::GnocchiAggregationByResourcesAlarm instead.",
        "previous_status": {"version": "2014.1"},
    }
    properties_schema = {
        "comparison_operator": Prop(
            "string",
            "Operator used to compare specified statistic with threshold.",
            allowed=OPERATORS,
            update_allowed=True,
        ),
        "evaluation_periods": Prop("integer", "Number of periods to evaluate over.", update_allowed=True),
        "meter_name": Prop("string", "Meter name watched by the alarm.", required=True),
        "period": Prop("integer", "Period (seconds) to evaluate over.", update_allowed=True),
        "statistic": Prop("string", "Meter statistic to evaluate.", allowed=STATISTICS, update_allowed=True),
        "threshold": Prop("number", "Threshold to evaluate against.", required=True, update_allowed=True),
        "matching_metadata": Prop(
            "map",
            "Meter should match this resource metadata (key=value) additionally to the meter_name.",
            default={},
            update_allowed=True,
        ),
        "query": Prop(
            "list",
            "A list of query factors, each comparing a Sample attribute with a value. "
            "Implicitly combined with matching_metadata, if any.",
            update_allowed=True,
            item=Prop(
                "map",
                fields={
                    "field": Prop(
                        "string",
                        "Name of attribute to compare. Names of the form metadata.user_metadata.X or "
                        "metadata.metering.X are equivalent to what you can address through matching_metadata; "
                        "the former for Nova meters, the latter for all others.",
                    ),
                    "type": Prop("string", "The type of the attribute.", default="string", allowed=QUERY_TYPES),
                    "op": Prop("string", "Comparison operator.", allowed=OPERATORS),
                    "value": Prop("string", "String value with which to compare."),
                },
            ),
        ),
        **COMMON,
    }

    @classmethod
    def check_properties(cls, values, unresolved=None):
        checked = super().check_properties(values, unresolved=unresolved)
        check_time_constraints(checked, unresolved)
        return checked

    def spec(self, alarm_id: str) -> dict[str, Any]:
        props = self.properties
        query = [dict(q) for q in props.get("query") or []]
        for key, value in (props.get("matching_metadata") or {}).items():
            # As Heat's get_alarm_props: metadata.*, metering.* and user_metadata.* keys address
            # the server's metering metadata; a plain key is the sample's dimension of that name.
            key = str(key)
            metering = metering_key(key)
            if metering is None and key.startswith("metadata."):
                metering = key[len("metadata.") :]
            field = key if metering is None else f"metadata.user_metadata.{metering}"
            query.append({"field": field, "op": "eq", "value": str(value), "type": "string"})
        rule = {
            "meter_name": props["meter_name"],
            "statistic": props.get("statistic") or "avg",  # Aodh's defaults
            "period": props.get("period") or 60,
            "evaluation_periods": props.get("evaluation_periods") or 1,
            "threshold": props["threshold"],
            "comparison_operator": props.get("comparison_operator") or "eq",
            "query": query,
            "time_constraints": props.get("time_constraints") or [],
        }
        return {
            "rule": rule,
            "actions": _actions(props),
            "repeat_actions": bool(props.get("repeat_actions")),
            "enabled": bool(props.get("enabled")),
            "severity": props.get("severity") or "low",
            "description": props.get("description") or "",
        }


CW_STATISTICS = {"SampleCount": "count", "Average": "avg", "Sum": "sum", "Minimum": "min", "Maximum": "max"}
CW_OPERATORS = {
    "GreaterThanOrEqualToThreshold": "ge",
    "GreaterThanThreshold": "gt",
    "LessThanThreshold": "lt",
    "LessThanOrEqualToThreshold": "le",
}
CW_UNITS = (
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
)  # fmt: skip


class CloudWatchAlarm(AlarmBase):
    """The threshold alarm of OS::Aodh::Alarm (Heat makes this type a template resource over
    OS::Aodh::Alarm; Hearth a type of its own) with CloudFormation's names: MetricName, Statistic, Period,
    EvaluationPeriods, Threshold, ComparisonOperator, and AlarmActions, OKActions and
    InsufficientDataActions (URLs, such as an AWS::AutoScaling::ScalingPolicy's AlarmUrl).

    Samples match when their meter is MetricName in the stack's project (and their namespace is
    Namespace, when given) and either their `AlarmName` dimension names this alarm (its Ref,
    what `cfn-push-stats --watch` is given, or its physical name) or they have no AlarmName
    dimension and carry every `Dimensions` pair ({Name, Value} maps, or `Name=Value` text).
    Units is recorded, not matched (as in Heat). Ref gives the ARN of the nested stack Heat
    would make: `arn:openstack:heat::PROJECT:stacks/PHYSICAL_NAME/ID`."""

    type_name = "AWS::CloudWatch::Alarm"
    support_status = {"version": "2014.1"}
    properties_schema = {
        "AlarmDescription": Prop("string", "AlarmDescription", default="An alarm", update_allowed=True),
        "EvaluationPeriods": Prop("string", "EvaluationPeriods", required=True, update_allowed=True),
        "MetricName": Prop("string", "MetricName", required=True, update_allowed=True),
        "Namespace": Prop("string", "Namespace (matched when given)", update_allowed=True),
        "Period": Prop("string", "Period", required=True, update_allowed=True),
        "ComparisonOperator": Prop(
            "string", "ComparisonOperator", required=True, allowed=tuple(CW_OPERATORS), update_allowed=True
        ),
        "Statistic": Prop("string", "Statistic", required=True, allowed=tuple(CW_STATISTICS), update_allowed=True),
        "Threshold": Prop("string", "Threshold", required=True, update_allowed=True),
        "Units": Prop("string", "Units", default="None", allowed=CW_UNITS, update_allowed=True),
        "AlarmActions": Prop("list", "AlarmActions", default=[], allow_conversion=True, update_allowed=True),
        "OKActions": Prop("list", "OKActions", default=[], allow_conversion=True, update_allowed=True),
        "InsufficientDataActions": Prop(
            "list", "InsufficientDataActions", default=[], allow_conversion=True, update_allowed=True
        ),
        "Dimensions": Prop("list", "Dimensions", default=[], allow_conversion=True, update_allowed=True),
    }

    @classmethod
    def check_properties(cls, values, unresolved=None):
        checked = super().check_properties(values, unresolved=unresolved)
        for key, integer in (("EvaluationPeriods", True), ("Period", True), ("Threshold", False)):
            value = checked.get(key)
            if value is None or (unresolved is not None and unresolved(value)):
                continue
            try:
                number = int(value) if integer else float(value)
            except ValueError:
                kind = "an integer" if integer else "a number"
                raise TemplateError(f"Value '{value}' is not {kind}", path=(key,)) from None
            if integer and number < 1:
                raise TemplateError(f"{number} is out of range (min: 1, max: None)", path=(key,))
        dimensions = checked.get("Dimensions")
        if isinstance(dimensions, list) and (unresolved is None or not unresolved(dimensions)):
            _dimensions(dimensions)
        return checked

    def reference_data(self, alarm_id: str) -> dict[str, Any]:
        return {"reference": f"arn:openstack:heat::{self.state.project}:stacks/{self.physical_name()}/{alarm_id}"}

    @classmethod
    def reference_id(cls, runtime, physical_id, data):
        return data.get("reference") or physical_id

    def spec(self, alarm_id: str) -> dict[str, Any]:
        props = self.properties
        names = [self.reference_data(alarm_id)["reference"], self.physical_name(), alarm_id]
        rule = {
            "meter_name": props["MetricName"],
            "namespace": props.get("Namespace") or "",
            "statistic": CW_STATISTICS[props["Statistic"]],
            "period": int(props["Period"]),
            "evaluation_periods": int(props["EvaluationPeriods"]),
            "threshold": float(props["Threshold"]),
            "comparison_operator": CW_OPERATORS[props["ComparisonOperator"]],
            "alarm_names": names,
            "dimensions": _dimensions(props.get("Dimensions") or []),
            "units": props.get("Units"),
        }
        actions = {
            "alarm_actions": props.get("AlarmActions") or [],
            "ok_actions": props.get("OKActions") or [],
            "insufficient_data_actions": props.get("InsufficientDataActions") or [],
        }
        return {
            "rule": rule,
            "actions": {k: [str(u) for u in v if u] for k, v in actions.items()},
            "repeat_actions": True,  # Heat's template sets repeat_actions: true
            "enabled": True,
            "severity": "low",
            "description": props.get("AlarmDescription") or "",
        }


def _dimensions(items: list) -> dict[str, str]:
    """CloudFormation's Dimensions ({Name, Value} maps, or `Name=Value` text) as a map."""
    result = {}
    for index, item in enumerate(items):
        if isinstance(item, dict) and "Name" in item:
            result[str(item["Name"])] = str(item.get("Value", ""))
        elif isinstance(item, str) and "=" in item:
            name, _, value = item.partition("=")
            result[name.strip()] = value.strip()
        else:
            raise TemplateError("a dimension must be a map of Name and Value", path=("Dimensions", index))
    return result
