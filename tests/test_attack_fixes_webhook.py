"""Attacker findings in the signup and FAQ paths (issue 14), through the webhook.

1. A phone with extra digits is re-asked, never cut to 11 and saved.
2. 「我不想去了」「确定不去了」 confirm 取消报名; the confirmation never loops.
3. 「报名1 王秀英 13812341234」 takes 1 as the activity and keeps her details; a phone is never
   quoted back in a "not found" line.
5. FAQ answers need her asking (捐, 工作, 签到, 学费).
"""
from __future__ import annotations

import zlib

import pytest

from tests.helpers import new_activity, signups_of, webhook_sender


@pytest.fixture
def say(services):
    return webhook_sender(services)


# 1. phones -------------------------------------------------------------------------------------
@pytest.mark.parametrize("phone", ["138123412345", "一三八一二三四一二三四一二三四五六七八九零一二三四"])
def test_a_phone_with_extra_digits_is_asked_again(say, services, phone):
    number = new_activity(services)
    openid = f"oAtk1p{len(phone)}"
    say(openid, f"报名 {number}")
    say(openid, "是")
    assert "手机号" in say(openid, "王秀英")
    reply = say(openid, phone)
    assert "11 位" in reply and "同意" not in reply
    say(openid, "同意")
    assert openid not in signups_of(services, number)


def test_volunteer_form_phone_with_extra_digits_is_asked_again(say, services):
    openid = "oAtk1v"
    say(openid, "志愿者")
    reply = ""
    for _ in range(6):  # walk to the phone step
        if "手机号" in reply:
            break
        reply = say(openid, "王秀英" if "姓名" in reply else "是")
    assert "手机号" in reply
    assert "11 位" in say(openid, "138123412345")


def test_phone_with_plus86_and_spaces_in_one_message(say, services):
    number = new_activity(services)
    openid = "oAtk1c"
    say(openid, f"报名 {number}")
    say(openid, "是")
    assert "同意" in say(openid, "王秀英 +86 138 1234 1234")
    assert "报名成功" in say(openid, "同意")
    row = signups_of(services, number)[openid]
    assert (row.name, row.phone) == ("王秀英", "13812341234")


def test_name_ending_in_a_numeral_next_to_a_spoken_phone(say, services):
    number = new_activity(services)
    openid = "oAtk1w"
    say(openid, f"报名 {number}")
    say(openid, "是")
    say(openid, "我叫王五 一三九零五九五一二三四")
    say(openid, "同意")
    row = signups_of(services, number)[openid]
    assert (row.name, row.phone) == ("王五", "13905951234")


# 2. 取消报名 confirmation ---------------------------------------------------------------------
@pytest.mark.parametrize("answer", ["我不想去了", "确定不去了", "去不了了", "不去了", "我去不了了",
                                    "确定不去", "不想去了", "不参加了"])
def test_quit_phrases_confirm_the_cancel(say, services, answer):
    from tests.helpers import complete_signup

    number = new_activity(services)
    openid = f"oAtk2y{zlib.crc32(answer.encode()) % 100000}"
    assert "报名成功" in complete_signup(services, openid, number)
    assert "确定不去了" in say(openid, "取消报名")
    reply = say(openid, answer)
    assert "已取消" in reply, reply
    assert signups_of(services, number)[openid].status == "cancelled"


def test_the_cancel_confirmation_never_asks_twice_in_a_row(say, services):
    from tests.helpers import complete_signup

    number = new_activity(services)
    openid = "oAtk2loop"
    complete_signup(services, openid, number)
    assert "确定不去了" in say(openid, "取消报名")
    for text in ["取消报名", "我要取消报名", "不去", "想取消"]:
        reply = say(openid, text)
        assert "请回复「是」" not in reply or "已取消" in reply, (text, reply)


# 3. 「报名 N」 with her details -----------------------------------------------------------------
@pytest.mark.parametrize("how", ["报名{n} 王秀英 13812341234", "报名{n}王秀英13812341234",
                                 "报名 {n}，王秀英，13812341234"])
def test_signup_number_then_name_and_phone(say, services, how):
    number = new_activity(services)
    openid = f"oAtk3a{zlib.crc32(how.encode()) % 100000}"
    reply = say(openid, how.format(n=number))
    assert "没有找到" not in reply and "13812341234" not in reply and "确认报名" in reply
    assert "同意" in say(openid, "是")
    assert "报名成功" in say(openid, "同意")
    row = signups_of(services, number)[openid]
    assert (row.name, row.phone) == ("王秀英", "13812341234")


def test_signup_number_then_phone_only_keeps_the_phone(say, services):
    number = new_activity(services)
    openid = "oAtk3b"
    assert "确认报名" in say(openid, f"报名 {number} 电话13905951234")
    assert "姓名" in say(openid, "是")
    assert "同意" in say(openid, "王秀英")
    assert "报名成功" in say(openid, "同意")
    assert signups_of(services, number)[openid].phone == "13905951234"


@pytest.mark.parametrize("text", ["报名 99 13812341234", "报名义剪王秀英13812341234",
                                  "报名 213812341234"])
def test_a_not_found_line_never_quotes_a_phone(say, services, text):
    new_activity(services)
    reply = say("oAtk3c", text)
    assert "13812341234" not in reply and "1381234" not in reply


# 5. everyday questions need her asking -----------------------------------------------------------
def test_money_given_to_a_temple_is_no_donation_offer(say):
    reply = say("oAtk5a", "我老公把家里的钱都捐给寺庙了")
    assert "谢谢您的爱心" not in reply


@pytest.mark.parametrize("text", ["我想给你们捐点东西", "想给妇联捐点书", "可以捐衣服吗"])
def test_a_donation_offer_is_still_thanked(say, text):
    assert "谢谢您的爱心" in say(f"oAtk5b{len(text)}{text[-1]}", text)


def test_a_husband_drinking_at_home_is_no_job_request(say):
    reply = say("oAtk5c", "老公没工作天天在家喝酒")
    assert "找工作的事" not in reply


@pytest.mark.parametrize("text", ["能不能帮我介绍工作", "我想找工作"])
def test_a_job_request_is_still_answered(say, text):
    assert "找工作的事" in say("oAtk5d", text)


def test_a_question_about_a_checked_in_activity_is_no_check_in_how_to(say):
    assert "签到很简单" not in say("oAtk5e", "我签到的那个活动取消了吗")
    assert "签到很简单" in say("oAtk5e", "怎么扫码签到")


@pytest.mark.parametrize("text", ["孩子上学要交钱吗", "我家娃学费多少钱"])
def test_school_fees_are_not_our_course_fees(say, text):
    reply = say("oAtk5f", text)
    assert "以每场活动的通知为准" not in reply and "学校" in reply


# 6. 取消 at the urgent step ------------------------------------------------------------------
def test_cancel_at_the_urgent_step_says_the_urgent_request_stays(say, services):
    openid = "oAtk6u"
    say(openid, "求助")
    say(openid, "2")
    assert "110" in say(openid, "他打我")
    reply = say(openid, "取消")
    assert "紧急求助" in reply and "仍然保留" in reply and "编号 H" in reply


# 6. a position the list does not have ---------------------------------------------------------
@pytest.mark.parametrize("pick", ["第0个", "第九十九个", "第99个"])
def test_a_position_out_of_the_list_says_how_many(say, services, pick):
    first = new_activity(services, title="亲子早教课")
    new_activity(services, title="家政培训班", days=6)
    openid = f"oAtk6p{zlib.crc32(pick.encode()) % 100000}"
    say(openid, "活动")
    reply = say(openid, pick)
    assert "只有 2 个活动" in reply, reply
    assert "确认报名" in say(openid, "第1个")
