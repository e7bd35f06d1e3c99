"""Activity and signup model operations: seats, waiting list, promotion, check-in, hours."""
from __future__ import annotations

import multiprocessing as mp
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from models import activities as acts
from models.base import utcnow

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
DAY_BEFORE = NOW - timedelta(days=1)


def make_activity(services, *, capacity=2, volunteers=0, starts=None, **kw):
    """Create an activity (default: 10 days after NOW, 2 seats) and return its number."""
    with services.db.session() as s:
        act = acts.add_activity(s, title=kw.pop("title", "家政培训班"),
                                category=kw.pop("category", "家政培训"),
                                starts_at=starts or NOW + timedelta(days=10), capacity=capacity,
                                volunteers_needed=volunteers, place=kw.pop("place", "桃城镇妇女微家"),
                                now=NOW, allow_past=True, **kw)
        return act.number


def signup(services, number, openid, role=acts.PARTICIPANT, now=NOW):
    with services.db.write_session() as s:
        r = acts.sign_up(s, number, openid, role=role, name="王秀英", phone="13812341234", now=now)
        return r.status, r.position, r.signup.id


def statuses(services, number):
    with services.db.session() as s:
        act = acts.get_activity(s, number)
        return acts.signup_counts(s, act), act.status


def test_numbers_are_short_and_increasing(services):
    assert make_activity(services) == 1
    assert make_activity(services) == 2


def test_add_activity_validates(services):
    with services.db.session() as s:
        with pytest.raises(ValueError, match="结束时间"):
            acts.add_activity(s, title="x", category="徒步", starts_at=NOW, ends_at=NOW, now=DAY_BEFORE)
        with pytest.raises(ValueError, match="名称"):
            acts.add_activity(s, title=" ", category="徒步", starts_at=NOW, now=DAY_BEFORE)
        act = acts.add_activity(s, title="徒步", category="徒步", starts_at=NOW, now=DAY_BEFORE)
        with pytest.raises(ValueError, match="已经过去"):
            acts.add_activity(s, title="徒步", category="徒步", starts_at=NOW - timedelta(hours=1), now=NOW)
        assert act.ends_at - act.starts_at == acts.DEFAULT_DURATION and act.hours == 2


def test_capacity_then_waiting_list_then_promotion(services):
    n = make_activity(services, capacity=2)
    assert signup(services, n, "oA")[0] == acts.CONFIRMED
    assert signup(services, n, "oB")[0] == acts.CONFIRMED
    assert signup(services, n, "oC")[:2] == (acts.WAITING, 1)
    assert signup(services, n, "oD")[:2] == (acts.WAITING, 2)
    counts, status = statuses(services, n)
    assert counts["participant"]["confirmed"] == 2 and counts["participant"]["waiting"] == 2
    assert status == acts.FULL
    with services.db.write_session() as s:
        result = acts.cancel_signup(s, n, "oA", now=NOW)
        assert [p.openid for p in result.promoted] == ["oC"]
    counts, status = statuses(services, n)
    assert counts["participant"] == {"confirmed": 2, "waiting": 1, "cancelled": 1, "attended": 0}
    # cancelling a waiting signup promotes nobody
    with services.db.write_session() as s:
        assert acts.cancel_signup(s, n, "oD", now=NOW).promoted == []


def test_already_signed_up_and_unique_constraint(services):
    n = make_activity(services)
    signup(services, n, "oA")
    with pytest.raises(acts.AlreadySignedUp) as err:
        signup(services, n, "oA")
    assert err.value.signup_id is not None and err.value.status == acts.CONFIRMED
    # the database itself refuses a second row for (activity, openid, role)
    from sqlalchemy.exc import IntegrityError
    with pytest.raises(IntegrityError):
        with services.db.session() as s:
            act = acts.get_activity(s, n)
            s.add(acts.Signup(activity_id=act.id, openid="oA", role=acts.PARTICIPANT,
                              status=acts.CONFIRMED))
            s.flush()


def test_signup_again_after_cancel_reuses_the_row(services):
    n = make_activity(services, capacity=1)
    _, _, first_id = signup(services, n, "oA")
    with services.db.write_session() as s:
        acts.cancel_signup(s, n, "oA", now=NOW)
    status, _, again_id = signup(services, n, "oA")
    assert status == acts.CONFIRMED and again_id == first_id


def test_closed_deadline_unknown_and_volunteer_rules(services):
    n = make_activity(services, deadline=NOW + timedelta(hours=1))
    with pytest.raises(acts.SignupClosed):
        signup(services, n, "oA", now=NOW + timedelta(hours=2))
    with pytest.raises(acts.ActivityNotFound):
        signup(services, 999, "oA")
    with pytest.raises(acts.NoVolunteersNeeded):
        signup(services, n, "oA", role=acts.VOLUNTEER)
    with services.db.session() as s:
        acts.close_activity(s, n)
    with pytest.raises(acts.SignupClosed):
        signup(services, n, "oB")
    with services.db.write_session() as s:
        with pytest.raises(acts.NotSignedUp):
            acts.cancel_signup(s, n, "oZ", now=NOW)


def test_volunteers_are_counted_apart_from_participants(services):
    n = make_activity(services, capacity=1, volunteers=1)
    assert signup(services, n, "oA")[0] == acts.CONFIRMED
    assert signup(services, n, "oA", role=acts.VOLUNTEER)[0] == acts.CONFIRMED
    assert signup(services, n, "oB", role=acts.VOLUNTEER)[0] == acts.WAITING
    assert signup(services, n, "oC")[0] == acts.WAITING


def test_check_in_marks_attendance_and_credits_volunteer_hours(services):
    start = NOW + timedelta(days=1)
    n = make_activity(services, volunteers=2, starts=start, ends_at=start + timedelta(hours=3))
    signup(services, n, "oVol", role=acts.VOLUNTEER)
    signup(services, n, "oP")
    at = start + timedelta(minutes=5)
    with services.db.write_session() as s:
        with pytest.raises(acts.CheckInNotOpen):
            acts.check_in(s, n, "oP", now=NOW)
        r = acts.check_in(s, n, "oVol", now=at)
        assert r.hours == 3 and not r.walk_in
        assert acts.check_in(s, n, "oVol", now=at).already
        assert acts.check_in(s, n, "oWalk", now=at).walk_in
        total, rows = acts.volunteer_hours(s, "oVol")
        assert total == 3 and rows[0][0].number == n
    counts, _ = statuses(services, n)
    assert counts["participant"]["attended"] == 1 and counts["volunteer"]["attended"] == 1


def test_my_signups_and_known_contact(services):
    n = make_activity(services)
    signup(services, n, "oA")
    with services.db.session() as s:
        rows = acts.my_signups(s, "oA", NOW)
        assert [a.number for _, a in rows] == [n]
        assert acts.known_contact(s, "oA") == ("王秀英", "13812341234")
        assert acts.known_contact(s, "oNobody") == (None, None)


def test_upcoming_is_nearest_first_and_skips_closed(services):
    late = make_activity(services, starts=NOW + timedelta(days=20), title="晚")
    early = make_activity(services, starts=NOW + timedelta(days=2), title="早")
    past = make_activity(services, starts=NOW - timedelta(days=2), title="过去")
    closed = make_activity(services, title="关闭")
    with services.db.session() as s:
        acts.close_activity(s, closed)
        numbers = [a.number for a in acts.upcoming_activities(s, NOW)]
    assert numbers == [early, late] and past not in numbers


# -- concurrency: 200 completions, 10 seats, two processes --------------------------------------
def _worker(db_url: str, number: int, openids: list[str], queue) -> None:
    """Run in a child process: sign each openid up from 8 threads, report statuses."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.core.db import Database

    db = Database(db_url)

    def one(openid):
        try:  # no retries: every completion must succeed first time
            with db.write_session() as s:
                return acts.sign_up(s, number, openid, name="张", phone="13900000000",
                                    now=utcnow()).status
        except Exception as exc:  # noqa: BLE001 - reported; the parent asserts
            return "error:" + repr(exc)

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, openids))
    db.dispose()
    queue.put((results, time.perf_counter() - started))


def test_200_concurrent_signups_two_processes_exactly_10_confirmed(services, db_url):
    n = make_activity(services, capacity=10, starts=utcnow() + timedelta(days=3))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    openids = [f"oConc{i:03d}" for i in range(200)]
    procs = [ctx.Process(target=_worker, args=(db_url, n, openids[i::2], queue)) for i in range(2)]
    [p.start() for p in procs]
    (first, t1), (second, t2) = queue.get(timeout=120), queue.get(timeout=120)
    results = first + second
    [p.join(30) for p in procs]
    print(f"\n[{db_url.split(':')[0]}] model level: 200 signups, 2 processes x 8 threads: "
          f"{t1:.2f} s and {t2:.2f} s per process")
    assert len(results) == 200
    assert results.count("confirmed") == 10, [r for r in results if r.startswith("error")][:3]
    assert results.count("waiting") == 190
    with services.db.session() as s:
        act = acts.get_activity(s, n)
        rows = s.execute(select(acts.Signup.openid, func.count()).where(
            acts.Signup.activity_id == act.id).group_by(acts.Signup.openid)).all()
        assert len(rows) == 200 and all(c == 1 for _, c in rows)
        assert acts.signup_counts(s, act)["participant"]["confirmed"] == 10
