"""Aodh's time constraints, pure: whether an alarm may be evaluated at a moment, from cron start
expressions, durations and time zones; no I/O (the clock is the caller's).

Aodh evaluates an alarm with time constraints only while one holds: the latest start its cron
expression names (minute, hour, day of month, month, day of week; `*`, `*/N`, `A-B`, `A-B/N`
and lists, month and day names, Sunday as 0 or 7, day of month or day of week when both are
restricted) is at most `duration` seconds ago, in the constraint's `timezone` (UTC without).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
LONGEST_LOOK = 400  # days searched back for the latest start (a yearly start, and then some)


class CronError(ValueError):
    """The text is not a cron expression."""


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
        except ValueError:
            raise CronError(f"'{part}' has a step that is not a number") from None
        if step < 1:
            raise CronError(f"'{part}' has a step below 1")
        if body == "*":
            start, end = low, high
        else:
            first, dash, last = body.partition("-")
            try:
                start = names[first] if first in names else int(first)
                end = (names[last] if last in names else int(last)) if dash else (high if step_text else start)
            except ValueError:
                raise CronError(f"'{part}' is not a value, a range or *") from None
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"'{part}' is out of range ({low}-{high})")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        fields = MACROS.get(text.strip().lower(), text).split()
        if len(fields) != 5:
            raise CronError(f"'{text}' does not have five fields (minute hour day month weekday)")
        minute, hour, day, month, weekday = fields
        weekdays = _field(weekday, 0, 7, DAYS)
        return cls(
            _field(minute, 0, 59, {}),
            _field(hour, 0, 23, {}),
            _field(day, 1, 31, {}),
            _field(month, 1, 12, MONTHS),
            frozenset(d % 7 for d in weekdays),
            day == "*",
            weekday == "*",
        )

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday  # both restricted: either, as cron does

    def latest_start(self, moment: dt.datetime) -> dt.datetime | None:
        """The latest time this expression names at or before `moment` (same tzinfo)."""
        day = moment.date()
        for back in range(LONGEST_LOOK):
            if self.day_matches(day):
                limit = (moment.hour, moment.minute) if back == 0 else (23, 59)
                best = max(((h, m) for h in self.hours for m in self.minutes if (h, m) <= limit), default=None)
                if best is not None:
                    return dt.datetime(day.year, day.month, day.day, best[0], best[1], tzinfo=moment.tzinfo)
            day -= dt.timedelta(days=1)
        return None


def within(constraints: list[dict], now_utc: dt.datetime) -> bool:
    """Whether `now_utc` (naive UTC) is within at least one constraint; True without any."""
    if not constraints:
        return True
    aware = now_utc.replace(tzinfo=dt.UTC)
    for constraint in constraints:
        zone = constraint.get("timezone")
        local = aware.astimezone(ZoneInfo(zone)) if zone else aware
        start = Cron.parse(str(constraint.get("start") or "")).latest_start(local)
        if start is not None and (local - start).total_seconds() <= int(constraint.get("duration") or 0):
            return True
    return False
