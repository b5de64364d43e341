"""Which samples an alarm reads and its statistics: one aggregate query per alarm and
evaluation, grouped by period in the database (never a sample at a time in Python); reads
`metric_samples` and, for group membership, `servers.metering`; writes nothing.

An alarm's stored rule says what it matches (engine/resources/alarm.py builds it):

- `meter_name` (CloudWatch's MetricName) in the alarm's project, and `namespace` when set;
- each `query` factor `{field, op, value, type}` (Aodh's; `matching_metadata` becomes `eq`
  factors): `metadata.user_metadata.KEY` or `metadata.metering.KEY` compares the pair
  `metering.KEY` of the Nova `metadata` property of the server that reported the sample (the
  way Heat templates make a group's members: `metering.stack: {get_param: "OS::stack_id"}` on
  the servers, `metadata.user_metadata.stack` on the alarm); `resource_id` the reporting
  server's id; `project_id` the project; `unit` and `namespace` those columns; any other field
  the sample's dimension of that name;
- `alarm_names` and `dimensions` (AWS::CloudWatch::Alarm): a sample whose `AlarmName` dimension
  names the alarm (cfn-push-stats --watch), or one without an AlarmName dimension that carries
  every pair of `Dimensions`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from engine.alarms.rule import Rule
from engine.store.models import MetricSample, Server

METERING_PREFIXES = ("metadata.user_metadata.", "metadata.metering.", "user_metadata.", "metering.")
ALARM_NAME = "AlarmName"
AGGREGATES = {"count": func.count, "avg": func.avg, "sum": func.sum, "min": func.min, "max": func.max}


def metering_key(field: str) -> str | None:
    """KEY of a field that addresses a server's `metering.KEY` metadata, else None."""
    for prefix in METERING_PREFIXES:
        if field.startswith(prefix):
            return field[len(prefix) :]
    return None


def _compare(column, op: str, value: Any):
    return {
        "eq": column == value,
        "ne": column != value,
        "lt": column < value,
        "le": column <= value,
        "gt": column > value,
        "ge": column >= value,
    }[op]


def _factor(factor: dict[str, Any]) -> tuple[Any, bool]:
    """One query factor as a condition, and whether it needs the reporting server's row."""
    field = str(factor.get("field") or "")
    op = str(factor.get("op") or "eq")
    kind = str(factor.get("type") or "string")
    raw = factor.get("value")
    numeric = kind in ("integer", "float")
    value: Any = float(raw) if numeric and raw is not None else ("" if raw is None else str(raw))
    key = metering_key(field)
    if key is not None:
        element = Server.metering[key]
        return _compare(element.as_float() if numeric else element.as_string(), op, value), True
    if field in ("resource_id", "resource"):
        return _compare(MetricSample.server_id, op, str(raw)), False
    if field in ("project_id", "project"):
        return _compare(MetricSample.project, op, str(raw)), False
    if field in ("unit", "namespace"):
        return _compare(getattr(MetricSample, field), op, str(raw)), False
    element = MetricSample.dimensions[field]
    return _compare(element.as_float() if numeric else element.as_string(), op, value), False


def conditions(project: str, rule: dict[str, Any]) -> tuple[list[Any], bool]:
    """The WHERE conditions of an alarm's samples (window aside), and whether they join the
    reporting server."""
    where: list[Any] = [MetricSample.project == project, MetricSample.name == str(rule.get("meter_name") or "")]
    if rule.get("namespace"):
        where.append(MetricSample.namespace == str(rule["namespace"]))
    joins = False
    for factor in rule.get("query") or []:
        condition, needs_server = _factor(factor)
        where.append(condition)
        joins = joins or needs_server
    names = [str(n) for n in rule.get("alarm_names") or [] if n]
    if names or "dimensions" in rule:
        alarm_name = MetricSample.dimensions[ALARM_NAME].as_string()
        dimensions = {str(k): str(v) for k, v in (rule.get("dimensions") or {}).items()}
        pairs = [MetricSample.dimensions[k].as_string() == v for k, v in dimensions.items()]
        if ALARM_NAME not in dimensions:
            pairs.append(alarm_name.is_(None))
        by_pairs = and_(*pairs)
        where.append(or_(alarm_name.in_(names), by_pairs) if names else by_pairs)
    return where, joins


def statistics(session: Session, project: str, rule_doc: dict[str, Any], now: dt.datetime) -> list[float]:
    """The rule's statistic for each period of its window that has samples, oldest first: one
    query, grouped by period in the database."""
    rule = Rule.from_dict(rule_doc)
    start, starts = rule.window(now)
    # The period a sample falls in: the latest start it is not before (CASE tries them newest first).
    period = case(
        *[(MetricSample.timestamp >= starts[i], i) for i in range(len(starts) - 1, 0, -1)],
        else_=0,
    )
    where, joins = conditions(project, rule_doc)
    inner = select(period.label("period"), MetricSample.value.label("value"))
    if joins:
        inner = inner.join(Server, Server.id == MetricSample.server_id)
    inner_q = inner.where(MetricSample.timestamp >= start, MetricSample.timestamp <= now, *where).subquery()
    aggregate = AGGREGATES[rule.statistic](inner_q.c.value)
    rows = session.execute(
        select(inner_q.c.period, aggregate).group_by(inner_q.c.period).order_by(inner_q.c.period)
    ).all()
    return [float(value) for _period, value in rows if value is not None]
