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

import zlib

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


# 2. the rest of the voice signup ---------------------------------------------------------------
@pytest.mark.parametrize("yes", ["是", "是的", "对", "好", "要", "是。", "对的"])
def test_plain_yes_confirms_by_voice(speak, say, services, haircuts, yes):
    openid = f"oSpeech2y{len(yes)}{yes[-1]}"
    assert "确认报名" in speak(openid, "我想报名剪头发")
    reply = speak(openid, yes)
    assert "姓名" in reply and "我在呢" not in reply


def test_voice_name_and_phone_in_chinese_numerals(speak, services, haircuts):
    early, _ = haircuts
    openid = "oSpeech2v"
    speak(openid, "我想报名剪头发")
    assert "姓名" in speak(openid, "是")
    assert "手机号" in speak(openid, "王秀英。")
    assert "同意" in speak(openid, "一三九零五九五一二三四")
    assert "报名成功" in speak(openid, "同意")
    assert signups_of(services, early)[openid].phone == "13905951234"


@pytest.mark.parametrize("spoken", ["幺三九零五九五一二三四", "一三九 零五九五 一二三四",
                                    "139-0595-1234", "幺三九-零五九五-幺二三四"])
def test_phone_in_chinese_numerals_with_spaces_and_dashes(say, services, haircuts, spoken):
    openid = f"oSpeech2p{zlib.crc32(spoken.encode()) % 10000}"
    say(openid, "我想报名剪头发")
    say(openid, "是")
    say(openid, "王秀英")
    assert "同意" in say(openid, spoken)
    assert _state(services, openid).data["phone"].startswith("139")


def test_name_and_phone_in_one_message(say, services, haircuts):
    early, _ = haircuts
    openid = "oSpeech2n"
    say(openid, "我想报名剪头发")
    say(openid, "是")
    reply = say(openid, "我叫陈美玲电话13905951234")
    assert "同意" in reply and "没太明白" not in reply
    assert "报名成功" in say(openid, "同意")
    row = signups_of(services, early)[openid]
    assert (row.name, row.phone) == ("陈美玲", "13905951234")


def test_name_and_phone_in_the_signup_sentence(say, services):
    n = new_activity(services, category="电商直播培训", title="电商直播培训", days=4)
    openid = "oSpeech2s"
    reply = say(openid, "我想报名电商直播培训我叫陈美玲电话13905951234")
    assert "确认报名" in reply and "没有找到" not in reply
    assert "同意" in say(openid, "是")
    assert "报名成功" in say(openid, "同意")
    row = signups_of(services, n)[openid]
    assert (row.name, row.phone) == ("陈美玲", "13905951234")


# 3. picking from the list as she sees it -------------------------------------------------------
@pytest.fixture
def listed(services):
    """Four activities listed latest-created first: 【n4】【n3】【n2】【n1】 (n1 < n2 < n3 < n4)."""
    made = [new_activity(services, category="近邻课堂", title=f"近邻课堂{i}", days=9 - i)
            for i in range(1, 5)]
    return list(reversed(made))  # in the order shown


@pytest.mark.parametrize("words, position", [("第二个", 1), ("第2个", 1), ("我要第三个", 2),
                                             ("第一个活动", 0), ("最后一个", -1), ("最后那个", -1)])
def test_an_ordinal_is_the_position_shown(say, services, listed, words, position):
    openid = f"oSpeech3o{zlib.crc32(words.encode()) % 10000}"
    shown = say(openid, "活动")
    assert shown.index(f"【{listed[0]}】") < shown.index(f"【{listed[-1]}】")
    reply = say(openid, words)
    assert "确认报名" in reply and f"【{listed[position]}】" in reply
    assert _state(services, openid).data["number"] == listed[position]


def test_a_bare_digit_is_the_number_shown(say, services, listed):
    openid = "oSpeech3d"
    say(openid, "活动")
    reply = say(openid, str(listed[1]))
    assert _state(services, openid).data["number"] == listed[1] and "确认报名" in reply


# 4. volunteer registration ---------------------------------------------------------------------
def _volunteer_at_available(say, openid):
    say(openid, "志愿者")
    say(openid, "陈美华")
    say(openid, "13612345678")
    say(openid, "桃城")
    assert "方便" in say(openid, "1 3")


def test_my_hours_while_registering_does_not_say_register(say, services):
    openid = "oSpeech4h"
    _volunteer_at_available(say, openid)
    reply = say(openid, "我的志愿时长")
    assert "还没有志愿服务记录" in reply and "还没填完" in reply, reply
    assert "回复「志愿者」登记" not in reply
    assert _state(services, openid).step == "available"


@pytest.mark.parametrize("word", ["同意", "好的", "是"])
def test_consent_word_is_not_her_free_time(say, services, word):
    from tests.helpers import get_volunteer

    openid = f"oSpeech4a{len(word)}{word[0]}"
    _volunteer_at_available(say, openid)
    reply = say(openid, word)
    assert "方便" in reply and _state(services, openid).step == "available", reply
    assert "同意" in say(openid, "周末上午")
    assert "登记成功" in say(openid, "同意")
    assert get_volunteer(services, openid).available == "周末上午"


# 5. 人工 while telling her story ----------------------------------------------------------------
def test_human_at_the_help_message_step_is_answered_not_stored(say, services):
    from sqlalchemy import select

    from models import help as hr

    openid = "oSpeech5h"
    say(openid, "求助")
    say(openid, "1")
    reply = say(openid, "人工")
    assert "内容已收到" not in reply and "工作人员" in reply, reply
    assert "还没填完" in reply or "说说情况" in reply
    assert _state(services, openid).step == "message"
    with services.db.session() as s:
        assert not list(s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == openid)))
    assert "内容已收到（共1条）" in say(openid, "孩子抚养费的事想问问")
