"""Metric samples guests report: the checks every sample passes and the CloudWatch query's samples
(pure), the per-server sample budget (this process's memory, a monotonic clock); storing and
pruning are engine/guest/metric_samples.py's.

One set of rules for both doors: the native guest endpoint's JSON
(`POST /guest/v1/servers/{id}/metrics`) and CloudWatch's `PutMetricData` query parameters
(cfn-push-stats, at the CFN API's `/v1/`) are both turned into the same sample dicts
and checked by `check_samples`. A sample is stored with its server's project and id, its value
in the unit it gave, its dimensions exactly as sent (a map of strings) and its timestamp as
naive UTC; alarms read the rows directly (engine/store/models.py MetricSample).

Bounded: a request carries at most `metric_max_samples_per_request`; a server stores at most
`metric_samples_per_minute` (a token bucket per server in this replica); rows are kept
`metric_retention_seconds` and at most `metric_max_samples_per_server` per server, pruned by
`Retention` on every replica (the DELETEs are idempotent, so replicas sharing one PostgreSQL
may prune at once).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from engine.config import Config
from engine.errors import InvalidRequest, TooManyRequests

NATIVE_NAMESPACE = "hearth"  # a native sample that names no namespace
UNIT_MAX_LENGTH = 32  # the column's size
NAME_MAX_LENGTH = 255  # the name and namespace columns' size, whatever metric_max_name_length says
SAMPLE_KEYS = ("name", "value", "unit", "timestamp", "dimensions", "namespace")


def _text(where: str, value: Any, longest: int, *, empty: bool = False) -> str:
    """A printable string of at most `longest` characters, or a 400 naming `where`."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: must be a string")
    if not value and not empty:
        raise InvalidRequest(f"{where}: must not be empty")
    if len(value) > longest:
        raise InvalidRequest(f"{where}: must be at most {longest} characters, not {len(value)}")
    if not value.isprintable() or value != value.strip():
        raise InvalidRequest(f"{where}: must be printable text without control characters or surrounding spaces")
    return value


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"{where}: must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRequest(f"{where}: must be a finite number (not NaN or Infinity)")
    return number


def parse_timestamp(where: str, value: Any) -> dt.datetime:
    """An ISO-8601 time as naive UTC; one without a zone is taken as UTC (as boto sends it)."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidRequest(f"{where}: must be an ISO-8601 time such as 2026-12-06T17:30:00Z")
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"{where}: must be an ISO-8601 time such as 2026-12-06T17:30:00Z") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def check_samples(samples: Any, now: dt.datetime, config: Config, where: str = "metrics") -> tuple[list[dict], int]:
    """(the samples to store, how many were older than the retention and are not stored), or a
    400 naming the first field at fault (`metrics[2].value`). Each sample to store is a dict
    of the MetricSample columns it sets: namespace, name, value, unit, dimensions, timestamp."""
    if not isinstance(samples, list):
        raise InvalidRequest(f"{where}: must be a list of samples")
    if not samples:
        raise InvalidRequest(f"{where}: must hold at least one sample")
    most = config.metric_max_samples_per_request
    if len(samples) > most:
        raise InvalidRequest(
            f"{where}: {len(samples)} samples in one request; at most {most} are accepted "
            "(metric_max_samples_per_request): send them in several"
        )
    oldest = now - dt.timedelta(seconds=config.metric_retention_seconds)
    latest = now + dt.timedelta(seconds=config.metric_max_future_seconds)
    kept, expired = [], 0
    for n, sample in enumerate(samples):
        sample = check_sample(f"{where}[{n}]", sample, now, latest, config)
        if sample["timestamp"] < oldest:
            expired += 1
        else:
            kept.append(sample)
    return kept, expired


def check_sample(where: str, sample: Any, now: dt.datetime, latest: dt.datetime, config: Config) -> dict:
    if not isinstance(sample, dict):
        raise InvalidRequest(f"{where}: must be an object with name and value")
    unknown = sorted(set(sample) - set(SAMPLE_KEYS))
    if unknown:
        raise InvalidRequest(f"{where}.{unknown[0]}: unknown field (known: {', '.join(SAMPLE_KEYS)})")
    if "name" not in sample:
        raise InvalidRequest(f"{where}.name: required")
    if "value" not in sample:
        raise InvalidRequest(f"{where}.value: required")
    longest_name = min(config.metric_max_name_length, NAME_MAX_LENGTH)
    name = _text(f"{where}.name", sample["name"], longest_name)
    value = _number(f"{where}.value", sample["value"])
    unit = sample.get("unit")
    if unit is not None:
        unit = _text(f"{where}.unit", unit, UNIT_MAX_LENGTH)
    namespace = sample.get("namespace")
    namespace = (
        NATIVE_NAMESPACE if namespace is None else _text(f"{where}.namespace", namespace, longest_name, empty=True)
    )
    timestamp = now
    if sample.get("timestamp") is not None:
        timestamp = parse_timestamp(f"{where}.timestamp", sample["timestamp"])
        if timestamp > latest:
            raise InvalidRequest(
                f"{where}.timestamp: {sample['timestamp']} is more than "
                f"{config.metric_max_future_seconds} s ahead of the server's clock "
                "(metric_max_future_seconds): check the guest's clock"
            )
    dimensions = sample.get("dimensions")
    if dimensions is None:
        dimensions = {}
    if not isinstance(dimensions, dict):
        raise InvalidRequest(f"{where}.dimensions: must be an object of names to string values")
    if len(dimensions) > config.metric_max_dimensions:
        raise InvalidRequest(
            f"{where}.dimensions: {len(dimensions)} dimensions; at most "
            f"{config.metric_max_dimensions} are accepted (metric_max_dimensions)"
        )
    longest = config.metric_max_dimension_length
    for key, item in dimensions.items():
        _text(f"{where}.dimensions", key, longest)
        _text(f"{where}.dimensions.{key}", item, longest, empty=True)
    return {
        "namespace": namespace,
        "name": name,
        "value": value,
        "unit": unit,
        "dimensions": dict(dimensions),
        "timestamp": timestamp,
    }


def query_samples(params: dict[str, str]) -> tuple[str, list[dict]]:
    """CloudWatch PutMetricData's query parameters (`Namespace`, `MetricData.member.N.MetricName`,
    `.Value`, `.Unit`, `.Timestamp`, `.Dimensions.member.M.Name` and `.Value`) as the namespace
    and native samples for check_samples, in member order; a 400 naming the parameter for what
    cannot be one (a Value that is not a number, statistic sets)."""
    members: dict[int, dict[str, str]] = {}
    prefix = "MetricData.member."
    for key, text in params.items():
        if not key.startswith(prefix):
            continue
        number, _, field = key[len(prefix) :].partition(".")
        if not number.isdigit() or not field or len(number) > 6:
            raise InvalidRequest(f"{key}: not a MetricData parameter (MetricData.member.N.Field)")
        members.setdefault(int(number), {})[field] = text
    namespace = params.get("Namespace", "")
    samples = []
    for number in sorted(members):
        fields, where = members[number], f"MetricData.member.{number}"
        if any(field.startswith("StatisticValues.") for field in fields):
            raise InvalidRequest(f"{where}.StatisticValues: statistic sets are not accepted; send each Value")
        sample: dict[str, Any] = {"namespace": namespace, "dimensions": _query_dimensions(where, fields)}
        for field, key in (("MetricName", "name"), ("Unit", "unit"), ("Timestamp", "timestamp")):
            if field in fields:
                sample[key] = fields[field]
        if "Value" in fields:
            try:
                sample["value"] = float(fields["Value"])
            except ValueError:
                raise InvalidRequest(f"{where}.Value: must be a number, not '{fields['Value'][:40]}'") from None
        unknown = sorted(
            f
            for f in fields
            if f not in ("MetricName", "Value", "Unit", "Timestamp") and not f.startswith("Dimensions.")
        )
        if unknown:
            raise InvalidRequest(f"{where}.{unknown[0]}: unknown field")
        if "name" not in sample:
            raise InvalidRequest(f"{where}.MetricName: required")
        if "value" not in sample:
            raise InvalidRequest(f"{where}.Value: required")
        samples.append(sample)
    return namespace, samples


def _query_dimensions(where: str, fields: dict[str, str]) -> dict[str, str]:
    """`Dimensions.member.M.Name`/`.Value` as a map; a name without a value (boto sends one
    for an empty value) maps to ""."""
    by_number: dict[int, dict[str, str]] = {}
    for field, text in fields.items():
        if not field.startswith("Dimensions.member."):
            continue
        number, _, part = field[len("Dimensions.member.") :].partition(".")
        if not number.isdigit() or part not in ("Name", "Value") or len(number) > 6:
            raise InvalidRequest(f"{where}.{field}: not a dimension parameter (Dimensions.member.M.Name or .Value)")
        by_number.setdefault(int(number), {})[part] = text
    dimensions = {}
    for number in sorted(by_number):
        pair = by_number[number]
        if "Name" not in pair:
            raise InvalidRequest(f"{where}.Dimensions.member.{number}.Name: required")
        dimensions[pair["Name"]] = pair.get("Value", "")
    return dimensions


class SampleBudget:
    """A token bucket of samples per server: `metric_samples_per_minute` held at most, refilled
    at that many a minute; in this process's memory (each replica counts its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._clock, self._max_keys = clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # server -> (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, server_id: str, count: int, per_minute: int) -> None:
        """Spend `count` samples of the server's budget, or TooManyRequests with Retry-After."""
        if per_minute <= 0:
            return
        if count > per_minute:
            raise InvalidRequest(
                f"metrics: {count} samples in one request, more than the {per_minute} a server may "
                "report per minute (metric_samples_per_minute): send them in several"
            )
        rate = per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, counted = self._buckets.get(server_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - counted) * rate)
            if tokens + 1e-9 < count:
                wait = math.ceil((count - tokens) / rate)
                raise TooManyRequests(
                    f"this server reported more than {per_minute} metric samples a minute "
                    f"(metric_samples_per_minute); retry in {wait} s",
                    retry_after=wait,
                )
            self._buckets[server_id] = (tokens - count, now)
            if len(self._buckets) > self._max_keys:
                full = [k for k, (t, c) in self._buckets.items() if t + (now - c) * rate >= per_minute]
                for key in full:
                    del self._buckets[key]
