"""Outages of Redis and PostgreSQL against real servers of the test's own (issue 15, items 5–7).

Each test starts its own redis-server / PostgreSQL on another port (tests.servers), stops or
pauses it (SIGSTOP: hung), and talks to the real webhook through signed pushes.
"""
from __future__ import annotations

import time
import uuid

import pytest

from bot.app import create_app, wire_services
from bot.simulator import Simulator, event_fields, flask_transport, reply_text, text_fields
from bot.webhook import FALLBACK_TEXT
from handlers.conversation import UNAVAILABLE_TEXT
from handlers.intents import GREETING
from tests.conftest import _empty_tables, make_config
from tests.helpers import new_activity


def _webhook(services):
    sim = Simulator(token=services.config.wechat["token"])
    transport = flask_transport(create_app(services=services).test_client())

    def say(openid, text):
        return reply_text(sim.send(transport, text_fields(openid, text)))
    return say


@pytest.fixture
def redis_outage_services(db_url, tmp_path, own_redis):
    """Services on the parametrised database and our own redis-server, directory seeded."""
    from models.directory import load_seed

    cfg = make_config(db_url, f"outage-{uuid.uuid4().hex[:6]}:", tmp_path,
                      redis={"url": own_redis.url})
    svc = wire_services(cfg)
    _empty_tables(svc)
    with svc.db.session() as s:
        load_seed(s)
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


# -- item 5: Redis down ------------------------------------------------------------------------
def test_with_redis_stopped_every_stateless_answer_still_works(redis_outage_services, own_redis):
    svc = redis_outage_services
    say = _webhook(svc)
    number = new_activity(svc, capacity=5)
    with_redis = {text: say("oRedisUp", text) for text in ("桃城", "调解")}
    assert all("近邻娘家" in r or "妇" in r for r in with_redis.values())
    own_redis.stop()                                          # the outage
    for text in ("桃城", "调解", "活动", "帮助", "义剪", "附近"):
        reply = say("oRedisDown", text)
        assert reply and reply != FALLBACK_TEXT, (text, reply)
    many = say("oRedisDown", "调解")                          # more than one page of points
    assert "（回复「更多」查看后续）" not in many              # no page can wait for 「更多」
    assert "暂时无法翻页" in many and "调解 桃城" in many       # ... and she is told what to do
    assert say("oRedisDown", "更多") != FALLBACK_TEXT
    # a multi-step flow cannot start: said plainly, with what still works
    signup = say("oRedisDown", f"报名 {number}")
    assert signup == UNAVAILABLE_TEXT.format(label="「报名」", call="")
    assert "县妇联电话" not in signup  # no phone configured: no call to an unknown number
    assert "开始不了" in signup and "活动" in signup and "110" in signup
    for text in ("志愿者", "求助"):
        reply = say("oRedisDown", text)
        assert reply != FALLBACK_TEXT and "开始不了" in reply, (text, reply)
    own_redis.start()                                         # back: the flow starts again
    assert "确认" in say("oRedisBack", f"报名 {number}")


def test_with_redis_hung_answers_go_out_within_wechats_deadline(redis_outage_services, own_redis):
    svc = redis_outage_services
    say = _webhook(svc)
    number = new_activity(svc, capacity=5)
    say("oHung1", "帮助")                                       # connections made
    own_redis.pause()                                         # SIGSTOP: accepts, never answers
    try:
        started = time.monotonic()
        first = say("oHung1", "调解")
        assert first != FALLBACK_TEXT and "暂时无法翻页" in first
        assert time.monotonic() - started < 4.5                # one 2 s timeout, then fail fast
        started = time.monotonic()
        assert say("oHung2", "调解") != FALLBACK_TEXT
        assert "开始不了" in say("oHung2", f"报名 {number}")
        assert time.monotonic() - started < 1.5
    finally:
        own_redis.resume()


# -- items 6 and 7: PostgreSQL down or hung ----------------------------------------------------
@pytest.fixture
def pg_outage_services(own_pg, redis_prefix, tmp_path):
    """Services on a database of our own PostgreSQL (tests.servers.PostgresServer), the shared
    Redis under this test's prefix, directory seeded."""
    from models.directory import load_seed

    url = own_pg.create_database(f"outage_{uuid.uuid4().hex[:8]}")
    svc = wire_services(make_config(url, redis_prefix, tmp_path))
    with svc.db.session() as s:
        load_seed(s)
    yield svc
    own_pg.resume()
    svc.db.dispose()


def _timed(fn, *args, limit: float = 30.0):
    """``(fn(*args), seconds)``, run in a thread so a hang fails the test instead of blocking."""
    import threading

    out: dict = {}

    def run():
        started = time.monotonic()
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out["error"] = exc
        out["seconds"] = time.monotonic() - started
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"no answer within {limit} s (the worker hangs on the database)")
    if "error" in out:
        raise out["error"]
    return out["value"], out["seconds"]


def _pusher(services):
    sim = Simulator(token=services.config.wechat["token"])
    transport = flask_transport(create_app(services=services).test_client())
    return lambda fields: reply_text(sim.send(transport, fields))


def test_a_hung_postgresql_costs_under_two_seconds_and_stateless_answers_still_go_out(
        pg_outage_services, own_pg):
    from handlers.welcome import HELP

    svc = pg_outage_services
    push = _pusher(svc)
    number = new_activity(svc, capacity=5)
    assert "近期活动" in push(text_fields("oPgWarm", "活动")) or str(number) in push(
        text_fields("oPgWarm", "活动"))                      # pool connections made
    svc.db.gate.QUIET_SECONDS = 3                            # a short window for the test
    own_pg.pause()                                           # SIGSTOP: every PostgreSQL process
    try:
        cases = [("oPgHung1", "活动", FALLBACK_TEXT),          # needs the database
                 ("oPgHung2", "帮助", HELP),                   # needs none
                 ("oPgHung3", "活动", FALLBACK_TEXT),
                 ("oPgHung4", "你好", GREETING),                # the intent stage, no database
                 ("oPgHung5", f"报名 {number}", FALLBACK_TEXT)]
        for openid, text, expected in cases:
            reply, seconds = _timed(push, text_fields(openid, text))
            assert reply == expected, (text, reply)
            assert seconds < 2.0, f"「{text}」 took {seconds:.2f} s"
        reply, seconds = _timed(push, event_fields("oPgHung6", "click", EventKey="ACTIVITIES"))
        assert reply == FALLBACK_TEXT and seconds < 2.0          # a menu click: not silence
    finally:
        own_pg.resume()
    time.sleep(svc.db.gate.QUIET_SECONDS + 0.2)
    reply, seconds = _timed(push, text_fields("oPgBack", "活动"))
    assert reply != FALLBACK_TEXT                              # back: answered from the database


def test_subscribes_and_clicks_during_a_database_outage_are_answered_and_recorded_later(
        pg_outage_services, own_pg):
    from sqlalchemy import select

    from handlers.welcome import HELP, WELCOME
    from models.followers import Follower, record_parked

    svc = pg_outage_services
    push = _pusher(svc)
    push(text_fields("oPgWarm2", "帮助"))
    own_pg.stop()                                            # the outage
    try:
        for i in range(3):
            reply, _ = _timed(push, event_fields(f"oNewFollower{i}", "subscribe",
                                                 EventKey=f"qrscene_poster{i}"))
            assert reply == WELCOME                          # welcome still sent
        reply, seconds = _timed(push, event_fields("oClicker", "click", EventKey="ACTIVITIES"))
        assert reply == FALLBACK_TEXT and seconds < 2.0       # not silence
        reply, _ = _timed(push, event_fields("oClicker", "click", EventKey="HELP_USAGE"))
        assert reply == HELP                                 # a click that needs no database
        assert _timed(push, text_fields("oNewFollower0", "帮助"))[0] == HELP
    finally:
        own_pg.start()
    svc.db.gate.quiet_until = 0                              # as after the window
    # her next message (any update reaching the database) records what was parked
    assert push(text_fields("oNewFollower0", "帮助")) == HELP
    with svc.db.session() as s:
        rows = {f.openid: f for f in s.scalars(select(Follower))}
    for i in range(3):
        assert rows[f"oNewFollower{i}"].subscribed is True
        assert rows[f"oNewFollower{i}"].scene == f"poster{i}"
        assert rows[f"oNewFollower{i}"].subscribed_at is not None
    assert record_parked(svc) == 0                           # nothing left parked


def test_the_scheduler_records_parked_subscribes_when_the_database_is_back(
        pg_outage_services, own_pg):
    from sqlalchemy import select

    from handlers.welcome import WELCOME
    from models.followers import Follower, record_parked

    svc = pg_outage_services
    push = _pusher(svc)
    own_pg.stop()
    try:
        assert _timed(push, event_fields("oParked1", "subscribe"))[0] == WELCOME
        assert record_parked(svc) is None                    # still down: kept for later
    finally:
        own_pg.start()
    svc.db.gate.quiet_until = 0
    assert record_parked(svc) == 1                           # the scheduler's job, once a minute
    with svc.db.session() as s:
        assert s.scalars(select(Follower).where(Follower.openid == "oParked1")).one().subscribed


def test_a_slow_statement_on_a_live_server_is_not_taken_for_a_hang(pg_outage_services):
    """The hang watch knocks before it cuts: a server that answers (a long statement, a lock
    wait) is left to its own statement_timeout, which the engine sets."""
    from sqlalchemy import text

    svc = pg_outage_services
    with svc.db.session() as s:
        assert s.execute(text("SHOW statement_timeout")).scalar() == "20s"
        started = time.monotonic()
        s.execute(text("SELECT pg_sleep(2.2)"))                  # > HangWatch.HANG_SECONDS
        assert time.monotonic() - started >= 2.2
    assert not svc.db.gate.quiet


def test_after_a_postgresql_restart_answers_come_back_without_a_fail_fast_window(
        pg_outage_services, own_pg):
    svc = pg_outage_services
    push = _pusher(svc)
    push(text_fields("oRestart", "活动"))                      # a pooled connection
    own_pg.stop()
    own_pg.start()                                            # a restart: pooled ones are dead
    replies = [push(text_fields("oRestart", "活动")) for _ in range(3)]
    assert replies[-1] != FALLBACK_TEXT                        # at once, not 10 s later
    assert not svc.db.gate.quiet                               # the server answered the probe
