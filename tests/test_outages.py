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
    assert signup == UNAVAILABLE_TEXT.format(label="「报名」")
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
