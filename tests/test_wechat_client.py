"""bot/wechat/client.py against the fake WeChat API over real HTTP (tests/fake_wechat.py)."""
from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import redis as redis_lib
import requests
from sqlalchemy import select

from bot.core.logging import mask_openid
from bot.wechat.client import WeChatAPI
from bot.wechat.errors import (InvalidOpenid, NotFollower, OutsideServiceWindow, QuotaExceeded,
                               SubscriptionRefused, Unauthorized, WeChatAPIError, WeChatBusy,
                               WeChatNetworkError)
from models.outbox import OutboxMessage
from tests.conftest import REDIS_URL

OPENID = "oTaoyuan0000000000000000001"


@pytest.fixture
def rds():
    client = redis_lib.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def make_api(fake_wechat, redis_prefix, rds):
    """Build WeChatAPI instances on the fake server sharing one Redis prefix (no database)."""

    def build(timeout: float = 3.0, secret: str | None = None, **kw) -> WeChatAPI:
        return WeChatAPI(app_id=fake_wechat.app_id,
                         app_secret=fake_wechat.app_secret if secret is None else secret,
                         base_url=fake_wechat.base_url, timeout=timeout, redis_client=rds,
                         token_key=redis_prefix + "access_token", **kw)

    return build


# --------------------------------------------------------------------------- access_token

def test_token_cached_in_redis_and_shared_by_two_clients(live_services, fake_wechat):
    first = WeChatAPI.from_services(live_services)
    second = WeChatAPI.from_services(live_services)
    first.send_text(OPENID, "你好")
    second.send_text(OPENID, "你好")
    assert fake_wechat.token_fetches == 1
    body = fake_wechat.calls_to("stable_token")[0].json
    assert body == {"grant_type": "client_credential", "appid": fake_wechat.app_id,
                    "secret": fake_wechat.app_secret, "force_refresh": False}
    key = live_services.keys("access_token")
    assert live_services.redis.get(key) == fake_wechat.current_token
    assert 6000 < live_services.redis.ttl(key) < 7200


def test_concurrent_refresh_from_threads_fetches_once(make_api, fake_wechat):
    fake_wechat.latency = 0.3
    apis = [make_api() for _ in range(8)]
    tokens, errors = [], []
    barrier = threading.Barrier(len(apis))

    def run(api):
        barrier.wait()
        try:
            tokens.append(api.access_token())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(tokens)) == 1
    assert fake_wechat.token_fetches == 1


def test_token_error_refreshes_once_and_retries(make_api, fake_wechat):
    api = make_api()
    old = api.access_token()
    fake_wechat.script("message/custom/send", [40001])
    api.send_text(OPENID, "hi")
    assert fake_wechat.count("message/custom/send") == 2
    new = fake_wechat.calls_to("message/custom/send")[1].query["access_token"]
    assert new != old  # the same token came back from normal mode, so it was forced once
    assert [c.json["force_refresh"] for c in fake_wechat.calls_to("stable_token")] == [False, False, True]


def test_revoked_token_gets_new_one_without_forcing(make_api, fake_wechat):
    api = make_api()
    api.send_text(OPENID, "hi")
    fake_wechat.revoke_tokens()
    api.send_text(OPENID, "hi")
    assert [c.json["force_refresh"] for c in fake_wechat.calls_to("stable_token")] == [False, False]


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_token_error_twice_raises_after_one_retry(make_api, fake_wechat, errcode):
    api = make_api()
    fake_wechat.script("message/template/send", [errcode] * 50)
    with pytest.raises(WeChatAPIError) as info:
        api.send_template(OPENID, "TPL", {"thing1": "x"})
    assert info.value.errcode == errcode
    assert fake_wechat.count("message/template/send") == 2


def test_endless_40001_cannot_recurse(make_api, fake_wechat):
    """wechatpy 1.8.18 recurses until RecursionError; ours stops after one retry."""
    import sys

    api = make_api()
    fake_wechat.script("message/custom/send", [40001] * 500)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        with pytest.raises(WeChatAPIError):
            api.send_text(OPENID, "x")
    finally:
        sys.setrecursionlimit(limit)
    assert fake_wechat.count("message/custom/send") == 2


def test_bad_secret_and_appid_are_named(make_api, fake_wechat):
    with pytest.raises(WeChatAPIError) as info:
        make_api(secret="wrong").access_token()
    assert info.value.errcode == 40125
    api = make_api()
    api.app_id = "wxsomebodyelse"
    with pytest.raises(WeChatAPIError) as info:
        api.access_token()
    assert info.value.errcode == 40013


def test_redis_down_falls_back_to_memory(fake_wechat):
    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    api = WeChatAPI(app_id=fake_wechat.app_id, app_secret=fake_wechat.app_secret,
                    base_url=fake_wechat.base_url, timeout=2, redis_client=dead, token_key="x:access_token")
    started = time.monotonic()
    api.send_text(OPENID, "hi")
    api.send_text(OPENID, "hi")
    assert time.monotonic() - started < 15  # Redis is not asked again for 30 s after failing
    assert fake_wechat.count("message/custom/send") == 2
    assert fake_wechat.token_fetches == 1


# --------------------------------------------------------------------------- retries and errors

def test_busy_backs_off_then_succeeds(make_api, fake_wechat):
    api = make_api()
    api.access_token()
    fake_wechat.script("message/custom/send", [-1, -1])
    api.send_text(OPENID, "hi")
    times = [c.time for c in fake_wechat.calls_to("message/custom/send")]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.19 and times[2] - times[1] >= 0.49


def test_busy_three_times_raises_wechat_busy(make_api, fake_wechat):
    pauses = []
    api = make_api(sleep=pauses.append)
    fake_wechat.script("message/mass/sendall", [-1] * 10)
    with pytest.raises(WeChatBusy):
        api.mass_send_all("text", "通知")
    assert fake_wechat.count("message/mass/sendall") == 3
    assert pauses == [0.2, 0.5]


def test_busy_token_fetch_is_retried(make_api, fake_wechat):
    api = make_api(sleep=lambda s: None)
    fake_wechat.script("stable_token", [-1])
    assert api.access_token() == fake_wechat.current_token


@pytest.mark.parametrize("errcode,exc", [
    (43004, NotFollower), (40003, InvalidOpenid), (45009, QuotaExceeded),
    (45015, OutsideServiceWindow), (48001, Unauthorized), (43101, SubscriptionRefused),
    (40164, WeChatAPIError)])
def test_scripted_errcodes_raise_named_errors(make_api, fake_wechat, errcode, exc):
    api = make_api()
    fake_wechat.script("message/template/send", [errcode])
    with pytest.raises(exc) as info:
        api.send_template(OPENID, "TPL", {"thing1": "x"})
    assert info.value.errcode == errcode
    assert info.value.path == "message/template/send"
    assert fake_wechat.count("message/template/send") == 1  # no retry


def test_fake_knobs_give_real_errcodes(make_api, fake_wechat):
    api = make_api()
    fake_wechat.non_followers.add("gone")
    fake_wechat.outside_window.add("quiet")
    fake_wechat.invalid.add("bad")
    fake_wechat.refused.add("no")
    with pytest.raises(NotFollower):
        api.send_template("gone", "TPL", {"a": "b"})
    with pytest.raises(OutsideServiceWindow):
        api.send_text("quiet", "hi")
    api.send_template("quiet", "TPL", {"a": "b"})  # templates ignore the 48-hour window
    with pytest.raises(InvalidOpenid):
        api.user_info("bad")
    with pytest.raises(SubscriptionRefused):
        api.send_subscribe("no", "SUB", {"thing1": "活动"})


def test_timeout_gives_network_error_quickly(make_api, fake_wechat):
    api = make_api(timeout=0.3)
    fake_wechat.latency = 2.0
    started = time.monotonic()
    with pytest.raises(WeChatNetworkError) as info:
        api.send_text(OPENID, "hi")  # the token fetch itself times out
    assert time.monotonic() - started < 1.5
    assert info.value.errcode is None


def test_timeout_on_api_call_after_token(make_api, fake_wechat):
    api = make_api(timeout=0.3)
    api.access_token()
    fake_wechat.script("message/custom/send", [{"_delay": 2, "errcode": 0}])
    started = time.monotonic()
    with pytest.raises(WeChatNetworkError):
        api.send_text(OPENID, "hi")
    assert time.monotonic() - started < 1.5


def test_http_error_and_html_are_network_errors(make_api, fake_wechat):
    api = make_api()
    api.access_token()
    fake_wechat.script("message/custom/send", [{"_status": 502, "_body": "<html>bad gateway</html>"},
                                               {"_body": "<html>maintenance</html>"}])
    with pytest.raises(WeChatNetworkError, match="HTTP 502"):
        api.send_text(OPENID, "hi")
    with pytest.raises(WeChatNetworkError, match="not JSON"):
        api.send_text(OPENID, "hi")


def test_connection_refused_is_network_error_without_token_in_message(rds, redis_prefix):
    api = WeChatAPI(app_id="wx1", app_secret="s3cr3t", base_url="http://127.0.0.1:1/cgi-bin/",
                    timeout=1, redis_client=rds, token_key=redis_prefix + "access_token")
    rds.set(redis_prefix + "access_token", "TOKEN_SHOULD_NOT_LEAK")
    with pytest.raises(WeChatNetworkError) as info:
        api.send_text(OPENID, "hi")
    assert "TOKEN_SHOULD_NOT_LEAK" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --------------------------------------------------------------------------- payloads

def test_template_payload_shape(make_api, fake_wechat):
    api = make_api()
    msgid = api.send_template(OPENID, "TPL1", {"thing1": "爱心义剪", "time2": {"value": "3月8日"}},
                              url="https://example.org/a", client_msg_id="signup-42")
    assert msgid > 0
    body = fake_wechat.calls_to("message/template/send")[0].json
    assert body == {"touser": OPENID, "template_id": "TPL1", "url": "https://example.org/a",
                    "client_msg_id": "signup-42",
                    "data": {"thing1": {"value": "爱心义剪"}, "time2": {"value": "3月8日"}}}


def test_news_and_subscribe_payloads(make_api, fake_wechat):
    api = make_api()
    api.send_news(OPENID, "近邻娘家", "身边的妇女微家", "https://example.org/p", "https://example.org/i.jpg")
    article = fake_wechat.calls_to("message/custom/send")[0].json["news"]["articles"][0]
    assert article == {"title": "近邻娘家", "description": "身边的妇女微家", "url": "https://example.org/p",
                       "picurl": "https://example.org/i.jpg"}
    api.send_subscribe(OPENID, "SUB1", {"thing1": "活动提醒"}, page="https://example.org/s")
    body = fake_wechat.calls_to("message/subscribe/bizsend")[0].json
    assert body["data"] == {"thing1": {"value": "活动提醒"}} and body["page"] == "https://example.org/s"


def test_mass_sends_and_clientmsgid_idempotent(make_api, fake_wechat):
    api = make_api()
    tag = api.create_tag("志愿者")
    first = api.mass_send_all("text", "三八节活动", tag_id=tag, clientmsgid="march8")
    again = api.mass_send_all("text", "三八节活动", tag_id=tag, clientmsgid="march8")
    assert first == again
    assert len([c for c in fake_wechat.sent if c.path == "message/mass/sendall"]) == 1
    assert fake_wechat.calls_to("message/mass/sendall")[0].json["filter"] == {"is_to_all": False, "tag_id": tag}
    api.mass_send_all("mpnews", "MEDIA1")
    assert fake_wechat.calls_to("message/mass/sendall")[-1].json["filter"] == {"is_to_all": True}
    assert api.mass_send_openids(["o1", "o2", "o1"], "text", "hi") > 0
    with pytest.raises(ValueError):
        api.mass_send_openids(["o1"], "text", "hi")
    assert api.mass_preview(OPENID, "text", "预览") > 0
    assert api.mass_status(first)["msg_status"] == "SEND_SUCCESS"


def test_tags_crud_and_batch_tag_chunks(make_api, fake_wechat):
    api = make_api()
    tag = api.create_tag("永春志愿者")
    api.update_tag(tag, "巾帼志愿者")
    openids = [f"o{i:03d}" for i in range(120)]
    assert api.batch_tag(tag, openids) == 120
    sizes = [len(c.json["openid_list"]) for c in fake_wechat.calls_to("tags/members/batchtagging")]
    assert sizes == [50, 50, 20]
    assert api.get_tags() == [{"id": tag, "name": "巾帼志愿者", "count": 120}]
    assert api.user_tags("o001") == [tag]
    api.batch_untag(tag, openids[:10])
    api.delete_tag(tag)
    assert api.get_tags() == []


def test_qrcode_permanent_and_temporary(make_api, fake_wechat):
    api = make_api()
    permanent = api.create_qrcode("town:桃城镇")
    temp = api.create_qrcode("event:42", expire_seconds=7 * 86400)
    bodies = [c.json for c in fake_wechat.calls_to("qrcode/create")]
    assert bodies[0] == {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "town:桃城镇"}}}
    assert bodies[1]["action_name"] == "QR_STR_SCENE" and bodies[1]["expire_seconds"] == 604800
    assert permanent["show_url"].startswith("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=")
    assert temp["expire_seconds"] == 604800
    with pytest.raises(ValueError):
        api.create_qrcode("x" * 65)


def test_user_info_followers_draft_publish_menu(make_api, fake_wechat):
    api = make_api()
    assert api.user_info(OPENID)["subscribe"] == 1
    fake_wechat.followers.update({"o1", "o2"})
    assert api.followers()["data"]["openid"] == ["o1", "o2"]
    media_id = api.draft_add([{"title": "近邻娘家", "content": "<p>内容</p>", "thumb_media_id": "T"}])
    assert api.publish(media_id)
    assert fake_wechat.published == [media_id]
    assert api.get_menu() is None
    api.create_menu({"button": [{"type": "click", "name": "求助留言", "key": "HELP"}]})
    assert api.get_menu()["menu"]["button"][0]["key"] == "HELP"
    api.delete_menu()
    assert api.get_menu() is None


# --------------------------------------------------------------------------- logs

def test_logs_never_contain_secret_token_or_text(make_api, fake_wechat, caplog):
    caplog.set_level(logging.DEBUG)
    api = make_api()
    fake_wechat.script("message/custom/send", [40001])
    api.send_text(OPENID, "我的电话是13812345678")
    text = caplog.text
    assert fake_wechat.app_secret not in text
    assert all(token not in text for token in fake_wechat.tokens)
    assert "13812345678" not in text
    assert "access_token=***" in text  # urllib3's debug line, redacted


# --------------------------------------------------------------------------- dry run

@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("dry run must not touch the network")

    monkeypatch.setattr(requests.Session, "request", refuse)


def test_dry_run_writes_outbox_and_makes_no_http_call(services, no_network, caplog):
    caplog.set_level(logging.DEBUG)
    api = services.wechat
    assert api.dry_run and api.access_token() == "dry-run-access-token"
    api.send_text(OPENID, "您的报名已成功，电话13812345678")
    msgid = api.send_template(OPENID, "TPL", {"thing1": "爱心义剪"})
    mass = api.mass_send_all("text", "通知")
    tag = api.create_tag("志愿者")
    api.batch_tag(tag, ["o1", "o2"])
    qr = api.create_qrcode("town:岵山镇")
    assert isinstance(msgid, int) and isinstance(mass, int) and tag > 0 and qr["ticket"]
    assert api.user_info(OPENID)["subscribe"] == 1
    assert api.get_tags() == []
    with services.db.session() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.api for r in rows] == ["message/custom/send", "message/template/send", "message/mass/sendall",
                                     "tags/create", "tags/members/batchtagging", "qrcode/create"]
    assert rows[0].openid == OPENID
    assert json.loads(rows[0].payload)["text"]["content"] == "您的报名已成功，电话13812345678"
    assert json.loads(rows[1].payload)["data"] == {"thing1": {"value": "爱心义剪"}}
    assert OPENID not in caplog.text and "13812345678" not in caplog.text and "报名" not in caplog.text
    assert mask_openid(OPENID) in caplog.text


def test_dry_run_mass_send_is_idempotent_by_clientmsgid(services, no_network):
    api = services.wechat
    first = api.mass_send_all("text", "三八节", clientmsgid="march8_100%")
    assert api.mass_send_all("text", "三八节", clientmsgid="march8_100%") == first
    assert api.mass_send_all("text", "三八节", clientmsgid="march8_1000") != first
    with services.db.session() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 2


def test_dry_run_menu_roundtrip(services, no_network):
    api = services.wechat
    assert api.get_menu() is None
    menu = {"button": [{"type": "click", "name": "求助留言", "key": "HELP"}]}
    api.create_menu(menu)
    assert api.get_menu() == {"menu": menu}


def test_dry_run_outbox_joins_callers_session(services, no_network):
    api = services.wechat
    with pytest.raises(RuntimeError):
        with services.db.write_session() as s:
            api.send_text(OPENID, "hi", session=s)
            raise RuntimeError("rolled back")
    with services.db.write_session() as s:
        api.send_text(OPENID, "hi", session=s)
    with services.db.session() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 1


def test_mask_openid():
    assert mask_openid("oTaoyuan0000000000000000001") == "oTao****0001"
    assert mask_openid("short") == "****"
    assert mask_openid(None) == "-"


def test_many_threads_hitting_40001_refresh_once(make_api, fake_wechat):
    apis = [make_api() for _ in range(8)]
    apis[0].access_token()
    fake_wechat.revoke_tokens()  # every cached token is now 40001 at WeChat
    fake_wechat.latency = 0.05
    barrier = threading.Barrier(len(apis))
    errors = []

    def run(api):
        barrier.wait()
        try:
            api.send_text(OPENID, "hi")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert fake_wechat.token_fetches == 2  # the first token, then ONE refresh shared by all
    assert [c.json["force_refresh"] for c in fake_wechat.calls_to("stable_token")] == [False, False]
