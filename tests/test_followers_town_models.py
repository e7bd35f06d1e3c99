"""Her town (figures per town, issue 16 item 9): set_follower_town's precedence, the nearest
town to a position, and a location message filling it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.geo import TOWN_CENTRES, TOWNS, BadCoordinates, nearest_town
from models.base import utcnow
from models.followers import (TOWN_INFERRED, TOWN_STAFF, TOWN_STATED, Follower, UnknownTown,
                              record_location, set_follower_town)


def test_nearest_town_inside_the_county_only():
    assert set(TOWN_CENTRES) == set(TOWNS)
    assert nearest_town(25.331, 117.972) == "坑仔口镇"
    assert nearest_town(25.321, 118.290) == "桃城镇"
    assert nearest_town(25.36, 117.76) == "一都镇"
    assert nearest_town(24.87, 118.68) is None   # 泉州市区: no town of ours
    assert nearest_town(39.9, 116.4) is None


def _town(services, openid):
    with services.db.session() as s:
        f = s.get(Follower, openid)
        return (f.town, f.town_source) if f else (None, None)


def test_a_later_statement_wins_over_an_inferred_town_never_the_other_way(services):
    t0 = utcnow()
    with services.db.session() as s:
        assert set_follower_town(s, "oT", "蓬壶镇", source=TOWN_INFERRED, now=t0)
    assert _town(services, "oT") == ("蓬壶镇", TOWN_INFERRED)
    with services.db.session() as s:   # a later inferred one replaces an inferred one
        assert set_follower_town(s, "oT", "达埔镇", source=TOWN_INFERRED, now=t0 + timedelta(minutes=1))
    with services.db.session() as s:   # she says where she lives
        assert set_follower_town(s, "oT", "桃城镇", source=TOWN_STATED, now=t0 + timedelta(minutes=2))
    with services.db.session() as s:   # a position afterwards does not undo what she said
        assert not set_follower_town(s, "oT", "一都镇", source=TOWN_INFERRED)
    assert _town(services, "oT") == ("桃城镇", TOWN_STATED)
    with services.db.session() as s:   # staff correct it
        assert set_follower_town(s, "oT", "五里街镇", source=TOWN_STAFF)
    with services.db.session() as s:
        assert not set_follower_town(s, "oT", "一都镇", source=TOWN_INFERRED)
    assert _town(services, "oT") == ("五里街镇", TOWN_STAFF)
    with services.db.session() as s:   # and a later statement of hers wins again
        assert set_follower_town(s, "oT", "石鼓镇", source=TOWN_STATED)
    assert _town(services, "oT") == ("石鼓镇", TOWN_STATED)
    with services.db.session() as s:   # staff may clear it
        assert set_follower_town(s, "oT", None, source=TOWN_STAFF)
    assert _town(services, "oT") == (None, None)


@pytest.mark.parametrize("town,source", [("北京", TOWN_STATED), ("桃城", TOWN_STATED),
                                         ("桃城镇", "guess"), (None, TOWN_INFERRED)])
def test_only_the_22_towns_and_known_sources(services, town, source):
    with services.db.session() as s:
        with pytest.raises(UnknownTown):
            set_follower_town(s, "oBad", town, source=source)


def test_a_location_message_fills_the_nearest_town_the_auto_report_does_not(services):
    with services.db.session() as s:
        record_location(s, "oLoc", 25.331, 117.972)                  # 上报地理位置 event
    assert _town(services, "oLoc") == (None, None)
    with services.db.session() as s:
        record_location(s, "oLoc", 25.331, 117.972, infer_town=True)  # she sent her location
    assert _town(services, "oLoc") == ("坑仔口镇", TOWN_INFERRED)
    with services.db.session() as s:
        record_location(s, "oLoc", 24.87, 118.68, infer_town=True)    # outside the county
    with services.db.session() as s, pytest.raises(BadCoordinates):
        record_location(s, "oLoc", 0, 0, infer_town=True)             # no real position: refused
    assert _town(services, "oLoc") == ("坑仔口镇", TOWN_INFERRED)
