"""A mass send whose answer times out (issue 15, item 12): 「结果未知」, not 失败; no resend until
staff settle it; ``mass/get`` by msg_id; staff never read a raw English error. Against the fake
WeChat API over HTTP (WeChat accepts the send, then answers after the client's timeout), through
the model and the console."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.app import create_app, wire_services
from bot.simulator import Simulator, event_fields, flask_transport
from models import broadcasts as bcast
from models.followers import Follower
from tests.conftest import _empty_tables, make_config
from tests.helpers import csrf_token, login, make_staff

SENDALL = "message/mass/sendall"
LATE = {"_process": True, "_delay": 1.5}       # accepted at once, answered after the timeout
ENGLISH = re.compile(r"WeChat|Error|error|Timeout|timed out|HTTPConnection|Read|errmsg")


@pytest.fixture
def live(db_url, redis_prefix, tmp_path, fake_wechat):
    cfg = make_config(db_url, redis_prefix, tmp_path, wechat={
        "app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
        "api_base_url": fake_wechat.base_url, "timeout": 0.6})
    svc = wire_services(cfg)
    _empty_tables(svc)
    with svc.db.session() as s:
        for o in ("o-a", "o-b"):
            s.add(Follower(openid=o, subscribed=True, valid=True))
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


def _previewed(svc) -> int:
    with svc.db.session() as s:
        bid = bcast.create_broadcast(s, kind="text", text="三八节活动通知", actor="li").id
    with svc.db.write_session() as s:
        bcast.preview_broadcast(s, svc.wechat, bid, "o-a", "li")
    return bid


def _send(svc, bid):
    with svc.db.write_session() as s:
        bc = bcast.send_broadcast(s, svc.wechat, bid, "li", svc.tz)
        return bc.status, bc.error, bc.msg_id


def _status(svc, bid):
    with svc.db.session() as s:
        bc = s.get(bcast.Broadcast, bid)
        return bc.status, bc.msg_id


def test_timeout_is_result_unknown_and_blocks_a_resend(live, fake_wechat):
    bid = _previewed(live)
    fake_wechat.script(SENDALL, [LATE])
    status, error, msg_id = _send(live, bid)
    assert status == "unknown" and msg_id is None
    assert "结果" in bcast.STATUSES["unknown"] and "不知道" in error and not ENGLISH.search(error)
    assert len([c for c in fake_wechat.sent if c.path == SENDALL]) == 1   # WeChat did accept it
    with live.db.write_session() as s, pytest.raises(bcast.ResultUnknown):
        bcast.send_broadcast(s, live.wechat, bid, "li", live.tz)
    assert fake_wechat.count(SENDALL) == 1                                # no second try
    with live.db.session() as s:                     # counted against the monthly limit
        assert bcast.sends_this_month(s, None, bcast.utcnow(), live.tz) == 1


def test_without_msg_id_checking_leaves_it_for_staff_then_the_push_settles_it(live, fake_wechat):
    bid = _previewed(live)
    fake_wechat.script(SENDALL, [LATE])
    _send(live, bid)
    with live.db.write_session() as s:
        assert bcast.check_broadcast(s, live.wechat, bid).status == "unknown"
    msg_id = next(iter(fake_wechat.mass_jobs))
    sim = Simulator(token=live.config.wechat["token"])
    sim.send(flask_transport(create_app(services=live).test_client()), event_fields(
        "o-system", "MASSSENDJOBFINISH", MsgID=msg_id, Status="send success", TotalCount=2,
        FilterCount=2, SentCount=2, ErrorCount=0))
    assert _status(live, bid) == ("finished", str(msg_id))


@pytest.mark.parametrize("wechat_says,ours", [("SEND_SUCCESS", "sent"), ("SENDING", "sent"),
                                              ("SEND_FAIL", "failed")])
def test_mass_get_by_msg_id_settles_it(live, fake_wechat, wechat_says, ours):
    bid = _previewed(live)
    fake_wechat.script(SENDALL, [LATE])
    _send(live, bid)
    msg_id = next(iter(fake_wechat.mass_jobs))
    fake_wechat.mass_jobs[msg_id] = wechat_says
    with live.db.session() as s:                     # the msg_id came from WeChat meanwhile
        s.get(bcast.Broadcast, bid).msg_id = str(msg_id)
    with live.db.write_session() as s:
        assert bcast.check_broadcast(s, live.wechat, bid).status == ours
    calls = fake_wechat.calls_to("message/mass/get")
    assert [c.json["msg_id"] for c in calls] == [msg_id]


def test_fake_mass_get_knows_its_jobs(live, fake_wechat):
    msg_id = live.wechat.mass_send_all("text", "通知", clientmsgid="cid-1")
    assert live.wechat.mass_status(msg_id)["msg_status"] == "SEND_SUCCESS"
    with pytest.raises(Exception) as exc:
        live.wechat.mass_status(123)
    assert getattr(exc.value, "errcode", None) == 40097


def test_console_shows_result_unknown_in_chinese_and_needs_confirmation(live, fake_wechat):
    client = create_app(services=live).test_client()
    make_staff(live, "li", "staff", openid="o-a")
    login(client, "li")
    bid = _previewed(live)
    token = csrf_token(client, f"/admin/broadcasts/{bid}")
    fake_wechat.script(SENDALL, [LATE])
    page = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token, "confirmed": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "结果未知" in page and "向微信核实" in page and "确认未发出" in page
    assert not ENGLISH.search(re.sub(r"<[^>]+>", " ", page.split("<body", 1)[-1]))
    again = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token, "confirmed": "1"},
                        follow_redirects=True).get_data(as_text=True)
    assert "确认前不能再次发送" in again
    assert fake_wechat.count(SENDALL) == 1
    checked = client.post(f"/admin/broadcasts/{bid}/check", data={"csrf_token": token},
                          follow_redirects=True).get_data(as_text=True)
    assert "暂时无法查询" in checked
    # Staff looked in WeChat's console and found nothing: 「确认未发出」, then send again. The
    # fixed clientmsgid still protects her: WeChat answers 45065 with the first msg_id.
    client.post(f"/admin/broadcasts/{bid}/confirm", data={"csrf_token": token, "outcome": "unsent"})
    assert _status(live, bid)[0] == "failed"
    done = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token, "confirmed": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "已提交微信群发" in done
    assert len([c for c in fake_wechat.sent if c.path == SENDALL]) == 1
    assert _status(live, bid) == ("sent", str(next(iter(fake_wechat.mass_jobs))))


def test_console_words_a_refused_send_in_chinese(live, fake_wechat):
    client = create_app(services=live).test_client()
    make_staff(live, "li", "staff", openid="o-a")
    login(client, "li")
    bid = _previewed(live)
    token = csrf_token(client, f"/admin/broadcasts/{bid}")
    fake_wechat.script(SENDALL, [48001])
    page = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token, "confirmed": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "没有这个接口的权限" in page and "48001" in page
    assert "api unauthorized" not in page
    with live.db.session() as s:
        bc = s.get(bcast.Broadcast, bid)
        assert bc.status == "failed" and not ENGLISH.search(bc.error)
