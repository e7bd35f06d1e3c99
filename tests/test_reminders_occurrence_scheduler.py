"""The date a reminder announces comes from its occurrence, never from the clock of the run
(issue 15, item 11): the README's 45009 catch-up (``--occurrence`` the next day) and manual runs
(义剪-前一天 by hand on 12-06), each tried with the wall clock at several moments."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import wire_services
from models.followers import Follower
from models.outbox import OutboxMessage
from models.reminders import Reminder, ensure_default_reminders, subscribe_topic
from scheduler.reminders import run_reminder_now
from scheduler.timing import ScheduleSpec, announced_fire, fire_for_key, occurrence_event_date
from tests.conftest import _empty_tables, make_config

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def svc(db_url, redis_prefix, tmp_path):
    cfg = make_config(db_url, redis_prefix, tmp_path, wechat={"templates": {"reminder": "TPL_REMIND"}},
                      reminders={"rate_per_second": 500, "retry_delays": [0.01]})
    s = wire_services(cfg)
    _empty_tables(s)
    with s.db.session() as session:
        session.add(Follower(openid="o_hair", subscribed=True, valid=True, first_seen_at=local(2020, 1, 1)))
        session.flush()
        subscribe_topic(session, "o_hair", "haircut")
    yield s
    _empty_tables(s)
    s.db.dispose()


def announced(services) -> list[str]:
    """The time field of every template message sent (the announced date)."""
    with services.db.session() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.api == "message/template/send")
                         .order_by(OutboxMessage.id)).all()
        return [json.loads(r.payload)["data"]["time2"]["value"] for r in rows]


def run_at(services, name, moment, **kw):
    """Run ``name`` by hand with the wall clock (and ``now``) at ``moment``."""
    import time_machine

    with time_machine.travel(moment, tick=True):
        return run_reminder_now(services, name, now=moment, **kw)


@pytest.mark.parametrize("moment,expected", [
    (local(2026, 12, 6, 10, 0), "12月17日"),     # the README's case: run by hand on the 6th
    (local(2026, 12, 1, 0, 5), "12月17日"),
    (local(2026, 12, 16, 17, 59), "12月17日"),   # before the 18:00 fire
    (local(2026, 12, 16, 19, 0), "12月17日"),    # after it
    (local(2026, 12, 17, 7, 0), "12月17日"),     # the day itself: today's event
    (local(2026, 12, 18, 9, 0), "1月17日"),      # after it: next month's
    (local(2026, 12, 31, 23, 30), "1月17日"),
    (local(2030, 2, 28, 10, 0), "3月17日"),
    (local(2036, 12, 31, 23, 30), "1月17日"),
])
def test_manual_day_before_run_announces_the_next_event_not_tomorrow(svc, moment, expected):
    result = run_at(svc, "义剪-前一天", moment)
    assert result.sent == 1
    [when] = announced(svc)
    assert when.startswith(expected), when


@pytest.mark.parametrize("moment", [local(2026, 12, 17, 9, 0), local(2026, 12, 18, 9, 30),
                                    local(2026, 12, 20, 23, 59), local(2027, 1, 3, 8, 0)])
def test_catch_up_of_a_stopped_fire_announces_that_fire_s_event(svc, moment):
    """README: after 45009, ``reminders run 义剪-前一天 --now --occurrence <key>`` the next day."""
    key = "2026-12-16T10:00Z"                     # 18:00 on the 16th in Shanghai
    result = run_at(svc, "义剪-前一天", moment, occurrence=key)
    assert result.occurrence == key and result.sent == 1
    [when] = announced(svc)
    assert when.startswith("12月17日"), when


@pytest.mark.parametrize("moment", [local(2026, 12, 17, 8, 30), local(2026, 12, 18, 8, 0)])
def test_catch_up_of_the_same_day_reminder(svc, moment):
    result = run_at(svc, "义剪-当天", moment, occurrence="2026-12-17T00:00Z")
    assert result.sent == 1
    assert announced(svc)[0].startswith("12月17日")


@pytest.mark.parametrize("moment", [local(2026, 12, 7, 9, 0), local(2026, 12, 16, 20, 0)])
def test_resuming_a_manual_run_another_day_keeps_its_date(svc, moment):
    result = run_at(svc, "义剪-前一天", moment, occurrence="manual:2026-12-06")
    assert result.sent == 1
    assert announced(svc)[0].startswith("12月17日")


def test_weekend_policy_is_kept_in_a_catch_up(svc):
    # 2027-04-17 is a Saturday: with "friday" the event moves to Friday the 16th, the
    # day-before reminder to Thursday the 15th at 18:00 (10:00Z).
    assert date(2027, 4, 17).weekday() == 5
    with svc.db.session() as s:
        ensure_default_reminders(s)
        s.scalar(select(Reminder).where(Reminder.name == "义剪-前一天")).weekend = "friday"
    result = run_at(svc, "义剪-前一天", local(2027, 4, 16, 9, 0), occurrence="2027-04-15T10:00Z")
    assert result.sent == 1
    assert announced(svc)[0].startswith("4月16日")


# -- the pure functions --------------------------------------------------------------------------
SPEC = ScheduleSpec("0 18 16 * *", SH, 1, "keep")


def test_fire_for_key():
    fire = fire_for_key(SPEC, "2026-12-16T10:00Z")
    assert fire is not None and fire.event_date == date(2026, 12, 17)
    assert fire_for_key(SPEC, "2026-12-16T11:00Z") is None     # no fire at that minute
    assert fire_for_key(SPEC, "manual:2026-12-06") is None
    assert fire_for_key(SPEC, "k1") is None


@pytest.mark.parametrize("day,event", [(date(2026, 12, 6), date(2026, 12, 17)),
                                       (date(2026, 12, 17), date(2026, 12, 17)),
                                       (date(2026, 12, 18), date(2027, 1, 17))])
def test_announced_fire(day, event):
    assert announced_fire(SPEC, day).event_date == event


def test_occurrence_event_date_ignores_the_run_day():
    for run_day in (date(2026, 12, 17), date(2026, 12, 25), date(2027, 3, 1)):
        assert occurrence_event_date(SPEC, "2026-12-16T10:00Z", run_day) == date(2026, 12, 17)
        assert occurrence_event_date(SPEC, "manual:2026-12-06", run_day) == date(2026, 12, 17)
    assert occurrence_event_date(SPEC, "k1", date(2026, 12, 6)) == date(2026, 12, 17)
