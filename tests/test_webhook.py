"""The webhook at the edge: verification, modes, bad input, retries, replies."""
from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest

from bot.app import create_app
from bot.wechat.protocol import AesKey, decrypt, parse_xml, sha1_signature
from bot.wechat.replies import TextReply
from bot.app import wire_services
from bot.simulator import (Simulator, event_fields, fields_xml, flask_transport, location_fields,
                           reply_text, text_fields)
from bot.webhook import FALLBACK_TEXT, Webhook
from handlers import build_router
from handlers.router import Router
from models.followers import Follower
from tests.conftest import make_config

TOKEN = "taoyuandevtoken"

# Tencent's official sample (WXBizMsgCrypt, Python): compat-mode push.
VECTOR = dict(
    token="spamtest", aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    app_id="wx2c2769f8efd9abc2", timestamp="1409735669", nonce="1320562132",
    msg_signature="5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    encrypt=("hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUg"
             "mBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZk"
             "yyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwM"
             "rCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1"
             "BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu"
             "9GhglF2PE="),
)


@pytest.fixture
def sim():
    return Simulator(token=TOKEN)


@pytest.fixture
def post(client, sim):
    transport = flask_transport(client)
    return lambda fields: sim.send(transport, fields)


def signed(query: dict | None = None, token: str = TOKEN) -> str:
    q = Simulator(token=token).signed_query(query)
    return urlencode(q)


# -- URL verification --------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/wechat", "/wechat/"])
def test_get_echoes_echostr_exactly(client, path):
    resp = client.get(f"{path}?{signed({'echostr': '1234567890abc'})}")
    assert resp.status_code == 200
    assert resp.data == b"1234567890abc"


@pytest.mark.parametrize("query", [{}, {"signature": "0" * 40, "timestamp": "1", "nonce": "2"}])
def test_get_with_bad_signature_is_403(client, query):
    resp = client.get("/wechat?" + urlencode({**query, "echostr": "x"}))
    assert resp.status_code == 403


@pytest.mark.real_clock   # compares with the database server's clock
def test_healthz_reports_database_redis_and_clock(client, services):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.json
    assert (body["database"], body["redis"], body["clock"]) == ("ok", "ok", "ok")
    assert body["clock_skew_seconds"]["pushes"] is None
    if services.db.is_sqlite:  # same clock as ours
        assert body["clock_skew_seconds"]["database"] is None
    else:  # PostgreSQL on this machine: its clock_timestamp() agrees with ours
        assert abs(body["clock_skew_seconds"]["database"]) <= 1


# -- signatures and sizes ----------------------------------------------------------------------
def test_unsigned_post_is_403_and_stores_nothing(client, services):
    body = fields_xml(text_fields("oNoSig", "你好")).encode()
    assert client.post("/wechat", data=body).status_code == 403
    assert client.post("/wechat?signature=bad&timestamp=1&nonce=2", data=body).status_code == 403
    with services.db.session() as s:
        assert s.get(Follower, "oNoSig") is None


def test_body_over_64_kib_is_413(client):
    body = b"<xml>" + b"<a>x</a>" * 10000 + b"</xml>"
    assert client.post(f"/wechat?{signed()}", data=body).status_code == 413


def test_posting_to_trailing_slash_is_not_redirected(client, sim):
    path, body = sim.build(text_fields("oSlash", "帮助"))
    resp = client.post(path.replace("/wechat?", "/wechat/?"), data=body)
    assert resp.status_code == 200 and "帮助" not in resp.get_data(as_text=True)[:5]


# -- bad input after the signature: always 200 ---------------------------------------------------
BAD_BODIES = {
    "empty": b"",
    "not xml": b"hello",
    "truncated": b"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUser",
    "json": b'{"MsgType": "text"}',
    "wrong root": b"<root><MsgType>text</MsgType></root>",
    "no MsgType": b"<xml><FromUserName>o1</FromUserName></xml>",
    "billion laughs": (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                       b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                       b"<xml><Content>&lol2;</Content></xml>"),
    "xxe": (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>&e;</Content></xml>"),
    "bad utf-8": b"<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>\xff\xfe</Content></xml>",
    "deeply nested": (b"<xml><FromUserName><![CDATA[o1]]></FromUserName><MsgType><![CDATA[text]]>"
                      b"</MsgType>" + b"<a>" * 1000 + b"</a>" * 1000 + b"</xml>"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_malformed_signed_push_gets_200(client, name):
    resp = client.post(f"/wechat?{signed()}", data=BAD_BODIES[name])
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert text == "success" or parse_xml(text)["MsgType"] == "text"
    assert "passwd" not in text and "root:" not in text


def test_an_unexpected_failure_in_the_webhook_is_still_a_200(client, monkeypatch):
    def broken(self, args, body):
        raise RuntimeError("a bug nobody foresaw")
    monkeypatch.setattr(Webhook, "handle", broken)
    resp = client.post(f"/wechat?{signed()}", data=fields_xml(text_fields("oBug", "帮助")))
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "success"


def test_control_characters_do_not_lose_the_message(post):
    reply = post(text_fields("oCtl", "帮\x01助\x08"))
    assert "您可以这样用" in reply_text(reply)


def test_unknown_msg_type_gets_a_helpful_sentence(post):
    fields = text_fields("oUnknown", "")
    fields["MsgType"] = "hologram"
    assert "帮助" in reply_text(post(fields)) or "收到" in reply_text(post(fields))


def test_encrypted_push_without_configured_key_gets_success(client):
    query = signed({"encrypt_type": "aes", "msg_signature": "x"})
    body = b"<xml><ToUserName>gh</ToUserName><Encrypt>AAAA</Encrypt></xml>"
    resp = client.post(f"/wechat?{query}", data=body)
    assert resp.status_code in (200, 403)  # msg_signature wrong -> 403; never 500


# -- every push type -------------------------------------------------------------------------
PUSHES = {
    "text": text_fields("oT", "你好"),
    "image": {"MsgType": "image", "PicUrl": "http://p/1.jpg", "MediaId": "m1", "MsgId": 11},
    "voice": {"MsgType": "voice", "MediaId": "m2", "Format": "amr", "Recognition": "", "MsgId": 12},
    "voice recognised": {"MsgType": "voice", "MediaId": "m2", "Format": "amr", "Recognition": "帮助", "MsgId": 13},
    "video": {"MsgType": "video", "MediaId": "m3", "ThumbMediaId": "t3", "MsgId": 14},
    "shortvideo": {"MsgType": "shortvideo", "MediaId": "m4", "ThumbMediaId": "t4", "MsgId": 15},
    "location": location_fields("oT", 25.32, 118.29, label="桃城镇"),
    "link": {"MsgType": "link", "Title": "t", "Description": "d", "Url": "http://x", "MsgId": 16},
    "subscribe": event_fields("oT", "subscribe"),
    "subscribe qr": event_fields("oT", "subscribe", EventKey="qrscene_poster1", Ticket="tk"),
    "unsubscribe": event_fields("oT", "unsubscribe"),
    "scan": event_fields("oT", "SCAN", EventKey="poster1", Ticket="tk"),
    "LOCATION": event_fields("oT", "LOCATION", Latitude="25.32", Longitude="118.29", Precision="30"),
    "click": event_fields("oT", "CLICK", EventKey="HELP_USAGE"),
    "view": event_fields("oT", "VIEW", EventKey="https://example.org", MenuId="1"),
    "scancode_push": event_fields("oT", "scancode_push", EventKey="k",
                                  ScanCodeInfo={"ScanType": "qrcode", "ScanResult": "r"}),
    "scancode_waitmsg": event_fields("oT", "scancode_waitmsg", EventKey="k",
                                     ScanCodeInfo={"ScanType": "qrcode", "ScanResult": "r"}),
    "pic_sysphoto": event_fields("oT", "pic_sysphoto", EventKey="k", SendPicsInfo={
        "Count": 1, "PicList": {"item": {"PicMd5Sum": "abc"}}}),
    "pic_photo_or_album": event_fields("oT", "pic_photo_or_album", EventKey="k", SendPicsInfo={
        "Count": 2, "PicList": {"item": [{"PicMd5Sum": "a"}, {"PicMd5Sum": "b"}]}}),
    "pic_weixin": event_fields("oT", "pic_weixin", EventKey="k", SendPicsInfo={"Count": 0}),
    "location_select": event_fields("oT", "location_select", EventKey="k", SendLocationInfo={
        "Location_X": "25.32", "Location_Y": "118.29", "Scale": "15", "Label": "桃城", "Poiname": ""}),
    "TEMPLATESENDJOBFINISH": event_fields("oT", "TEMPLATESENDJOBFINISH", MsgID=200, Status="success"),
    "MASSSENDJOBFINISH": event_fields("oT", "MASSSENDJOBFINISH", MsgID=300, Status="send success",
                                      TotalCount=10, FilterCount=9, SentCount=8, ErrorCount=1),
    "subscribe_msg_popup_event": event_fields("oT", "subscribe_msg_popup_event", SubscribeMsgPopupEvent={
        "List": [{"TemplateId": "t1", "SubscribeStatusString": "accept", "PopupScene": "0"},
                 {"TemplateId": "t2", "SubscribeStatusString": "reject", "PopupScene": "0"}]}),
    "subscribe_msg_change_event": event_fields("oT", "subscribe_msg_change_event", SubscribeMsgChangeEvent={
        "List": {"TemplateId": "t1", "SubscribeStatusString": "reject"}}),
    "subscribe_msg_sent_event": event_fields("oT", "subscribe_msg_sent_event", SubscribeMsgSentEvent={
        "List": {"TemplateId": "t1", "MsgID": "1", "ErrorCode": "0", "ErrorStatus": "success"}}),
    "PUBLISHJOBFINISH": event_fields("oT", "PUBLISHJOBFINISH", PublishEventInfo={
        "publish_id": "1", "publish_status": "0", "article_id": "a1"}),
    "view_miniprogram": event_fields("oT", "view_miniprogram", EventKey="pages/index", MenuId="1"),
}

SILENT = {"unsubscribe", "LOCATION", "TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH", "view",
          "subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event",
          "PUBLISHJOBFINISH", "view_miniprogram", "scan"}


@pytest.mark.parametrize("name", list(PUSHES))
def test_every_push_type_gets_200_and_a_valid_answer(post, name):
    fields = {"ToUserName": "gh_taoyuanjiemei", "FromUserName": f"o_{name}", "CreateTime": 1700000000,
              **PUSHES[name]}
    fields["FromUserName"] = f"o_{name.replace(' ', '_')}"
    reply = post(fields)
    if name in SILENT:
        assert reply is None
    elif reply is not None:
        assert reply["ToUserName"] == fields["FromUserName"]
        assert reply["MsgType"] in ("text", "news")
        assert reply_text(reply)


def test_update_fields_are_typed():
    from bot.wechat.updates import update_from_fields

    u = update_from_fields(parse_xml(fields_xml({"FromUserName": "o1", **PUSHES["subscribe_msg_popup_event"]})))
    assert u.event == "subscribe_msg_popup_event" and [m["TemplateId"] for m in u.subscribe_msgs] == ["t1", "t2"]
    u = update_from_fields(parse_xml(fields_xml({"FromUserName": "o1", **PUSHES["MASSSENDJOBFINISH"]})))
    assert (u.msg_id, u.total_count, u.sent_count, u.error_count) == ("300", 10, 8, 1)
    u = update_from_fields(parse_xml(fields_xml({"FromUserName": "o1", **PUSHES["location_select"]})))
    assert u.location.lat == 25.32 and u.location.label == "桃城"
    u = update_from_fields(parse_xml(fields_xml({"FromUserName": "o1", **PUSHES["pic_photo_or_album"]})))
    assert u.pic_count == 2 and u.pic_md5s == ("a", "b")
    u = update_from_fields(parse_xml(fields_xml({"FromUserName": "o1", **PUSHES["PUBLISHJOBFINISH"]})))
    assert u.publish_info["article_id"] == "a1"
    u = update_from_fields(parse_xml(fields_xml({"FromUserName": "o1", **PUSHES["subscribe qr"]})))
    assert u.scene == "poster1"



@pytest.mark.parametrize("name", sorted(PUSHES))
def test_the_key_read_ahead_is_the_parsed_updates_or_none(name):
    from bot.wechat.dedup import read_ahead
    from bot.wechat.updates import update_from_fields

    xml = fields_xml({"ToUserName": "gh_taoyuanjiemei", "FromUserName": "oAhead_1-x",
                      "CreateTime": 1700000000, **PUSHES[name]})
    update = update_from_fields(parse_xml(xml))
    found = read_ahead(xml)
    assert read_ahead(xml.encode()) == found
    if update.is_message:
        assert found == (update.dedup_key(), update.openid)
    else:
        assert found is None  # events take the ordinary claim


@pytest.mark.parametrize("xml", [
    "<xml><MsgId>1</MsgId><FromUserName><![CDATA[o1]]></FromUserName>"
    "<MsgType><![CDATA[text]]></MsgType></xml>",                       # another order
    "<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><MsgId>1</MsgId></xml>",  # no CDATA
    "<xml><FromUserName><![CDATA[o1]]></FromUserName><MsgType><![CDATA[event]]></MsgType>"
    "<MsgId>1</MsgId></xml>",                                          # not a message
    "<xml><FromUserName><![CDATA[o 1]]></FromUserName><MsgType><![CDATA[text]]></MsgType>"
    "<MsgId>1</MsgId></xml>",                                          # not an openid
])
def test_unusual_shapes_are_not_read_ahead(xml):
    from bot.wechat.dedup import read_ahead

    assert read_ahead(xml) is None


def test_reading_ahead_does_not_grow_with_a_hostile_body():
    from bot.wechat.dedup import read_ahead

    # A signed plaintext URL can be replayed with any body for max_clock_skew seconds. With an
    # unanchored pattern this body took 47 s (quadratic); anchored, it is one short look.
    body = (b"<xml>" + b"<FromUserName><![CDATA[o]]></FromUserName><MsgType><![CDATA[text]]>"
            b"</MsgType>" * 800 + b"</xml>")
    assert read_ahead(body) is None


def test_spaces_around_the_msgid_do_not_make_another_message():
    from bot.wechat.updates import update_from_fields

    plain = update_from_fields(parse_xml(fields_xml(text_fields("oSp", "x", msg_id=123))))
    spaced = update_from_fields(parse_xml(
        fields_xml(text_fields("oSp", "x", msg_id=123)).replace("<MsgId>123<", "<MsgId> 123 <")))
    assert spaced.dedup_key() == plain.dedup_key() == "m:oSp:123"

# -- followers ---------------------------------------------------------------------------------
def test_subscribe_welcome_records_scene_and_unsubscribe_marks(post, services):
    reply = post(event_fields("oF1", "subscribe", EventKey="qrscene_market"))
    text = reply_text(reply)
    for word in ("附近服务", "活动", "志愿者", "求助", "17日", "义剪"):
        assert word in text
    with services.db.session() as s:
        f = s.get(Follower, "oF1")
        assert f.subscribed and f.scene == "market" and f.in_service_window()
    assert post(event_fields("oF1", "unsubscribe")) is None
    with services.db.session() as s:
        assert not s.get(Follower, "oF1").subscribed


def test_location_event_is_stored_and_answered_success(post, services):
    assert post(event_fields("oLoc", "LOCATION", Latitude="25.31", Longitude="118.28", Precision="20")) is None
    with services.db.session() as s:
        f = s.get(Follower, "oLoc")
        assert (f.last_lat, f.last_lng) == (25.31, 118.28) and f.last_location_at is not None


@pytest.mark.parametrize("text", ["帮助", "?", "？", "幫助", "　帮助　", "ＨＥＬＰ"])
def test_help_words_after_normalising(post, text):
    assert "您可以这样用" in reply_text(post(text_fields("oHelp", text)))


@pytest.mark.parametrize("text", ["😀", "   ", "asdfgh", "。"])
def test_unexpected_text_gets_a_helpful_sentence(post, text):
    reply = reply_text(post(text_fields("oOdd", text)))
    assert reply and ("帮助" in reply or "您可以" in reply or "收到" in reply)


# -- official encryption vector and AES modes --------------------------------------------------
def test_official_vector_decrypts():
    plain, _ = decrypt([AesKey(VECTOR["aes_key"], VECTOR["app_id"])], VECTOR["encrypt"])
    fields = parse_xml(plain)
    assert fields["Content"] == "abcdteT" and fields["MsgId"] == "6054768590064713728"
    assert sha1_signature(VECTOR["token"], VECTOR["timestamp"], VECTOR["nonce"],
                          VECTOR["encrypt"]) == VECTOR["msg_signature"]


def _aes_app(db_url, redis_prefix, tmp_path, **wechat):
    cfg = make_config(db_url, redis_prefix, tmp_path, wechat=wechat)
    svc = wire_services(cfg)
    return svc, create_app(services=svc).test_client()


def test_official_vector_through_the_webhook(db_url, redis_prefix, tmp_path):
    import time_machine

    svc, client = _aes_app(db_url, redis_prefix, tmp_path, token=VECTOR["token"],
                           encoding_aes_key=VECTOR["aes_key"], app_id=VECTOR["app_id"])
    with time_machine.travel(int(VECTOR["timestamp"]) + 5, tick=True):  # the vector is from 2014
        _official_vector(client)
    svc.db.dispose()


def _official_vector(client):
    body = (f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA["
            f"{VECTOR['encrypt']}]]></Encrypt></xml>")
    query = urlencode({"signature": sha1_signature(VECTOR["token"], VECTOR["timestamp"], VECTOR["nonce"]),
                       "timestamp": VECTOR["timestamp"], "nonce": VECTOR["nonce"],
                       "encrypt_type": "aes", "msg_signature": VECTOR["msg_signature"]})
    resp = client.post(f"/wechat?{query}", data=body.encode())
    assert resp.status_code == 200
    sim = Simulator(token=VECTOR["token"], aes_key=AesKey(VECTOR["aes_key"], VECTOR["app_id"]), mode="safe")
    reply = sim.read_reply(resp.get_data(as_text=True))
    assert reply["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs" and reply_text(reply)
    # A tampered msg_signature is refused.
    bad = query.replace(VECTOR["msg_signature"], "0" * 40)
    assert client.post(f"/wechat?{bad}", data=body.encode()).status_code == 403


KEY_NEW = "A" * 42 + "Q"
KEY_OLD = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.mark.parametrize("mode", ["safe", "compat"])
def test_aes_modes_and_key_rotation(db_url, redis_prefix, tmp_path, mode):
    svc, client = _aes_app(db_url, redis_prefix, tmp_path, token=TOKEN, app_id="wxapp000000000001",
                           encoding_aes_key=KEY_NEW, previous_encoding_aes_key=KEY_OLD)
    transport = flask_transport(client)
    for key in (KEY_NEW, KEY_OLD):
        sim = Simulator(token=TOKEN, aes_key=AesKey(key, "wxapp000000000001"), mode=mode)
        reply = sim.send(transport, text_fields(f"oAes{mode}", "帮助"))  # decrypts with the same key
        assert "您可以这样用" in reply_text(reply)
    wrong_app = Simulator(token=TOKEN, aes_key=AesKey(KEY_NEW, "wxsomebodyelse00"), mode=mode)
    assert wrong_app.send(transport, text_fields("oAesX", "帮助")) is None  # AppID mismatch: success
    svc.db.dispose()


# -- replies: CDATA, length, paging ----------------------------------------------------------
def _custom_client(services, handler):
    router = Router()
    router.on_text(prefix="")(handler)  # everything
    router.add(lambda ctx: True, handler)
    hook = Webhook(services, router)
    return hook


def test_user_text_with_cdata_end_cannot_break_the_reply(services):
    hook = _custom_client(services, lambda ctx: TextReply("你说：" + ctx.update.content))
    sim = Simulator(token=TOKEN)
    path, body = sim.build(text_fields("oCdata", "a]]></Content><MsgType>evil</MsgType>b"))
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    result = hook.handle(query, body)
    reply = parse_xml(result.body)
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "你说：a]]></Content><MsgType>evil</MsgType>b"


def test_long_text_is_paged_within_2048_bytes(services):
    long_text = "\n".join(f"第{i}条：永春县妇联近邻娘家服务点信息" for i in range(200))
    hook = _custom_client(services, lambda ctx: long_text if ctx.compact_text != "更多" else "没有了")
    sim = Simulator(token=TOKEN)
    pages = []
    for word in ["列表", "更多", "更多", "更多"]:
        path, body = sim.build(text_fields("oLong", word))
        query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
        pages.append(parse_xml(hook.handle(query, body).body)["Content"])
    for page in pages:
        assert len(page.encode("utf-8")) <= 2048
    assert "回复「更多」" in pages[0]
    joined = "".join(p.replace("\n（回复「更多」查看后续）", "\n") for p in pages)
    assert "第0条" in joined and "第60条" in joined


def test_handler_exception_gives_fallback_sentence_and_200(services):
    def boom(ctx):
        raise RuntimeError("bug")
    hook = _custom_client(services, boom)
    sim = Simulator(token=TOKEN)
    path, body = sim.build(text_fields("oBoom", "hi"))
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    result = hook.handle(query, body)
    assert result.status == 200 and parse_xml(result.body)["Content"] == FALLBACK_TEXT
    path, body = sim.build(event_fields("oBoom", "CLICK", EventKey="X"))
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    # a menu tap whose handler failed is answered, not met with silence (issue 15 item 7) ...
    assert parse_xml(hook.handle(query, body).body)["Content"] == FALLBACK_TEXT
    # ... an automatic position report is not (it never gets a reply)
    path, body = sim.build(event_fields("oBoom", "LOCATION", Latitude="25.3", Longitude="118.2",
                                        Precision="30"))
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    assert hook.handle(query, body).body == "success"


def test_database_down_still_answers(db_url, redis_prefix, tmp_path):
    cfg = make_config("postgresql://nobody@127.0.0.1:1/none", redis_prefix, tmp_path)
    client = create_app(services=wire_services(cfg)).test_client()
    sim = Simulator(token=TOKEN)
    # an answer that needs no database still goes out (issue 15 item 6) ...
    assert "您可以这样用" in reply_text(sim.send(flask_transport(client), text_fields("oDbDown", "帮助")))
    # ... one that needs it gets the polite sentence
    assert reply_text(sim.send(flask_transport(client), text_fields("oDbDown", "我的报名"))) \
        == FALLBACK_TEXT
    assert client.get("/healthz").status_code == 503


def test_redis_down_still_answers(db_url, tmp_path, services):
    cfg = make_config(db_url, "x:", tmp_path, redis={"url": "redis://127.0.0.1:1/0"})
    client = create_app(services=wire_services(cfg)).test_client()
    reply = Simulator(token=TOKEN).send(flask_transport(client), text_fields("oRedisDown", "帮助"))
    assert "您可以这样用" in reply_text(reply)  # no dedup, no conversation, still the right answer


def test_a_hung_redis_costs_one_timeout_not_one_per_command(db_url, tmp_path, hung_redis_url):
    import time

    cfg = make_config(db_url, "x:", tmp_path, redis={"url": hung_redis_url})
    client = create_app(services=wire_services(cfg)).test_client()
    sim = Simulator(token=TOKEN)
    started = time.monotonic()
    first = sim.send(flask_transport(client), text_fields("oHung", "帮助", msg_id=1))
    assert "您可以这样用" in reply_text(first)
    # Within WeChat's 5 s even for the message that met the timeout (claim 2 s, then no more
    # waiting); the next ones do not wait at all. Generous bounds: this is behaviour, not speed.
    assert time.monotonic() - started < 4.5
    started = time.monotonic()
    for i in range(2, 5):
        assert "您可以这样用" in reply_text(
            sim.send(flask_transport(client), text_fields("oHung", "帮助", msg_id=i)))
    assert time.monotonic() - started < 1.5


# -- retries -----------------------------------------------------------------------------------
def test_retry_gets_the_same_reply_and_side_effect_happens_once(services):
    calls = []

    def counting(ctx):
        calls.append(ctx.update.msg_id)
        return f"第{len(calls)}次处理"
    hook = _custom_client(services, counting)
    sim = Simulator(token=TOKEN)
    fields = text_fields("oRetry", "报名", msg_id=987654321)
    replies = []
    for _ in range(3):  # WeChat's three tries, each with a fresh signature
        path, body = sim.build(fields)
        query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
        replies.append(hook.handle(query, body).body)
    assert calls == ["987654321"]
    assert len(set(replies)) == 1 and "第1次处理" in replies[0]


def test_concurrent_copies_wait_for_the_first(services):
    import time as _time
    calls = []

    def slow(ctx):
        calls.append(1)
        _time.sleep(0.5)
        return "处理完成"
    hook = _custom_client(services, slow)
    sim = Simulator(token=TOKEN)
    fields = text_fields("oConc", "x", msg_id=55555)
    results = []

    def one():
        path, body = sim.build(fields)
        query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
        results.append(hook.handle(query, body).body)
    threads = [threading.Thread(target=one) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and len(results) == 4 and len(set(results)) == 1
    assert "处理完成" in results[0]


def test_events_dedup_on_openid_createtime_event_key(services):
    calls = []
    router = Router()
    router.on_event("click")(lambda ctx: calls.append(1) or "ok")
    hook = Webhook(services, router)
    sim = Simulator(token=TOKEN)
    fields = event_fields("oEv", "CLICK", EventKey="A")
    fields["CreateTime"] = 1700000001
    for key in ("A", "A", "B"):
        path, body = sim.build({**fields, "EventKey": key})
        query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
        hook.handle(query, body)
    assert len(calls) == 2



def test_a_fake_msgid_in_her_text_claims_the_real_key(services):
    calls = []

    def counting(ctx):
        calls.append(ctx.update.msg_id)
        return "你说：" + ctx.update.content
    hook = _custom_client(services, counting)
    hook.dedup._hot.LATER_SECONDS = 30  # only the next claim carries queued writes
    sim = Simulator(token=TOKEN)
    fields = text_fields("oFake", "<MsgId>1</MsgId>", msg_id=777)
    replies = []
    for _ in range(2):
        path, body = sim.build(fields)
        query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
        replies.append(hook.handle(query, body).body)
    assert calls == ["777"] and replies[0] == replies[1]
    assert "你说：<MsgId>1</MsgId>" in reply_text(parse_xml(replies[0]))
    hook.dedup._hot.flush()
    assert services.redis.get(services.keys("dedup", "m:oFake:1")) is None  # released
    assert services.redis.get(services.keys("dedup", "m:oFake:777")) == replies[0]


def test_an_unreadable_push_read_ahead_releases_its_claim(services):
    hook = Webhook(services, build_router())
    sim = Simulator(token=TOKEN)
    path, body = sim.build(text_fields("oBroken", "你好", msg_id=4242))
    body = body.replace(b"</xml>", b"<unclosed></xml>")  # the key reads, the XML does not parse
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    assert hook.handle(query, body).body == "success"
    hook.dedup._hot.flush()
    assert services.redis.get(services.keys("dedup", "m:oBroken:4242")) is None
    assert hook.handle(query, body).body == "success"  # a retry is not kept waiting 4 s

def test_real_router_builds():
    router = build_router()
    assert router.rules and router.default_message is not None


def test_old_signed_push_is_ignored_as_a_replay(client, services):
    sim = Simulator(token=TOKEN)
    path, body = sim.build(text_fields("oReplay", "帮助"))
    old = urlencode({"signature": sha1_signature(TOKEN, "1000000000", "42"), "timestamp": "1000000000",
                     "nonce": "42"})
    resp = client.post(f"/wechat?{old}", data=body)
    assert resp.status_code == 200 and resp.data == b"success"
    with services.db.session() as s:
        assert s.get(Follower, "oReplay") is None


@pytest.mark.parametrize("text", ["谢谢", "謝謝", "好的", "收到"])
def test_thanks_gets_a_warm_answer(post, text):
    assert "不客气" in reply_text(post(text_fields("oThanks", text)))


def test_more_with_nothing_waiting_says_so(post):
    assert "已经是全部内容了" in reply_text(post(text_fields("oNoMore", "更多")))


@pytest.mark.parametrize("fields", [
    text_fields("oPunct", "帮助？"),
    text_fields("oPunct", "幫助！😊"),
    {"MsgType": "voice", "MediaId": "m", "Format": "amr", "Recognition": "帮助。", "MsgId": 77},
])
def test_punctuation_and_emoji_at_the_ends_are_ignored(post, fields):
    fields = {"ToUserName": "gh", "FromUserName": "oPunct", "CreateTime": 1, **fields}
    assert "您可以这样用" in reply_text(post(fields))


def test_recent_openids_gate_and_bound():
    from handlers.welcome import RecentOpenids

    recent = RecentOpenids(60, size=2)
    assert recent.first_in_a_while("a") and not recent.first_in_a_while("a")
    recent.first_in_a_while("b"), recent.first_in_a_while("c")  # "a" is dropped (size 2)
    assert recent.first_in_a_while("a")
    assert RecentOpenids(0).first_in_a_while("x") and RecentOpenids(0).first_in_a_while("x")


def test_recent_openids_spread_their_expiry(monkeypatch):
    from handlers import welcome

    clock = [1000.0]
    monkeypatch.setattr(welcome.time, "monotonic", lambda: clock[0])
    recent = welcome.RecentOpenids(60)
    assert all(recent.first_in_a_while(f"o{i}") for i in range(200))
    clock[0] += 59.9
    assert not any(recent.first_in_a_while(f"o{i}") for i in range(200))  # all still fresh
    clock[0] += 30  # 89.9 s: roughly half are due again, not all at once
    due = {i for i in range(200) if recent.first_in_a_while(f"o{i}")}
    assert 40 < len(due) < 160
    clock[0] += 31  # 120.9 s: the rest were remembered for at most 120 s
    assert all(recent.first_in_a_while(f"o{i}") for i in range(200) if i not in due)


# -- the database session is made only when a handler needs it ----------------------------------
def _push(hook, text: str, msg_id: int, openid: str = "oOnDemand"):
    path, body = Simulator(token=TOKEN).build(text_fields(openid, text, msg_id=msg_id))
    return hook.handle(dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&")), body)


def test_a_returning_womans_help_message_makes_no_database_session(services, monkeypatch):
    from bot.core.db import OnDemandSession

    hook = Webhook(services, build_router())
    _push(hook, "你好", 1)  # first message: her follower row is written
    opened = []
    real_get = OnDemandSession.get
    monkeypatch.setattr(OnDemandSession, "get",
                        lambda self: opened.append(1) or real_get(self))
    for i, text in enumerate(["你好", "帮助", "谢谢", "在吗", "?"], 2):
        assert "<xml>" in _push(hook, text, i).body
        assert opened == [], text
    assert "<xml>" in _push(hook, "活动", 9).body  # a feature that reads tables still gets one
    assert opened


def test_on_demand_session_commits_what_was_done_and_rolls_back_on_error(services):
    with services.db.on_demand_write_session() as lazy:
        assert not lazy.opened and lazy.engine is services.db.engine
        lazy.get().add(Follower(openid="oLazy1", subscribed=True))
        assert lazy.get() is lazy.get()
    with pytest.raises(RuntimeError):
        with services.db.on_demand_write_session() as lazy:
            lazy.get().add(Follower(openid="oLazy2", subscribed=True))
            lazy.get().flush()
            raise RuntimeError("handler failed")
    with services.db.on_demand_write_session() as lazy:
        pass  # never opened: nothing to commit
    with services.db.session() as s:
        assert s.get(Follower, "oLazy1") is not None and s.get(Follower, "oLazy2") is None


# -- issue 12: safe by default -------------------------------------------------------------------
def _query(path: str) -> dict:
    return dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))


@pytest.mark.parametrize("encryption", [None, "safe"])  # None: the default with a key set
def test_safe_mode_refuses_a_plaintext_push(db_url, redis_prefix, tmp_path, encryption):
    wechat = {"encoding_aes_key": KEY_NEW, **({"encryption": encryption} if encryption else {})}
    svc, client = _aes_app(db_url, redis_prefix, tmp_path, **wechat)
    path, body = Simulator(token=TOKEN).build(text_fields("oDowngrade", "帮助"))
    resp = client.post(path, data=body)
    assert resp.status_code == 403 and b"<xml>" not in resp.data
    with svc.db.session() as s:
        assert s.get(Follower, "oDowngrade") is None  # nothing processed
    sim = Simulator(token=TOKEN, aes_key=AesKey(KEY_NEW, svc.config.wechat["app_id"]), mode="safe")
    assert "您可以这样用" in reply_text(sim.send(flask_transport(client), text_fields("oSafe", "帮助")))
    svc.db.dispose()


def test_compat_mode_takes_both_and_only_the_decrypted_copy(db_url, redis_prefix, tmp_path):
    svc, client = _aes_app(db_url, redis_prefix, tmp_path, encoding_aes_key=KEY_NEW,
                           encryption="compat")
    transport = flask_transport(client)
    plain = Simulator(token=TOKEN).send(transport, text_fields("oCompat", "帮助"))
    assert "您可以这样用" in reply_text(plain)
    sim = Simulator(token=TOKEN, aes_key=AesKey(KEY_NEW, svc.config.wechat["app_id"]), mode="compat")
    # The plaintext copy beside <Encrypt> says something else: only the decrypted one counts.
    path, body = sim.build(text_fields("oCompat", "帮助"))
    outer = parse_xml(body)
    outer["Content"] = "谢谢"
    resp = client.post(path, data=fields_xml(outer).encode())
    reply = sim.read_reply(resp.get_data(as_text=True))
    assert "您可以这样用" in reply_text(reply) and "不客气" not in reply_text(reply)
    svc.db.dispose()


def test_plain_mode_with_an_aes_key_is_allowed_when_chosen(db_url, redis_prefix, tmp_path):
    svc, client = _aes_app(db_url, redis_prefix, tmp_path, encoding_aes_key=KEY_NEW,
                           encryption="plain")
    reply = Simulator(token=TOKEN).send(flask_transport(client), text_fields("oPlainKey", "帮助"))
    assert "您可以这样用" in reply_text(reply)
    svc.db.dispose()


@pytest.mark.parametrize("encryption", ["plain", "compat"])
def test_a_signed_url_cannot_carry_another_body(db_url, redis_prefix, tmp_path, caplog, encryption):
    wechat = {"encoding_aes_key": KEY_NEW} if encryption == "compat" else {}
    svc, client = _aes_app(db_url, redis_prefix, tmp_path, encryption=encryption, **wechat)
    path, body = Simulator(token=TOKEN).build(text_fields("oUrlFirst", "帮助", msg_id=5001))
    first = client.post(path, data=body)
    assert first.status_code == 200 and "您可以这样用" in first.get_data(as_text=True)
    # The URL from a log, with a body of the attacker's choosing: refused, nothing stored.
    forged = fields_xml(text_fields("oUrlForged", "活动", msg_id=5002)).encode()
    with caplog.at_level("WARNING", logger="bot.webhook"):
        assert client.post(path, data=forged).status_code == 403
    assert "signed URL was used before with another body" in caplog.text
    assert "oUrlForged" not in caplog.text and "oUrlFirst" not in caplog.text
    with svc.db.session() as s:
        assert s.get(Follower, "oUrlForged") is None
    # WeChat's retry (same URL, same body) is still a retry: the same reply.
    again = client.post(path, data=body)
    assert again.status_code == 200 and again.data == first.data
    svc.db.dispose()


def test_with_redis_down_a_reused_url_is_not_refused(db_url, tmp_path, services, caplog):
    cfg = make_config(db_url, "x:", tmp_path, redis={"url": "redis://127.0.0.1:1/0"})
    client = create_app(services=wire_services(cfg)).test_client()
    path, body = Simulator(token=TOKEN).build(text_fields("oNoRedis1", "帮助"))
    other = fields_xml(text_fields("oNoRedis2", "帮助")).encode()
    with caplog.at_level("WARNING"):
        assert client.post(path, data=body).status_code == 200
        assert client.post(path, data=other).status_code == 200  # availability first
    assert "without the signed-URL check" in caplog.text


def test_retry_memory_lasts_as_long_as_a_push_can_be_replayed(services):
    hook = _custom_client(services, lambda ctx: TextReply("好的"))
    path, body = Simulator(token=TOKEN).build(text_fields("oTtl", "x", msg_id=24680))
    hook.handle(_query(path), body)
    hook.dedup._hot.flush()
    skew = services.config.wechat["max_clock_skew"]
    assert skew == 600
    assert services.redis.ttl(services.keys("dedup", "m:oTtl:24680")) >= skew - 2
    q = _query(path)
    assert services.redis.ttl(services.keys("url", q["timestamp"], q["nonce"])) >= skew - 2


def test_an_exact_replay_after_the_retry_memory_is_still_a_retry(db_url, redis_prefix, tmp_path):
    import time as _time

    # Scaled down: retry memory 1 s (60 s in production), replay window 3 s (600 s; the
    # config refuses less than 30, so it is set on the webhook itself).
    cfg = make_config(db_url, redis_prefix, tmp_path)
    svc = wire_services(cfg)
    calls = []
    hook = _custom_client(svc, lambda ctx: calls.append(1) or f"第{len(calls)}次处理")
    hook.dedup.ttl, hook.max_clock_skew = 1, 3
    path, body = Simulator(token=TOKEN).build(text_fields("oLate", "求助", msg_id=13579))
    first = hook.handle(_query(path), body).body
    _time.sleep(1.6)
    assert hook.handle(_query(path), body).body == first  # the same URL and body, replayed
    assert calls == [1]
    svc.db.dispose()


def _signed_at(timestamp: int, nonce: str = "77") -> str:
    return urlencode({"signature": sha1_signature(TOKEN, str(timestamp), nonce),
                      "timestamp": str(timestamp), "nonce": nonce})


@pytest.mark.real_clock   # compares with the database server's clock
def test_a_wrong_server_clock_is_reported_and_logged_once_a_minute(services, caplog):
    import time as _time

    import time_machine

    body = fields_xml(text_fields("oClock", "帮助")).encode()
    apps = [create_app(services=services).test_client() for _ in range(2)]  # two workers
    wechat_now = int(_time.time())
    with time_machine.travel(_time.time() + 1000, tick=True):  # our clock is 1000 s ahead
        with caplog.at_level("WARNING"):
            for i in range(6):
                resp = apps[i % 2].post(f"/wechat?{_signed_at(wechat_now + i, str(i))}", data=body)
                assert resp.status_code == 200 and resp.data == b"success"  # ignored, as before
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1, [r.getMessage() for r in errors]  # once, for both workers
        message = errors[0].getMessage()
        assert "clock" in message and "ahead" in message
        assert any(f"{s} s" in message for s in range(994, 1003)), message
        for client in apps:
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json["clock"] == "clock_skew"
            assert 994 <= health.json["clock_skew_seconds"]["pushes"] <= 1002
            if not services.db.is_sqlite:  # the database server's clock is the right one
                assert 995 <= health.json["clock_skew_seconds"]["database"] <= 1005
    with services.db.session() as s:
        assert s.get(Follower, "oClock") is None
    # The clock is fixed: a push on time clears this worker's finding.
    apps[0].post(f"/wechat?{signed()}", data=body)
    health = apps[0].get("/healthz")
    assert health.status_code == 200 and health.json["clock"] == "ok"


@pytest.mark.real_clock   # compares with the database server's clock
def test_replays_of_old_urls_beside_genuine_pushes_are_not_a_clock_problem(client, caplog):
    import time as _time

    body = fields_xml(text_fields("oOldUrl", "帮助")).encode()
    assert client.post(f"/wechat?{signed()}", data=body).status_code == 200  # genuine, in time
    with caplog.at_level("WARNING"):
        for i in range(4):
            client.post(f"/wechat?{_signed_at(int(_time.time()) - 5000, str(i))}", data=body)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert client.get("/healthz").json["clock"] == "ok"


def test_compat_an_encrypted_pushs_url_cannot_carry_a_plaintext_body(db_url, redis_prefix,
                                                                    tmp_path, caplog):
    # Finding 1 (i12 fixes): the encrypted push's (timestamp, nonce) is remembered too.
    svc, client = _aes_app(db_url, redis_prefix, tmp_path, encoding_aes_key=KEY_NEW,
                           encryption="compat")
    sim = Simulator(token=TOKEN, aes_key=AesKey(KEY_NEW, svc.config.wechat["app_id"]), mode="safe")
    path, body = sim.build(text_fields("oEncFirst", "帮助", msg_id=6001))
    assert "encrypt_type=aes" in path
    first = client.post(path, data=body)
    assert first.status_code == 200 and "您可以这样用" in reply_text(sim.read_reply(first.get_data(as_text=True)))
    plain_path = path.replace("&encrypt_type=aes", "").replace("encrypt_type=aes&", "")
    assert "encrypt_type" not in plain_path
    forged = fields_xml(text_fields("oEncForged", "活动", msg_id=6002)).encode()
    with caplog.at_level("WARNING", logger="bot.webhook"):
        resp = client.post(plain_path, data=forged)
    assert resp.status_code == 403 and b"<xml>" not in resp.data
    assert "signed URL was used before with another body" in caplog.text
    with svc.db.session() as s:
        assert s.get(Follower, "oEncForged") is None
    # WeChat's retry of the encrypted push (same URL, same body) is still a retry.
    again = client.post(path, data=body)
    assert again.status_code == 200
    assert sim.read_reply(again.get_data(as_text=True)) == sim.read_reply(first.get_data(as_text=True))
    svc.db.dispose()


@pytest.mark.real_clock   # compares with the database server's clock
def test_replaying_old_signed_urls_does_not_turn_healthz_red(client, caplog):
    # i12 fixes, finding 6: one old URL replayed twice gave 503 clock_skew for 10 minutes.
    import time as _time

    body = fields_xml(text_fields("oReplayClock", "帮助")).encode()
    old = int(_time.time()) - 5000
    with caplog.at_level("WARNING"):
        for _ in range(5):  # one URL, many times: one push
            assert client.post(f"/wechat?{_signed_at(old, '1')}", data=body).data == b"success"
        for i, age in enumerate((7000, 9000, 20000)):  # distinct URLs of different ages
            client.post(f"/wechat?{_signed_at(int(_time.time()) - age, str(10 + i))}", data=body)
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        health = client.get("/healthz")
        assert health.json["clock"] == "ok" and health.json["clock_skew_seconds"]["pushes"] is None
        # Three distinct pushes with one offset (what a wrong clock gives) are a finding.
        now = int(_time.time())
        for i in range(3):
            client.post(f"/wechat?{_signed_at(now - 3000 + i, str(20 + i))}", data=body)
    assert [r for r in caplog.records if r.levelname == "ERROR"]
    health = client.get("/healthz")
    assert health.status_code == 503 and 2995 <= health.json["clock_skew_seconds"]["pushes"] <= 3003


def test_with_redis_down_the_webhook_logs_one_error_a_minute_not_a_warning_per_push(
        db_url, tmp_path, services, caplog):
    # i12 fixes, finding 4: availability first, said once a minute at ERROR.
    cfg = make_config(db_url, "x:", tmp_path, redis={"url": "redis://127.0.0.1:1/0"})
    client = create_app(services=wire_services(cfg)).test_client()
    transport = flask_transport(client)
    with caplog.at_level("WARNING"):
        for i in range(4):
            reply = Simulator(token=TOKEN).send(transport, text_fields(f"oDown{i}", "帮助", msg_id=900 + i))
            assert "您可以这样用" in reply_text(reply)
    dedup = [r for r in caplog.records if "de-duplication" in r.getMessage()
             or "dedup unavailable" in r.getMessage()]
    assert len(dedup) == 1 and dedup[0].levelname == "ERROR", [r.getMessage() for r in dedup]
    assert "signed-URL" in dedup[0].getMessage()


def test_an_unreadable_pushs_signed_url_is_spent_too(client):
    # i12 fixes, finding 1: every push's URL is remembered, one that made no claim as well.
    path, body = Simulator(token=TOKEN).build(text_fields("oSpent", "帮助", msg_id=7001))
    assert client.post(path, data=b"<xml><MsgType>text</MsgType>").data == b"success"
    assert client.post(path, data=body).status_code == 403


def test_a_taken_over_claim_whose_worker_committed_answers_its_reply(services, client):
    """Issue 15: a worker committed a message's effects and died before storing its reply in
    Redis; its claim's lease runs out and the retry takes it over. The retry answers the reply
    committed with those effects (``handled_messages``) instead of running the message again."""
    from bot.simulator import Simulator, flask_transport, text_fields
    from bot.wechat.dedup import PENDING
    from models.outbox import record_handled

    dedup_key = "m:oDeadCommitted:737373"
    committed = "<xml><Content><![CDATA[committed by the dead worker]]></Content></xml>"
    with services.db.session() as s:
        record_handled(s, dedup_key, committed)
    services.redis.set(services.keys("dedup", dedup_key), f"{PENDING}:deadbeef", px=300)
    sim = Simulator(token="taoyuandevtoken")
    path, body = sim.build(text_fields("oDeadCommitted", "帮助", msg_id=737373))
    status, text = flask_transport(client)(path, body)
    assert status == 200 and text == committed
    assert services.redis.get(services.keys("dedup", dedup_key)) is not None


def _handled(services, dedup_key: str):
    from models.outbox import handled_reply

    with services.db.session() as s:
        return handled_reply(s, dedup_key)


def test_a_message_that_only_read_records_no_handled_reply(services, post):
    """Performance (issue 14/15): 「活动」 only reads (and inserts her follower row, a relaxed
    write): running it again is harmless, so its commit carries no ``handled_messages`` row
    (an INSERT, a SELECT and a WAL flush per such message)."""
    reply = post(text_fields("oOnlyReads", "活动", msg_id=818181))
    assert reply is not None
    assert _handled(services, "m:oOnlyReads:818181") is None
    with services.db.session() as s:  # the relaxed write did commit
        assert s.get(Follower, "oOnlyReads") is not None


def test_a_message_that_wrote_still_records_its_reply(services, post):
    """Issue 15's guarantee is kept: a run with real effects (a topic subscription) commits
    its reply with them, for a retry that takes over from a worker that died."""
    reply = post(text_fields("oWrites", "订阅活动提醒", msg_id=828282))
    assert reply is not None
    stored = _handled(services, "m:oWrites:828282")
    assert stored and reply["Content"] in stored


def _handle_text(hook, openid: str, text: str, msg_id: int):
    path, body = Simulator(token=TOKEN).build(text_fields(openid, text, msg_id=msg_id))
    return hook.handle(dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&")), body)


def test_a_quick_run_does_not_have_its_claim_renewed(services, monkeypatch):
    """Performance (issue 14/15): a run that ends before ``HOLD_AFTER_SECONDS`` never joins the
    lease renewals (its 6-second lease outlives it): no lock, no dict entry, no renewal thread."""
    hook = _custom_client(services, lambda ctx: "好的")
    held = []
    monkeypatch.setattr(hook.dedup.leases, "hold", lambda key, token: held.append(key))
    reply = parse_xml(_handle_text(hook, "oQuickRun", "你好", 838383).body)
    assert reply["Content"] == "好的"
    assert held == []


def test_a_slow_run_has_its_claim_renewed_while_it_runs(services, monkeypatch):
    """Issue 15's lease is kept for runs that take long: renewed from HOLD_AFTER_SECONDS until
    the reply is out, then let go."""
    import time

    import bot.webhook as webhook_module

    monkeypatch.setattr(webhook_module, "HOLD_AFTER_SECONDS", 0.05)
    seen = []

    def slow(ctx):
        time.sleep(0.3)
        seen.append(hook.dedup.leases.held())
        return "慢慢来"

    hook = _custom_client(services, slow)
    reply = parse_xml(_handle_text(hook, "oSlowRun", "你好", 848484).body)
    assert reply["Content"] == "慢慢来"
    assert seen == [1] and hook.dedup.leases.held() == 0


def test_a_late_run_keeps_its_claim_renewed_until_delivered(services, monkeypatch):
    """A run past its reply budget answers success; its lease is renewed until the worker has
    delivered the answer, then let go."""
    import time

    seen = []

    def late(ctx):
        time.sleep(0.4)
        seen.append(hook.dedup.leases.held())
        return "晚一点的答复"

    hook = _custom_client(services, late)
    hook.budget = 0.1
    started = time.monotonic()
    assert _handle_text(hook, "oLateRun", "你好", 858585).body == "success"
    assert time.monotonic() - started < 0.35
    hook._pool.shutdown(wait=True)
    assert seen == [1] and hook.dedup.leases.held() == 0
