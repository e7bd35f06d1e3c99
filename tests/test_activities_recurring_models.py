"""The monthly 爱心义剪 as a recurring activity (issue 16 item 11): each month's activity made
ahead of time, once per month; the seed's 爱心义剪 and 【改革破难】 on a fresh install; the
CLI and the scheduler job."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select

from models import activities as acts
from models import activities_recurring as rec
from models.base import utcnow
from tests.helpers import say

TZ_NAME = "Asia/Shanghai"


def local(services, *args):
    return datetime(*args, tzinfo=services.tz)


def _haircut(services, **kw) -> int:
    with services.db.session() as s:
        return rec.add_recurring(s, title="爱心义剪", day=17, start_time="9:00", minutes=180,
                                 place="助困公益协会妇联", **kw).id


def test_create_due_makes_the_next_month_once(services):
    rid = _haircut(services, capacity=None)
    now = local(services, 2030, 1, 5, 8, 0)
    with services.db.write_session() as s:
        made = rec.create_due(s, tz=services.tz, default_seats=25, now=now)
        assert [m.month for m in made] == ["2030-01"]
        act = made[0].activity
        assert act.starts_at == local(services, 2030, 1, 17, 9, 0)
        assert act.ends_at - act.starts_at == timedelta(hours=3)
        assert (act.capacity, act.category, act.status) == (25, "爱心义剪", acts.OPEN)
    with services.db.write_session() as s:   # again the same day, and the next day: nothing new
        assert rec.create_due(s, tz=services.tz, now=now) == []
        assert rec.create_due(s, tz=services.tz, now=now + timedelta(days=1)) == []
    with services.db.write_session() as s:   # after the 17th: February (31 days ahead)
        made = rec.create_due(s, tz=services.tz, now=local(services, 2030, 1, 18, 6, 10))
        assert [m.month for m in made] == ["2030-02"]
    with services.db.session() as s:
        assert s.get(rec.RecurringActivity, rid).made_through == "2030-02"
        assert len(list(s.scalars(select(acts.Activity)))) == 2


def test_a_deleted_month_is_not_made_again_by_the_job_but_can_be_by_hand(services):
    rid = _haircut(services, capacity=12)
    now = local(services, 2031, 3, 1, 8, 0)
    with services.db.write_session() as s:
        assert len(rec.create_due(s, tz=services.tz, now=now)) == 1
    with services.db.session() as s:
        s.execute(delete(acts.Activity))
    with services.db.write_session() as s:
        assert rec.create_due(s, tz=services.tz, now=now + timedelta(hours=1)) == []
        result = rec.create_month(s, rid, "2031-03", tz=services.tz, now=now)
        assert result.created and result.activity.capacity == 12
        again = rec.create_month(s, rid, "2031-03", tz=services.tz, now=now)
        assert not again.created and again.activity.id == result.activity.id


def test_short_months_use_their_last_day_and_bad_input_is_refused(services):
    with services.db.session() as s:
        row = rec.add_recurring(s, title="月末读书会", day=31, start_time="19:30")
        assert rec.occurrence_start(row, "2030-02", services.tz) == local(services, 2030, 2, 28, 19, 30)
        assert rec.next_month_for(s, row.id, tz=services.tz,
                                  now=local(services, 2030, 4, 30, 20, 0)) == "2030-05"
        for bad in ({"day": 0}, {"start_time": "9点"}, {"minutes": 5}, {"capacity": 0}):
            with pytest.raises(rec.RecurringError):
                rec.add_recurring(s, **{"title": "x", "day": 17, **bad})


def test_fresh_install_has_the_haircut_and_the_reform_column(tmp_path, redis_prefix):
    """A fresh database (migrations only): the seed's 爱心义剪 is a recurring activity, the job
    makes the next one, and 「报名 1」 signs up for it; 改革破难 is there and a column staff
    deleted does not come back on the next upgrade."""
    from bot.app import wire_services
    from bot.core.db import upgrade
    from models.columns import ArticleColumn
    from scheduler.activities import make_recurring
    from tests.conftest import make_config

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    svc = wire_services(make_config(url, redis_prefix, tmp_path, activities={"haircut_seats": 30}))
    try:
        with svc.db.session() as s:
            haircut = s.scalar(select(rec.RecurringActivity))
            assert (haircut.title, haircut.day, haircut.capacity) == ("爱心义剪", 17, None)
            assert s.scalar(select(ArticleColumn).where(ArticleColumn.name == "改革破难")) is not None
        made = make_recurring(svc)
        assert len(made) == 1
        with svc.db.session() as s:
            act = s.scalar(select(acts.Activity))
            assert (act.number, act.capacity, act.title) == (1, 30, "爱心义剪")
            assert act.starts_at.astimezone(svc.tz).day == 17 and act.starts_at > utcnow()
        reply = say(svc, "oFresh", "报名 1")
        assert "没有找到" not in reply and "爱心义剪" in reply
        with svc.db.session() as s:
            s.execute(delete(ArticleColumn))
            s.execute(delete(rec.RecurringActivity))
        upgrade(url)
        with svc.db.session() as s:
            assert s.scalar(select(ArticleColumn)) is None
            assert s.scalar(select(rec.RecurringActivity)) is None
    finally:
        svc.db.dispose()


def test_cli_make_and_run(services, run):
    rid = _haircut(services)
    r = run("activities", "recurring", "list")
    assert r.exit_code == 0 and "每月17日" in r.output and "按配置" in r.output
    r = run("activities", "recurring", "make", str(rid))
    assert r.exit_code == 0, r.output
    number = int(r.output.strip().splitlines()[-1])
    r = run("activities", "recurring", "make", str(rid))
    assert r.exit_code == 0 and "已有" in r.output and int(r.output.strip().splitlines()[-1]) == number
    assert run("activities", "recurring", "make", "999").exit_code != 0
    r = run("activities", "recurring", "run")
    assert r.exit_code == 0


def test_scheduler_registers_the_daily_job(services):
    from scheduler.activities import JOB_ID, register

    added = []

    class Fake:
        def add_job(self, func, trigger, **kw):
            added.append((func, trigger, kw["id"]))

    register(Fake(), services, {})
    assert ("scheduler.runner:job_recurring_activities", "cron", JOB_ID) in added
    added.clear()
    register(Fake(), services, {JOB_ID: object()})
    assert added == []


def test_the_scheduler_catch_up_at_start_makes_the_next_one(services, monkeypatch):
    from scheduler import runner

    _haircut(services)
    monkeypatch.setattr(runner, "_SERVICES", services)
    runner.job_catch_up()
    with services.db.session() as s:
        act = s.scalar(select(acts.Activity))
        assert act is not None and act.title == "爱心义剪" and act.starts_at > utcnow()


def test_cli_list_has_a_header_and_says_when_nothing_was_made(services, run):
    _haircut(services)
    lines = run("activities", "recurring", "list").output.strip().splitlines()
    assert lines[0].split("\t") == ["编号", "名称", "时间", "名额", "状态", "已生成到"]
    assert lines[1].endswith("尚未生成") and "-" not in lines[1].split("\t")[-1]
