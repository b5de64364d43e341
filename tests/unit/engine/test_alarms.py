"""Alarms on a real store (SQLite and PostgreSQL): the resources' rows through a stack's life,
which samples each alarm reads (one aggregate query), and evaluation rounds called directly
(no evaluator thread: alarm_evaluation_interval 0), their events and the actions handed over."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.alarms import matching
from engine.config import Config
from engine.orchestration.lease import Leases
from engine.service import build_service
from engine.store.models import Alarm, MetricSample
from tests.support import create, settle


class Recording:
    """Stands in for engine.alarms.webhooks.Webhooks: the calls it was given."""

    def __init__(self):
        self.calls: list[tuple[list[str], dict]] = []

    def send(self, urls, payload):
        self.calls.append((list(urls), payload))
        return len(urls)

    def stop(self):
        pass


@pytest.fixture
def svc(db_url, tmp_path):
    service = build_service(
        Config.from_env(
            {}, db_url=db_url, data_dir=str(tmp_path / "data"), compute="deployed", alarm_evaluation_interval=0
        )
    )
    service.start()
    service.alarms.hooks.stop()
    service.alarms.hooks = Recording()
    yield service
    service.stop()
    service.runtime.store.dispose()


def add_samples(svc, name, values, *, server_id=None, dimensions=None, namespace="", project="admin"):
    """Samples of `name`: `values` maps seconds ago to a value."""
    now = svc.runtime.now()
    with svc.runtime.store.session() as session:
        for ago, value in values.items():
            session.add(
                MetricSample(
                    project=project,
                    server_id=server_id,
                    namespace=namespace,
                    name=name,
                    value=value,
                    unit=None,
                    dimensions=dimensions or {},
                    timestamp=now - dt.timedelta(seconds=ago),
                )
            )


def resources(svc, stack_id):
    return {r["resource_name"]: r for r in svc.resources.list_resources("admin", stack_id)}


def alarm_row(svc, alarm_id) -> Alarm:
    with svc.runtime.store.session() as session:
        row = session.get(Alarm, alarm_id)
        session.expunge_all()
        return row


GROUP = """heat_template_version: 2018-08-31
resources:
  member:
    type: OS::Heat::DeployedServer
    properties: {metadata: {"metering.stack": {get_param: "OS::stack_id"}}}
  other:
    type: OS::Heat::DeployedServer
    properties: {metadata: {"metering.stack": elsewhere}}
  high:
    type: OS::Aodh::Alarm
    properties:
      meter_name: cpu_util
      statistic: avg
      period: 60
      evaluation_periods: 2
      threshold: %(threshold)s
      comparison_operator: gt
      repeat_actions: false
      alarm_actions: ["http://127.0.0.1:9/up?signature=s3cr3t"]
      ok_actions: ["http://127.0.0.1:9/ok"]
      matching_metadata: {"metadata.user_metadata.stack": {get_param: "OS::stack_id"}}
outputs:
  id: {value: {get_resource: high}}
"""


def test_aodh_alarm_reads_its_group_members_and_fires_on_transitions(svc):
    stack_id = create(svc, "group", GROUP % {"threshold": 50})
    assert settle(svc, stack_id)["stack_status"] == "CREATE_COMPLETE"
    found = resources(svc, stack_id)
    alarm_id = found["high"]["physical_resource_id"]
    assert svc.stacks.show_output("admin", stack_id, "id")["output_value"] == alarm_id
    member, other = found["member"]["physical_resource_id"], found["other"]["physical_resource_id"]

    # No samples: insufficient data, the state an alarm starts in; nothing fires.
    assert svc.alarms.round() == 0
    assert alarm_row(svc, alarm_id).state == "insufficient data"

    add_samples(svc, "cpu_util", {90: 70.0, 30: 90.0}, server_id=member)
    add_samples(svc, "cpu_util", {90: 1.0, 30: 1.0}, server_id=other)  # not a member: not read
    assert svc.alarms.round() == 1
    assert alarm_row(svc, alarm_id).state == "alarm"
    (urls, body), *_ = svc.alarms.hooks.calls
    assert urls == ["http://127.0.0.1:9/up?signature=s3cr3t"]
    assert body == {
        "alarm_id": alarm_id,
        "alarm_name": alarm_row(svc, alarm_id).name,
        "severity": "low",
        "previous": "insufficient data",
        "current": "alarm",
        "reason": "Transition to alarm due to 2 samples outside threshold, most recent: 90.0",
        "reason_data": {"type": "threshold", "disposition": "outside", "count": 2, "most_recent": 90.0},
    }
    events = svc.resources.list_events("admin", stack_id, resource="high")
    assert events[-1]["resource_status_reason"] == (
        "alarm state insufficient data -> alarm: Transition to alarm due to 2 samples outside threshold, "
        "most recent: 90.0 (avg of cpu_util over 2 periods of 60 s > 50)"
    )

    # repeat_actions false: nothing more while the state holds.
    assert svc.alarms.round() == 0 and len(svc.alarms.hooks.calls) == 1

    # An update raising the threshold: the same samples are now inside it.
    svc.operations.update_stack("admin", stack_id, {"template": GROUP % {"threshold": 95}}, patch=False)
    assert settle(svc, stack_id)["stack_status"] == "UPDATE_COMPLETE"
    assert resources(svc, stack_id)["high"]["physical_resource_id"] == alarm_id  # updated in place
    assert svc.alarms.round() == 1
    assert svc.alarms.hooks.calls[-1][0] == ["http://127.0.0.1:9/ok"]
    assert svc.alarms.hooks.calls[-1][1]["previous"] == "alarm"
    assert svc.alarms.hooks.calls[-1][1]["current"] == "ok"

    # Suspended: disabled, not evaluated; resumed: evaluated again.
    svc.operations.stack_action("admin", stack_id, "suspend")
    assert settle(svc, stack_id)["stack_status"] == "SUSPEND_COMPLETE"
    assert alarm_row(svc, alarm_id).enabled is False
    svc.operations.stack_action("admin", stack_id, "resume")
    assert settle(svc, stack_id)["stack_status"] == "RESUME_COMPLETE"
    assert alarm_row(svc, alarm_id).enabled is True

    shown = svc.resources.show_resource("admin", stack_id, "high")
    assert "s3cr3t" not in str(shown)  # `show` lists pre-signed URLs: masked

    svc.stacks.delete_stack("admin", stack_id)
    assert settle(svc, stack_id)["stack_status"] == "DELETE_COMPLETE"
    assert alarm_row(svc, alarm_id) is None


CLOUDWATCH = """HeatTemplateFormatVersion: '2012-12-12'
Resources:
  MEMAlarmHigh:
    Type: AWS::CloudWatch::Alarm
    Properties:
      MetricName: MemoryUtilization
      Namespace: system/linux
      Statistic: Maximum
      Period: '60'
      EvaluationPeriods: '1'
      Threshold: '80'
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: ["http://127.0.0.1:9/scale-up"]
      Dimensions: [{Name: AutoScalingGroupName, Value: web}]
Outputs:
  ref: {Value: {Ref: MEMAlarmHigh}}
"""


def test_cloudwatch_alarm_matches_alarm_name_or_dimensions(svc):
    stack_id = create(svc, "cw", CLOUDWATCH)
    assert settle(svc, stack_id)["stack_status"] == "CREATE_COMPLETE"
    alarm_id = resources(svc, stack_id)["MEMAlarmHigh"]["physical_resource_id"]
    ref = svc.stacks.show_output("admin", stack_id, "ref")["output_value"]
    row = alarm_row(svc, alarm_id)
    assert ref == f"arn:openstack:heat::admin:stacks/{row.name}/{alarm_id}"

    # cfn-push-stats --watch <Ref>: the AlarmName dimension names the alarm.
    add_samples(svc, "MemoryUtilization", {30: 95.0}, namespace="system/linux", dimensions={"AlarmName": ref})
    # Another alarm's samples, another namespace, the wrong dimensions: none is read.
    add_samples(svc, "MemoryUtilization", {30: 1.0}, namespace="system/linux", dimensions={"AlarmName": "other"})
    add_samples(svc, "MemoryUtilization", {30: 1.0}, namespace="elsewhere", dimensions={"AlarmName": ref})
    add_samples(svc, "MemoryUtilization", {30: 1.0}, namespace="system/linux", dimensions={"Other": "x"})
    assert svc.alarms.round() == 1
    assert alarm_row(svc, alarm_id).state == "alarm"
    assert svc.alarms.hooks.calls[-1][0] == ["http://127.0.0.1:9/scale-up"]

    # Samples carrying the Dimensions pair (no AlarmName) are read too: max is now 99.
    add_samples(
        svc, "MemoryUtilization", {20: 99.0}, namespace="system/linux", dimensions={"AutoScalingGroupName": "web"}
    )
    assert svc.alarms.round() == 1  # repeat_actions, as Heat's template sets
    assert svc.alarms.hooks.calls[-1][1]["reason_data"]["most_recent"] == 99.0


@pytest.mark.parametrize(
    "statistic, expected",
    [("count", [2.0, 1.0]), ("sum", [30.0, 5.0]), ("min", [10.0, 5.0]), ("max", [20.0, 5.0]), ("avg", [15.0, 5.0])],
)
def test_statistics_per_period_in_one_query(svc, statistic, expected):
    add_samples(svc, "m", {170: 10.0, 130: 20.0, 30: 5.0, 500: 1000.0}, dimensions={"k": "v"})
    add_samples(svc, "m", {30: 1000.0}, dimensions={"k": "w"})
    rule = {
        "meter_name": "m",
        "statistic": statistic,
        "period": 60,
        "evaluation_periods": 2,
        "threshold": 0,
        "query": [{"field": "k", "op": "eq", "value": "v"}],
    }
    with svc.runtime.store.session() as session:
        found = matching.statistics(session, "admin", rule, svc.runtime.now())
    # Periods [now-180, now-120) and [now-60, now] have samples; the one between has none.
    assert found == expected


# PostgreSQL only: on SQLite one engine process holds every lease, so there is no other holder.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_only_the_holder_of_the_lease_evaluates(svc):
    stack_id = create(svc, "held", GROUP % {"threshold": 50})
    assert settle(svc, stack_id)["stack_status"] == "CREATE_COMPLETE"
    other = Leases(svc.runtime.store, "another-replica", 30)
    svc.scheduler.leases.release(["alarms"])
    assert other.claim(["alarms"]) == {"alarms"}
    assert svc.alarms.round() == 0
    with svc.runtime.store.session() as session:
        assert list(session.scalars(select(Alarm.evaluated_at))) == [None]


OUTSIDE = """heat_template_version: 2018-08-31
resources:
  never:
    type: OS::Aodh::Alarm
    properties:
      meter_name: cpu_util
      threshold: 1
      comparison_operator: gt
      evaluation_periods: 1
      alarm_actions: ["http://127.0.0.1:9/up"]
      time_constraints: [{name: new-year, start: "0 0 1 1 *", duration: 0}]
"""


def test_an_alarm_outside_its_time_constraints_is_not_evaluated(svc):
    stack_id = create(svc, "outside", OUTSIDE)
    assert settle(svc, stack_id)["stack_status"] == "CREATE_COMPLETE"
    alarm_id = resources(svc, stack_id)["never"]["physical_resource_id"]
    add_samples(svc, "cpu_util", {30: 90.0})
    assert svc.alarms.round() == 0
    assert alarm_row(svc, alarm_id).state == "insufficient data" and not svc.alarms.hooks.calls
