"""Aodh's time constraints (engine/alarms/schedule.py), with literals: cron fields, the latest
start, durations, time zones; and their check in OS::Aodh::Alarm's properties."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.alarms.schedule import Cron, CronError, within
from engine.errors import TemplateError
from engine.resources.alarm import AodhAlarm


def utc(*args) -> dt.datetime:
    """A naive UTC time, as the store and the evaluator keep them."""
    return dt.datetime(*args, tzinfo=dt.UTC).replace(tzinfo=None)


def test_fields_lists_ranges_steps_and_names():
    cron = Cron.parse("*/15 9-17 * jan,mar mon-fri")
    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == set(range(9, 18))
    assert cron.months == {1, 3}
    assert cron.weekdays == {1, 2, 3, 4, 5}
    assert Cron.parse("0 0 * * 7").weekdays == {0}  # Sunday as 7
    assert Cron.parse("@daily") == Cron.parse("0 0 * * *")


@pytest.mark.parametrize("text", ["* * * *", "60 * * * *", "a * * * *", "*/0 * * * *", "5-1 * * * *"])
def test_what_is_not_a_cron_expression(text):
    with pytest.raises(CronError):
        Cron.parse(text)


def test_the_latest_start_is_at_or_before_the_moment():
    cron = Cron.parse("30 8 * * *")
    moment = dt.datetime(2026, 12, 6, 8, 29, tzinfo=dt.UTC)
    assert cron.latest_start(moment) == dt.datetime(2026, 12, 5, 8, 30, tzinfo=dt.UTC)
    moment = dt.datetime(2026, 12, 6, 8, 30, tzinfo=dt.UTC)
    assert cron.latest_start(moment) == moment
    # Day of month or day of week when both are restricted: the 1st, or any Monday.
    either = Cron.parse("0 0 1 * mon")
    assert either.latest_start(dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)).date() == dt.date(2026, 12, 1)
    assert either.latest_start(dt.datetime(2026, 12, 8, 12, tzinfo=dt.UTC)).date() == dt.date(2026, 12, 7)


def test_within_a_constraint_from_its_start_for_its_duration():
    office = [{"name": "office", "start": "0 9 * * *", "duration": 8 * 3600}]
    assert within([], utc(2026, 12, 6, 3, 0))
    assert within(office, utc(2026, 12, 6, 9, 0))
    assert within(office, utc(2026, 12, 6, 17, 0))
    assert not within(office, utc(2026, 12, 6, 17, 1))
    assert not within(office, utc(2026, 12, 6, 8, 59))
    # In the constraint's time zone: 09:00 in Taipei is 01:00 UTC.
    taipei = [dict(office[0], timezone="Asia/Taipei")]
    assert within(taipei, utc(2026, 12, 6, 1, 30))
    assert not within(taipei, utc(2026, 12, 6, 9, 30))
    # Any one constraint holding is enough.
    assert within(office + [{"name": "night", "start": "0 22 * * *", "duration": 3600}], utc(2026, 12, 6, 22, 30))


def properties(**constraint):
    entry = {"name": "c", "start": "0 9 * * *", "duration": 60, **constraint}
    return {"meter_name": "cpu_util", "threshold": 1, "time_constraints": [entry]}


def test_the_alarm_refuses_a_bad_cron_expression_or_time_zone_with_its_path():
    assert AodhAlarm.check_properties(properties(timezone="Europe/Amsterdam"))["time_constraints"][0]["duration"] == 60
    with pytest.raises(TemplateError, match="Invalid CRON expression") as error:
        AodhAlarm.check_properties(properties(start="every day"))
    assert error.value.path == ("time_constraints", "0", "start")  # paths are text
    with pytest.raises(TemplateError, match="Invalid timezone: 'Mars/Olympus'") as error:
        AodhAlarm.check_properties(properties(timezone="Mars/Olympus"))
    assert error.value.path == ("time_constraints", "0", "timezone")
