"""A forced access_token refresh only when the normal fetch handed back the very token WeChat
had just rejected (issue 15, item 15): WeChat limits forced refreshes, and a force invalidates
every other process's token. Against the fake WeChat API over HTTP."""
from __future__ import annotations

import redis as redis_lib
import pytest

from bot.wechat.client import WeChatAPI
from tests.conftest import REDIS_URL

OPENID = "oTaoyuan0000000000000000002"


@pytest.fixture
def rds():
    client = redis_lib.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


def _api(fake_wechat, rds, key, **kw) -> WeChatAPI:
    return WeChatAPI(app_id=fake_wechat.app_id, app_secret=fake_wechat.app_secret,
                     base_url=fake_wechat.base_url, timeout=3.0, redis_client=rds, token_key=key, **kw)


def forces(fake_wechat) -> list[bool]:
    return [bool(c.json["force_refresh"]) for c in fake_wechat.calls_to("stable_token")]


def test_token_rotated_elsewhere_is_taken_without_forcing(fake_wechat, rds, redis_prefix):
    api = _api(fake_wechat, rds, redis_prefix + "access_token")
    old = api.access_token()
    fake_wechat._issue(True)                 # another tool forced a new token at WeChat
    fake_wechat.tokens.pop(old, None)        # ... and the old one's 5 minutes are over
    api.send_text(OPENID, "你好")
    assert forces(fake_wechat) == [False, False]
    assert fake_wechat.calls_to("message/custom/send")[-1].query["access_token"] == fake_wechat.current_token


def test_same_token_back_is_forced_exactly_once(fake_wechat, rds, redis_prefix):
    api = _api(fake_wechat, rds, redis_prefix + "access_token")
    api.access_token()
    fake_wechat.script("message/custom/send", [40001])
    api.send_text(OPENID, "你好")
    assert forces(fake_wechat) == [False, False, True]


def test_second_process_uses_the_first_one_s_forced_token(fake_wechat, rds, redis_prefix):
    key = redis_prefix + "access_token"
    a, b = _api(fake_wechat, rds, key), _api(fake_wechat, rds, key)
    stale = a.access_token()
    fake_wechat.script("message/custom/send", [40001])
    a.send_text(OPENID, "你好")              # normal fetch: same token, so forced once
    fresh = rds.get(key)
    assert fresh != stale
    assert b._tokens.refresh(stale) == fresh  # b saw 40001 with the old token: no fetch at all
    assert forces(fake_wechat) == [False, False, True]


def test_with_redis_down_the_normal_fetch_decides_too(fake_wechat, redis_prefix):
    down = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    api = _api(fake_wechat, down, redis_prefix + "access_token")
    old = api.access_token()                 # kept in process memory
    fake_wechat._issue(True)
    fake_wechat.tokens.pop(old, None)
    api.send_text(OPENID, "你好")
    assert forces(fake_wechat) == [False, False]
    fake_wechat.script("message/custom/send", [40001])
    api.send_text(OPENID, "你好")
    assert forces(fake_wechat) == [False, False, False, True]


def test_a_dead_process_s_lock_does_not_make_it_force(fake_wechat, rds, redis_prefix):
    key = redis_prefix + "access_token"
    api = _api(fake_wechat, rds, key)
    old = api.access_token()
    api._tokens.lock_seconds = 0.3           # the lock of a killed process is waited out quickly
    rds.set(key + ":lock", "dead-process-token", px=60000)
    fake_wechat._issue(True)
    fake_wechat.tokens.pop(old, None)
    api.send_text(OPENID, "你好")
    assert forces(fake_wechat) == [False, False]
