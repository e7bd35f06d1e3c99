"""订阅义剪 / 退订义剪 / 订阅活动提醒 texts and TEMPLATESENDJOBFINISH, through the real webhook."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.config import DEFAULT_TOKEN
from bot.simulator import Simulator, event_fields, flask_transport, reply_text, text_fields
from models.reminders import DeliveryLog, Reminder, ensure_default_reminders, is_subscribed


@pytest.fixture
def chat(client):
    sim, transport = Simulator(token=DEFAULT_TOKEN), flask_transport(client)

    def say(openid: str, text: str) -> str:
        return reply_text(sim.send(transport, text_fields(openid, text)))

    say.event = lambda openid, event, **extra: sim.send(transport, event_fields(openid, event, **extra))
    return say


def subscribed(services, openid, topic):
    with services.db.session() as s:
        return is_subscribed(s, openid, topic)


def test_subscribe_and_unsubscribe_haircut(chat, services):
    assert "已为您订阅爱心义剪提醒" in chat("o_mei", "订阅义剪")
    assert subscribed(services, "o_mei", "haircut")
    assert "已经订阅" in chat("o_mei", "订阅 义剪")           # spaces folded
    assert "已为您退订" in chat("o_mei", "退订义剪")
    assert not subscribed(services, "o_mei", "haircut")
    assert "还没有订阅" in chat("o_mei", "退订义剪")


def test_traditional_characters_work_too(chat, services):
    assert "已为您订阅爱心义剪提醒" in chat("o_hk", "訂閱義剪")
    assert subscribed(services, "o_hk", "haircut")


def test_activity_reminder_topic_and_status(chat, services):
    assert "已为您订阅活动提醒" in chat("o_lan", "订阅活动提醒")
    status = chat("o_lan", "我的订阅")
    assert "活动提醒：已订阅" in status and "义剪日）：未订阅" in status
    assert "已为您退订活动提醒" in chat("o_lan", "退订活动提醒")
    assert not subscribed(services, "o_lan", "activities")


def test_templatesendjobfinish_updates_the_delivery_log(chat, services):
    with services.db.session() as s:
        ensure_default_reminders(s)
        rid = s.scalar(select(Reminder.id).where(Reminder.name == "义剪-当天"))
        for openid, msg_id in (("o_1", "2001"), ("o_2", "2002"), ("o_3", "2003")):
            s.add(DeliveryLog(reminder_id=rid, occurrence="k", openid=openid, status="sent",
                              channel="template", msg_id=msg_id))
    assert chat.event("o_1", "TEMPLATESENDJOBFINISH", MsgID="2001", Status="success") is None
    chat.event("o_2", "TEMPLATESENDJOBFINISH", MsgID="2002", Status="failed:user block")
    chat.event("o_3", "TEMPLATESENDJOBFINISH", MsgID="2003", Status="failed: system failed")
    chat.event("o_4", "TEMPLATESENDJOBFINISH", MsgID="9999", Status="success")   # unknown: ignored
    with services.db.session() as s:
        got = {r.openid: r.status for r in s.scalars(select(DeliveryLog))}
    assert got == {"o_1": "delivered", "o_2": "blocked", "o_3": "retry"}   # resent once (issue 15)


def test_erase_my_data_removes_subscriptions(services):
    from models.privacy import erase_personal_data
    from models.reminders import subscribe_topic

    with services.db.session() as s:
        subscribe_topic(s, "o_x", "haircut")
    with services.db.session() as s:
        counts = erase_personal_data(s, "o_x")
    assert counts.get("topic_subscriptions") == 1
    assert not subscribed(services, "o_x", "haircut")
