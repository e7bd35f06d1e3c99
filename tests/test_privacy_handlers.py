"""Masking, and 「删除我的信息」 with confirmation across features."""
from __future__ import annotations

import logging

from sqlalchemy import select

from models import activities as acts
from models import privacy
from models.followers import Follower
from models.notice import Notice, queue_notice
from tests.helpers import complete_signup, conv_key, new_activity, register, say, signups_of
from tests.helpers import get_volunteer as get


def test_mask_phone_and_mobile_rule():
    assert privacy.mask_phone("13812341234") == "138****1234"
    assert privacy.mask_phone("") == "" and privacy.mask_phone(None) == ""
    assert "1234" not in privacy.mask_phone("1234")[:2]
    assert privacy.mask_phones_in("我的电话13812341234谢谢") == "我的电话138****1234谢谢"
    assert privacy.mask_name("王秀英") == "王**"
    assert privacy.normalize_mobile("+86 138-1234-1234") == "13812341234"
    for bad in ("12812341234", "1381234123", "138123412345", "abc", ""):
        assert privacy.normalize_mobile(bad) is None


def test_erase_needs_confirmation_then_keeps_anonymous_counts(services):
    n = new_activity(services, capacity=1)
    complete_signup(services, "oOther", n)
    complete_signup(services, "oErase", n)          # waiting
    register(services, "oErase")
    with services.db.session() as s:
        queue_notice(s, "oErase", "signup_promoted", "好消息")
    r = say(services, "oErase", "删除我的信息")
    assert "确认删除" in r
    assert "请回复「确认删除」" in say(services, "oErase", "嗯")
    assert "没有删除" in say(services, "oErase", "不删")
    assert get(services, "oErase") is not None
    say(services, "oErase", "删除我的信息")
    r = say(services, "oErase", "确认删除")
    assert "已删除" in r and "报名记录" in r and "志愿者登记" in r
    assert services.redis.get(conv_key(services, "oErase")) is None
    assert get(services, "oErase") is None
    rows = signups_of(services, n)
    assert "oErase" not in rows and len(rows) == 2
    anon = [r for r in rows.values() if r.openid.startswith("erased:")]
    assert len(anon) == 1 and anon[0].name is None and anon[0].phone is None
    assert anon[0].status == "cancelled"           # upcoming: her waiting place is given up
    with services.db.session() as s:
        assert not list(s.scalars(select(Notice).where(Notice.openid == "oErase")))
        assert s.get(Follower, "oErase").town is None
        counts = acts.signup_counts(s, acts.get_activity(s, n))
    assert counts["participant"]["confirmed"] == 1 and counts["participant"]["cancelled"] == 1
    assert "还没有报名" in say(services, "oErase", "我的报名")


def test_other_features_erasers_run_too(services):
    calls = []

    @privacy.register_eraser
    def fake(session, openid):
        calls.append(openid)
        return {"help_requests": 2}

    try:
        say(services, "oX", "删除我的信息")
        assert "2 条求助留言" in say(services, "oX", "确认删除")
        assert calls == ["oX"]
    finally:
        privacy._ERASERS.remove(fake)


def test_personal_fields_never_logged(services, caplog):
    caplog.set_level(logging.DEBUG)
    n = new_activity(services)
    complete_signup(services, "oLog", n, name="赵丽华", phone="13598765432")
    register(services, "oLog2", name="钱芳", phone="13511112222")
    text = caplog.text
    assert "13598765432" not in text and "赵丽华" not in text
    assert "13511112222" not in text and "钱芳" not in text


def test_a_bare_yes_never_deletes_and_the_warning_names_the_signups(services):
    """A tester's 「是」 (meant for another question while the deletion was still waiting)
    erased her data and cancelled her signup without a word about it. A bare yes is asked
    again; only an answer saying 删除 deletes; the warning and the result name the signups."""
    n = new_activity(services, capacity=5)
    complete_signup(services, "oYes", n)
    warning = say(services, "oYes", "删除我的信息")
    assert "取消报名" in warning
    for answer in ("是", "确定", "嗯", "好的"):
        assert "确认删除" in say(services, "oYes", answer)
    assert "oYes" in signups_of(services, n) and signups_of(services, n)["oYes"].status == "confirmed"
    say(services, "oYes", "删除我的信息")
    done = say(services, "oYes", "确认删除")
    assert "已删除" in done and "1 个还没开始的活动已取消报名" in done


def test_another_question_ends_the_deletion_and_is_answered(services):
    """Anything other than a yes or no to deleting ends the confirmation (nothing deleted) and
    is answered as usual; a later 「是」 deletes nothing."""
    n = new_activity(services, capacity=5)
    complete_signup(services, "oOther2", n)
    say(services, "oOther2", "删除我的信息")
    assert "确认删除" not in say(services, "oOther2", "附近有妇女微家吗")
    assert services.redis.get(conv_key(services, "oOther2")) is None
    say(services, "oOther2", "是")
    say(services, "oOther2", "确认删除")
    assert signups_of(services, n)["oOther2"].status == "confirmed"
