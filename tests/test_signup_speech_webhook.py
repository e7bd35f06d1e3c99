"""Tester findings, third round (issue 14): signing up the way she talks, through the webhook.

1. 「我要报名17号的义剪」「我想报名剪头发」 and voice 「我想报名那个十七号的剪头发」 find the
   爱心义剪 on that day (date words and particles dropped, the classifier's slots used).
2. The voice signup goes through: 「是」 confirms, a phone in Chinese numerals is taken, name and
   phone in one message fill both steps.
3. After the list, 「第二个」 is the second one shown, 「最后一个」 the last; a bare digit is the
   number shown in 【】.
4. 「我的志愿时长」 while registering does not tell her to register; 「同意」 is not her free time.
5. 「人工」 after the 求助 category is answered, not stored as the message.
"""
from __future__ import annotations

import itertools
import time

import pytest

from bot.simulator import Simulator, flask_transport, reply_text
from tests.helpers import new_activity, signups_of, webhook_sender

_voice_ids = itertools.count(880000)


@pytest.fixture
def say(services):
    return webhook_sender(services)


@pytest.fixture
def speak(services):
    """``speak(openid, text)``: a voice message whose Recognition is ``text``."""
    from bot.app import create_app

    sim = Simulator(token=services.config.wechat["token"])
    transport = flask_transport(create_app(services=services).test_client())

    def send(openid: str, text: str) -> str:
        fields = {"ToUserName": "gh_taoyuanjiemei", "FromUserName": openid,
                  "CreateTime": int(time.time()), "MsgType": "voice", "MediaId": "m1",
                  "Format": "amr", "Recognition": text, "MsgId": next(_voice_ids)}
        return reply_text(sim.send(transport, fields))
    return send


def _state(services, openid):
    from handlers.conversation import ConversationStore

    return ConversationStore(services.redis, services.keys, openid).get()


def _day_of(services, number) -> int:
    from models import activities as acts

    with services.db.session() as s:
        return acts.get_activity(s, number).starts_at.astimezone(services.tz).day


@pytest.fixture
def haircuts(services):
    """Two 爱心义剪 (in 3 and in 5 days) and a 家政培训: (early, late) numbers."""
    new_activity(services, category="家政培训", title="家政培训班", days=2)
    early = new_activity(services, category="爱心义剪", title="爱心义剪", days=3)
    late = new_activity(services, category="爱心义剪", title="爱心义剪", days=5)
    return early, late


# 1. the activity named the way she says it ---------------------------------------------------
def test_signup_with_a_day_finds_the_haircut_on_that_day(say, services, haircuts):
    early, late = haircuts
    reply = say("oSpeech1a", f"我要报名{_day_of(services, late)}号的义剪")
    assert "没有找到" not in reply and "确认报名" in reply
    assert _state(services, "oSpeech1a").data["number"] == late


def test_signup_for_cutting_hair_finds_the_haircut(say, haircuts):
    early, _ = haircuts
    reply = say("oSpeech1b", "我想报名剪头发")
    assert "没有找到" not in reply and "确认报名" in reply and "爱心义剪" in reply


def test_voice_signup_with_a_chinese_day(speak, services, haircuts):
    _, late = haircuts
    day = _day_of(services, late)
    digits = "零一二三四五六七八九"
    spoken = (("二" if day >= 20 else "") + "十" + (digits[day % 10] if day % 10 else "")
              if day >= 10 else digits[day])
    if 10 <= day < 20:
        spoken = "十" + (digits[day % 10] if day % 10 else "")
    reply = speak("oSpeech1c", f"我想报名那个{spoken}号的剪头发。")
    assert "没有找到" not in reply and "确认报名" in reply and "爱心义剪" in reply
