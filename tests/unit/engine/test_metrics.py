"""The checks every metric sample passes (engine/guest/metrics.py), with literals: each refusal
names its field; CloudWatch's query parameters become the same samples; the per-server budget
refills at its rate and says when to come back."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.config import Config
from engine.errors import InvalidRequest, TooManyRequests
from engine.guest.metrics import SampleBudget, check_samples, query_samples

NOW = dt.datetime(2026, 12, 6, 18, 0, 0)  # noqa: DTZ001 - the store's naive UTC
CONFIG = Config()


def refused(samples, match: str, config: Config = CONFIG) -> None:
    with pytest.raises(InvalidRequest, match=match):
        check_samples(samples, NOW, config)


def test_a_full_sample_is_kept_as_sent_with_its_time_in_naive_utc():
    kept, expired = check_samples(
        [
            {
                "name": "cpu_util",
                "value": 42,
                "unit": "%",
                "timestamp": "2026-12-06T19:59:00+02:00",
                "dimensions": {"AlarmName": "web-high", "role": ""},
                "namespace": "system/linux",
            },
            {"name": "queue.depth", "value": -1.5},
        ],
        NOW,
        CONFIG,
    )
    assert expired == 0
    assert kept == [
        {
            "namespace": "system/linux",
            "name": "cpu_util",
            "value": 42.0,
            "unit": "%",
            "dimensions": {"AlarmName": "web-high", "role": ""},
            "timestamp": dt.datetime(2026, 12, 6, 17, 59, 0),  # noqa: DTZ001
        },
        {"namespace": "hearth", "name": "queue.depth", "value": -1.5, "unit": None, "dimensions": {}, "timestamp": NOW},
    ]


@pytest.mark.parametrize(
    ("sample", "match"),
    [
        ({"value": 1}, r"metrics\[0\]\.name: required"),
        ({"name": "x"}, r"metrics\[0\]\.value: required"),
        ({"name": "", "value": 1}, r"metrics\[0\]\.name: must not be empty"),
        ({"name": "a\nb", "value": 1}, r"metrics\[0\]\.name: must be printable"),
        ({"name": " padded", "value": 1}, r"metrics\[0\]\.name: must be printable"),
        ({"name": "x" * 256, "value": 1}, r"metrics\[0\]\.name: must be at most 255 characters"),
        ({"name": 7, "value": 1}, r"metrics\[0\]\.name: must be a string"),
        ({"name": "x", "value": float("nan")}, r"metrics\[0\]\.value: must be a finite number"),
        ({"name": "x", "value": float("inf")}, r"metrics\[0\]\.value: must be a finite number"),
        ({"name": "x", "value": "42"}, r"metrics\[0\]\.value: must be a number"),
        ({"name": "x", "value": True}, r"metrics\[0\]\.value: must be a number"),
        ({"name": "x", "value": 1, "unit": "u" * 33}, r"metrics\[0\]\.unit: must be at most 32"),
        ({"name": "x", "value": 1, "timestamp": "yesterday"}, r"metrics\[0\]\.timestamp: must be an ISO-8601"),
        ({"name": "x", "value": 1, "timestamp": "2026-12-06T18:05:01Z"}, r"metrics\[0\]\.timestamp: .* ahead"),
        ({"name": "x", "value": 1, "dimensions": ["a"]}, r"metrics\[0\]\.dimensions: must be an object"),
        ({"name": "x", "value": 1, "dimensions": {"a": 1}}, r"metrics\[0\]\.dimensions\.a: must be a string"),
        ({"name": "x", "value": 1, "dimensions": {"": "v"}}, r"metrics\[0\]\.dimensions: must not be empty"),
        ({"name": "x", "value": 1, "dimensions": {"k": "v" * 256}}, r"metrics\[0\]\.dimensions\.k: must be at most"),
        ({"name": "x", "value": 1, "colour": "red"}, r"metrics\[0\]\.colour: unknown field"),
        ("cpu_util", r"metrics\[0\]: must be an object"),
    ],
)
def test_each_refusal_names_the_field(sample, match):
    refused([sample], match)


def test_too_many_samples_or_dimensions_name_their_setting():
    refused([{"name": "x", "value": 1}] * 101, r"101 samples .*\(metric_max_samples_per_request\)")
    refused([], r"metrics: must hold at least one sample")
    refused({"name": "x"}, r"metrics: must be a list")
    dimensions = {f"d{n}": "v" for n in range(11)}
    refused([{"name": "x", "value": 1, "dimensions": dimensions}], r"11 dimensions; at most 10 .*metric_max_dimensions")
    small = Config(metric_max_samples_per_request=2, metric_max_future_seconds=0)
    refused([{"name": "x", "value": 1}] * 3, r"at most 2 are accepted", small)
    refused([{"name": "x", "value": 1, "timestamp": "2026-12-06T18:00:01Z"}], r"more than 0 s ahead", small)


def test_samples_older_than_the_retention_are_counted_not_kept():
    kept, expired = check_samples(
        [
            {"name": "old", "value": 1, "timestamp": "2026-12-06T16:59:59Z"},
            {"name": "new", "value": 2, "timestamp": "2026-12-06T17:00:00Z"},
        ],
        NOW,
        CONFIG,
    )
    assert [s["name"] for s in kept] == ["new"] and expired == 1


def test_cloudwatch_query_parameters_become_samples_with_dimensions_exactly():
    """What boto 2.49's put_metric_data sends for cfn-push-stats --watch web-high --mem-util."""
    params = {
        "Action": "PutMetricData",
        "Namespace": "system/linux",
        "MetricData.member.1.MetricName": "MemoryUtilization",
        "MetricData.member.1.Value": "41.5",
        "MetricData.member.1.Unit": "Percent",
        "MetricData.member.1.Dimensions.member.1.Name": "AlarmName",
        "MetricData.member.1.Dimensions.member.1.Value": "web-high",
        "MetricData.member.1.Dimensions.member.2.Name": "InstanceId",
        "MetricData.member.1.Dimensions.member.2.Value": "3f1c",
        "MetricData.member.1.Dimensions.member.3.Name": "empty",
        "MetricData.member.2.MetricName": "Heartbeat",
        "MetricData.member.2.Value": "1",
        "MetricData.member.2.Timestamp": "2026-12-06T17:59:30",
    }
    namespace, samples = query_samples(params)
    assert namespace == "system/linux"
    kept, _ = check_samples(samples, NOW, CONFIG, where="MetricData")
    assert kept[0]["dimensions"] == {"AlarmName": "web-high", "InstanceId": "3f1c", "empty": ""}
    assert (kept[0]["name"], kept[0]["value"], kept[0]["unit"], kept[0]["namespace"]) == (
        "MemoryUtilization",
        41.5,
        "Percent",
        "system/linux",
    )
    assert kept[1]["timestamp"] == dt.datetime(2026, 12, 6, 17, 59, 30)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"MetricData.member.1.Value": "nan"}, r"MetricData\[0\]\.value: must be a finite number"),
        ({"MetricData.member.1.Value": "lots"}, r"MetricData.member.1.Value: must be a number"),
        ({"MetricData.member.1.StatisticValues.Sum": "3"}, r"StatisticValues: statistic sets are not accepted"),
        ({"MetricData.member.x.Value": "1"}, r"MetricData.member.x.Value: not a MetricData parameter"),
        ({"MetricData.member.1.Dimensions.member.1.Value": "v"}, r"Dimensions.member.1.Name: required"),
    ],
)
def test_cloudwatch_refusals_name_the_parameter(extra, match):
    params = {"Namespace": "n", "MetricData.member.1.MetricName": "m", "MetricData.member.1.Value": "1", **extra}

    def parse_and_check():
        _, samples = query_samples(params)
        check_samples(samples, NOW, CONFIG, where="MetricData")

    with pytest.raises(InvalidRequest, match=match):
        parse_and_check()


def test_the_budget_refills_per_minute_and_says_when_to_return():
    clock = [100.0]
    budget = SampleBudget(clock=lambda: clock[0])
    budget.take("s1", 50, 60)
    budget.take("s1", 10, 60)
    with pytest.raises(TooManyRequests) as refusal:
        budget.take("s1", 5, 60)
    assert refusal.value.retry_after == 5 and "metric_samples_per_minute" in refusal.value.message
    budget.take("s2", 60, 60)  # each server has its own
    clock[0] += 5
    budget.take("s1", 5, 60)
    with pytest.raises(InvalidRequest, match="more than the 60 a server may report per minute"):
        budget.take("s1", 61, 60)
    budget.take("s1", 10_000, 0)  # 0 turns it off
