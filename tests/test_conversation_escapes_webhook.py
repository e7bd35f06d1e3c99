"""Forms must not trap her (issue 14, tester findings), through the real webhook.

1. In the middle of the signup (confirm, name, phone, consent), a quit phrase ends it truthfully,
   and a message that is clearly something else (「人工」, 「妇联电话多少」) is answered with a
   line on how to go on with the form, which keeps its place.
2. The name step takes no sentence for a name (「我报了哪些」 is answered, not stored).
3. The volunteer registration's town step reads towns as the classifier does (「我在達埔」).
4. After an urgent help request, a question about something else is answered, not filed.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.conversation import quits
from models import directory
from models import help as hr
from models import privacy
from tests.helpers import FEDERATION_PHONE, get_volunteer, new_activity, signups_of, webhook_sender


@pytest.fixture
def say(services):
    """say(openid, text) through the webhook, with the seed directory loaded."""
    with services.db.session() as s:
        directory.load_seed(s)
    return webhook_sender(services)


def _state(services, openid):
    from handlers.conversation import ConversationStore

    return ConversationStore(services.redis, services.keys, openid).get()


def _at_phone(say, services, openid) -> int:
    n = new_activity(services)
    say(openid, f"报名 {n}")
    assert "姓名" in say(openid, "是")
    assert "手机号" in say(openid, "王秀英")
    return n


# 1. signup: quit phrases and other questions ----------------------------------------------
@pytest.mark.parametrize("text", ["我不想去了", "不报了", "算了吧", "不想报名了", "我还是不去了！"])
def test_a_quit_phrase_ends_the_signup_truthfully(say, services, text):
    openid = "oEscQuit0001"
    n = _at_phone(say, services, openid)
    reply = say(openid, text)
    assert reply.startswith("好的，已取消这次报名，没有保存您的信息。"), reply
    assert _state(services, openid) is None
    assert signups_of(services, n) == {}


def test_quit_phrases_at_the_consent_step_too(say, services):
    openid = "oEscQuit0002"
    n = _at_phone(say, services, openid)
    assert "同意" in say(openid, "13812341234")
    assert say(openid, "我不想去了").startswith("好的，已取消这次报名，没有保存您的信息。")
    assert signups_of(services, n) == {}


def test_quit_phrases_are_whole_messages_only():
    for text in ("我不想去了", "不报了", "算了吧", "那就退出吧", "不想登记了", "不删了", "取消"):
        assert quits(text), text
    for text in ("不", "不要", "不是", "同意", "他不让我去", "我不想去了但是他逼我", "王不"):
        assert not quits(text), text


def test_human_at_the_consent_step_is_answered_and_the_form_waits(say, services):
    openid = "oEscHuman001"
    n = _at_phone(say, services, openid)
    assert "同意" in say(openid, "13812341234")
    reply = say(openid, "人工")
    assert "工作人员" in reply and "求助" in reply          # the 转人工 answer
    assert "您的「报名」还没填完" in reply and "同意" in reply  # and how to go on
    assert _state(services, openid).step == "consent"
    assert "报名成功" in say(openid, "同意")
    assert list(signups_of(services, n)) == [openid]


def test_federation_phone_question_at_the_phone_step(db_url, redis_prefix, tmp_path):
    from tests.conftest import _empty_tables
    from tests.helpers import services_with

    svc = services_with(db_url, redis_prefix, tmp_path, app={"federation_phone": FEDERATION_PHONE})
    try:
        say = webhook_sender(svc)
        openid = "oEscPhone001"
        n = _at_phone(say, svc, openid)
        reply = say(openid, "妇联电话多少")
        assert FEDERATION_PHONE in reply, reply                 # 联系方式 answered
        assert "还没填完" in reply and "手机号" in reply
        assert "手机号应为" not in reply                          # not the bare re-ask
        assert "同意" in say(openid, "13812341234")               # the form went on
        assert "报名成功" in say(openid, "同意")
        assert signups_of(svc, n)[openid].phone == "13812341234"
    finally:
        _empty_tables(svc)
        svc.db.dispose()


def test_a_real_mistake_still_gets_the_re_ask(say, services):
    openid = "oEscReask01"
    _at_phone(say, services, openid)
    reply = say(openid, "1381234")
    assert reply.startswith("手机号应为 11 位数字") and "还没填完" not in reply


def test_a_command_that_starts_another_form_replaces_it_without_a_note(say, services):
    openid = "oEscOther01"
    _at_phone(say, services, openid)
    reply = say(openid, "我想当志愿者")  # the volunteer registration begins
    assert "姓名" in reply and "还没填完" not in reply
    assert _state(services, openid).name == "volunteer"


# 2. the name step --------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["我报了哪些", "妇联电话多少", "你们在哪里呀", "王秀英王秀英王秀英",
                                  "请问几点开始", "李丽2"])
def test_sentences_are_not_names(text):
    assert privacy.normalize_name(text) is None


def test_my_signups_question_at_the_name_step_is_answered_not_stored(say, services):
    openid = "oEscName001"
    n = new_activity(services)
    say(openid, f"报名 {n}")
    assert "姓名" in say(openid, "是")
    reply = say(openid, "我报了哪些")
    assert "报名" in reply and "还没填完" in reply and "姓名" in reply
    assert "请发送您的手机号" not in reply  # not taken for her name
    state = _state(services, openid)
    assert state.step == "name" and "name" not in state.data
    assert "手机号" in say(openid, "王秀英")


def test_names_still_taken(say, services):
    for good in ("王秀英", "欧阳秀英", "陈王秀英", "阿依古丽·买买提", "林"):
        assert privacy.normalize_name(good) == good


# 3. the volunteer town step ----------------------------------------------------------------
@pytest.mark.parametrize("text, town", [("我在達埔", "达埔镇"), ("达埔镇", "达埔镇"),
                                        ("住在蓬壶", "蓬壶镇"), ("达铺", "达埔镇"), ("6", "达埔镇")])
def test_volunteer_town_step_reads_towns_like_the_classifier(say, services, text, town):
    openid = "oEscTown0001"
    say(openid, "志愿者")
    say(openid, "陈美华")
    assert "乡镇" in say(openid, "13612345678")
    assert "特长" in say(openid, text)
    say(openid, "1 3")
    say(openid, "周末")
    assert "登记成功" in say(openid, "同意")
    assert get_volunteer(services, openid).town == town


def test_volunteer_quit_phrase_and_question_mid_form(say, services):
    openid = "oEscTown0002"
    say(openid, "志愿者")
    say(openid, "陈美华")
    say(openid, "13612345678")
    reply = say(openid, "义剪什么时候")
    assert "17" in reply and "还没填完" in reply and "乡镇" in reply, reply
    assert _state(services, openid).step == "town"
    assert say(openid, "不想登记了").startswith("好的，已取消这次志愿者登记，没有保存您的信息。")
    assert get_volunteer(services, openid) is None


def test_signup_town_question_reads_traditional_names(say, services):
    openid = "oEscTown0003"
    n = _at_phone(say, services, openid)
    say(openid, "13812341234")
    assert "哪个乡镇" in say(openid, "同意")
    assert "达埔" in say(openid, "我在達埔")
    from models.followers import Follower

    with services.db.session() as s:
        assert s.get(Follower, openid).town == "达埔镇"
    assert list(signups_of(services, n)) == [openid]


# 4. after an urgent help request -----------------------------------------------------------
def _urgent_requests(services, openid):
    with services.db.session() as s:
        return list(s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == openid)))


def test_a_question_after_an_urgent_request_is_answered_not_filed(staffed):
    with staffed.db.session() as s:
        directory.load_seed(s)
    say = webhook_sender(staffed)
    openid = "oEscUrgent01"
    assert "110" in say(openid, "救命，他喝醉了在打我")
    [row] = _urgent_requests(staffed, openid)
    for question in ("附近有妇女微家吗", "请问桃城镇有没有妇女微家"):
        reply = say(openid, question)
        assert "没有记入您的紧急求助" in reply and row.ref in reply, reply
        assert "已记入紧急求助" not in reply and "说完回复「好了」" in reply
    [row] = _urgent_requests(staffed, openid)
    assert "妇女微家" not in row.body
    # more detail still goes into the request, and she is told so
    reply = say(openid, "他把门锁了，我在房间里")
    assert "已补充到您的紧急求助" in reply and row.ref in reply
    [row] = _urgent_requests(staffed, openid)
    assert "他把门锁了" in row.body


def test_detail_that_reads_like_a_request_is_still_filed(staffed):
    say = webhook_sender(staffed)
    openid = "oEscUrgent02"
    say(openid, "救命，他喝醉了在打我")
    reply = say(openid, "我想找人帮帮我，孩子也在家")
    assert "已补充到您的紧急求助" in reply and "没有记入" not in reply
    [row] = _urgent_requests(staffed, openid)
    assert "孩子也在家" in row.body


def test_danger_words_still_win_in_the_middle_of_a_form(say, services):
    openid = "oEscDanger01"
    _at_phone(say, services, openid)
    reply = say(openid, "救命，他在打我")
    assert "110" in reply
    assert _state(services, openid) is None or _state(services, openid).name != "signup"
