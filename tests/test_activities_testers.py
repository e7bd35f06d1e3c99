"""What the two testers found in activities, signups, volunteers and privacy (one test each)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.activities import tell_promoted_after_commit
from models import activities as acts
from models import privacy
from models import volunteers as vols
from models.base import utcnow
from models.notice import Notice
from models.outbox import OutboxMessage
from models.directory import ServicePoint
from tests.test_activities_cli import run  # noqa: F401 - fixture
from tests.test_signup import complete_signup, event, new_activity, say, signups_of
from tests.test_volunteer import register
from tests.clock import year_ahead

FUTURE = year_ahead(2)   # a year always ahead of the clock the tests run on
PAST = year_ahead(-6)    # a year always behind it

def set_capacity_and_tell(services, session, activity, *args, **kwargs):
    """``models.activities.set_capacity`` then tell the promoted women after the commit, as the
    console and ``taoyuan events seats`` do."""
    activity, promoted = acts.set_capacity(session, activity, *args, **kwargs)
    tell_promoted_after_commit(services, session, activity, promoted)
    return activity, promoted



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
    assert "9" * 13 not in r and "9" * 12 + "…" in r


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


@pytest.mark.parametrize("answer", ["是", "确认", "确定", "删除", "确认删除"])
def test_erase_confirmed_by_plain_yes(services, answer):
    register(services, "oGone")
    assert "确认删除" in say(services, "oGone", "删除我的信息")
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


def _told(services, openid):
    with services.db.session() as s:
        return (len(s.scalars(select(OutboxMessage).where(OutboxMessage.openid == openid)).all())
                + len(s.scalars(select(Notice).where(Notice.openid == openid)).all()))


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
