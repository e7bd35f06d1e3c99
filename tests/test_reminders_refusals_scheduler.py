"""What WeChat refused stays refused until she writes again (issue 15, items 9 and 10), against
the fake WeChat API over HTTP, with TEMPLATESENDJOBFINISH and her messages through the signed
webhook:

* ``failed:user block`` → template runs skip her until she writes again;
* ``failed: system failed`` → one resend in the next run (new client_msg_id), no more;
* 45015 on a 客服消息 → a Chinese reason for staff, one log line (openid masked), and the 客服
  channel is not tried for her again until she writes.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import create_app, wire_services
from bot.core.logging import mask_openid
from bot.simulator import Simulator, event_fields, flask_transport, text_fields
from models.base import utcnow
from models.followers import Follower
from models.reminders import DeliveryLog, subscribe_topic
from scheduler.reminders import run_reminder_now
from tests.conftest import _empty_tables, make_config
from tests.helpers import login, make_staff

TEMPLATE, CUSTOM = "message/template/send", "message/custom/send"


def _live(db_url, redis_prefix, tmp_path, fake_wechat, templates):
    cfg = make_config(db_url, redis_prefix, tmp_path,
                      wechat={"app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
                              "api_base_url": fake_wechat.base_url, "timeout": 3.0,
                              "templates": templates},
                      reminders={"rate_per_second": 1000, "concurrency": 2, "retry_delays": [0.01]})
    svc = wire_services(cfg)
    _empty_tables(svc)
    return svc


@pytest.fixture
def live(db_url, redis_prefix, tmp_path, fake_wechat):
    """Template messages configured (the 客服 channel only inside 48 h)."""
    svc = _live(db_url, redis_prefix, tmp_path, fake_wechat, {"reminder": "TPL_REMIND"})
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def custom_only(db_url, redis_prefix, tmp_path, fake_wechat):
    """No template configured: 客服消息 only."""
    svc = _live(db_url, redis_prefix, tmp_path, fake_wechat, {})
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


def webhook(services):
    sim = Simulator(token=services.config.wechat["token"])
    transport = flask_transport(create_app(services=services).test_client())

    class Push:
        @staticmethod
        def say(openid, text):
            return sim.send(transport, text_fields(openid, text))

        @staticmethod
        def finished(openid, msg_id, status):
            return sim.send(transport, event_fields(openid, "TEMPLATESENDJOBFINISH", MsgID=msg_id,
                                                    Status=status))
    return Push


def followers(svc, openids, hours_ago):
    with svc.db.session() as s:
        for o in openids:
            s.add(Follower(openid=o, subscribed=True, valid=True,
                           last_interaction_at=utcnow() - timedelta(hours=hours_ago)))
            s.flush()
            subscribe_topic(s, o, "haircut")


def row(svc, openid, occurrence):
    with svc.db.session() as s:
        r = s.scalar(select(DeliveryLog).where(DeliveryLog.openid == openid,
                                               DeliveryLog.occurrence == occurrence))
        s.expunge(r)
        return r


def sends_to(fake_wechat, path, openid):
    return [c for c in fake_wechat.calls_to(path) if (c.json or {}).get("touser") == openid]


# -- item 9: failed:user block --------------------------------------------------------------------
def test_blocked_woman_is_skipped_until_she_writes_again(live, fake_wechat):
    push = webhook(live)
    followers(live, ["o_keep", "o_block"], hours_ago=72)        # outside 48 h: template only
    first = run_reminder_now(live, "义剪-当天", occurrence="k1")
    assert first.sent == 2
    assert push.finished("o_block", row(live, "o_block", "k1").msg_id, "failed:user block") is None
    assert row(live, "o_block", "k1").status == "blocked"

    second = run_reminder_now(live, "义剪-前一天", occurrence="k2")
    assert len(sends_to(fake_wechat, TEMPLATE, "o_block")) == 1      # not sent again
    assert len(sends_to(fake_wechat, TEMPLATE, "o_keep")) == 2
    skipped = row(live, "o_block", "k2")
    assert skipped.status == "skipped" and "拒收" in skipped.detail
    assert second.skipped == 1

    push.say("o_block", "你好")                                     # she writes again
    run_reminder_now(live, "义剪-当天", occurrence="k3")
    assert len(sends_to(fake_wechat, TEMPLATE, "o_block")) == 2
    assert row(live, "o_block", "k3").status == "sent"


def test_blocked_woman_inside_48_hours_gets_the_customer_service_message_instead(live, fake_wechat):
    push = webhook(live)
    followers(live, ["o_recent"], hours_ago=72)
    run_reminder_now(live, "义剪-当天", occurrence="k1")
    push.finished("o_recent", row(live, "o_recent", "k1").msg_id, "failed:user block")
    with live.db.session() as s:      # a 客服 window opened by something else (a subscribe event)
        f = s.get(Follower, "o_recent")
        f.last_interaction_at = f.template_blocked_at - timedelta(seconds=1)
    run_reminder_now(live, "义剪-前一天", occurrence="k2")
    assert len(sends_to(fake_wechat, TEMPLATE, "o_recent")) == 1
    assert len(sends_to(fake_wechat, CUSTOM, "o_recent")) == 1      # the channel she did not block


# -- item 9: failed: system failed ----------------------------------------------------------------
def test_system_failure_is_resent_once_in_the_next_run(live, fake_wechat):
    push = webhook(live)
    followers(live, ["o_sys", "o_fine"], hours_ago=72)
    run_reminder_now(live, "义剪-当天", occurrence="k1")
    first = row(live, "o_sys", "k1")
    push.finished("o_fine", row(live, "o_fine", "k1").msg_id, "success")
    push.finished("o_sys", first.msg_id, "failed: system failed")
    assert row(live, "o_sys", "k1").status == "retry"

    from scheduler.reminders import retry_due

    results = retry_due(live)                                       # the scheduler's next sweep
    assert [r.occurrence for r in results] == ["k1"]
    calls = sends_to(fake_wechat, TEMPLATE, "o_sys")
    assert len(calls) == 2
    assert calls[1].json["client_msg_id"] != calls[0].json["client_msg_id"]   # WeChat would drop a repeat
    assert calls[1].json["data"] == calls[0].json["data"]          # the same reminder, same date
    assert len(sends_to(fake_wechat, TEMPLATE, "o_fine")) == 1       # delivered: never again
    again = row(live, "o_sys", "k1")
    assert again.status == "sent" and again.msg_id != first.msg_id

    push.finished("o_sys", again.msg_id, "failed: system failed")    # fails a second time
    assert row(live, "o_sys", "k1").status == "failed"
    assert retry_due(live) == []
    assert len(sends_to(fake_wechat, TEMPLATE, "o_sys")) == 2       # one resend only


# -- item 10: 45015 and other per-recipient refusals --------------------------------------------
def test_45015_gets_a_chinese_reason_a_masked_log_line_and_no_retry_until_she_writes(
        custom_only, fake_wechat, caplog):
    svc, push = custom_only, webhook(custom_only)
    followers(svc, ["o_late"], hours_ago=1)                         # we think she is in the window
    fake_wechat.outside_window.add("o_late")                        # WeChat says 45015
    caplog.set_level(logging.INFO)
    first = run_reminder_now(svc, "义剪-当天", occurrence="k1")
    assert first.failed == 1
    failed = row(svc, "o_late", "k1")
    assert failed.errcode == 45015
    assert "48 小时" in failed.detail and "all channels" not in failed.detail
    lines = [r.getMessage() for r in caplog.records if "45015" in r.getMessage()]
    assert lines and any(mask_openid("o_late") in m for m in lines)
    assert not any("o_late" in r.getMessage() for r in caplog.records)

    run_reminder_now(svc, "义剪-前一天", occurrence="k2")
    assert len(sends_to(fake_wechat, CUSTOM, "o_late")) == 1       # not tried again
    assert row(svc, "o_late", "k2").status == "skipped"

    fake_wechat.outside_window.discard("o_late")
    push.say("o_late", "在吗")                                      # she writes again
    run_reminder_now(svc, "义剪-当天", occurrence="k3")
    assert len([c for c in sends_to(fake_wechat, CUSTOM, "o_late")
                if "爱心义剪" in c.json["text"]["content"]]) == 2
    assert row(svc, "o_late", "k3").status == "sent"


def test_staff_read_the_reason_in_chinese_in_the_console(custom_only, fake_wechat):
    followers(custom_only, ["o_late2"], hours_ago=1)
    fake_wechat.outside_window.add("o_late2")
    run_reminder_now(custom_only, "义剪-当天", occurrence="k1")
    client = create_app(services=custom_only).test_client()
    make_staff(custom_only)
    assert login(client).status_code == 302
    page = client.get("/admin/deliveries/").get_data(as_text=True)
    assert "超过 48 小时" in page
    assert "all channels failed" not in page


def test_reason_for_every_handled_errcode_is_chinese():
    from bot.wechat.errors import reason_for

    for code in (-1, 40003, 43004, 43101, 45009, 45015, 45047, 48001, None, 99999):
        text = reason_for(code)
        assert text and any("\u4e00" <= ch <= "\u9fff" for ch in text), code


def test_a_refused_notice_waits_until_she_writes(custom_only, fake_wechat):
    """A pending notice (waiting-list promotion) by 客服消息: after 45015 the sweep does not try
    her again until she writes; then it goes out."""
    from models.notice import queue_notice
    from scheduler.reminders import deliver_notices

    svc, push = custom_only, webhook(custom_only)
    followers(svc, ["o_wait"], hours_ago=1)
    with svc.db.session() as s:
        queue_notice(s, "o_wait", "promotion", "您已从候补转为正式报名。")
    fake_wechat.outside_window.add("o_wait")
    deliver_notices(svc)
    deliver_notices(svc)
    deliver_notices(svc)
    assert len(sends_to(fake_wechat, CUSTOM, "o_wait")) == 1        # tried once, not every sweep
    with svc.db.session() as s:                                     # nor used up its attempts
        from models.notice import Notice
        assert s.scalar(select(Notice.attempts).where(Notice.openid == "o_wait")) == 1
    fake_wechat.outside_window.discard("o_wait")
    push.say("o_wait", "你好")
    deliver_notices(svc)
    promoted = [c for c in sends_to(fake_wechat, CUSTOM, "o_wait")
                if "候补" in c.json["text"]["content"]]
    assert len(promoted) == 2
