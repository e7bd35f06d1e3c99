"""What she tells us fills her town (issue 16 item 9), through the router: a location message,
the volunteer form, a town named in a directory question, her town in an urgent request; never
one stray word in a sentence."""
from __future__ import annotations

from bot.wechat.updates import Location, Update
from models.followers import TOWN_INFERRED, TOWN_STATED, Follower
from tests.helpers import dispatch, register, say


def _town(services, openid):
    with services.db.session() as s:
        f = s.get(Follower, openid)
        return (f.town, f.town_source) if f else (None, None)


def test_location_message_then_volunteer_form(services):
    dispatch(services, Update(msg_type="location", openid="oWho", location=Location(25.38, 118.18),
                              msg_id="77001", create_time=1))
    assert _town(services, "oWho") == ("蓬壶镇", TOWN_INFERRED)
    register(services, "oWho", town="达埔")
    assert _town(services, "oWho") == ("达埔镇", TOWN_STATED)
    dispatch(services, Update(msg_type="location", openid="oWho", location=Location(25.38, 118.18),
                              msg_id="77002", create_time=2))
    assert _town(services, "oWho") == ("达埔镇", TOWN_STATED)  # a position never undoes it


def test_directory_question_names_a_town_a_stray_word_does_not(services):
    say(services, "oAsk", "我想去看看桃花")     # no town: nothing guessed
    assert _town(services, "oAsk") == (None, None)
    say(services, "oAsk", "坑仔口 调解")
    assert _town(services, "oAsk") == ("坑仔口镇", TOWN_INFERRED)


def test_urgent_request_town_is_stated(services):
    say(services, "oUrg", "他打我，救命")
    say(services, "oUrg", "我在蓬壶")
    assert _town(services, "oUrg") == ("蓬壶镇", TOWN_STATED)
