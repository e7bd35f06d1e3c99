"""Fan-out against the fake WeChat API over HTTP: error codes, retries, quota stop, pacing."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.app import wire_services
from models.followers import Follower
from models.reminders import DeliveryLog, ReminderRun, subscribe_topic
from scheduler.fanout import FanOut
from scheduler.reminders import run_reminder_now
from scheduler.ratelimit import Pacer
from tests.conftest import _empty_tables, make_config

TEMPLATE = "message/template/send"
NOW = datetime(2026, 12, 17, 0, 1, tzinfo=timezone.utc)


@pytest.fixture
def live(db_url, redis_prefix, tmp_path, fake_wechat):
    cfg = make_config(db_url, redis_prefix, tmp_path,
                      wechat={"app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
                              "api_base_url": fake_wechat.base_url, "timeout": 3.0,
                              "templates": {"reminder": "TPL_REMIND"}},
                      reminders={"rate_per_second": 1000, "concurrency": 4, "retry_delays": [0.01, 0.01, 0.01]})
    svc = wire_services(cfg)
    _empty_tables(svc)
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


def followers(svc, openids, last=None):
    with svc.db.session() as s:
        for o in openids:
            s.add(Follower(openid=o, subscribed=True, valid=True, last_interaction_at=last))
            s.flush()
            subscribe_topic(s, o, "haircut")


def statuses(svc):
    with svc.db.session() as s:
        return {r.openid: (r.status, r.errcode) for r in s.scalars(select(DeliveryLog))}


def test_43004_and_40003_mark_the_follower(live, fake_wechat):
    followers(live, ["o_ok", "o_left", "o_bad"])
    fake_wechat.non_followers.add("o_left")
    fake_wechat.invalid.add("o_bad")
    result = run_reminder_now(live, "义剪-当天", now=NOW)
    assert result.sent == 1 and result.failed == 2
    assert len(fake_wechat.messages_to("o_ok")) == 1
    got = statuses(live)
    assert got["o_left"] == ("failed", 43004) and got["o_bad"] == ("failed", 40003)
    with live.db.session() as s:
        assert s.get(Follower, "o_left").subscribed is False
        assert s.get(Follower, "o_bad").valid is False
        assert s.get(Follower, "o_ok").subscribed is True
    # the next reminder never tries them again (reset also revokes the token: 40001 -> one refresh)
    fake_wechat.reset()
    run_reminder_now(live, "义剪-前一天", now=NOW)
    assert {c.json["touser"] for c in fake_wechat.calls_to(TEMPLATE)} == {"o_ok"}
    assert [c.json["touser"] for c in fake_wechat.sent] == ["o_ok"]


def test_busy_is_retried_with_back_off(live, fake_wechat):
    followers(live, ["o_1"])
    fake_wechat.script(TEMPLATE, [-1] * 4)   # the client retries twice, the fan-out again
    result = run_reminder_now(live, "义剪-当天", now=NOW)
    assert result.sent == 1
    assert len(fake_wechat.messages_to("o_1")) == 1
    assert fake_wechat.count(TEMPLATE) == 5


def test_quota_stops_the_run_and_a_later_run_sends_the_rest(live, fake_wechat):
    followers(live, [f"o_{i}" for i in range(6)])
    fake_wechat.script(TEMPLATE, [45009])
    fan = FanOut(live, concurrency=1)
    first = run_reminder_now(live, "义剪-当天", now=NOW, occurrence="q1", fanout=fan)
    assert first.status == "stopped" and "45009" in first.note
    assert first.pending == 6 and fake_wechat.sent == []
    with live.db.session() as s:
        assert s.scalar(select(ReminderRun.status).where(ReminderRun.occurrence == "q1")) == "stopped"
    second = run_reminder_now(live, "义剪-当天", now=NOW, occurrence="q1", fanout=fan)
    assert second.status == "done" and second.sent == 6
    assert all(len(fake_wechat.messages_to(f"o_{i}")) == 1 for i in range(6))


def test_template_refused_falls_back_to_customer_service_inside_48h(live, fake_wechat):
    followers(live, ["o_recent"], last=datetime.now(timezone.utc))
    followers(live, ["o_far"])
    fake_wechat.script(TEMPLATE, [40037, 40037])   # e.g. the template was deleted in the admin
    run_reminder_now(live, "义剪-当天", now=NOW, fanout=FanOut(live, concurrency=1))
    assert [c.json["msgtype"] for c in fake_wechat.messages_to("o_recent")] == ["text"]
    assert fake_wechat.messages_to("o_far") == []
    assert statuses(live)["o_far"] == ("failed", 40037)


def test_pacer_spaces_slots_evenly():
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(50, clock=lambda: clock[0], sleep=sleep)
    slots = [pacer.wait() for _ in range(101)]
    assert slots[0] == 0.0
    assert slots[-1] == pytest.approx(2.0)          # 100 intervals of 20 ms
    assert all(b - a == pytest.approx(0.02) for a, b in zip(slots, slots[1:]))
    with pytest.raises(ValueError):
        Pacer(0)


def test_subscribe_notice_used_when_no_template_and_refusal_falls_back(live, fake_wechat, db_url,
                                                                       redis_prefix, tmp_path):
    cfg = make_config(db_url, redis_prefix, tmp_path,
                      wechat={"app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
                              "api_base_url": fake_wechat.base_url, "timeout": 3.0,
                              "templates": {"reminder_subscribe": "SUB_TPL"}},
                      reminders={"retry_delays": [0.01]})
    svc = wire_services(cfg)
    try:
        followers(svc, ["o_accepted"])
        followers(svc, ["o_refused_recent"], last=datetime.now(timezone.utc))
        fake_wechat.refused.add("o_refused_recent")
        run_reminder_now(svc, "义剪-当天", now=NOW)
        assert [c.path for c in fake_wechat.messages_to("o_accepted")] == ["message/subscribe/bizsend"]
        assert [c.path for c in fake_wechat.messages_to("o_refused_recent")] == ["message/custom/send"]
    finally:
        svc.db.dispose()
