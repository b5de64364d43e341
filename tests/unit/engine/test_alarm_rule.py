"""Aodh's threshold rule (engine/alarms/rule.py), with literals: periods, statistics compared,
each comparison operator, insufficient data, mixed periods, repeat_actions."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.alarms.rule import ALARM, OK, UNKNOWN, Rule, decide


def rule(op="gt", threshold=50.0, periods=2, period=60, statistic="avg") -> Rule:
    return Rule("cpu_util", statistic, period, periods, threshold, op)


def test_the_window_has_one_period_of_look_back():
    now = dt.datetime(2026, 12, 6, 12, 0, 0, tzinfo=dt.UTC).replace(tzinfo=None)  # naive UTC, as stored
    start, starts = rule(periods=3, period=60).window(now)
    assert start == now - dt.timedelta(minutes=4)
    assert starts == [start + dt.timedelta(minutes=i) for i in range(4)]


def test_every_period_breaching_is_alarm_with_aodh_reason():
    decision = decide(rule(), [60.0, 70.0], UNKNOWN, repeat_actions=False)
    assert decision.state == ALARM and decision.changed and decision.notify
    assert decision.reason == "Transition to alarm due to 2 samples outside threshold, most recent: 70.0"
    assert decision.reason_data == {"type": "threshold", "disposition": "outside", "count": 2, "most_recent": 70.0}


def test_no_period_breaching_is_ok():
    decision = decide(rule(), [10.0, 20.0], ALARM, repeat_actions=False)
    assert decision.state == OK and decision.changed
    assert decision.reason_data == {"type": "threshold", "disposition": "inside", "count": 2, "most_recent": 20.0}


def test_only_the_last_evaluation_periods_count():
    # The look-back period's statistic is older than the evaluated ones: left out.
    decision = decide(rule(periods=2), [99.0, 10.0, 20.0], UNKNOWN, repeat_actions=False)
    assert decision.state == OK


def test_fewer_periods_with_samples_is_insufficient_data():
    decision = decide(rule(periods=3), [60.0, 70.0], ALARM, repeat_actions=True)
    assert decision.state == UNKNOWN and decision.changed
    assert decision.reason == "3 datapoints are unknown"
    assert decision.reason_data == {"type": "threshold", "disposition": "unknown", "count": 3, "most_recent": 70.0}
    assert decide(rule(), [], OK, repeat_actions=False).reason_data["most_recent"] is None


def test_insufficient_data_is_recorded_once_even_with_repeat_actions():
    assert decide(rule(periods=3), [60.0], UNKNOWN, repeat_actions=True) is None


@pytest.mark.parametrize("current", [ALARM, OK])
def test_mixed_periods_keep_the_state(current):
    assert decide(rule(), [60.0, 10.0], current, repeat_actions=False) is None
    repeated = decide(rule(), [60.0, 10.0], current, repeat_actions=True)
    assert repeated.state == current and not repeated.changed and repeated.notify
    assert repeated.reason.startswith(f"Remaining as {current} due to")


@pytest.mark.parametrize("values, trend", [([60.0, 10.0], OK), ([10.0, 60.0], ALARM)])
def test_mixed_periods_move_an_unknown_alarm_to_the_trend(values, trend):
    decision = decide(rule(), values, UNKNOWN, repeat_actions=False)
    assert decision.state == trend and decision.changed


def test_repeat_actions_fire_again_while_the_state_holds():
    assert decide(rule(), [60.0, 70.0], ALARM, repeat_actions=False) is None
    again = decide(rule(), [60.0, 70.0], ALARM, repeat_actions=True)
    assert again.state == ALARM and not again.changed and again.notify
    assert again.reason == "Remaining as alarm due to 2 samples outside threshold, most recent: 70.0"


@pytest.mark.parametrize(
    "op, value, breaches",
    [
        ("gt", 50.0, False),
        ("gt", 50.1, True),
        ("ge", 50.0, True),
        ("ge", 49.9, False),
        ("lt", 50.0, False),
        ("lt", 49.9, True),
        ("le", 50.0, True),
        ("le", 50.1, False),
        ("eq", 50.0, True),
        ("eq", 50.1, False),
        ("ne", 50.0, False),
        ("ne", 50.1, True),
    ],
)
def test_comparison_operators(op, value, breaches):
    decision = decide(rule(op=op, periods=1), [value], UNKNOWN, repeat_actions=False)
    assert decision.state == (ALARM if breaches else OK)


def test_describe_names_statistic_threshold_and_periods():
    assert rule().describe() == "avg of cpu_util over 2 periods of 60 s > 50"
    assert rule(op="le", periods=1, statistic="max", threshold=0.5).describe() == (
        "max of cpu_util over 1 period of 60 s <= 0.5"
    )
