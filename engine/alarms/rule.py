"""Aodh's threshold rule, pure: from per-period statistics to a state, and whether the change
(or, with repeat_actions, the lack of one) is recorded and fires actions; no I/O, no clock.

Aodh (aodh/evaluator/threshold.py) asks for statistics over period × (evaluation_periods + 1)
seconds (one period of look-back slack for samples reported late), keeps the last
evaluation_periods periods that have samples, and decides:

- fewer than evaluation_periods statistics: `insufficient data`;
- every statistic breaches the threshold: `alarm`; none does: `ok`;
- some do and some do not (mixed): the state is kept; an alarm still in `insufficient data`
  takes the trend, the state the most recent statistic points to.

Actions fire on every change of state and, with repeat_actions, on every evaluation that
stays in `alarm` or `ok` (never again while data stays insufficient), as Aodh's `_refresh`.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass
from typing import Any

ALARM, OK, UNKNOWN = "alarm", "ok", "insufficient data"
STATES = (ALARM, OK, UNKNOWN)
LOOK_BACK = 1  # Aodh's look_back: periods of slack before the evaluated ones

COMPARATORS = {
    "gt": operator.gt,
    "lt": operator.lt,
    "ge": operator.ge,
    "le": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
}
SYMBOLS = {"gt": ">", "lt": "<", "ge": ">=", "le": "<=", "eq": "==", "ne": "!="}
STATISTICS = ("count", "avg", "sum", "min", "max")


@dataclass(frozen=True)
class Rule:
    """A threshold rule as Aodh stores it (threshold_rule)."""

    meter_name: str
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str

    @classmethod
    def from_dict(cls, rule: dict[str, Any]) -> Rule:
        return cls(
            meter_name=str(rule.get("meter_name") or ""),
            statistic=str(rule.get("statistic") or "avg"),
            period=max(int(rule.get("period") or 60), 1),
            evaluation_periods=max(int(rule.get("evaluation_periods") or 1), 1),
            threshold=float(rule["threshold"]),
            comparison_operator=str(rule.get("comparison_operator") or "eq"),
        )

    def window(self, now: dt.datetime) -> tuple[dt.datetime, list[dt.datetime]]:
        """The start of the queried window and the start of each of its periods, oldest first
        (evaluation_periods + LOOK_BACK of them, the last ending at `now`)."""
        count = self.evaluation_periods + LOOK_BACK
        start = now - dt.timedelta(seconds=self.period * count)
        return start, [start + dt.timedelta(seconds=self.period * i) for i in range(count)]

    def describe(self) -> str:
        """The rule in words, for reasons: `avg of cpu_util over 2 periods of 60 s > 50`."""
        periods = "period" if self.evaluation_periods == 1 else "periods"
        return (
            f"{self.statistic} of {self.meter_name} over {self.evaluation_periods} {periods} of {self.period} s "
            f"{SYMBOLS.get(self.comparison_operator, self.comparison_operator)} {self.threshold:g}"
        )


@dataclass(frozen=True)
class Decision:
    """What one evaluation does: the state after it, whether that is recorded (a change, or a
    repeat with repeat_actions) and whether actions fire, Aodh's reason and reason_data."""

    state: str
    changed: bool
    notify: bool
    reason: str
    reason_data: dict[str, Any]


def evaluated(rule: Rule, statistics: list[float]) -> list[float]:
    """The statistics Aodh compares: the last evaluation_periods of the periods with samples."""
    return list(statistics)[-rule.evaluation_periods :]


def decide(rule: Rule, statistics: list[float], current: str, repeat_actions: bool) -> Decision | None:
    """The outcome of evaluating `rule` on `statistics` (one per period with samples, oldest
    first) for an alarm now in `current`; None when nothing is recorded and nothing fires."""
    kept = evaluated(rule, statistics)
    last = kept[-1] if kept else None
    if len(kept) < rule.evaluation_periods:
        if current == UNKNOWN:
            return None  # Aodh records insufficient data once, and never repeats it
        reason = f"{rule.evaluation_periods} datapoints are unknown"
        data = _reason_data("unknown", rule.evaluation_periods, last)
        return Decision(UNKNOWN, True, True, reason, data)
    compare = COMPARATORS[rule.comparison_operator]
    compared = [compare(value, rule.threshold) for value in kept]
    outside = sum(compared)
    if all(compared) or not any(compared):
        state = ALARM if all(compared) else OK
    elif current == UNKNOWN:
        state = ALARM if compared[-1] else OK  # mixed: an unknown alarm takes the trend
    elif repeat_actions:
        state = current  # mixed: the state is kept, and repeated
    else:
        return None
    changed = state != current
    if not changed and not repeat_actions:
        return None
    reason, data = _reason(state, changed, outside, len(kept), last)
    return Decision(state, changed, True, reason, data)


def _reason_data(disposition: str, count: int, most_recent: float | None) -> dict[str, Any]:
    return {"type": "threshold", "disposition": disposition, "count": count, "most_recent": most_recent}


def _reason(state: str, changed: bool, outside: int, total: int, last: float | None) -> tuple[str, dict[str, Any]]:
    """Aodh's reason text and reason_data."""
    if state == OK:
        disposition, count = "inside", total - outside
    else:
        disposition, count = "outside", outside
    data = _reason_data(disposition, count, last)
    verb = f"Transition to {state}" if changed else f"Remaining as {state}"
    return f"{verb} due to {count} samples {disposition} threshold, most recent: {last}", data
