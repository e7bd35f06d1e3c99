"""Issue 12 item 14: after a danger word, every reply says exactly what became of telling the
on-duty staff and who will see her words — never 「已转给工作人员」 when nobody was told.

Each path through the real webhook (signed pushes, Flask test client): no on-duty staff
configured; on-duty staff and the (fake) WeChat API delivering; delivery failing; delivery not
finished yet; dry run (no app_secret: the notice only reaches the outbox table).
"""
from __future__ import annotations

import logging

from bot.simulator import text_fields
from handlers import help_messages
from scheduler import help as help_jobs
from models import help as hr
from tests.helpers import FEDERATION_PHONE, STAFF, outbox
from tests.helpers import webhook_sender as _sender

#: What was said before the fix while nobody had been told.
UNTRUE = ("转给工作人员", "值班人员已收到")


def _says_nobody_is_told(reply: str, why: str) -> None:
    assert why in reply, reply
    assert "工作人员上班时在后台能看到" in reply and "12338" in reply and "110" in reply, reply
    assert FEDERATION_PHONE in reply, reply
    assert not any(u in reply for u in UNTRUE), reply
    assert "已通过微信通知值班人员" not in reply and "会尽快联系您" not in reply, reply


def test_no_on_duty_staff_follow_ups_say_nobody_was_told(unstaffed, caplog):
    say = _sender(unstaffed)
    openid = "o_followup_unstaffed"
    with caplog.at_level(logging.ERROR, logger="handlers.help_messages"):
        first = say(openid, "救命，他在打我")
    assert "没有值班人员" in first and "会尽快联系您" not in first
    assert "nobody was notified" in caplog.text
    place = say(openid, "我在坑仔口")
    _says_nobody_is_told(place, "没有值班人员")
    assert "坑仔口镇" in place and "已补充到您的紧急求助" in place
    _says_nobody_is_told(say(openid, "13612345678"), "没有值班人员")
    _says_nobody_is_told(say(openid, "好了"), "没有值班人员")
    with unstaffed.db.session() as s:
        [row] = s.query(hr.HelpRequest).all()
        assert row.phone == "13612345678" and row.body.splitlines() == ["救命，他在打我", "我在坑仔口"]
        assert row.staff_notified_at is None


def test_delivered_notification_is_named_in_follow_ups(live_staffed, fake_wechat):
    say = _sender(live_staffed)
    openid = "o_followup_delivered"
    first = say(openid, "他喝醉了在打我")
    assert "正在通过微信通知值班人员" in first and "他们收到后会尽快联系您" in first
    help_messages.wait_for_notifications(live_staffed)
    assert sorted(c.json["touser"] for c in fake_wechat.calls_to("message/template/send")) == sorted(STAFF)
    place = say(openid, "我在坑仔口")
    assert "已通过微信通知值班人员" in place and "会尽快联系您" in place, place
    assert "转给工作人员" not in place and "没有成功" not in place
    no_call = say(openid, "不用联系")
    assert "不打电话" in no_call and "已通过微信通知值班人员" in no_call and "会尽快处理" in no_call
    assert "已通过微信通知值班人员" in say(openid, "好了")


def test_failed_notification_is_said_in_follow_ups(live_staffed, fake_wechat):
    fake_wechat.script("message/template/send", [{"errcode": 43004}] * len(STAFF))
    say = _sender(live_staffed)
    openid = "o_followup_failed"
    assert "正在通过微信通知值班人员" in say(openid, "救命")  # true when said: it is being tried
    help_messages.wait_for_notifications(live_staffed)
    _says_nobody_is_told(say(openid, "我在坑仔口"), "通知值班人员没有成功")
    _says_nobody_is_told(say(openid, "13612345678"), "通知值班人员没有成功")
    _says_nobody_is_told(say(openid, "好了"), "通知值班人员没有成功")
    with live_staffed.db.session() as s:
        [row] = s.query(hr.HelpRequest).all()
        assert row.staff_notified_at is None and row.staff_notify_failed_at is not None
    # the digest reaches them later: from then on she is told they were notified
    assert help_jobs.send_digest(live_staffed).staff_reached == len(STAFF)
    assert "已通过微信通知值班人员" in say(openid, "他又打我了")


def test_notification_still_on_its_way_is_not_called_received(live_staffed, fake_wechat):
    fake_wechat.latency = 0.7  # token + two template sends: about 2 s in the background
    say = _sender(live_staffed)
    openid = "o_followup_pending"
    say(openid, "救命")
    place = say(openid, "我在坑仔口")
    assert "还没有确认他们收到" in place and "12338" in place, place
    assert not any(u in place for u in UNTRUE) and "已通过微信通知值班人员" not in place
    help_messages.wait_for_notifications(live_staffed)
    fake_wechat.latency = 0
    assert "已通过微信通知值班人员" in say(openid, "好了")


def test_dry_run_says_the_staff_are_not_really_notified(staffed, send):  # noqa: F811
    openid = "o_followup_dry_run"
    first = send(text_fields(openid, "救命"))
    assert "演练模式" in first and "会尽快联系您" not in first
    help_messages.wait_for_notifications(staffed)
    assert len(outbox(staffed, "message/template/send")) == len(STAFF)  # the outbox, nobody else
    place = send(text_fields(openid, "我在坑仔口"))
    assert "演练模式" in place and "工作人员上班时在后台能看到" in place and "12338" in place
    assert not any(u in place for u in UNTRUE) and "已通过微信通知值班人员" not in place


def test_checking_for_answers_on_an_urgent_request_says_who_knows(unstaffed):
    """「查看回复」 after a danger word: never the usual 2-working-days promise when nobody was told."""
    say = _sender(unstaffed)
    openid = "o_followup_answers"
    say(openid, "他要打死我")
    reply = say(openid, "查看回复")
    _says_nobody_is_told(reply, "没有值班人员")
    assert "工作日" not in reply and "还没有答复" in reply


def test_a_phone_said_in_chinese_numerals_is_kept_with_the_urgent_request(unstaffed):
    """A tester's voice message 「我电话一三八五九零零二二三三，在达埔」 after a danger word
    kept the town but not the phone: spoken digits are read as a number there too."""
    say = _sender(unstaffed)
    openid = "o_spoken_phone"
    say(openid, "救命，他在打我")
    reply = say(openid, "我电话一三八五九零零二二三三，在达埔")
    assert "138****2233" in reply, reply
    with unstaffed.db.session() as s:
        [row] = s.query(hr.HelpRequest).all()
        assert row.phone == "13859002233"


def test_a_help_contact_phone_in_chinese_numerals_is_accepted():
    """At 求助's phone step 「一五九八零零一二三四五」 was 「这个号码好像不对」."""
    assert hr.normalize_phone("一五九八零零一二三四五") == "15980012345"
    assert hr.normalize_phone("我一个人在家") is None and hr.normalize_phone("138123412345") is None
