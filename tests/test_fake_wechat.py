"""The fake WeChat API itself: token semantics and errcodes, over plain HTTP (no client code)."""
from __future__ import annotations

import requests

GOOD = {"grant_type": "client_credential"}


def _token(fake, force=False, **override):
    body = {**GOOD, "appid": fake.app_id, "secret": fake.app_secret, "force_refresh": force, **override}
    return requests.post(fake.base_url + "stable_token", json=body, timeout=5).json()


def _menu_get(fake, token):
    return requests.get(fake.base_url + "menu/get", params={"access_token": token}, timeout=5).json()


def test_stable_token_semantics(fake_wechat):
    now = [1_000_000.0]
    fake_wechat.clock = lambda: now[0]  # reset() restores time.time
    first = _token(fake_wechat)
    assert first["expires_in"] == 7200
    now[0] += 100
    again = _token(fake_wechat)
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7100
    forced = _token(fake_wechat, force=True)
    assert forced["access_token"] != first["access_token"]
    assert _menu_get(fake_wechat, first["access_token"])["errcode"] == 46003  # still valid
    now[0] += 301
    assert _menu_get(fake_wechat, first["access_token"])["errcode"] == 42001  # old one expired
    assert _menu_get(fake_wechat, forced["access_token"])["errcode"] == 46003
    assert _menu_get(fake_wechat, "made-up")["errcode"] == 40001
    assert requests.get(fake_wechat.base_url + "menu/get", timeout=5).json()["errcode"] == 41001


def test_old_token_api_issues_new_token_each_time(fake_wechat):
    params = {**GOOD, "appid": fake_wechat.app_id, "secret": fake_wechat.app_secret}
    one = requests.get(fake_wechat.base_url + "token", params=params, timeout=5).json()["access_token"]
    two = requests.get(fake_wechat.base_url + "token", params=params, timeout=5).json()["access_token"]
    assert one != two and fake_wechat.token_fetches == 2


def test_bad_credentials(fake_wechat):
    assert _token(fake_wechat, secret="nope")["errcode"] == 40125
    assert _token(fake_wechat, appid="wxnope")["errcode"] == 40013
    assert _token(fake_wechat, grant_type="password")["errcode"] == 40002


def test_script_and_calls(fake_wechat):
    token = _token(fake_wechat)["access_token"]
    fake_wechat.script("/cgi-bin/menu/get", [45009, {"_status": 503, "_body": "busy"}])
    assert _menu_get(fake_wechat, token) == {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
    res = requests.get(fake_wechat.base_url + "menu/get", params={"access_token": token}, timeout=5)
    assert res.status_code == 503 and res.text == "busy"
    assert _menu_get(fake_wechat, token)["errcode"] == 46003
    calls = fake_wechat.calls_to("menu/get")
    assert len(calls) == 3 and calls[0].query["access_token"] == token and calls[0].time > 0
    fake_wechat.reset()
    assert fake_wechat.calls == [] and _menu_get(fake_wechat, token)["errcode"] == 40001


def test_menu_limits_and_unknown_path(fake_wechat):
    token = _token(fake_wechat)["access_token"]

    def create(buttons):
        return requests.post(fake_wechat.base_url + "menu/create", params={"access_token": token},
                             json={"button": buttons}, timeout=5).json()["errcode"]

    click = {"type": "click", "name": "求助", "key": "HELP"}
    assert create([click] * 4) == 40016
    assert create([{**click, "name": "一二三四五六"}]) == 40018
    assert create([{"name": "活动", "sub_button": [click] * 6}]) == 40023
    assert create([{"type": "view", "name": "网页"}]) == 40020
    assert create([{**click, "type": "bogus"}]) == 40017
    assert create([click]) == 0
    res = requests.post(fake_wechat.base_url + "no/such/api", params={"access_token": token}, json={}, timeout=5)
    assert res.status_code == 404 and res.json()["errcode"] == 40066
