"""models.followers.touch keeps last_interaction_at to TOUCH_RESOLUTION (a bench/webhook.py fix)."""
from __future__ import annotations

from datetime import timedelta

from models.base import utcnow
from models.followers import TOUCH_RESOLUTION, Follower, touch


def test_touch_writes_only_when_the_stored_time_is_older_than_the_resolution(services):
    t0 = utcnow().replace(microsecond=0)
    with services.db.session() as s:
        touch(s, "oTouch", user_message=True, now=t0)
    with services.db.session() as s:
        f = touch(s, "oTouch", user_message=True, now=t0 + timedelta(seconds=30))
        assert not s.dirty  # nothing to write: no UPDATE, no WAL flush at commit
        assert f.last_interaction_at == t0
    later = t0 + TOUCH_RESOLUTION + timedelta(seconds=1)
    with services.db.session() as s:
        touch(s, "oTouch", user_message=True, now=later)
    with services.db.session() as s:
        assert s.get(Follower, "oTouch").last_interaction_at == later


def test_touch_rewrites_a_stored_time_in_the_future_and_still_marks_subscribed(services):
    now = utcnow().replace(microsecond=0)
    with services.db.session() as s:
        s.add(Follower(openid="oClock", subscribed=False, first_seen_at=now,
                       last_interaction_at=now + timedelta(hours=1)))
    with services.db.session() as s:
        touch(s, "oClock", user_message=True, now=now)
    with services.db.session() as s:
        f = s.get(Follower, "oClock")
        assert f.last_interaction_at == now
        assert f.subscribed


def test_an_event_does_not_open_the_window(services):
    with services.db.session() as s:
        f = touch(s, "oEvent", user_message=False)
        assert f.last_interaction_at is None


def _statements(services, work) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []

    def spy(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()[:3]))
    event.listen(services.db.engine, "before_cursor_execute", spy)
    try:
        with services.db.session() as s:
            work(s)
    finally:
        event.remove(services.db.engine, "before_cursor_execute", spy)
    return seen


def test_a_touch_alone_does_not_wait_for_the_disk_anything_more_does(services):
    from models.keywords import KeywordReply

    relaxed = "SET LOCAL synchronous_commit"
    postgres = services.db.engine.dialect.name == "postgresql"
    t0 = utcnow().replace(microsecond=0)
    first = _statements(services, lambda s: touch(s, "oRelax", user_message=True, now=t0))
    assert (relaxed in first) == postgres  # a new follower row and its time: relaxed
    later = t0 + TOUCH_RESOLUTION * 2
    again = _statements(services, lambda s: touch(s, "oRelax", user_message=True, now=later))
    assert (relaxed in again) == postgres

    def touch_and_more(s):
        touch(s, "oRelax", user_message=True, now=later + TOUCH_RESOLUTION * 2).town = "桃城镇"
    assert relaxed not in _statements(services, touch_and_more)

    def touch_and_another_row(s):
        touch(s, "oRelax", user_message=True, now=later + TOUCH_RESOLUTION * 4)
        s.add(KeywordReply(keyword="测试", match="exact", reply_text="好", priority=0, active=True))
    assert relaxed not in _statements(services, touch_and_another_row)
    with services.db.session() as s:
        f = s.get(Follower, "oRelax")
        assert f.town == "桃城镇" and f.last_interaction_at == later + TOUCH_RESOLUTION * 4


def test_first_contact_on_two_workers_at_once_reads_the_winners_row(services):
    """subscribe + 救命 from a new woman on two workers: both miss her row, one insert loses."""
    from models.followers import get_or_create

    with services.db.session() as s:  # the other worker's insert, committed meanwhile
        s.add(Follower(openid="oRace", subscribed=True, first_seen_at=utcnow()))
    with services.db.write_session() as s:
        real_get, misses = s.get, []

        def stale_get(cls, ident, **kw):  # what this worker saw before that commit
            if not misses:
                misses.append(ident)
                return None
            return real_get(cls, ident, **kw)
        s.get = stale_get
        follower = touch(s, "oRace", user_message=True)
        assert misses == ["oRace"] and follower.subscribed is True
    with services.db.session() as s:
        assert s.get(Follower, "oRace").last_interaction_at is not None
