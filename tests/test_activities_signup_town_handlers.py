"""Issue 16 item 9: after a signup she is asked (once, optional) which town she lives in; her
answer fills the figures per town as a town she stated; anything else is answered as usual."""
from __future__ import annotations

from models import followers
from tests.helpers import complete_signup, new_activity, say


def _town(services, openid):
    with services.db.session() as s:
        f = s.get(followers.Follower, openid)
        return (f.town, f.town_source) if f else (None, None)


def test_her_answer_after_a_signup_is_her_stated_town(services):
    number = new_activity(services)
    done = complete_signup(services, "o-town-1", number)
    assert "报名成功" in done and "您住在哪个乡镇" in done
    reply = say(services, "o-town-1", "我在蓬壶")
    assert "已记下您在蓬壶镇" in reply
    assert _town(services, "o-town-1") == ("蓬壶镇", followers.TOWN_STATED)


def test_anything_else_is_a_fresh_message_and_no_town_is_guessed(services):
    number = new_activity(services)
    complete_signup(services, "o-town-2", number)
    reply = say(services, "o-town-2", "我的报名")
    assert "已记下" not in reply and "家政培训班" in reply
    assert _town(services, "o-town-2") == (None, None)
    assert "已记下" not in say(services, "o-town-2", "桃城")   # the question is gone


def test_a_number_is_not_taken_for_a_town(services):
    number = new_activity(services)
    complete_signup(services, "o-town-3", number)
    say(services, "o-town-3", "1")
    assert _town(services, "o-town-3") == (None, None)


def test_not_asked_when_she_already_told_us(services):
    with services.db.session() as s:
        followers.set_follower_town(s, "o-town-4", "石鼓镇", source=followers.TOWN_STATED)
    number = new_activity(services)
    done = complete_signup(services, "o-town-4", number)
    assert "报名成功" in done and "您住在哪个乡镇" not in done


def test_cancel_without_a_number(services):
    """The tester's finding: 「取消报名」 with no signup said both 「取消哪个活动」 and 「没有报名」."""
    reply = say(services, "o-cancel-0", "取消报名")
    assert "没有可以取消的报名" in reply and "取消哪个活动" not in reply
    number = new_activity(services)
    complete_signup(services, "o-cancel-1", number)
    reply = say(services, "o-cancel-1", "取消报名")
    assert f"【{number}】" in reply and "请回复「是」" in reply and "家政培训班" in reply
    assert "已取消" not in reply          # nothing cancelled before she says 「是」
