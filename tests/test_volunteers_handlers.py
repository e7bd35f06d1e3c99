"""Volunteer registration, editing, volunteer signups, check-in hours, 「我的志愿时长」."""
from __future__ import annotations

import pytest

from models import volunteers as vols
from tests.helpers import event, get_volunteer as get, new_activity, register, say, signups_of


def test_parsers():
    assert vols.parse_town("桃城") == "桃城镇" and vols.parse_town("1") == "桃城镇"
    assert vols.parse_town("22") == "一都镇" and vols.parse_town("介福") == "介福乡"
    assert vols.parse_town("北京") is None and vols.parse_town("23") is None
    assert vols.parse_skills("1 3") == ["理发", "家政"]
    assert vols.parse_skills("法律、心理咨询") == ["法律", "心理"]
    assert vols.parse_skills("直播带货和义剪") == ["理发", "电商"]
    assert vols.parse_skills("唱歌") == []


def test_registration_step_by_step(services):
    r = say(services, "oVol", "志愿者")
    assert "姓名" in r
    assert "手机号" in say(services, "oVol", "陈美华")
    assert "11 位数字" in say(services, "oVol", "1361234")
    assert "乡镇" in say(services, "oVol", "136 1234 5678")
    assert "没有认出" in say(services, "oVol", "北京")
    assert "特长" in say(services, "oVol", "达埔")
    assert "至少选一项" in say(services, "oVol", "唱歌")
    assert "方便" in say(services, "oVol", "1、理发 法律")
    assert "同意" in say(services, "oVol", "每月17日")
    r = say(services, "oVol", "同意")
    assert "登记成功" in r and "达埔镇" in r
    vol = get(services, "oVol")
    assert (vol.name, vol.phone, vol.town, vol.skills, vol.available) == (
        "陈美华", "13612345678", "达埔镇", "理发、法律", "每月17日")


def test_cancel_and_refusal_save_nothing(services):
    say(services, "oNo", "志愿者")
    say(services, "oNo", "陈美华")
    assert "已取消这次志愿者登记，没有保存您的信息" in say(services, "oNo", "退出")
    register(services, "oNo2")
    assert get(services, "oNo") is None and get(services, "oNo2") is not None
    say(services, "oNo3", "志愿者")
    for text in ("陈美华", "13612345678", "1", "1", "周末"):
        say(services, "oNo3", text)
    assert "没有登记" in say(services, "oNo3", "不同意")
    assert get(services, "oNo3") is None


def test_registered_profile_is_masked_and_editable(services):
    register(services, "oEdit")
    r = event(services, "oEdit", "click", "VOLUNTEER")
    assert "136****5678" in r and "13612345678" not in r and "回复「修改」" in r
    r = say(services, "oEdit", "修改志愿者")
    assert "不变" in r and "陈美华" in r
    assert "136****5678" in say(services, "oEdit", "不变")   # name kept; phone offered masked
    assert "乡镇" in say(services, "oEdit", "不变")
    say(services, "oEdit", "桃城")
    say(services, "oEdit", "不变")
    say(services, "oEdit", "工作日晚上")
    assert "登记成功" in say(services, "oEdit", "同意")
    vol = get(services, "oEdit")
    assert (vol.name, vol.phone, vol.town, vol.skills, vol.available) == (
        "陈美华", "13612345678", "桃城镇", "理发、家政", "工作日晚上")


def test_sending_volunteer_again_then_edit_or_anything_else(services):
    register(services, "oAgain")
    say(services, "oAgain", "志愿者")
    assert "不变" in say(services, "oAgain", "修改")       # the issue: editable by sending 志愿者 again
    say(services, "oAgain", "取消")
    say(services, "oAgain", "志愿者")
    r = say(services, "oAgain", "我的志愿时长")            # not swallowed by the profile step
    assert "时长" in r and "不变" not in r


def test_volunteer_signup_needs_registration_and_is_separate(services):
    n = new_activity(services, capacity=1, volunteers=1, category="爱心义剪", title="爱心义剪")
    assert "先登记" in say(services, "oHelper", f"志愿报名 {n}")
    register(services, "oHelper")
    r = say(services, "oHelper", "志愿者")
    assert f"【{n}】" in r and "志愿报名" in r
    assert "确认志愿服务" in say(services, "oHelper", f"志愿报名 {n}")
    assert "志愿者报名成功" in say(services, "oHelper", "是")
    # she can also take a participant seat: roles are counted apart
    say(services, "oHelper", f"报名 {n}")
    assert "136****5678" in say(services, "oHelper", "是")
    say(services, "oHelper", "是")
    assert "报名成功" in say(services, "oHelper", "同意")
    from models import activities as acts
    with services.db.session() as s:
        counts = acts.signup_counts(s, acts.get_activity(s, n))
    assert counts["volunteer"]["confirmed"] == 1 and counts["participant"]["confirmed"] == 1
    no_vol = new_activity(services, volunteers=0)
    assert "不需要志愿者" in say(services, "oHelper", f"志愿者报名{no_vol}")


def test_check_in_credits_hours_and_my_hours(services):
    assert "还没有志愿服务记录" in say(services, "oHours", "我的志愿时长")
    register(services, "oHours")
    assert "还没有志愿服务时长" in say(services, "oHours", "我的志愿时长")
    n = new_activity(services, volunteers=2, days=0, hours=3, title="巾帼宣讲")
    # starts about now, so signups are closed: a volunteer who signed up earlier is simulated
    from datetime import timedelta

    from models import activities as acts
    from models.base import utcnow
    with services.db.write_session() as s:
        acts.sign_up(s, n, "oHours", role=acts.VOLUNTEER, now=utcnow() - timedelta(hours=1))
    r = event(services, "oHours", "scan", f"checkin:{n}")
    assert "签到成功" in r and "3 小时" in r
    r = say(services, "oHours", "我的志愿时长")
    assert "累计志愿时长：3 小时" in r and "巾帼宣讲" in r


@pytest.mark.parametrize("text", ["志愿时长", "我的志愿时长"])
def test_hours_words(services, text):
    assert "志愿" in say(services, "oW", text)
