"""Bad input stops before the database (issue 15, item 14): a FromUserName longer than any
openid column, and a location that is no place on Earth (latitude 999, NaN, inf), through the
signed webhook."""
from __future__ import annotations

import logging

import pytest

from bot.app import create_app
from bot.simulator import Simulator, event_fields, flask_transport, location_fields, reply_text, text_fields
from models.followers import Follower


@pytest.fixture
def sim(services):
    return Simulator(token=services.config.wechat["token"])


@pytest.fixture
def transport(services):
    return flask_transport(create_app(services=services).test_client())


def _follower(services, openid):
    with services.db.session() as s:
        row = s.get(Follower, openid)
        return None if row is None else (row.last_lat, row.last_lng, row.last_location_at)


@pytest.mark.parametrize("length", [65, 200, 5000])
def test_long_from_user_name_is_answered_success_without_a_database_error(
        services, sim, transport, caplog, length):
    openid = "o" + "x" * (length - 1)
    caplog.set_level(logging.INFO)
    reply = sim.send(transport, text_fields(openid, "你好"))
    assert sim.last_status == 200 and reply is None          # 200 and ``success``
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert any("FromUserName of" in r.getMessage() for r in caplog.records)
    with services.db.session() as s:
        assert s.query(Follower).count() == 0


def test_a_64_character_openid_is_still_served(services, sim, transport):
    openid = "o" * 64
    assert reply_text(sim.send(transport, text_fields(openid, "你好")))
    assert _follower(services, openid) is not None


@pytest.mark.parametrize("lat,lng,says", [
    (999, 118.29, "纬度应在-90到90之间"),
    ("NaN", 118.29, "不是有效的数字"),
    (25.32, "nan", "不是有效的数字"),
    ("inf", 118.29, "不是有效的数字"),
    ("-Infinity", "Infinity", "不是有效的数字"),
])
def test_a_location_that_is_no_place_is_refused_and_not_saved(services, sim, transport, lat, lng, says):
    openid = "oBadLoc1"
    answer = reply_text(sim.send(transport, location_fields(openid, lat, lng)))
    assert says in answer
    assert "经纬度为0" not in answer
    row = _follower(services, openid)
    assert row is None or row[:2] == (None, None)


@pytest.mark.parametrize("lat,lng", [(999, 118.29), ("NaN", "NaN"), ("inf", 118.0)])
def test_a_location_event_that_is_no_place_is_not_saved(services, sim, transport, lat, lng):
    openid = "oBadLoc2"
    sim.send(transport, location_fields(openid, 25.3215, 118.2941))   # a good position first
    good = _follower(services, openid)
    assert good[:2] == (25.3215, 118.2941)
    reply = sim.send(transport, event_fields(openid, "LOCATION", Latitude=lat, Longitude=lng,
                                             Precision=30))
    assert reply is None
    assert _follower(services, openid) == good                # kept as it was


def test_zero_coordinates_still_say_zero(sim, transport):
    answer = reply_text(sim.send(transport, location_fields("oBadLoc3", 0, 0)))
    assert "经纬度为0" in answer
