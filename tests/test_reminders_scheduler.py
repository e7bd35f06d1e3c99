"""Reminder runs in dry run (outbox): audiences, channels, once-only, grace, activities, notices."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.app import wire_services
from models.followers import Follower
from models.outbox import OutboxMessage
from models.reminders import (RUN_DONE, RUN_MISSED, DeliveryLog, Reminder, ReminderRun,
                             ensure_default_reminders, get_reminder, subscribe_topic)
from scheduler.fanout import FanOut
from scheduler.reminders import deliver_notices, remind_activities, run_due, run_reminder_now
from tests.conftest import _empty_tables, make_config

UTC = timezone.utc
NOW = datetime(2026, 12, 17, 0, 0, 30, tzinfo=UTC)   # 08:00:30 in Shanghai, the 17th


@pytest.fixture(autouse=True)
def frozen_clock():
    """The wall clock is at NOW (08:00:30 on the 17th in Shanghai) and ticks on."""
    import time_machine

    with time_machine.travel(NOW, tick=True):
        yield


def _services(db_url, redis_prefix, tmp_path, **reminders):
    cfg = make_config(db_url, redis_prefix, tmp_path,
                      wechat={"templates": reminders.pop("templates", {})},
                      reminders={"rate_per_second": 500, "retry_delays": [0.01], **reminders})
    svc = wire_services(cfg)
    _empty_tables(svc)
    return svc


@pytest.fixture
def svc(db_url, redis_prefix, tmp_path):
    """Dry-run services with a template id for reminders and notices."""
    s = _services(db_url, redis_prefix, tmp_path, templates={"reminder": "TPL_REMIND", "notice": "TPL_NOTICE"})
    yield s
    _empty_tables(s)
    s.db.dispose()


@pytest.fixture
def plain(db_url, redis_prefix, tmp_path):
    """Dry-run services with no template configured (客服消息 only)."""
    s = _services(db_url, redis_prefix, tmp_path)
    yield s
    _empty_tables(s)
    s.db.dispose()


def add_follower(session, openid, *, subscribed=True, valid=True, last=None, town=None, topics=()):
    session.add(Follower(openid=openid, subscribed=subscribed, valid=valid, last_interaction_at=last,
                         town=town, first_seen_at=NOW))
    session.flush()
    for t in topics:
        subscribe_topic(session, openid, t)


def outbox(services, api=None):
    with services.db.session() as s:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if api:
            stmt = stmt.where(OutboxMessage.api == api)
        return [(r.openid, json.loads(r.payload)) for r in s.scalars(stmt)]


def test_haircut_template_goes_to_topic_subscribers_only(svc):
    with svc.db.session() as s:
        add_follower(s, "o_sub_1", topics=["haircut"])
        add_follower(s, "o_sub_2", topics=["haircut"])
        add_follower(s, "o_gone", subscribed=False, topics=["haircut"])
        add_follower(s, "o_invalid", valid=False, topics=["haircut"])
        add_follower(s, "o_other_topic", topics=["activities"])
    result = run_reminder_now(svc, "义剪-当天", now=NOW)
    assert result.status == "done" and result.sent == 2
    sent = outbox(svc, "message/template/send")
    assert sorted(o for o, _ in sent) == ["o_sub_1", "o_sub_2"]
    body = sent[0][1]
    assert body["template_id"] == "TPL_REMIND"
    assert body["client_msg_id"]
    assert body["data"]["thing1"]["value"] == "爱心义剪"
    assert body["data"]["time2"]["value"].startswith("12月17日")
    assert "助困公益协会妇联" in body["data"]["thing3"]["value"]   # place from the directory name
    assert all(len(v["value"]) <= 20 for v in body["data"].values())


def test_running_again_sends_nothing_twice(svc):
    with svc.db.session() as s:
        add_follower(s, "o_a", topics=["haircut"])
    first = run_reminder_now(svc, "义剪-前一天", now=NOW)
    second = run_reminder_now(svc, "义剪-前一天", now=NOW)
    assert first.sent == 1
    assert second.status == "already_done"
    assert len(outbox(svc)) == 1


def test_without_template_only_followers_inside_48h_get_a_customer_service_message(plain):
    with plain.db.session() as s:
        add_follower(s, "o_recent", last=NOW - timedelta(hours=3), topics=["haircut"])
        add_follower(s, "o_old", last=NOW - timedelta(hours=49), topics=["haircut"])
    result = run_reminder_now(plain, "义剪-前一天", now=NOW)
    assert (result.sent, result.skipped) == (1, 1)
    sent = outbox(plain)
    assert [(o, b["msgtype"]) for o, b in sent] == [("o_recent", "text")]
    assert "退订义剪" in sent[0][1]["text"]["content"]
    with plain.db.session() as s:
        row = s.scalar(select(DeliveryLog).where(DeliveryLog.openid == "o_old"))
        assert row.status == "skipped" and "48" in row.detail


def test_town_audience(plain):
    with plain.db.session() as s:
        add_follower(s, "o_tc", town="桃城镇", last=NOW)
        add_follower(s, "o_pf", town="蓬壶镇", last=NOW)
        r = Reminder(name="桃城通知", title="桃城活动", schedule="0 9 1 * *", audience="town:桃城镇",
                     text="{title}：{when}")
        s.add(r)
    result = run_reminder_now(plain, "桃城通知", now=NOW)
    assert result.sent == 1
    assert [o for o, _ in outbox(plain)] == ["o_tc"]


def test_run_due_fires_once_and_records_the_run(svc):
    with svc.db.session() as s:
        add_follower(s, "o_a", topics=["haircut"])
    checks = {c.reminder: c for c in run_due(svc, NOW)}
    assert checks["义剪-当天"].action == "run"
    assert checks["义剪-当天"].occurrence == "2026-12-17T00:00Z"
    assert checks["义剪-前一天"].action == "missed"   # the 16th 18:00 was yesterday: beyond grace
    again = {c.reminder: c for c in run_due(svc, NOW + timedelta(minutes=5))}
    assert again["义剪-当天"].action == "done"
    assert len(outbox(svc)) == 1
    with svc.db.session() as s:
        runs = {r.occurrence: r.status for r in s.scalars(select(ReminderRun))}
    assert runs["2026-12-17T00:00Z"] == RUN_DONE
    assert runs["2026-12-16T10:00Z"] == RUN_MISSED


def test_missed_run_within_grace_fires_once_later_that_day(svc):
    with svc.db.session() as s:
        add_follower(s, "o_a", topics=["haircut"])
    late = datetime(2026, 12, 17, 14, 0, tzinfo=UTC)  # 22:00 local: scheduler was down since 07:00
    run_due(svc, late)
    run_due(svc, late + timedelta(minutes=1))
    sent = [b for _, b in outbox(svc)]
    assert len(sent) == 1 and sent[0]["data"]["time2"]["value"].startswith("12月17日")


def test_missed_run_beyond_grace_is_not_sent(svc):
    with svc.db.session() as s:
        add_follower(s, "o_a", topics=["haircut"])
    next_morning = datetime(2026, 12, 17, 16, 30, tzinfo=UTC)  # 00:30 local on the 18th
    checks = {c.reminder: c.action for c in run_due(svc, next_morning)}
    assert checks["义剪-当天"] == "missed"
    assert outbox(svc) == []


def test_disabled_reminder_does_not_run(svc):
    with svc.db.session() as s:
        add_follower(s, "o_a", topics=["haircut"])
        ensure_default_reminders(s)
        get_reminder(s, "义剪-当天").enabled = False
    checks = {c.reminder for c in run_due(svc, NOW)}
    assert "义剪-当天" not in checks
    assert outbox(svc) == []


def _activity(session, number, title, starts_at, place="桃城镇妇女微家"):
    from models.activities import Activity

    a = Activity(number=number, title=title, category="", place=place, starts_at=starts_at,
                 ends_at=starts_at + timedelta(hours=2), status="open", description="")
    session.add(a)
    session.flush()
    return a


def _signup(session, activity, openid, status):
    from models.activities import Signup

    session.add(Signup(activity_id=activity.id, openid=openid, role="participant", status=status))


def test_activity_reminder_day_before_to_confirmed_signups_only(svc):
    eve = datetime(2026, 12, 16, 10, 0, tzinfo=UTC)   # 18:00 local on the 16th
    with svc.db.session() as s:
        for o in ("o_conf", "o_wait", "o_cancel", "o_gone"):
            add_follower(s, o, subscribed=o != "o_gone")
        tomorrow = _activity(s, 7, "亲子早教", datetime(2026, 12, 17, 1, 30, tzinfo=UTC))
        later = _activity(s, 8, "电商直播培训", datetime(2026, 12, 20, 1, 30, tzinfo=UTC))
        _signup(s, tomorrow, "o_conf", "confirmed")
        _signup(s, tomorrow, "o_wait", "waiting")
        _signup(s, tomorrow, "o_cancel", "cancelled")
        _signup(s, tomorrow, "o_gone", "confirmed")
        _signup(s, later, "o_wait", "confirmed")
    results = remind_activities(svc, now=eve)
    assert len(results) == 1 and results[0].occurrence.startswith("activity:")
    sent = outbox(svc)
    assert [o for o, _ in sent] == ["o_conf"]
    data = sent[0][1]["data"]
    assert data["thing1"]["value"] == "亲子早教"
    assert data["time2"]["value"] == "12月17日（周四） 09:30"
    remind_activities(svc, now=eve + timedelta(hours=1))   # again: nothing new
    assert len(outbox(svc)) == 1


def test_activity_reminder_runs_from_its_schedule(svc):
    with svc.db.session() as s:
        add_follower(s, "o_conf")
        a = _activity(s, 9, "普法宣传", datetime(2026, 12, 17, 2, 0, tzinfo=UTC))
        _signup(s, a, "o_conf", "confirmed")
    run_due(svc, datetime(2026, 12, 16, 10, 1, tzinfo=UTC))
    run_due(svc, datetime(2026, 12, 16, 10, 2, tzinfo=UTC))
    assert [o for o, _ in outbox(svc)] == ["o_conf"]


def test_pending_notices_are_delivered_by_template_once(svc):
    from models.notice import Notice, queue_notice

    with svc.db.session() as s:
        add_follower(s, "o_promoted", last=NOW - timedelta(days=5))
        queue_notice(s, "o_promoted", "signup_promoted", "您已从候补转为正式报名：亲子早教", now=NOW)
    deliver_notices(svc, now=NOW)
    deliver_notices(svc, now=NOW + timedelta(minutes=5))
    sent = outbox(svc)
    assert len(sent) == 1
    assert sent[0][1]["template_id"] == "TPL_NOTICE"
    with svc.db.session() as s:
        n = s.scalar(select(Notice))
        assert n.delivered_at is not None and n.attempts == 1


def test_notice_waits_when_no_channel_then_goes_as_customer_service_message(plain):
    from models.notice import Notice, queue_notice

    with plain.db.session() as s:
        add_follower(s, "o_far", last=NOW - timedelta(days=5))
        queue_notice(s, "o_far", "signup_promoted", "候补转正", now=NOW)
    deliver_notices(plain, now=NOW)
    assert outbox(plain) == []
    with plain.db.session() as s:
        s.get(Follower, "o_far").last_interaction_at = NOW   # she wrote to the account
    deliver_notices(plain, now=NOW + timedelta(minutes=1))
    assert [(o, b["msgtype"]) for o, b in outbox(plain)] == [("o_far", "text")]
    with plain.db.session() as s:
        assert s.scalar(select(Notice)).delivered_at is not None


def test_crashed_run_resumes_and_sends_only_the_missing(svc):
    """A run that died with rows 'sending' (template) resends those with the same client_msg_id
    and never the finished ones."""
    with svc.db.session() as s:
        for i in range(30):
            add_follower(s, f"o_{i:02d}", topics=["haircut"])
    fan = FanOut(svc, rate=1000)
    first = run_reminder_now(svc, "义剪-当天", now=NOW, occurrence="k1", fanout=fan)
    assert first.sent == 30
    # simulate a crash: a run left 'running' with 10 rows pending and 5 'sending'
    with svc.db.session() as s:
        r = get_reminder(s, "义剪-当天")
        run = s.scalar(select(ReminderRun).where(ReminderRun.occurrence == "k1"))
        run.status = "running"
        rows = list(s.scalars(select(DeliveryLog).where(DeliveryLog.occurrence == "k1")
                              .order_by(DeliveryLog.id)))
        for row in rows[:10]:
            row.status = "pending"
        for row in rows[10:15]:
            row.status = "sending"
        keys = {row.openid: row.client_msg_id for row in rows[10:15]}
    before = len(outbox(svc))
    again = run_reminder_now(svc, "义剪-当天", now=NOW, occurrence="k1", fanout=fan)
    resent = outbox(svc)[before:]
    assert len(resent) == 15 and again.sent == 30 and again.status == "done"
    for openid, body in resent:
        if openid in keys:
            assert body["client_msg_id"] == keys[openid]
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryLog)) == 30


def test_a_place_without_a_known_address_is_just_its_name(services):
    from models.directory import ServicePoint
    from scheduler.reminders import place_text

    with services.db.session() as s:
        s.add(ServicePoint(name="无地址妇女微家", lat=25.3, lng=118.3))
        s.add(ServicePoint(name="有地址妇女微家", town="桃城镇", address="桃城镇某路1号", lat=25.3, lng=118.3))
        s.flush()
        assert place_text(s, "无地址妇女微家") == "无地址妇女微家"  # no 「地址请咨询县妇联」
        assert place_text(s, "有地址妇女微家") == "有地址妇女微家（桃城镇某路1号）"
