"""「预约调解」: a time at a 纠纷化解 point, booked through the activities' signup machinery."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import activities as acts
from models.base import utcnow
from models.directory import ServicePoint
from tests.helpers import HELP_FEATURES as FEATURES, Chat

ROOMS = ("秀丽个人调解室", "陈秀美个人评理室")


@pytest.fixture
def rooms(services):
    """Two 纠纷化解 rooms, a one-seat mediation time at each, and an unrelated activity."""
    start = utcnow() + timedelta(days=2)
    with services.db.session() as s:
        ids = []
        for name in ROOMS:
            point = ServicePoint(name=name, kind="调解室", platform="纠纷化解", town="桃城镇",
                                 lat=25.32, lng=118.289, approximate=True)
            s.add(point)
            s.flush()
            ids.append(point.id)
        a1 = acts.add_activity(s, title="婚姻家庭调解", category="调解", starts_at=start,
                               capacity=1, point_id=ids[0])
        a2 = acts.add_activity(s, title="评理", category="调解", starts_at=start + timedelta(days=1),
                               capacity=1, point_id=ids[1])
        acts.add_activity(s, title="爱心义剪", category="爱心义剪", starts_at=start, capacity=30)
        return a1.number, a2.number


def chat_for(services, openid="o_mediation_woman_1"):
    return Chat(services, openid=openid, features=FEATURES + ["handlers.activities", "handlers.activities_signup"])


def test_book_a_mediation_time(services, rooms):
    chat = chat_for(services)
    listing = chat.say("预约调解")
    assert "秀丽个人调解室" in listing and "陈秀美个人评理室" in listing and "爱心义剪" not in listing
    assert "手机号码" in chat.say("1")
    assert "11位" in chat.say("12345")
    done = chat.say("13812340000")
    assert "预约成功" in done and "秀丽个人调解室" in done and "138****0000" in done
    with services.db.session() as s:
        [signup] = s.scalars(select(acts.Signup).where(acts.Signup.openid == chat.openid)).all()
        assert signup.status == acts.CONFIRMED and signup.phone == "13812340000"
        assert s.get(acts.Activity, signup.activity_id).number == rooms[0]


def test_a_booked_time_is_no_longer_offered_and_known_phone_is_reused(services, rooms):
    first = chat_for(services)
    first.say("预约调解")
    first.say("1")
    first.say("13812340000")
    second = chat_for(services, openid="o_mediation_woman_2")
    listing = second.say("预约调解")
    assert "秀丽个人调解室" not in listing and "陈秀美个人评理室" in listing
    again = chat_for(services)
    again.say("预约调解")
    assert "138****0000" in again.say("1")
    assert "预约成功" in again.say("是")


def test_no_mediation_times_points_to_help_and_rooms(services):
    with services.db.session() as s:
        s.add(ServicePoint(name="秀丽个人调解室", kind="调解室", platform="纠纷化解", town="",
                           lat=25.32, lng=118.289))
    reply = chat_for(services).say("预约调解")
    assert "暂时没有" in reply and "求助" in reply and "秀丽个人调解室" in reply


def test_bad_choice_and_cancel(services, rooms):
    chat = chat_for(services)
    chat.say("预约调解")
    assert "序号" in chat.say("9")
    assert "已取消这次调解预约" in chat.say("取消")
