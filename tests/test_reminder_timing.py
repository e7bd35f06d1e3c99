"""When reminders fire (scheduler.timing), checked with frozen time and the server in UTC."""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine

from models.base import utcnow
from models.reminders import ReminderError
from scheduler.runner import ReminderTrigger
from scheduler.timing import (ScheduleSpec, activity_reminder_window, check_spec, fires_between,
                              latest_fire, next_fire, occurrence_key, within_grace)

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
MORNING = ScheduleSpec("0 8 17 * *", SH)                 # 义剪-当天
EVE = ScheduleSpec("0 18 16 * *", SH, offset_days=1)     # 义剪-前一天


@pytest.fixture(autouse=True)
def server_in_utc(monkeypatch):
    """The server's own zone is UTC; nothing may depend on it."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_17th_morning_fires_at_0800_shanghai_which_is_0000_utc():
    with time_machine.travel(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), tick=False):
        fire = next_fire(MORNING, utcnow())
    assert fire.at == datetime(2026, 12, 17, 0, 0, tzinfo=UTC)
    assert fire.at.astimezone(SH).hour == 8
    assert fire.event_date == date(2026, 12, 17)
    assert fire.key == "2026-12-17T00:00Z"


def test_day_before_fires_on_16th_at_1800_shanghai():
    with time_machine.travel(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), tick=False):
        fire = next_fire(EVE, utcnow())
    assert fire.at == datetime(2026, 12, 16, 10, 0, tzinfo=UTC)
    assert fire.at.astimezone(SH) == datetime(2026, 12, 16, 18, 0, tzinfo=SH)
    assert fire.event_date == date(2026, 12, 17)


def test_just_before_and_after_the_fire():
    before = datetime(2026, 12, 16, 23, 59, 59, tzinfo=UTC)
    assert next_fire(MORNING, before).at == datetime(2026, 12, 17, 0, 0, tzinfo=UTC)
    at = datetime(2026, 12, 17, 0, 0, tzinfo=UTC)
    assert next_fire(MORNING, at).at == datetime(2027, 1, 17, 0, 0, tzinfo=UTC)
    assert latest_fire(MORNING, at).at == at


# 2027: the 17th is a Sunday in January and October, a Saturday in April and July.
WEEKEND_17THS = {1: 6, 4: 5, 7: 5, 10: 6}


def _year_of_fires(spec):
    return fires_between(spec, datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))


def test_weekend_keep_fires_every_month_on_the_17th():
    fires = _year_of_fires(ScheduleSpec("0 8 17 * *", SH, weekend="keep"))
    assert [f.at.astimezone(SH).day for f in fires] == [17] * 12


def test_weekend_skip_drops_months_whose_17th_is_a_weekend():
    fires = _year_of_fires(ScheduleSpec("0 8 17 * *", SH, weekend="skip"))
    months = [f.at.astimezone(SH).month for f in fires]
    assert months == [m for m in range(1, 13) if m not in WEEKEND_17THS]


def test_weekend_friday_moves_the_event_and_its_day_before_reminder():
    eve = _year_of_fires(ScheduleSpec("0 18 16 * *", SH, offset_days=1, weekend="friday"))
    morning = _year_of_fires(ScheduleSpec("0 8 17 * *", SH, weekend="friday"))
    by_month = {f.event_date.month: f for f in morning}
    assert by_month[1].event_date == date(2027, 1, 15)                       # Sunday -> Friday
    assert by_month[1].at == datetime(2027, 1, 15, 8, 0, tzinfo=SH).astimezone(UTC)
    assert by_month[4].event_date == date(2027, 4, 16)                       # Saturday -> Friday
    assert by_month[2].event_date == date(2027, 2, 17)                       # weekday: unchanged
    eve_by_month = {f.event_date.month: f for f in eve}
    assert eve_by_month[1].at.astimezone(SH) == datetime(2027, 1, 14, 18, 0, tzinfo=SH)
    assert eve_by_month[3].at.astimezone(SH) == datetime(2027, 3, 16, 18, 0, tzinfo=SH)
    assert all(f.event_date.weekday() < 5 for f in morning + eve)
    assert len(morning) == len(eve) == 12


def test_weekend_monday_moves_forward():
    fires = _year_of_fires(ScheduleSpec("0 8 17 * *", SH, weekend="monday"))
    by_month = {f.event_date.month: f.event_date for f in fires}
    assert by_month[1] == date(2027, 1, 18)
    assert by_month[4] == date(2027, 4, 19)
    assert by_month[5] == date(2027, 5, 17)


def test_missed_run_grace_same_local_day():
    due = datetime(2026, 12, 17, 0, 0, tzinfo=UTC)   # 08:00 local
    assert within_grace(due, due + timedelta(hours=15), SH, "same_day")       # 23:00 local
    assert not within_grace(due, due + timedelta(hours=16, minutes=1), SH, "same_day")  # next day
    assert not within_grace(due, due - timedelta(seconds=1), SH, "same_day")  # not yet due
    assert within_grace(due, due + timedelta(minutes=30), SH, 3600)
    assert not within_grace(due, due + timedelta(minutes=61), SH, 3600)


def test_activity_window_is_tomorrow_local():
    now = datetime(2026, 12, 16, 10, 0, tzinfo=UTC)  # 18:00 local on the 16th
    start, end = activity_reminder_window(now, SH)
    assert start == datetime(2026, 12, 17, 0, 0, tzinfo=SH).astimezone(UTC)
    assert end - start == timedelta(days=1)
    # 23:30 UTC on the 16th is already the 17th in Shanghai
    start2, _ = activity_reminder_window(datetime(2026, 12, 16, 23, 30, tzinfo=UTC), SH)
    assert start2.astimezone(SH).date() == date(2026, 12, 18)


def test_bad_schedules_are_refused_in_chinese():
    with pytest.raises(ReminderError, match="5段"):
        check_spec(ScheduleSpec("0 18 16", SH))
    with pytest.raises(ReminderError, match="时间表有误"):
        check_spec(ScheduleSpec("0 25 16 * *", SH))
    with pytest.raises(ReminderError, match="周末规则"):
        check_spec(ScheduleSpec("0 18 16 * *", SH, weekend="sometimes"))


def test_apscheduler_trigger_uses_the_same_computation_and_pickles():
    import pickle

    trigger = pickle.loads(pickle.dumps(ReminderTrigger("0 8 17 * *", "Asia/Shanghai")))
    now = datetime(2026, 12, 17, 0, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, now) == now          # due now counts
    assert trigger.get_next_fire_time(now, now) == datetime(2027, 1, 17, 0, 0, tzinfo=UTC)
    assert occurrence_key(now) == "2026-12-17T00:00Z"
