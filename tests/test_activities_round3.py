"""Round 3 testers' findings: erasing gives seats back, names, cancelled activities, 义剪 times,
cancelling by 报名号, Chinese numerals, 「我的志愿时长」 inside a form."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import activities as acts
from models import privacy
from models.base import utcnow
from handlers.activities import notify, tell_promoted_after_commit
from models.notice import Notice
from models.outbox import OutboxMessage
from tests.test_activities_cli import run  # noqa: F401 - fixture
from tests.test_signup import complete_signup, new_activity, say, signups_of
from tests.test_volunteer import register

def set_capacity_and_tell(services, session, activity, *args, **kwargs):
    """``models.activities.set_capacity`` then tell the promoted women after the commit, as the
    console and ``taoyuan events seats`` do."""
    activity, promoted = acts.set_capacity(session, activity, *args, **kwargs)
    tell_promoted_after_commit(services, session, activity, promoted)
    return activity, promoted



def _told(services, openid):
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


def test_volunteer_hours_escapes_the_volunteer_signup_confirmation(services):
    register(services, "oHours")
    n = new_activity(services, volunteers=2)
    assert "确认志愿服务" in say(services, "oHours", f"志愿报名 {n}")
    r = say(services, "oHours", "我的志愿时长")
    assert "志愿" in r and "时长" in r and "确认" not in r
    assert "没有报名" not in say(services, "oHours", "是")            # the form has ended
    assert "oHours" not in signups_of(services, n)


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
    assert _told(services, "oHookNext") == 1
    assert "已确认" in hook("oHookNext", "我的报名")
