"""Tester findings, second round (issue 14), through the real webhook.

1. After an urgent request, despair (「活着真没意思」) is added to it, truthfully told; the
   paraphrases set off the danger net on their own.
2. Read-only queries (「我的志愿时长」「帮助」「我的报名」) in the middle of a form answer and
   keep the form; a command that starts another form says the first one stopped.
3. During 「求助」, 「人工」 is answered (also at the category step) without offering 「求助」.
4. 「取消报名」 with one signup: 「是」 confirms; the example number is one of hers.
5. 「我报了哪些」 in the middle of a signup names the activity being signed up for.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models import help as hr
from tests.helpers import complete_signup, get_volunteer, new_activity, signups_of, webhook_sender


@pytest.fixture
def say(services):
    return webhook_sender(services)


def _state(services, openid):
    from handlers.conversation import ConversationStore

    return ConversationStore(services.redis, services.keys, openid).get()


def _requests(services, openid):
    with services.db.session() as s:
        return list(s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == openid)))


# 1. safety ---------------------------------------------------------------------------------
def test_despair_after_an_urgent_request_is_added_to_it(say, services):
    openid = "oTester2Sf01"
    first = say(openid, "我不想活了")
    assert "12356" in first and "110" in first
    [row] = _requests(services, openid)
    reply = say(openid, "活着真没意思")
    assert f"已补充到您的紧急求助（编号 {row.ref}）" in reply, reply
    assert "不会转给工作人员" not in reply and "请回复「求助」留言" not in reply
    assert "12356" in reply and "110" in reply
    # truthful: nobody on duty sees it at once here (no on_duty_openids)
    assert "现在没有值班人员能马上看到" in reply
    [row] = _requests(services, openid)
    assert "活着真没意思" in row.body
    assert _state(services, openid).step == "urgent_more"


@pytest.mark.parametrize("text", ["谢谢", "在吗", "人工", "好累啊"])
def test_short_words_after_an_urgent_request_are_filed_too(say, services, text):
    openid = "oTester2Sf02"
    say(openid, "我不想活了")
    reply = say(openid, text)
    assert "已补充到您的紧急求助" in reply, reply
    [row] = _requests(services, openid)
    assert text in row.body


@pytest.mark.parametrize("text", ["活着真没意思", "活着没意思", "不想活了", "撑不下去了",
                                  "真的撑不住了，好想解脱", "感觉活着一点意思都没有"])
def test_despair_paraphrases_get_the_hotlines_on_their_own(say, services, text):
    reply = say("oTester2Sf03", text)
    assert "12356" in reply and "110" in reply, reply


# 2. read-only queries keep the form ----------------------------------------------------------
def _volunteer_at(say, openid, step):
    say(openid, "志愿者")
    say(openid, "陈美华")
    if step == "town":
        assert "乡镇" in say(openid, "13612345678")
        return
    say(openid, "13612345678")
    say(openid, "桃城")
    say(openid, "1 3")
    assert "同意" in say(openid, "周末")


def test_my_hours_at_the_consent_step_keeps_the_registration(say, services):
    openid = "oTester2Fm01"
    _volunteer_at(say, openid, "consent")
    reply = say(openid, "我的志愿时长")
    assert "志愿服务" in reply and "还没填完" in reply and "同意" in reply, reply
    assert _state(services, openid).step == "consent"
    assert "登记成功" in say(openid, "同意")
    assert get_volunteer(services, openid) is not None


@pytest.mark.parametrize("text", ["我的志愿时长", "帮助", "我的报名", "联系方式"])
def test_read_only_queries_at_the_town_step_keep_the_registration(say, services, text):
    openid = "oTester2Fm02"
    _volunteer_at(say, openid, "town")
    reply = say(openid, text)
    assert "还没填完" in reply and "乡镇" in reply, reply
    assert _state(services, openid).step == "town"
    assert "特长" in say(openid, "桃城")


def test_a_command_starting_another_form_says_the_first_stopped(say, services):
    openid = "oTester2Fm03"
    _volunteer_at(say, openid, "town")
    reply = say(openid, "求助")
    assert "志愿者登记" in reply and "停下" in reply, reply
    assert _state(services, openid).name == "help"


# 3. 人工 during 求助 ----------------------------------------------------------------------------
def test_human_at_the_help_category_step(say, services):
    openid = "oTester2Hp01"
    say(openid, "求助")
    reply = say(openid, "人工")
    assert "没看懂" not in reply and "工作人员" in reply, reply
    assert "回复「求助」" not in reply
    assert "还没填完" in reply
    assert _state(services, openid).step == "category"
    assert "具体情况" in say(openid, "1")


@pytest.mark.parametrize("text", ["转人工", "联系方式"])
def test_side_answers_at_the_contact_step_are_short(say, services, text):
    openid = "oTester2Hp02"
    say(openid, "求助")
    say(openid, "1")
    say(openid, "我想问问离婚以后孩子归谁")
    say(openid, "提交")
    reply = say(openid, text)
    assert "回复「求助」" not in reply, reply
    assert "还没填完" in reply
    assert reply.count("不需要联系") <= 1 and "希望我们怎样联系您" not in reply, reply
    assert _state(services, openid).step == "contact"


# 4. 取消报名 with one signup -----------------------------------------------------------------
@pytest.mark.parametrize("yes", ["是", "确定", "好", "1"])
def test_cancel_with_one_signup_is_confirmed_with_yes(say, services, yes):
    openid = "oTester2Cn01"
    n = new_activity(services)
    assert "报名成功" in complete_signup(services, openid, n)
    ask = say(openid, "取消报名")
    assert f"【{n}】" in ask and "「是」" in ask, ask
    done = say(openid, yes)
    assert "已取消" in done, done
    assert signups_of(services, n)[openid].status == "cancelled"


def test_cancel_confirmation_no_keeps_the_signup(say, services):
    openid = "oTester2Cn02"
    n = new_activity(services)
    complete_signup(services, openid, n)
    say(openid, "取消报名")
    reply = say(openid, "不")
    assert "保留" in reply, reply
    assert signups_of(services, n)[openid].status != "cancelled"


def test_cancel_example_is_one_of_her_activities(say, services):
    openid = "oTester2Cn03"
    numbers = [new_activity(services, days=d, title=f"活动{d}") for d in (5, 6)]
    for n in numbers:
        complete_signup(services, openid, n)
    reply = say(openid, "取消报名")
    import re

    examples = {int(x) for x in re.findall(r"「取消报名 (\d+)」", reply)}
    assert examples and examples <= set(numbers), reply


# 5. 我报了哪些 in the middle of a signup --------------------------------------------------------
def test_my_signups_mid_signup_names_the_activity_in_progress(say, services):
    openid = "oTester2Ms01"
    n = new_activity(services, title="电商直播培训")
    say(openid, f"报名 {n}")
    assert "姓名" in say(openid, "是")
    reply = say(openid, "我报了哪些")
    assert "您正在报名「电商直播培训」" in reply and "还差" in reply, reply
    assert _state(services, openid).step == "name"


def test_a_read_only_query_at_the_delete_confirmation_keeps_it(say, services):
    openid = "oTester2Fm04"
    say(openid, "删除我的信息")
    reply = say(openid, "我的报名")
    assert "还没有报名" in reply and "确认删除" in reply and "您的还没填完" not in reply, reply
    assert _state(services, openid).name == "privacy"
    assert "没有删除" in say(openid, "不删")
