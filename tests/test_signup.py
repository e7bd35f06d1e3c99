"""The signup conversation, step by step, through the router (no webhook).

Helpers ``say``/``event`` here are reused by the volunteer and privacy tests.
"""
from __future__ import annotations

import itertools
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

import handlers
from bot.wechat.updates import Update
from handlers.conversation import CONVERSATION_TTL
from handlers.router import Context
from models import activities as acts
from models.base import utcnow
from models.notice import Notice
from models.outbox import OutboxMessage

_ids = itertools.count(880000)
_ROUTER = None


def router():
    global _ROUTER
    if _ROUTER is None:
        _ROUTER = handlers.build_router()
    return _ROUTER


def dispatch(services, update: Update, now=None) -> str:
    """Dispatch ``update`` in a committed session; the reply text ("" for none)."""
    with services.db.session() as s:
        ctx = Context(update=update, services=services, session=s, now=now or utcnow())
        reply = router().dispatch(ctx)
    return getattr(reply, "content", "") if reply is not None else ""


def say(services, openid: str, text: str, now=None) -> str:
    """She sends ``text``; return the reply text."""
    return dispatch(services, Update(msg_type="text", openid=openid, content=text,
                                     msg_id=str(next(_ids)), create_time=1), now)


def event(services, openid: str, name: str, key: str = "", now=None) -> str:
    """An event (``scan``, ``subscribe``, ``click`` ...) with EventKey ``key``."""
    return dispatch(services, Update(msg_type="event", openid=openid, event=name, event_key=key,
                                     create_time=next(_ids)), now)


def new_activity(services, *, capacity=5, volunteers=0, category="家政培训", title="家政培训班",
                 days=5, hours=2):
    """An activity ``days`` from now; returns its number."""
    start = utcnow() + timedelta(days=days)
    with services.db.session() as s:
        return acts.add_activity(s, title=title, category=category, starts_at=start,
                                 ends_at=start + timedelta(hours=hours), capacity=capacity,
                                 volunteers_needed=volunteers, place="桃城镇妇女微家",
                                 allow_past=True).number


def signups_of(services, number):
    with services.db.session() as s:
        act = acts.get_activity(s, number)
        return {r.openid: r for r in s.scalars(select(acts.Signup).where(acts.Signup.activity_id == act.id))}


def complete_signup(services, openid, number, name="王秀英", phone="13812341234") -> str:
    say(services, openid, f"报名 {number}")
    say(services, openid, "是")
    say(services, openid, name)
    say(services, openid, phone)
    return say(services, openid, "同意")


def conv_key(services, openid):
    return services.keys("conv", openid)


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
    assert services.redis.get(conv_key(services, "oWang")) is None
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
    assert "已退出" in say(services, "oCancel", "取消")
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
    assert "例如回复「取消报名 3」" in say(services, "oMine", "取消报名")
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
