"""The signup conversation, step by step, through the router (no webhook).

Helpers ``say``/``event`` here are reused by the volunteer and privacy tests.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.conversation import CONVERSATION_TTL
from bot.wechat.notifier import notifier_for
from handlers.activities import notify, tell_promoted_after_commit
from models import activities as acts
from models import privacy
from models import volunteers as vols
from models.base import utcnow
from models.directory import ServicePoint
from models.notice import Notice
from models.outbox import OutboxMessage
from tests.clock import year_ahead
from tests.helpers import complete_signup, conv_key, event, new_activity, register, say, signups_of


def test_activity_list_shows_number_date_place_and_seats(services):
    n = new_activity(services, capacity=5)
    reply = say(services, "oList", "活动")
    assert f"【{n}】家政培训班" in reply and "桃城镇妇女微家" in reply and "剩余名额 5" in reply
    assert event(services, "oList", "click", "ACTIVITIES") == reply


def test_no_activities_says_so(services):
    assert "暂无" in say(services, "oList", "活动")


def test_whole_conversation_step_by_step(services):
    n = new_activity(services)
    r = say(services, "oWang", f"报名 {chr(0xFF10 + n)}")  # full-width digit
    assert "确认报名这个活动吗" in r and f"【{n}】" in r
    assert services.redis.ttl(conv_key(services, "oWang")) > CONVERSATION_TTL - 5
    assert "请回复「是」" in say(services, "oWang", "嗯？什么")        # unexpected → same step again
    assert "姓名" in say(services, "oWang", "是")
    assert "只要文字" in say(services, "oWang", "12345")
    assert "只要文字" in say(services, "oWang", "王1")
    assert "手机号" in say(services, "oWang", "王秀英")
    r = say(services, "oWang", "12345")
    assert "11 位数字" in r and "13812345678" in r                     # bad phone, with an example
    assert "11 位数字" in say(services, "oWang", "23812341234")
    assert "同意" in say(services, "oWang", "138-1234-1234")
    assert "请回复「同意」" in say(services, "oWang", "好吗")
    r = say(services, "oWang", "同意")
    assert "报名成功" in r and "报名号" in r and "13812341234" not in r
    left = services.redis.get(conv_key(services, "oWang"))  # only the optional town question
    assert left is None or '"signup_town"' in left
    row = signups_of(services, n)["oWang"]
    assert (row.status, row.name, row.phone) == ("confirmed", "王秀英", "13812341234")
    assert row.consented_at is not None


def test_known_name_and_phone_are_offered_masked(services):
    a, b = new_activity(services), new_activity(services, title="近邻课堂")
    complete_signup(services, "oKnown", a)
    say(services, "oKnown", f"报名{b}")
    r = say(services, "oKnown", "是")
    assert "王秀英" in r and "138****1234" in r and "13812341234" not in r
    assert "同意" in say(services, "oKnown", "是")
    assert "报名成功" in say(services, "oKnown", "同意")
    # or a new number
    c = new_activity(services, title="亲子早教")
    say(services, "oKnown", f"报名{c}")
    say(services, "oKnown", "是")
    say(services, "oKnown", "13900001111")
    say(services, "oKnown", "同意")
    assert signups_of(services, c)["oKnown"].phone == "13900001111"


@pytest.mark.parametrize("step_count", [1, 2, 3, 4])
def test_cancel_at_any_step(services, step_count):
    n = new_activity(services)
    answers = [f"报名 {n}", "是", "王秀英", "13812341234"][:step_count]
    for text in answers:
        say(services, "oCancel", text)
    assert "已取消这次报名，没有保存您的信息" in say(services, "oCancel", "取消")
    assert services.redis.get(conv_key(services, "oCancel")) is None
    assert "oCancel" not in signups_of(services, n)
    assert "退出" not in say(services, "oCancel", "是")  # fresh: no conversation any more


def test_timeout_ends_the_conversation(services):
    n = new_activity(services)
    say(services, "oSlow", f"报名 {n}")
    say(services, "oSlow", "是")
    assert services.redis.ttl(conv_key(services, "oSlow")) <= CONVERSATION_TTL
    # what 10 minutes of silence does: the Redis key expires (here after 50 ms)
    services.redis.pexpire(conv_key(services, "oSlow"), 50)
    time.sleep(0.2)
    r = say(services, "oSlow", "王秀英")
    assert "手机号" not in r                              # treated fresh, not as the name step
    assert "oSlow" not in signups_of(services, n)


def test_full_activity_offers_waiting_list_and_cancel_promotes(services):
    n = new_activity(services, capacity=1)
    assert "报名成功" in complete_signup(services, "oFirst", n)
    r = say(services, "oSecond", f"报名 {n}")
    assert "名额已满" in r and "候补" in r
    say(services, "oSecond", "是")
    say(services, "oSecond", "李梅")
    say(services, "oSecond", "13900002222")
    r = say(services, "oSecond", "同意")
    assert "候补名单" in r and "第 1 位" in r
    assert "候补第 1 位" in say(services, "oSecond", "我的报名")
    # the confirmed one cancels: the waiting one is promoted and told (inside 48 h: 客服消息)
    r = say(services, "oFirst", f"取消报名 {n}")
    assert "已取消" in r
    rows = signups_of(services, n)
    assert rows["oFirst"].status == "cancelled" and rows["oSecond"].status == "confirmed"
    with services.db.session() as s:
        sent = list(s.scalars(select(OutboxMessage).where(OutboxMessage.openid == "oSecond")))
    assert len(sent) == 1 and "好消息" in json.loads(sent[0].payload)["text"]["content"]


def test_promotion_outside_48h_window_is_kept_as_a_notice(services):
    n = new_activity(services, capacity=1)
    complete_signup(services, "oFirst", n)
    old = utcnow() - timedelta(days=3)
    complete_signup(services, "oLate", n)
    with services.db.session() as s:  # her last message is 3 days old
        from models.followers import Follower
        s.get(Follower, "oLate").last_interaction_at = old
    say(services, "oFirst", f"取消报名{n}")
    with services.db.session() as s:
        notices = list(s.scalars(select(Notice).where(Notice.openid == "oLate")))
        outbox = list(s.scalars(select(OutboxMessage).where(OutboxMessage.openid == "oLate")))
    assert len(notices) == 1 and notices[0].kind == "signup_promoted" and not outbox
    assert notices[0].delivered_at is None and str(n) in notices[0].text


def test_signing_up_twice_says_already(services):
    n = new_activity(services)
    complete_signup(services, "oTwice", n)
    r = say(services, "oTwice", f"报名 {n}")
    assert "已经报名" in r and services.redis.get(conv_key(services, "oTwice")) is None
    assert len(signups_of(services, n)) == 1


def test_seat_taken_between_start_and_consent_gives_waiting(services):
    n = new_activity(services, capacity=1)
    say(services, "oSlowpoke", f"报名 {n}")
    say(services, "oSlowpoke", "是")
    say(services, "oSlowpoke", "张兰")
    say(services, "oSlowpoke", "13700003333")
    complete_signup(services, "oQuick", n)
    assert "候补名单" in say(services, "oSlowpoke", "同意")


def test_signup_by_words_and_unknowns(services):
    n = new_activity(services, category="爱心义剪", title="12月爱心义剪")
    r = say(services, "oWords", "我要报名义剪")
    assert f"【{n}】12月爱心义剪" in r and "确认报名" in r
    say(services, "oWords", "取消")
    assert "没有找到编号为 99" in say(services, "oWords", "报名 99")
    assert "没有找到编号为 98" in say(services, "oWords", "报名第98号")
    assert "加上活动编号" in say(services, "oWords", "报名")
    assert "近期没有找到「瑜伽」" in say(services, "oWords", "报名瑜伽")
    assert "回复「志愿者」" in say(services, "oWords", "我要报名志愿者")


def test_closed_activity_refuses(services):
    n = new_activity(services)
    with services.db.session() as s:
        acts.close_activity(s, n)
    assert "已停止报名" in say(services, "oClosed", f"报名 {n}")


def test_my_signups_and_cancel_messages(services):
    assert "还没有报名" in say(services, "oMine", "我的报名")
    n = new_activity(services)
    complete_signup(services, "oMine", n)
    r = event(services, "oMine", "click", "MY_SIGNUPS")
    assert f"【{n}】" in r and "已确认" in r
    assert "没有找到编号为 9999" in say(services, "oMine", "取消报名 9999")
    assert "不需要取消" in say(services, "oNone", f"取消报名 {n}")
    one = say(services, "oMine", "取消报名")  # her one signup, named; 「是」 would cancel it
    assert f"【{n}】" in one and "请回复「是」" in one
    say(services, "oMine", "不")
    assert "已取消" in say(services, "oMine", f"取消报名 {n}")


def test_haircut_day(services):
    r = event(services, "oHair", "click", "HAIRCUT_DAY")
    assert "每月17日" in r
    n = new_activity(services, category="爱心义剪", title="爱心义剪（12月）")
    r = say(services, "oHair", "义剪")
    assert f"【{n}】" in r and f"报名 {n}" in r


def test_check_in_by_scan_and_by_subscribe(services):
    n = new_activity(services, days=0, hours=3)  # starts about now
    complete_signup(services, "oScan", n)
    r = event(services, "oScan", "scan", f"checkin:{n}")
    assert "签到成功" in r
    assert "已经签到过" in event(services, "oScan", "scan", f"checkin:{n}")
    r = event(services, "oNewbie", "subscribe", f"qrscene_checkin:{n}")
    assert "欢迎关注" in r and "签到成功" in r and "现场登记" in r
    rows = signups_of(services, n)
    assert rows["oScan"].status == "attended" and rows["oNewbie"].status == "attended"
    assert "不在签到时间" in event(services, "oScan", "scan",
                                   f"checkin:{new_activity(services, days=9)}")
    assert "没有找到" in event(services, "oScan", "scan", "checkin:9999")


# ----------------------------------------------------------------------------------------------
# Merged from tests/test_activities_round3.py (issue 13):
# Round 3 testers' findings: erasing gives seats back, names, cancelled activities, 义剪 times,
# cancelling by 报名号, Chinese numerals, 「我的志愿时长」 inside a form.
# ----------------------------------------------------------------------------------------------

def set_capacity_and_tell(services, session, activity, *args, **kwargs):
    """``models.activities.set_capacity`` then tell the promoted women after the commit, as the
    console and ``taoyuan events seats`` do."""
    activity, promoted = acts.set_capacity(session, activity, *args, **kwargs)
    tell_promoted_after_commit(services, session, activity, promoted)
    return activity, promoted


def _told(services, openid):
    notifier_for(services).wait()  # the outbox worker sends after the commit
    with services.db.session() as s:
        return (len(s.scalars(select(OutboxMessage).where(OutboxMessage.openid == openid)).all())
                + len(s.scalars(select(Notice).where(Notice.openid == openid)).all()))


def _erased_messages(services):
    with services.db.session() as s:
        out = s.scalars(select(OutboxMessage.openid)).all()
        notes = s.scalars(select(Notice.openid)).all()
    return [o for o in [*out, *notes] if privacy.is_erased(o)]


def _erase(services, openid):
    say(services, openid, "删除我的信息")
    assert "已删除" in say(services, openid, "确认删除")


# 1 -------------------------------------------------------------------------------------------
def test_erasing_gives_upcoming_seats_back_and_promotes(services, run):  # noqa: F811
    n = new_activity(services, capacity=1)
    assert "报名成功" in complete_signup(services, "oGone", n)
    assert "候补" in complete_signup(services, "oNext", n)
    other = new_activity(services, capacity=1, title="亲子早教", category="亲子早教")
    complete_signup(services, "oFirst", other)
    assert "候补" in complete_signup(services, "oGone", other)      # she waits here
    past = new_activity(services, capacity=5, days=-3)               # held already
    with services.db.session() as s:
        s.add(acts.Signup(activity_id=acts.get_activity(s, past).id, openid="oGone",
                          status=acts.CONFIRMED, name="王秀英", phone="13812341234"))
    _erase(services, "oGone")
    rows = signups_of(services, n)
    assert rows["oNext"].status == acts.CONFIRMED                   # promoted into her seat ...
    assert _told(services, "oNext") == 1                            # ... and told
    gone = [r for r in rows.values() if privacy.is_erased(r.openid)]
    assert len(gone) == 1 and gone[0].status == acts.SIGNUP_CANCELLED and gone[0].name is None
    waiting = [r for r in signups_of(services, other).values() if privacy.is_erased(r.openid)]
    assert waiting[0].status == acts.SIGNUP_CANCELLED
    held = list(signups_of(services, past).values())
    assert held[0].status == acts.CONFIRMED and privacy.is_erased(held[0].openid)  # past: anonymised
    assert held[0].phone is None
    # the brief's case: her seat is free for the next woman
    third = new_activity(services, capacity=1)
    complete_signup(services, "oGone2", third)
    _erase(services, "oGone2")
    assert "报名成功" in complete_signup(services, "oNew", third)
    # calling the activities off tells nobody behind an erased id
    for number in (n, other, third):
        r = run("activities", "cancel", str(number), "--yes")
        assert r.exit_code == 0, r.output
    assert _erased_messages(services) == []
    assert _told(services, "oNext") == 2 and _told(services, "oNew") == 1


def test_nothing_is_sent_to_an_erased_id_even_from_old_rows(services):
    n = new_activity(services, capacity=1)
    complete_signup(services, "oSeat", n)
    with services.db.session() as s:                                # erased before this fix
        s.add(acts.Signup(activity_id=acts.get_activity(s, n).id, openid=privacy.anonymous_openid(),
                          status=acts.WAITING, created_at=utcnow() - timedelta(days=1)))
    with services.db.write_session() as s:
        _a, promoted = set_capacity_and_tell(services, s, n, 2)
        assert promoted == []
    with services.db.session() as s:
        assert notify(services, s, privacy.anonymous_openid(), "signup_promoted", "好消息") == "skipped"
        _a, affected = acts.cancel_activity(s, n)
        assert [x.openid for x in affected] == ["oSeat"]
    assert _erased_messages(services) == []


# 2 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["我叫王秀英", "我是王秀英", "姓名：王秀英", "我的名字是王秀英"])
def test_name_with_a_lead_in_is_stored_bare(services, text):
    assert privacy.normalize_name(text) == "王秀英"
    n = new_activity(services)
    say(services, "oLead", f"报名 {n}")
    say(services, "oLead", "是")
    assert "手机号" in say(services, "oLead", text)
    say(services, "oLead", "13812341234")
    say(services, "oLead", "同意")
    assert signups_of(services, n)["oLead"].name == "王秀英"


@pytest.mark.parametrize("text", ["附近", "桃城", "桃城镇", "达埔", "更多", "我是", "妇女微家",
                                  "义剪几点", "我的志愿时长"])
def test_commands_and_towns_are_not_names(services, text):
    assert privacy.normalize_name(text) is None
    n = new_activity(services)
    say(services, "oNot", f"报名 {n}")
    say(services, "oNot", "是")
    reply = say(services, "oNot", text)
    if text != "我的志愿时长":                                      # an escape rule answers that
        assert "只要文字" in reply


def test_volunteer_form_uses_the_same_name_rule(services):
    say(services, "oVolName", "志愿者")
    assert "只要文字" in say(services, "oVolName", "桃城")
    assert "手机号" in say(services, "oVolName", "我叫李丽")


# 3 -------------------------------------------------------------------------------------------
def test_cancelled_activity_in_my_signups_and_signup(services, run):  # noqa: F811
    n = new_activity(services, capacity=1, title="亲子早教", category="亲子早教")
    complete_signup(services, "oHeld", n)
    complete_signup(services, "oWaits", n)
    assert "候补第 1 位" in say(services, "oWaits", "我的报名")
    assert run("activities", "cancel", str(n), "--yes").exit_code == 0
    mine = say(services, "oWaits", "我的报名")
    assert "候补" not in mine and "活动已取消" in mine
    assert "活动已取消" in say(services, "oHeld", "我的报名")
    r = say(services, "oOther", f"报名 {n}")
    assert "已取消" in r and "停止报名" not in r


# 4 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["义剪几点开始", "义剪什么时候", "下次义剪", "理发几点",
                                  "下一次爱心义剪是什么时候"])
def test_haircut_time_questions_get_the_next_date(services, text):
    n = new_activity(services, title="爱心义剪", category="爱心义剪", days=3)
    with services.db.session() as s:
        start = acts.get_activity(s, n).starts_at.astimezone(services.tz)
    r = say(services, "oHair", text)
    assert f"{start.month}月{start.day}日" in r and f"{start:%H:%M}" in r
    assert f"报名 {n}" in r and "桃城镇妇女微家" in r


def test_haircut_time_question_without_a_date_gives_the_monthly_rule(services):
    assert "每月17日" in say(services, "oHair2", "义剪几点开始")


# 5 -------------------------------------------------------------------------------------------
def test_cancel_by_signup_ref(services):
    n = new_activity(services, capacity=1)
    complete_signup(services, "oRef", n)
    complete_signup(services, "oRefNext", n)
    ref = signups_of(services, n)["oRef"].ref
    assert "没有找到您的报名号" in say(services, "oStranger", f"取消报名 {ref}")
    r = say(services, "oRef", f"取消报名 {ref}")
    assert "已取消" in r and ref in r
    rows = signups_of(services, n)
    assert rows["oRef"].status == acts.SIGNUP_CANCELLED and rows["oRefNext"].status == acts.CONFIRMED
    assert _told(services, "oRefNext") == 1
    assert "已经取消" in say(services, "oRef", f"取消报名 {ref.lower()}")


def test_cancel_by_ref_in_the_middle_of_a_signup(services):
    n = new_activity(services)
    m = new_activity(services)
    complete_signup(services, "oMid", n)
    ref = signups_of(services, n)["oMid"].ref
    say(services, "oMid", f"报名 {m}")
    assert "已取消" in say(services, "oMid", f"取消报名{ref}")
    assert signups_of(services, n)["oMid"].status == acts.SIGNUP_CANCELLED


@pytest.mark.parametrize("numeral, value", [("一", 1), ("三", 3), ("十二", 12), ("二十", 20)])
def test_chinese_numerals_are_activity_numbers(numeral, value):
    from handlers.activities import number_digits

    assert number_digits(numeral) == str(value)
    assert number_digits("一下") is None


def test_signup_and_cancel_with_chinese_numerals(services):
    new_activity(services)
    new_activity(services)
    n = new_activity(services)
    assert n == 3
    assert "【3】" in say(services, "oCn", "报名三")
    say(services, "oCn", "取消")
    complete_signup(services, "oCn", 1)
    assert "已取消" in say(services, "oCn", "取消报名一")
    say(services, "oCn", "报名 2")
    assert "【3】" in say(services, "oCn", "报名三")                # restarts mid-conversation


def test_volunteer_hours_keeps_the_volunteer_signup_confirmation(services):
    register(services, "oHours")
    n = new_activity(services, volunteers=2)
    assert "确认志愿服务" in say(services, "oHours", f"志愿报名 {n}")
    r = say(services, "oHours", "我的志愿时长")  # read-only: answered, the form waits
    assert "志愿" in r and "时长" in r and "还没填完" in r
    say(services, "oHours", "是")
    assert "oHours" in signups_of(services, n)


def test_erasing_through_the_webhook_promotes_and_tells_after_the_commit(services, client):
    from bot.simulator import Simulator, flask_transport, reply_text, text_fields

    n = new_activity(services, capacity=1)
    sim, post = Simulator(token="taoyuandevtoken"), flask_transport(client)
    ids = iter(range(990000, 990100))

    def hook(openid, text):
        return reply_text(sim.send(post, text_fields(openid, text, msg_id=next(ids))))

    for openid, phone in (("oHookGone", "13812341234"), ("oHookNext", "13912341234")):
        for text in (f"报名 {n}", "是", "王秀英", phone, "同意"):
            hook(openid, text)
    assert signups_of(services, n)["oHookNext"].status == acts.WAITING
    hook("oHookGone", "删除我的信息")
    assert "已删除" in hook("oHookGone", "确认删除")
    assert signups_of(services, n)["oHookNext"].status == acts.CONFIRMED
    notifier_for(services).wait()  # the outbox worker tells her after the response
    assert _told(services, "oHookNext") == 1
    assert "已确认" in hook("oHookNext", "我的报名")


# ----------------------------------------------------------------------------------------------
# Merged from tests/test_activities_testers.py (issue 13):
# What the two testers found in activities, signups, volunteers and privacy (one test each).
# ----------------------------------------------------------------------------------------------

FUTURE = year_ahead(2)   # a year always ahead of the clock the tests run on
PAST = year_ahead(-6)    # a year always behind it


# 1. numbers the database cannot hold ----------------------------------------------------------
@pytest.mark.parametrize("digits", ["999999999999999999999999", "2147483648", "0", "9" * 5000])
def test_out_of_range_activity_number_is_not_found(services, digits, caplog):
    new_activity(services)
    r = say(services, "oHuge", f"报名 {digits}")
    assert "没有找到编号为" in r and "Traceback" not in caplog.text
    assert "没有找到编号为" in say(services, "oHuge", f"取消报名 {digits}")
    assert "没有找到" in event(services, "oHuge", "scan", f"checkin:{digits}")
    with services.db.write_session() as s:
        assert acts.get_activity(s, 2**31) is None and acts.get_activity(s, -1) is None
        with pytest.raises(acts.ActivityNotFound):
            acts.sign_up(s, 10**24, "oHuge")


# 2. her text is quoted at most ~12 characters ------------------------------------------------
def test_long_text_is_not_echoed(services):
    r = say(services, "oLong", "报名 " + "字" * 3000)
    assert "字" * 13 not in r and "「" + "字" * 12 + "…」" in r
    assert len(r.encode()) < 2048
    r = say(services, "oLong", "报名 " + "9" * 300)
    assert "9" * 5 not in r and "999****9999" in r  # a run of digits is masked like a phone


# 3. how to sign up -----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["报名", "怎么报名", "我要报名", "如何报名"])
def test_sign_up_without_a_number_lists_activities_with_the_how_to(services, text):
    n = new_activity(services, title="亲子早教课")
    r = say(services, "oHow", text)
    assert "报名方法" in r and "例如「报名 3」" in r and f"【{n}】亲子早教课" in r


# 4. one name rule ------------------------------------------------------------------------------
def test_volunteer_name_rejects_answers_like_the_signup_form(services):
    say(services, "oVName", "志愿者")
    for answer in ("是", "好的", "嗯", "13612345678", "志愿者"):
        assert "请发送您的姓名" in say(services, "oVName", answer), answer
    assert "手机号" in say(services, "oVName", "陈 美华")
    with services.db.session() as s:
        with pytest.raises(vols.VolunteerError):
            vols.save_volunteer(s, "oVName2", name="是", phone="13612345678", town="桃城镇",
                                skills=["理发"], available="周末")
    n = new_activity(services)
    say(services, "oSName", f"报名 {n}")
    say(services, "oSName", "是")
    assert "请发送您的姓名" in say(services, "oSName", "好的")
    assert privacy.normalize_name(" 王 秀英 ") == "王秀英"
    assert privacy.normalize_name("阿依古丽·买买提") == "阿依古丽·买买提"
    for bad in ("是", "好的", "OK", "", "王" * 21, "王秀英1", "怎么报名", "有什么活动", "在吗"):
        assert privacy.normalize_name(bad) is None


# 5. private mediation times --------------------------------------------------------------------
def _mediation_activities(services):
    start = utcnow() + timedelta(days=2)
    with services.db.session() as s:
        room = ServicePoint(name="秀丽个人调解室", kind="调解室", platform="纠纷化解", town="桃城镇",
                            lat=25.32, lng=118.289, approximate=True)
        s.add(room)
        s.flush()
        by_category = acts.add_activity(s, title="婚姻家庭调解", category="调解", starts_at=start,
                                        capacity=1)
        at_room = acts.add_activity(s, title="评理时间", category="家事", starts_at=start,
                                    capacity=1, point_id=room.id)
        public = acts.add_activity(s, title="普法讲座", category="普法宣传", starts_at=start,
                                   capacity=30, volunteers_needed=2)
        return by_category.number, at_room.number, public.number


def test_mediation_times_are_not_public_but_can_be_booked(services):
    private1, private2, public = _mediation_activities(services)
    listing = say(services, "oPub", "活动")
    assert f"【{public}】" in listing
    assert f"【{private1}】" not in listing and f"【{private2}】" not in listing
    for number in (private1, private2):
        assert "没有找到编号为" in say(services, "oPub", f"报名 {number}")
    assert "预约调解" in say(services, "oPub", "报名调解")
    register(services, "oPubVol")
    vol_listing = say(services, "oPubVol", "志愿者")
    assert f"【{public}】" in vol_listing and f"【{private2}】" not in vol_listing
    with services.db.write_session() as s:
        with pytest.raises(acts.ActivityNotFound):
            acts.sign_up(s, private1, "oPub", public_only=True)
        assert acts.sign_up(s, private1, "oPub").status == acts.CONFIRMED   # 预约调解's way
        assert not acts.is_public(s, acts.get_activity(s, private2))
        assert acts.is_public(s, acts.get_activity(s, public))


# 6. 报名号 looks unlike an activity number ------------------------------------------------------
def test_signup_ref_and_explicit_activity_number_in_cancel_hints(services):
    n = new_activity(services, capacity=1)
    r = complete_signup(services, "oRef", n)
    ref = signups_of(services, n)["oRef"].ref
    assert ref.startswith("B") and len(ref) >= 5
    assert f"报名号 {ref}" in r and f"「取消报名 {n}」（{n} 是活动编号）" in r
    assert f"报名号 {ref}" in say(services, "oRef", f"报名 {n}")       # already signed up
    mine = say(services, "oRef", "我的报名")
    assert ref in mine and f"「取消报名 {n}」（{n} 是活动编号，不是报名号）" in mine
    waiting = complete_signup(services, "oRef2", n)
    assert "候补" in waiting and f"（{n} 是活动编号）" in waiting


# 7. a second scan ------------------------------------------------------------------------------
def test_second_scan_says_already_checked_in_without_hours(services):
    n = new_activity(services, volunteers=2, days=0, hours=1.5, title="巾帼宣讲")
    register(services, "oScanVol")
    with services.db.write_session() as s:
        acts.sign_up(s, n, "oScanVol", role=acts.VOLUNTEER, now=utcnow() - timedelta(hours=1))
    first = event(services, "oScanVol", "scan", f"checkin:{n}")
    assert "签到成功" in first and "1.5 小时" in first
    for _ in range(2):
        again = event(services, "oScanVol", "scan", f"checkin:{n}")
        assert "已经签到过" in again and "小时" not in again and "签到成功" not in again
    walk_in = event(services, "oScanWalk", "scan", f"checkin:{n}")
    assert "现场登记" in walk_in
    again = event(services, "oScanWalk", "subscribe", f"qrscene_checkin:{n}")
    assert "已经签到过" in again and "现场登记" not in again and "签到成功" not in again
    # a volunteer signup made after her first scan: recorded, not announced as a new check-in
    with services.db.write_session() as s:
        acts.sign_up(s, n, "oScanWalk", role=acts.VOLUNTEER, now=utcnow() - timedelta(hours=1))
    again = event(services, "oScanWalk", "scan", f"checkin:{n}")
    assert "已经签到过" in again and "小时" not in again
    assert signups_of(services, n)["oScanVol"].hours == 1.5


# 8. answers the forms did not understand ------------------------------------------------------
@pytest.mark.parametrize("answer", ["否", "不是", "换一个"])
def test_other_phone_answer_asks_for_the_new_number(services, answer):
    first, second = new_activity(services), new_activity(services)
    complete_signup(services, "oPhone", first, phone="13812345678")
    say(services, "oPhone", f"报名 {second}")
    assert "138****5678" in say(services, "oPhone", "是")
    r = say(services, "oPhone", answer)
    assert "新的手机号" in r and "应为 11 位" not in r
    assert "同意" in say(services, "oPhone", "13900001111")
    assert "报名成功" in say(services, "oPhone", "同意")
    assert signups_of(services, second)["oPhone"].phone == "13900001111"


@pytest.mark.parametrize("answer", ["删除", "确认删除", "确定删除", "要删除"])
def test_erase_confirmed_by_an_answer_that_says_delete(services, answer):
    """Only an answer that says 删除 deletes; a bare 「是」「确认」「确定」 (it may answer another
    question) is asked again (tests/test_privacy_handlers.py)."""
    register(services, "oGone")
    assert "确认删除" in say(services, "oGone", "删除我的信息")
    for unclear in ("是", "确认", "确定"):
        assert "请回复「确认删除」" in say(services, "oGone", unclear)
    assert "已删除您的个人信息" in say(services, "oGone", answer)
    with services.db.session() as s:
        assert vols.get_volunteer(s, "oGone") is None


# 9. staff input ------------------------------------------------------------------------------
def test_events_add_refuses_past_start_bad_capacity_and_empty_category(services, run):  # noqa: F811
    base = ["activities", "add", "--title", "家政培训", "--category", "家政培训"]
    r = run(*base, "--start", f"{PAST}-01-01 09:00")
    assert r.exit_code != 0 and "已经过去" in r.output
    r = run(*base, "--start", f"{FUTURE}-01-01 09:00", "--deadline", f"{PAST}-01-01 09:00")
    assert r.exit_code != 0 and "截止时间已经过去" in r.output
    r = run(*base, "--start", f"{PAST}-01-01 09:00", "--allow-past")
    assert r.exit_code == 0, r.output
    for capacity in ("0", "-3"):
        r = run(*base, "--start", f"{FUTURE}-01-01 09:00", "--capacity", capacity)
        assert r.exit_code != 0 and "名额至少为 1" in r.output, r.output
    r = run("activities", "add", "--title", "家政培训", "--category", " ", "--start", f"{FUTURE}-01-01 09:00")
    assert r.exit_code != 0 and "类别" in r.output
    with services.db.session() as s:
        assert len(s.scalars(select(acts.Activity)).all()) == 1


def test_cancelled_activity_cannot_be_closed_or_get_seats(services, run):  # noqa: F811
    r = run("activities", "add", "--title", "徒步", "--category", "徒步", "--start", f"{FUTURE}-03-08 08:00",
            "--capacity", "1")
    number = r.stdout.strip().splitlines()[-1]
    assert run("activities", "cancel", number, "--yes").exit_code == 0
    for args in (("close", number), ("seats", number, "--capacity", "5"), ("cancel", number, "--yes")):
        r = run("activities", *args)
        assert r.exit_code != 0 and "已" in r.output and "取消" in r.output, (args, r.output)
        assert "Traceback" not in r.output
    with services.db.session() as s:
        a = acts.get_activity(s, int(number))
        assert (a.status, a.capacity) == (acts.CANCELLED, 1)
    assert "状态：已取消" in run("activities", "show", number).output
    assert "已取消" in run("activities", "list", "--all").output


# 10. for the console -------------------------------------------------------------------------
def test_status_labels_cover_every_status():
    assert set(acts.STATUS_LABELS) == set(acts.ACTIVITY_STATUSES)
    assert acts.STATUS_LABELS[acts.OPEN] == "开放报名" and acts.STATUS_LABELS[acts.FULL] == "已满"
    assert acts.STATUS_LABELS[acts.CLOSED] == "已截止" and acts.STATUS_LABELS[acts.CANCELLED] == "已取消"


def test_set_capacity_with_an_activity_promotes_and_notifies_after_commit(services):
    n = new_activity(services, capacity=1)
    for openid in ("oSeat1", "oSeat2", "oSeat3"):
        complete_signup(services, openid, n)
    # rolled back: nothing promoted, nobody told
    with pytest.raises(RuntimeError):
        with services.db.write_session() as s:
            activity = acts.get_activity(s, n)
            set_capacity_and_tell(services, s, activity, 3)
            raise RuntimeError("staff form failed")
    assert _told(services, "oSeat2") == 0
    with services.db.write_session() as s:
        activity = acts.get_activity(s, n)
        _a, promoted = set_capacity_and_tell(services, s, activity, 2)
        assert [p.openid for p in promoted] == ["oSeat2"]
        assert _told(services, "oSeat2") == 0          # not before the commit
    assert _told(services, "oSeat2") == 1 and _told(services, "oSeat3") == 0
    with services.db.session() as s:
        counts = acts.signup_counts(s, acts.get_activity(s, n))["participant"]
    assert counts["confirmed"] == 2 and counts["waiting"] == 1


def test_set_capacity_from_a_scoped_session_like_the_console(services):
    from sqlalchemy.orm import scoped_session

    n = new_activity(services, capacity=1)
    for openid in ("oScoped1", "oScoped2"):
        complete_signup(services, openid, n)
    session = scoped_session(services.db.Session)
    try:
        activity = acts.get_activity(session, n)
        _a, promoted = set_capacity_and_tell(services, session, activity, None)
        assert [p.openid for p in promoted] == ["oScoped2"]
        session.commit()
    finally:
        session.remove()
    assert _told(services, "oScoped2") == 1
    with services.db.session() as s:           # the listener was on that session only
        s.get(acts.Activity, activity.id).description = "改"
    assert _told(services, "oScoped2") == 1


# -- a bare number after the list picks an activity (issue 14) ------------------------------------
def test_a_bare_number_after_the_list_picks_that_activity(services):
    first = new_activity(services, title="家政培训班", days=5)
    second = new_activity(services, title="电商直播培训班", category="电商直播培训", days=6)
    say(services, "oPick", "活动")
    reply = say(services, "oPick", "2")  # the second listed (its position)
    assert f"【{second}】电商直播培训班" in reply and "确认报名这个活动吗" in reply
    assert "没太明白" not in reply
    assert "请告诉我您的姓名" in say(services, "oPick", "是")  # the signup goes on as 「报名 N」
    say(services, "oPick", "取消")
    say(services, "oPick", "活动")
    assert f"【{first}】家政培训班" in say(services, "oPick", f"{first}")  # its own number


def test_a_pick_ends_with_any_other_message_and_numbers_out_of_range(services):
    new_activity(services)
    say(services, "oPick2", "活动")
    assert "确认报名" not in say(services, "oPick2", "9")
    assert "确认报名" not in say(services, "oPick2", "1")  # the pick ended with the 9
    say(services, "oPick2", "活动")
    assert "您好" in say(services, "oPick2", "你好")
    assert "确认报名" not in say(services, "oPick2", "1")


# -- the reminder promise (issue 14, tester round 2) --------------------------------------------
def _activity_in(services, delta):
    with services.db.session() as s:
        return acts.add_activity(s, title="近邻课堂", category="近邻课堂", starts_at=utcnow() + delta,
                                 capacity=5, place="桃城镇妇女微家").number


def test_a_signup_an_hour_before_the_start_is_not_promised_a_reminder(services):
    done = complete_signup(services, "oSoon", _activity_in(services, timedelta(hours=1)))
    assert "报名成功" in done and "前一天会提醒" not in done and "活动快开始了，请准时到场" in done


def test_a_signup_days_ahead_is_promised_the_day_before_reminder(services):
    done = complete_signup(services, "oAhead", _activity_in(services, timedelta(days=5)))
    assert "报名成功" in done and "活动前一天会提醒您" in done


def test_no_reminder_promise_when_the_activity_reminder_is_disabled(services):
    from models.reminders import KIND_ACTIVITY, Reminder, ensure_default_reminders

    with services.db.session() as s:
        ensure_default_reminders(s)
        s.scalar(select(Reminder).where(Reminder.kind == KIND_ACTIVITY)).enabled = False
    done = complete_signup(services, "oOff", _activity_in(services, timedelta(days=5)))
    assert "报名成功" in done and "前一天会提醒" not in done and "准时到场" in done
