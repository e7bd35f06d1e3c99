"""A fake WeChat API (api.weixin.qq.com/cgi-bin/...) served over real HTTP on 127.0.0.1.

Used by tests (fixtures ``fake_wechat`` / ``live_services`` in tests/conftest.py), bench
scripts and by hand::

    python -m tests.fake_wechat --port 9999      # then wechat.api_base_url = "http://127.0.0.1:9999/cgi-bin/"

It issues access tokens like WeChat (``stable_token`` returns the current token until it
expires; ``force_refresh`` and the old ``token`` API issue a new one and the old one stays valid
5 minutes; an unknown token gets 40001, an expired one 42001; a wrong appid 40013, a wrong secret
40125) and answers the endpoints bot/wechat/client.py uses with WeChat's JSON shapes and errcodes.

Knobs (all thread-safe to change between requests): ``latency`` (seconds before each answer),
``non_followers`` (openids -> 43004), ``outside_window`` (-> 45015 on 客服消息), ``invalid``
(-> 40003), ``refused`` (-> 43101 on 订阅通知), ``followers`` (what ``user/get`` lists), and
``script(path, [answers])``: the next calls to ``path`` get these answers instead (an errcode
dict such as ``{"errcode": -1}``, or an int errcode; ``{"_status": 502}`` answers that HTTP status,
``{"_delay": 2}`` waits first, ``{"_body": "<html>"}`` answers that raw text;
``{"_process": True, "_delay": 5}`` does the real work at once and answers only after the delay:
WeChat accepted it, the answer came too late). ``mass_jobs`` (msg_id -> ``msg_status``) is what
``message/mass/get`` reports for each mass send (``SEND_SUCCESS`` unless a test changes it).
No pytest import here: bench scripts use it too.
"""
from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

#: errmsg WeChat uses for the errcodes the fake produces.
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40032: "invalid openid list size",
    40037: "invalid template_id",
    40066: "invalid url",
    40097: "invalid args",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44003: "empty news data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45056: "too many tags now, no need to add new",
    45058: "can't modify sys tag",
    45065: "clientmsgid exist",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    46003: "menu no exist",
    47001: "data format error",
    48001: "api unauthorized",
}

OLD_TOKEN_GRACE = 300  # seconds an old token keeps working after a new one is issued
BUTTON_TYPES = {"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "view_limited",
                "article_id", "article_view_limited", "miniprogram"}
CUSTOM_MSGTYPES = {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle",
                   "msgmenu", "wxcard", "miniprogrampage"}


class WeChatError(Exception):
    """Raised inside an endpoint to answer ``{"errcode", "errmsg"}`` (plus ``extra``)."""

    def __init__(self, errcode: int, extra: dict | None = None):
        super().__init__(errcode)
        self.errcode = errcode
        self.extra = extra or {}


@dataclass
class Call:
    """One request the fake received: ``path`` relative to /cgi-bin/ (``message/custom/send``),
    ``query`` (dict of str), ``json`` (decoded body or None), ``time`` (time.time())."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    time: float = field(default_factory=time.time)

    @property
    def body(self) -> Any:
        return self.json


def _norm(path: str) -> str:
    path = path.split("?", 1)[0]
    if "/cgi-bin/" in path:
        path = path.split("/cgi-bin/", 1)[1]
    return path.strip("/")


class FakeWeChat:
    """The fake server. ``start()`` binds a random port (or ``port``); ``base_url`` ends in
    ``/cgi-bin/``; ``stop()`` shuts it down; ``reset()`` forgets calls, scripts, knobs and state."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, app_id: str = "wxfake00000000001",
                 app_secret: str = "fakesecret0123456789abcdef012345"):
        self.host, self.port = host, port
        self.app_id, self.app_secret = app_id, app_secret
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/cgi-bin/"

    def start(self) -> "FakeWeChat":
        """Serve in a daemon thread; returns self."""
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-wechat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeWeChat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a fresh account: no calls, scripts, tokens, menu, tags; knobs cleared."""
        with self._lock:
            self.clock: Callable[[], float] = time.time  # token expiry clock; tests may replace it
            self.calls: list[Call] = []
            self._scripts: dict[str, list] = {}
            self.latency = 0.0
            self.token_ttl = 7200
            self.non_followers: set[str] = set()
            self.outside_window: set[str] = set()
            self.invalid: set[str] = set()
            self.refused: set[str] = set()
            self.followers: set[str] = set()
            self.tokens: dict[str, float] = {}   # token -> expires at (clock seconds)
            self.current_token: str | None = None
            self.menu: dict | None = None
            self.tags: dict[int, dict] = {}
            self.user_tags: dict[str, set[int]] = {}
            self.drafts: dict[str, list] = {}
            self.published: list[str] = []
            self.qrcodes: dict[str, dict] = {}
            self.sent: list[Call] = []           # successful sends (custom, template, mass ...)
            self.clientmsgids: dict[str, int] = {}
            self.mass_jobs: dict[int, str] = {}     # msg_id -> msg_status (mass/get)
            self.template_msgids: dict[str, int] = {}  # "touser|client_msg_id" -> msgid
            self._seq = 1000

    # ------------------------------------------------------------------ test helpers

    def script(self, path: str, answers: list) -> None:
        """The next ``len(answers)`` calls to ``path`` get these answers (see module docstring)."""
        with self._lock:
            self._scripts.setdefault(_norm(path), []).extend(answers)

    def calls_to(self, path: str) -> list[Call]:
        """Calls received for ``path`` (``message/custom/send`` or ``/cgi-bin/...``)."""
        want = _norm(path)
        with self._lock:
            return [c for c in self.calls if c.path == want]

    def count(self, path: str) -> int:
        return len(self.calls_to(path))

    @property
    def token_fetches(self) -> int:
        """How many ``stable_token`` + ``token`` requests arrived."""
        with self._lock:
            return sum(1 for c in self.calls if c.path in ("stable_token", "token"))

    def messages_to(self, openid: str) -> list[Call]:
        """Successful sends addressed to ``openid``."""
        with self._lock:
            return [c for c in self.sent if isinstance(c.json, dict) and c.json.get("touser") == openid]

    def revoke_tokens(self) -> None:
        """Make every issued token unknown (the next API call gets 40001)."""
        with self._lock:
            self.tokens.clear()
            self.current_token = None

    def _next_id(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, bytes, str]:
        """Answer one request: (HTTP status, body bytes, content type)."""
        parts = urlsplit(raw_path)
        path = _norm(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            data = ...
        call = Call(method, path, query, None if data is ... else data)
        with self._lock:
            self.calls.append(call)
            scripted = self._scripts.get(path, []).pop(0) if self._scripts.get(path) else None
            latency = self.latency
        if latency:
            time.sleep(latency)
        late = 0.0
        if isinstance(scripted, dict) and scripted.get("_process"):
            late, scripted = float(scripted.get("_delay", 0) or 0), None
        if scripted is not None:
            return self._scripted(scripted)
        if data is ...:
            return _json({"errcode": 47001, "errmsg": ERRMSG[47001]})
        if path == "showqrcode":
            return 200, b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg"
        endpoint = ENDPOINTS.get(path)
        if endpoint is None:
            return 404, json.dumps({"errcode": 40066, "errmsg": ERRMSG[40066]}).encode(), "application/json"
        try:
            with self._lock:
                if path not in ("token", "stable_token"):
                    self._check_token(query.get("access_token"))
                result = endpoint(self, query, data if isinstance(data, dict) else {})
        except WeChatError as exc:
            result = {"errcode": exc.errcode, "errmsg": ERRMSG.get(exc.errcode, "error"), **exc.extra}
        else:
            if method == "POST" and path in SEND_PATHS and not result.pop("_duplicate", False):
                with self._lock:
                    self.sent.append(call)
        if late:
            time.sleep(late)  # done, but the answer comes after the caller's timeout
        return _json(result)

    def _scripted(self, answer: Any) -> tuple[int, bytes, str]:
        if isinstance(answer, int):
            answer = {"errcode": answer}
        answer = dict(answer)
        delay = float(answer.pop("_delay", 0) or 0)
        if delay:
            time.sleep(delay)
        if "_body" in answer:
            return int(answer.pop("_status", 200)), str(answer["_body"]).encode(), "text/html"
        status = int(answer.pop("_status", 200))
        if "errcode" in answer and "errmsg" not in answer:
            answer["errmsg"] = ERRMSG.get(answer["errcode"], "error")
        return status, json.dumps(answer, ensure_ascii=False).encode(), "application/json"

    # ------------------------------------------------------------------ tokens

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise WeChatError(41001)
        expires = self.tokens.get(token)
        if expires is None:
            raise WeChatError(40001)
        if expires <= self.clock():
            raise WeChatError(42001)

    def _check_credentials(self, grant_type: Any, appid: Any, secret: Any) -> None:
        if grant_type != "client_credential":
            raise WeChatError(40002)
        if appid != self.app_id:
            raise WeChatError(40013)
        if secret != self.app_secret:
            raise WeChatError(40125)

    def _issue(self, force: bool) -> dict:
        now = self.clock()
        current = self.current_token
        if current and not force and self.tokens.get(current, 0) > now:
            return {"access_token": current, "expires_in": int(self.tokens[current] - now)}
        if current and current in self.tokens:
            self.tokens[current] = min(self.tokens[current], now + OLD_TOKEN_GRACE)
        token = "FAKE_" + secrets.token_urlsafe(48)
        self.tokens[token] = now + self.token_ttl
        self.current_token = token
        return {"access_token": token, "expires_in": self.token_ttl}


def _json(result: dict) -> tuple[int, bytes, str]:
    return 200, json.dumps(result, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8"


# ----------------------------------------------------------------------------- endpoints
# Each takes (fake, query, body) under fake._lock and returns the JSON answer or raises WeChatError.

OK = {"errcode": 0, "errmsg": "ok"}


def _stable_token(f: FakeWeChat, q: dict, b: dict) -> dict:
    f._check_credentials(b.get("grant_type"), b.get("appid"), b.get("secret"))
    return f._issue(bool(b.get("force_refresh")))


def _token(f: FakeWeChat, q: dict, b: dict) -> dict:
    f._check_credentials(q.get("grant_type"), q.get("appid"), q.get("secret"))
    return f._issue(True)


def _openid_ok(f: FakeWeChat, openid: Any, *, custom: bool = False, subscribe_msg: bool = False) -> str:
    if not isinstance(openid, str) or not openid or openid in f.invalid:
        raise WeChatError(40003)
    if openid in f.non_followers:
        raise WeChatError(43004)
    if custom and openid in f.outside_window:
        raise WeChatError(45015)
    if subscribe_msg and openid in f.refused:
        raise WeChatError(43101)
    return openid


def _custom_send(f: FakeWeChat, q: dict, b: dict) -> dict:
    _openid_ok(f, b.get("touser"), custom=True)
    msgtype = b.get("msgtype")
    if msgtype not in CUSTOM_MSGTYPES or not isinstance(b.get(msgtype), dict):
        raise WeChatError(47001)
    return dict(OK)


def _template_send(f: FakeWeChat, q: dict, b: dict) -> dict:
    _openid_ok(f, b.get("touser"))
    if not b.get("template_id"):
        raise WeChatError(40037)
    data = b.get("data")
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
        raise WeChatError(47001)
    # client_msg_id (防重入id): the same openid + client_msg_id is sent only once
    key = f"{b['touser']}|{b['client_msg_id']}" if b.get("client_msg_id") else ""
    if key and key in f.template_msgids:
        return {**OK, "msgid": f.template_msgids[key], "_duplicate": True}
    msgid = f._next_id()
    if key:
        f.template_msgids[key] = msgid
    return {**OK, "msgid": msgid}


def _bizsend(f: FakeWeChat, q: dict, b: dict) -> dict:
    _openid_ok(f, b.get("touser"), subscribe_msg=True)
    if not b.get("template_id"):
        raise WeChatError(40037)
    if not isinstance(b.get("data"), dict):
        raise WeChatError(47001)
    return {**OK, "msgid": f._next_id()}


def _check_buttons(buttons: Any) -> None:
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise WeChatError(40016)
    for button in buttons:
        subs = button.get("sub_button")
        if len(str(button.get("name", "")).encode()) not in range(1, 17):
            raise WeChatError(40018)
        if subs:
            if len(subs) > 5:
                raise WeChatError(40023)
            for sub in subs:
                _check_leaf(sub, sub=True)
        else:
            _check_leaf(button, sub=False)


def _check_leaf(b: dict, *, sub: bool) -> None:
    codes = (40024, 40025, 40026, 40027) if sub else (40017, 40018, 40019, 40020)
    if b.get("type") not in BUTTON_TYPES:
        raise WeChatError(codes[0])
    if len(str(b.get("name", "")).encode()) not in range(1, 61 if sub else 17):
        raise WeChatError(codes[1])
    if b["type"] in ("view", "miniprogram"):
        if not 1 <= len(str(b.get("url", "")).encode()) <= 1024:
            raise WeChatError(codes[3])
    elif b["type"] in ("media_id", "view_limited"):
        if not b.get("media_id"):
            raise WeChatError(40007)
    elif b["type"] in ("article_id", "article_view_limited"):
        if not b.get("article_id"):
            raise WeChatError(40097)
    elif not 1 <= len(str(b.get("key", "")).encode()) <= 128:
        raise WeChatError(codes[2])


def _menu_create(f: FakeWeChat, q: dict, b: dict) -> dict:
    _check_buttons(b.get("button"))
    f.menu = {"button": b["button"]}
    return dict(OK)


def _menu_get(f: FakeWeChat, q: dict, b: dict) -> dict:
    if f.menu is None:
        raise WeChatError(46003)
    return {"menu": json.loads(json.dumps(f.menu))}


def _menu_delete(f: FakeWeChat, q: dict, b: dict) -> dict:
    f.menu = None
    return dict(OK)


def _mass_common(f: FakeWeChat, b: dict) -> dict | None:
    msgtype = b.get("msgtype")
    if not msgtype or not isinstance(b.get(msgtype), dict):
        raise WeChatError(47001)
    cid = b.get("clientmsgid")
    if cid and cid in f.clientmsgids:
        raise WeChatError(45065, {"msg_id": f.clientmsgids[cid]})
    return None


def _mass_result(f: FakeWeChat, b: dict, errmsg: str = "send job submission success") -> dict:
    msg_id = f._next_id()
    if b.get("clientmsgid"):
        f.clientmsgids[b["clientmsgid"]] = msg_id
    f.mass_jobs[msg_id] = "SEND_SUCCESS"
    return {"errcode": 0, "errmsg": errmsg, "msg_id": msg_id, "msg_data_id": msg_id}


def _mass_sendall(f: FakeWeChat, q: dict, b: dict) -> dict:
    _mass_common(f, b)
    flt = b.get("filter")
    if not isinstance(flt, dict):
        raise WeChatError(47001)
    if not flt.get("is_to_all") and flt.get("tag_id") not in f.tags:
        raise WeChatError(45159)
    return _mass_result(f, b)


def _mass_send(f: FakeWeChat, q: dict, b: dict) -> dict:
    _mass_common(f, b)
    touser = b.get("touser")
    if not isinstance(touser, list) or len(touser) < 2:
        raise WeChatError(40130)
    for openid in touser:
        if openid in f.invalid:
            raise WeChatError(40003)
    return _mass_result(f, b)


def _mass_preview(f: FakeWeChat, q: dict, b: dict) -> dict:
    _openid_ok(f, b.get("touser"))
    msgtype = b.get("msgtype")
    if not msgtype or not isinstance(b.get(msgtype), dict):
        raise WeChatError(47001)
    return {"errcode": 0, "errmsg": "preview success", "msg_id": f._next_id()}


def _mass_get(f: FakeWeChat, q: dict, b: dict) -> dict:
    """群发接口 - 查询群发消息发送状态: ``msg_status`` SEND_SUCCESS / SENDING / SEND_FAIL /
    DELETE of a mass send. An unknown msg_id gets 40097 (invalid args: the errcode WeChat uses
    for this is not documented; the fake's choice)."""
    try:
        msg_id = int(b.get("msg_id"))
    except (TypeError, ValueError):
        raise WeChatError(40097) from None
    if msg_id not in f.mass_jobs:
        raise WeChatError(40097)
    return {"msg_id": msg_id, "msg_status": f.mass_jobs[msg_id]}


def _draft_add(f: FakeWeChat, q: dict, b: dict) -> dict:
    articles = b.get("articles")
    if not isinstance(articles, list) or not articles:
        raise WeChatError(44003)
    if not all(isinstance(a, dict) and a.get("title") and a.get("content") for a in articles):
        raise WeChatError(44003)
    media_id = f"DRAFT_{f._next_id()}"
    f.drafts[media_id] = articles
    return {"media_id": media_id}


def _publish(f: FakeWeChat, q: dict, b: dict) -> dict:
    if b.get("media_id") not in f.drafts:
        raise WeChatError(40007)
    f.published.append(b["media_id"])
    return {**OK, "publish_id": str(f._next_id())}


def _tag_name(b: dict) -> str:
    name = (b.get("tag") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise WeChatError(45157)
    if len(name.encode()) > 30:
        raise WeChatError(45158)
    return name


def _tag_id(f: FakeWeChat, tag_id: Any, *, modify: bool = False) -> int:
    if modify and tag_id in (0, 1, 2):
        raise WeChatError(45058)
    if tag_id not in f.tags:
        raise WeChatError(45159)
    return tag_id


def _tags_create(f: FakeWeChat, q: dict, b: dict) -> dict:
    name = _tag_name(b)
    if any(t["name"] == name for t in f.tags.values()):
        raise WeChatError(45157)
    if len(f.tags) >= 100:
        raise WeChatError(45056)
    tag_id = max([99, *f.tags]) + 1  # ids 0-2 are WeChat's own; ours start at 100
    f.tags[tag_id] = {"id": tag_id, "name": name}
    return {"tag": {"id": tag_id, "name": name}}


def _tags_get(f: FakeWeChat, q: dict, b: dict) -> dict:
    return {"tags": [{**t, "count": sum(1 for s in f.user_tags.values() if t["id"] in s)}
                     for t in f.tags.values()]}


def _tags_update(f: FakeWeChat, q: dict, b: dict) -> dict:
    tag_id = _tag_id(f, (b.get("tag") or {}).get("id"), modify=True)
    f.tags[tag_id]["name"] = _tag_name(b)
    return dict(OK)


def _tags_delete(f: FakeWeChat, q: dict, b: dict) -> dict:
    tag_id = _tag_id(f, (b.get("tag") or {}).get("id"), modify=True)
    del f.tags[tag_id]
    for tags in f.user_tags.values():
        tags.discard(tag_id)
    return dict(OK)


def _batch(f: FakeWeChat, b: dict, add: bool) -> dict:
    openids = b.get("openid_list")
    if not isinstance(openids, list) or not 1 <= len(openids) <= 50:
        raise WeChatError(40032)
    tag_id = _tag_id(f, b.get("tagid"))
    for openid in openids:
        if not isinstance(openid, str) or openid in f.invalid:
            raise WeChatError(40003)
    for openid in openids:
        tags = f.user_tags.setdefault(openid, set())
        (tags.add if add else tags.discard)(tag_id)
    return dict(OK)


def _getidlist(f: FakeWeChat, q: dict, b: dict) -> dict:
    openid = _openid_ok(f, b.get("openid"))
    return {"tagid_list": sorted(f.user_tags.get(openid, ()))}


def _tag_users(f: FakeWeChat, q: dict, b: dict) -> dict:
    tag_id = _tag_id(f, b.get("tagid"))
    openids = sorted(o for o, tags in f.user_tags.items() if tag_id in tags)
    return {"count": len(openids), "data": {"openid": openids}, "next_openid": openids[-1] if openids else ""}


def _qrcode(f: FakeWeChat, q: dict, b: dict) -> dict:
    action = b.get("action_name")
    scene = ((b.get("action_info") or {}).get("scene") or {})
    if action in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 1 <= len(value) <= 64:
            raise WeChatError(40097)
    elif action in ("QR_SCENE", "QR_LIMIT_SCENE"):
        value = scene.get("scene_id")
        if not isinstance(value, int) or value <= 0:
            raise WeChatError(40097)
    else:
        raise WeChatError(40097)
    ticket = "gQ" + secrets.token_urlsafe(30)
    result: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}"}
    if "LIMIT" not in action:
        expire = int(b.get("expire_seconds") or 60)
        if not 60 <= expire <= 2592000:
            raise WeChatError(40097)
        result["expire_seconds"] = expire
    f.qrcodes[ticket] = {"action_name": action, "scene": value, **result}
    return result


def _user_info(f: FakeWeChat, q: dict, b: dict) -> dict:
    openid = q.get("openid")
    if not openid or openid in f.invalid:
        raise WeChatError(40003)
    if openid in f.non_followers:
        return {"subscribe": 0, "openid": openid, "tagid_list": []}
    return {"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": 1700000000,
            "remark": "", "groupid": 0, "tagid_list": sorted(f.user_tags.get(openid, ())),
            "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 0, "qr_scene_str": ""}


def _user_get(f: FakeWeChat, q: dict, b: dict) -> dict:
    openids = sorted(f.followers)
    return {"total": len(openids), "count": len(openids), "data": {"openid": openids},
            "next_openid": openids[-1] if openids else ""}


ENDPOINTS: dict[str, Callable[[FakeWeChat, dict, dict], dict]] = {
    "stable_token": _stable_token,
    "token": _token,
    "message/custom/send": _custom_send,
    "message/template/send": _template_send,
    "message/subscribe/bizsend": _bizsend,
    "menu/create": _menu_create,
    "menu/get": _menu_get,
    "menu/delete": _menu_delete,
    "message/mass/sendall": _mass_sendall,
    "message/mass/send": _mass_send,
    "message/mass/preview": _mass_preview,
    "message/mass/get": _mass_get,
    "draft/add": _draft_add,
    "freepublish/submit": _publish,
    "tags/create": _tags_create,
    "tags/get": _tags_get,
    "tags/update": _tags_update,
    "tags/delete": _tags_delete,
    "tags/members/batchtagging": lambda f, q, b: _batch(f, b, True),
    "tags/members/batchuntagging": lambda f, q, b: _batch(f, b, False),
    "tags/getidlist": _getidlist,
    "user/tag/get": _tag_users,
    "qrcode/create": _qrcode,
    "user/info": _user_info,
    "user/get": _user_get,
}

#: Paths whose successful calls are recorded in ``FakeWeChat.sent``.
SEND_PATHS = {"message/custom/send", "message/template/send", "message/subscribe/bizsend",
              "message/mass/sendall", "message/mass/send", "message/mass/preview"}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeWeChat
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive answers wait ~40 ms for a delayed ACK

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, ctype = self.owner.handle(method, self.path, body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.fake_wechat --port 9999``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Fake WeChat API server for development")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--app-id", default="wxfake00000000001")
    parser.add_argument("--app-secret", default="fakesecret0123456789abcdef012345")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    fake = FakeWeChat(args.host, args.port, args.app_id, args.app_secret)
    fake.latency = args.latency
    fake.start()
    print(f"fake WeChat API on {fake.base_url}\n  app_id={fake.app_id}\n  app_secret={fake.app_secret}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
