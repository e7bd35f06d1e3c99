"""The WeChat API client (公众号服务端接口): one object per Services, shared by every feature.

A wrapper over wechatpy 1.8.18's ``WeChatClient`` that keeps its API classes (``message``,
``menu``, ``tag``, ``qrcode``, ``user``) but replaces its transport, because that transport has
traps: its token URL ignores ``API_BASE_URL``, its token fetch has no timeout, and a server that
keeps answering 40001 makes it recurse until RecursionError. WeChat's own rules
(「获取 Access token」): a token lives 7200 s, fetching a new one invalidates the old after
5 minutes, and an account has 2000 fetches a day. So:

* the access_token comes from ``POST stable_token`` (WeChat doc: 获取稳定版接口调用凭据), is cached
  in Redis under ``keys("access_token")`` and refreshed under a redis-py Lock, so several processes
  share one token and never invalidate each other's;
* every call, the token fetch included, uses ``wechat.api_base_url`` and ``wechat.timeout`` seconds;
* a token error (40001/40014/42001) causes at most ONE refresh and retry: a loop, never recursion;
* ``-1`` (system busy) is retried with back-off (0.2 s, 0.5 s), then :class:`WeChatBusy`;
* errors are named exceptions (:class:`NotFollower`, :class:`QuotaExceeded`, ...), all
  :class:`WeChatAPIError`, which is also wechatpy's ``WeChatClientException``
  (bot/wechat/errors.py); the shared token is :class:`bot.wechat.token.TokenStore`.

Dry run (``config.dry_run``: no app_secret): no network at all. Every call that would change
something at WeChat (a send, the menu, a tag ...) is written to the ``outbox`` table
(models/outbox.py) and logged with the openid masked and no content; reads get harmless canned
answers. Log lines never contain the app secret, the access_token or message text.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import redis
import requests
from sqlalchemy import select
from wechatpy.client import WeChatClient

from bot.core.logging import MaskingFilter, mask_openid, redact
from bot.wechat.errors import WeChatAPIError, WeChatNetworkError, error_for
from bot.wechat.token import TokenStore

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: errcodes meaning "this access_token is bad": refresh once and retry once.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
#: Sleeps (seconds) between tries when WeChat answers -1 (busy): 3 tries in all.
BUSY_BACKOFF = (0.2, 0.5)
#: Batch tagging takes at most this many openids per call (WeChat doc: 批量为用户打标签).
TAG_BATCH = 50
#: A temporary parametric QR code lives at most 30 days (seconds).
QR_MAX_EXPIRE = 30 * 24 * 3600
DRY_RUN_TOKEN = "dry-run-access-token"


def _install_redaction() -> None:
    for name in ("urllib3.connectionpool", "requests"):
        logger = logging.getLogger(name)
        # urllib3's DEBUG lines print the full URL with its query (the access_token).
        if not any(isinstance(f, MaskingFilter) for f in logger.filters):
            logger.addFilter(MaskingFilter())


# ----------------------------------------------------------------------------- wechatpy bridge

class _Transport(WeChatClient):
    """wechatpy's client with our transport underneath: its API classes build the requests,
    :meth:`WeChatAPI.call` sends them."""

    def __init__(self, api: "WeChatAPI", appid: str, secret: str, timeout: float):
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self._api = api
        self.API_BASE_URL = api.base_url

    @property
    def access_token(self) -> str:  # type: ignore[override]
        return self._api.access_token()

    def fetch_access_token(self) -> dict:
        return {"access_token": self._api._tokens.refresh(None)}

    def _request(self, method, url_or_endpoint, **kwargs):  # noqa: D401 - wechatpy's hook
        return self._api.call(method, url_or_endpoint, **kwargs)


_outbox_session: contextvars.ContextVar["Session | None"] = contextvars.ContextVar(
    "taoyuan_outbox_session", default=None)

#: POST paths that only read: in dry run they get canned answers, not outbox rows.
_READ_POSTS = frozenset({"tags/getidlist", "user/tag/get", "user/info/batchget", "message/mass/get",
                         "freepublish/get", "draft/get"})


#: GET paths that change something: in dry run they are written to the outbox.
_GET_WRITES = frozenset({"menu/delete"})


# ----------------------------------------------------------------------------- the client

class WeChatAPI:
    """The account's server-side API. Build with :meth:`from_services`; thread-safe.

    Every method raises :class:`WeChatAPIError` (a named subclass where one exists) or
    :class:`WeChatNetworkError`; local argument mistakes raise ``ValueError``. Methods that
    send take an optional keyword ``session``: in dry run the outbox row is then added to that
    SQLAlchemy session (committed with the caller's work) instead of a new transaction —
    use it when calling from inside a write transaction on SQLite.
    """

    def __init__(self, *, app_id: str, app_secret: str, base_url: str, timeout: float,
                 redis_client: redis.Redis, token_key: str, services: Any = None,
                 dry_run: bool | None = None, sleep: Callable[[float], None] = time.sleep,
                 outbox_model: Any = None):
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = float(timeout)
        self.dry_run = (not app_secret) if dry_run is None else dry_run
        self._services = services
        self._outbox_model = outbox_model
        self._sleep = sleep
        self._http = requests.Session()
        self._tokens = TokenStore(redis_client, token_key, self._fetch_token,
                                  lock_seconds=self.timeout * 3 + 5)
        self.client = _Transport(self, app_id, app_secret, self.timeout)
        _install_redaction()

    @classmethod
    def from_services(cls, services, *, outbox_model: Any = None) -> "WeChatAPI":
        """The client for ``services.config.wechat`` (app_id, app_secret, api_base_url, timeout).

        ``services``: a :class:`bot.core.services.Services`; this is its ``wechat_factory``.
        ``outbox_model``: the mapped class of the dry-run outbox table (``models.outbox.
        OutboxMessage``, passed in by the wiring layer, :func:`bot.app.wire_services`, as this
        layer imports no model); without it dry-run calls are only logged."""
        cfg = services.config.wechat
        return cls(app_id=cfg["app_id"], app_secret=cfg.get("app_secret", ""),
                   base_url=cfg["api_base_url"], timeout=cfg["timeout"],
                   redis_client=services.redis, token_key=services.keys("access_token"),
                   services=services, dry_run=services.config.dry_run, outbox_model=outbox_model)

    def __repr__(self) -> str:  # never show the secret
        return f"<WeChatAPI {self.app_id} {'dry-run' if self.dry_run else self.base_url}>"

    # ------------------------------------------------------------------ transport

    def access_token(self) -> str:
        """The shared access_token (WeChat doc: 获取稳定版接口调用凭据). Dry run: a placeholder."""
        if self.dry_run:
            return DRY_RUN_TOKEN
        return self._tokens.get()

    def _fetch_token(self, force_refresh: bool) -> tuple[str, int]:
        """``POST stable_token``; returns (access_token, expires_in seconds)."""
        body = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret,
                "force_refresh": bool(force_refresh)}
        log.info("fetching access_token (force_refresh=%s)", bool(force_refresh))
        result = self._busy_retry("stable_token", lambda: self._send("POST", "stable_token", {}, body))
        token = result.get("access_token")
        if not token:
            raise WeChatAPIError(result.get("errcode"), "stable_token answered no access_token", "stable_token")
        return token, int(result.get("expires_in", 7200))

    def call(self, method: str, endpoint: str, *, params: dict | None = None, data: Any = None,
             result_processor: Callable[[dict], Any] | None = None, api_base_url: str | None = None,
             files: Any = None, timeout: float | None = None, **_ignored: Any) -> Any:
        """One API call: ``endpoint`` relative to the base URL (``message/custom/send``).

        ``data`` is the JSON body (dict). Adds the access_token, retries once after a token
        error and up to twice on -1, and returns the decoded JSON (through ``result_processor``).
        In dry run nothing is sent (see the module docstring).
        """
        path = _path_of(endpoint, self.base_url)
        if self.dry_run:
            result = self._dry_run(method.upper(), path, params or {}, data)
            return result_processor(result) if result_processor else result
        token = self._tokens.get()
        token_retried = False
        busy = 0
        while True:
            query = dict(params or {})
            query["access_token"] = token
            result = self._send(method.upper(), endpoint, query, data, files=files,
                                base=api_base_url, timeout=timeout)
            errcode = _errcode(result)
            if errcode in TOKEN_ERRCODES and not token_retried:
                token_retried = True
                log.info("%s: access_token rejected (%s), refreshing once", path, errcode)
                token = self._tokens.refresh(token)
                continue
            if errcode == -1 and busy < len(BUSY_BACKOFF):
                self._sleep(BUSY_BACKOFF[busy])
                busy += 1
                continue
            if errcode:
                raise error_for(errcode, str(result.get("errmsg", "")), path, result)
            return result_processor(result) if result_processor else result

    def _busy_retry(self, path: str, attempt: Callable[[], dict]) -> dict:
        for pause in (*BUSY_BACKOFF, None):
            result = attempt()
            errcode = _errcode(result)
            if errcode == -1 and pause is not None:
                self._sleep(pause)
                continue
            if errcode:
                raise error_for(errcode, str(result.get("errmsg", "")), path, result)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, endpoint: str, query: dict, data: Any, *, files: Any = None,
              base: str | None = None, timeout: float | None = None) -> dict:
        """One HTTP request; returns the decoded JSON dict. Network trouble -> WeChatNetworkError."""
        url = endpoint if endpoint.startswith(("http://", "https://")) else (base or self.base_url) + endpoint
        path = _path_of(endpoint, self.base_url)
        body = None
        headers = {}
        if isinstance(data, (dict, list)):
            body = json.dumps(data, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        elif data is not None:
            body = data
        try:
            res = self._http.request(method, url, params=query, data=body, files=files,
                                     headers=headers, timeout=timeout or self.timeout)
        except requests.RequestException as exc:
            raise WeChatNetworkError(None, f"{type(exc).__name__}: {redact(str(exc))}", path) from None
        if res.status_code != 200:
            raise WeChatNetworkError(None, f"HTTP {res.status_code}", path)
        try:
            result = json.loads(res.content.decode("utf-8", "replace"), strict=False)
        except ValueError:
            raise WeChatNetworkError(None, "answer is not JSON", path) from None
        if not isinstance(result, dict):
            raise WeChatNetworkError(None, "answer is not a JSON object", path)
        return result

    # ------------------------------------------------------------------ dry run

    @contextlib.contextmanager
    def _outbox(self, session: "Session | None") -> Iterator[None]:
        token = _outbox_session.set(session)
        try:
            yield
        finally:
            _outbox_session.reset(token)

    def _dry_run(self, method: str, path: str, params: dict, data: Any) -> dict:
        if (method == "GET" and path not in _GET_WRITES) or path in _READ_POSTS:
            return self._canned_read(path, params, data if isinstance(data, dict) else {})
        payload = data if isinstance(data, (dict, list)) else {}
        if isinstance(payload, dict) and payload.get("clientmsgid") and path.startswith("message/mass/send"):
            earlier = self._outbox_with(path, json.dumps({"clientmsgid": payload["clientmsgid"]},
                                                          ensure_ascii=False)[1:-1])
            if earlier is not None:  # WeChat would answer 45065 with the first msg_id
                return _canned_write(path, earlier, payload)
        openid = _openid_of(payload, params)
        outbox_id = self._write_outbox(path, openid, payload)
        return _canned_write(path, outbox_id, payload)

    def _write_outbox(self, path: str, openid: str | None, payload: Any) -> int:
        if self._outbox_model is None:
            log.info("dry run: %s to %s (%s), no outbox table", path, mask_openid(openid),
                     _summary(payload))
            return 0
        row = self._outbox_model(api=path, openid=openid,
                                 payload=json.dumps(payload, ensure_ascii=False))
        session = _outbox_session.get()
        if session is not None:
            session.add(row)
            session.flush()
        elif self._services is not None:
            with self._services.db.session() as s:
                s.add(row)
                s.flush()
        else:
            row.id = 0
        log.info("dry run: %s to %s (%s) -> outbox #%s", path, mask_openid(openid),
                 _summary(payload), row.id)
        return int(row.id or 0)

    def _outbox_with(self, path: str, fragment: str) -> int | None:
        """Id of an earlier outbox row for ``path`` whose payload contains ``fragment``."""
        if self._services is None or self._outbox_model is None:
            return None
        outbox = self._outbox_model
        query = (select(outbox.id).where(outbox.api == path,
                                         outbox.payload.contains(fragment, autoescape=True))
                 .order_by(outbox.id).limit(1))
        session = _outbox_session.get()
        if session is not None:
            return session.scalar(query)
        with self._services.db.session() as s:
            return s.scalar(query)

    def _canned_read(self, path: str, params: dict, data: dict) -> dict:
        if path == "menu/get":
            menu = self._last_outbox_payload("menu/create")
            if menu is None:
                return _raise(46003, "menu no exist", path)
            return {"menu": menu}
        if path == "user/info":
            return {"subscribe": 1, "openid": params.get("openid", ""), "language": "zh_CN",
                    "subscribe_time": int(time.time()), "remark": "", "tagid_list": []}
        canned = {
            "tags/get": {"tags": []},
            "tags/getidlist": {"tagid_list": []},
            "user/tag/get": {"count": 0, "data": {"openid": []}, "next_openid": ""},
            "user/get": {"total": 0, "count": 0, "data": {"openid": []}, "next_openid": ""},
            "message/mass/get": {"msg_id": data.get("msg_id"), "msg_status": "SEND_SUCCESS"},
        }
        return canned.get(path, {"errcode": 0, "errmsg": "ok"})

    def _last_outbox_payload(self, path: str) -> Any:
        if self._services is None or self._outbox_model is None:
            return None
        outbox = self._outbox_model
        with self._services.db.session() as s:
            row = s.scalars(select(outbox).where(outbox.api == path)
                            .order_by(outbox.id.desc()).limit(1)).first()
            return json.loads(row.payload) if row else None

    # ------------------------------------------------------------------ 客服消息, 模板消息, 订阅通知

    def send_text(self, openid: str, text: str, *, session: "Session | None" = None) -> dict:
        """Send a text 客服消息 (WeChat doc: 客服消息 - 发送消息). Only within 48 h of her last
        message: else :class:`OutsideServiceWindow`; :class:`NotFollower`, :class:`InvalidOpenid`."""
        with self._outbox(session):
            return self.client.message.send_text(openid, text)

    def send_news(self, openid: str, title: str, description: str, url: str, pic_url: str | None = None,
                  *, session: "Session | None" = None) -> dict:
        """Send one 图文 (news) 客服消息 linking to ``url``; same errors as :meth:`send_text`."""
        article = {"title": title, "description": description, "url": url, "picurl": pic_url or ""}
        with self._outbox(session):
            return self.client.message.send_articles(openid, [article])

    def send_template(self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None,
                      client_msg_id: str | None = None, *, session: "Session | None" = None) -> int:
        """Send a 模板消息 (WeChat doc: 模板消息接口 - 发送模板消息); returns WeChat's msgid.

        ``data`` maps field keys to values (``{"thing1": "爱心义剪"}``), rendered as
        ``{key: {"value": ...}}``; a value that is already a dict is passed as it is. WeChat shows
        at most 20 characters of a field. ``client_msg_id`` makes a retry idempotent.
        Raises :class:`NotFollower` (43004), :class:`InvalidOpenid` (40003), :class:`QuotaExceeded`.
        """
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _render_data(data)}
        if url:
            body["url"] = url
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        with self._outbox(session):
            result = self.client.post("message/template/send", data=body)
        return int(result.get("msgid", 0))

    def send_subscribe(self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None,
                       *, session: "Session | None" = None) -> dict:
        """Send a 订阅通知 (WeChat doc: 订阅通知 - 发送订阅通知, ``message/subscribe/bizsend``).

        ``data`` as in :meth:`send_template`; ``page`` is a web URL to open. Raises
        :class:`SubscriptionRefused` (43101) when she has not accepted the template.
        """
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _render_data(data)}
        if page:
            body["page"] = page
        with self._outbox(session):
            return self.client.post("message/subscribe/bizsend", data=body)

    # ------------------------------------------------------------------ 自定义菜单

    def create_menu(self, menu: dict, *, session: "Session | None" = None) -> dict:
        """Replace the custom menu (WeChat doc: 自定义菜单 - 创建接口). ``menu`` = ``{"button": [...]}``;
        validate it first with :func:`bot.wechat.menu.validate_menu`."""
        with self._outbox(session):
            return self.client.menu.create(menu)

    def get_menu(self) -> dict | None:
        """The menu as WeChat has it (``{"menu": {"button": [...]}, ...}``), or None if none is set.
        Dry run: the last menu written to the outbox."""
        try:
            return self.call("GET", "menu/get")
        except WeChatAPIError as exc:
            if exc.errcode == 46003:
                return None
            raise

    def delete_menu(self, *, session: "Session | None" = None) -> dict:
        """Remove the custom menu (WeChat doc: 自定义菜单 - 删除接口)."""
        with self._outbox(session):
            return self.call("GET", "menu/delete")

    # ------------------------------------------------------------------ 群发

    def mass_send_all(self, msgtype: str, content_or_media: str, tag_id: int | None = None,
                      clientmsgid: str | None = None, *, send_ignore_reprint: bool = False,
                      session: "Session | None" = None) -> int:
        """群发 to every follower, or to those with ``tag_id`` (WeChat doc: 群发接口 - 根据标签群发).

        ``msgtype``: ``text`` (content) or ``mpnews``/``image``/``voice``/``mpvideo`` (media_id).
        ``clientmsgid`` makes it idempotent: a repeat returns the first send's msg_id.
        Returns msg_id. A follower receives at most 4 mass sends a month.
        """
        body = _mass_body(msgtype, content_or_media, clientmsgid, send_ignore_reprint)
        body["filter"] = {"is_to_all": tag_id is None} if tag_id is None else {"is_to_all": False, "tag_id": tag_id}
        return self._mass("message/mass/sendall", body, session)

    def mass_send_openids(self, openids: list[str], msgtype: str, content_or_media: str,
                          clientmsgid: str | None = None, *, send_ignore_reprint: bool = False,
                          session: "Session | None" = None) -> int:
        """群发 to a list of 2..10000 openids (WeChat doc: 群发接口 - 根据OpenID列表群发); returns msg_id."""
        openids = list(dict.fromkeys(openids))
        if not 2 <= len(openids) <= 10000:
            raise ValueError("mass_send_openids needs 2 to 10000 distinct openids (WeChat's rule)")
        body = _mass_body(msgtype, content_or_media, clientmsgid, send_ignore_reprint)
        body["touser"] = openids
        return self._mass("message/mass/send", body, session)

    def mass_preview(self, openid: str, msgtype: str, content_or_media: str,
                     *, session: "Session | None" = None) -> int:
        """Preview a mass send on one follower's phone (WeChat doc: 群发接口 - 预览接口)."""
        body = _mass_body(msgtype, content_or_media, None, False)
        body.pop("send_ignore_reprint", None)
        body["touser"] = openid
        return self._mass("message/mass/preview", body, session)

    def mass_status(self, msg_id: int) -> dict:
        """``{"msg_id", "msg_status"}`` of a mass send (WeChat doc: 群发接口 - 查询群发消息发送状态)."""
        return self.call("POST", "message/mass/get", data={"msg_id": msg_id})

    def _mass(self, path: str, body: dict, session: "Session | None") -> int:
        try:
            with self._outbox(session):
                result = self.call("POST", path, data=body)
        except WeChatAPIError as exc:
            first = exc.result.get("msg_id") or exc.result.get("msgid")
            if exc.errcode == 45065 and first:  # same clientmsgid: already sent, WeChat names it
                return int(first)
            raise
        return int(result.get("msg_id", 0))

    # ------------------------------------------------------------------ 草稿箱, 发布

    def draft_add(self, articles: list[dict], *, session: "Session | None" = None) -> str:
        """Add a draft (WeChat doc: 草稿箱 - 新建草稿); ``articles`` are dicts with title, content,
        thumb_media_id, author, digest ... Returns the draft's media_id."""
        with self._outbox(session):
            return str(self.call("POST", "draft/add", data={"articles": articles})["media_id"])

    def publish(self, media_id: str, *, session: "Session | None" = None) -> str:
        """Publish a draft (WeChat doc: 发布能力 - 发布接口, ``freepublish/submit``); returns publish_id.
        The result arrives later as the PUBLISHJOBFINISH event."""
        with self._outbox(session):
            return str(self.call("POST", "freepublish/submit", data={"media_id": media_id})["publish_id"])

    # ------------------------------------------------------------------ 标签

    def create_tag(self, name: str, *, session: "Session | None" = None) -> int:
        """Create a user tag (≤ 30 bytes; ≤ 100 tags per account); returns its id."""
        with self._outbox(session):
            return int(self.client.tag.create(name)["id"])

    def get_tags(self) -> list[dict]:
        """Every tag: ``[{"id", "name", "count"}]``."""
        return self.client.tag.get()

    def update_tag(self, tag_id: int, name: str, *, session: "Session | None" = None) -> dict:
        """Rename a tag."""
        with self._outbox(session):
            return self.client.tag.update(tag_id, name)

    def delete_tag(self, tag_id: int, *, session: "Session | None" = None) -> dict:
        """Delete a tag (WeChat removes it from its followers)."""
        with self._outbox(session):
            return self.client.tag.delete(tag_id)

    def batch_tag(self, tag_id: int, openids: Iterable[str], *, session: "Session | None" = None) -> int:
        """Put ``tag_id`` on every openid, 50 per call (WeChat doc: 批量为用户打标签); returns the count."""
        return self._batch("tags/members/batchtagging", tag_id, openids, session)

    def batch_untag(self, tag_id: int, openids: Iterable[str], *, session: "Session | None" = None) -> int:
        """Remove ``tag_id`` from every openid, 50 per call; returns the count."""
        return self._batch("tags/members/batchuntagging", tag_id, openids, session)

    def _batch(self, path: str, tag_id: int, openids: Iterable[str], session) -> int:
        openids = list(dict.fromkeys(openids))
        with self._outbox(session):
            for start in range(0, len(openids), TAG_BATCH):
                self.call("POST", path, data={"openid_list": openids[start:start + TAG_BATCH], "tagid": tag_id})
        return len(openids)

    def user_tags(self, openid: str) -> list[int]:
        """The tag ids on one follower."""
        return list(self.call("POST", "tags/getidlist", data={"openid": openid}).get("tagid_list", []))

    # ------------------------------------------------------------------ 二维码, 用户

    def create_qrcode(self, scene_str: str, expire_seconds: int | None = None,
                      *, session: "Session | None" = None) -> dict:
        """A parametric QR code (WeChat doc: 生成带参数的二维码) for ``scene_str`` (1-64 chars).

        ``expire_seconds`` None = permanent (≤ 100,000 per account); else temporary, at most
        30 days. Returns ``{"ticket", "url" (the code's content), "expire_seconds",
        "show_url" (the image)}``. Followers who scan it send subscribe/SCAN with this scene.
        """
        if not 1 <= len(scene_str) <= 64:
            raise ValueError("scene_str must be 1 to 64 characters")
        if expire_seconds is None:
            body: dict[str, Any] = {"action_name": "QR_LIMIT_STR_SCENE"}
        else:
            if not 60 <= expire_seconds <= QR_MAX_EXPIRE:
                raise ValueError("expire_seconds must be between 60 and 2592000 (30 days)")
            body = {"action_name": "QR_STR_SCENE", "expire_seconds": int(expire_seconds)}
        body["action_info"] = {"scene": {"scene_str": scene_str}}
        with self._outbox(session):
            result = dict(self.client.qrcode.create(body))
        result["show_url"] = self.client.qrcode.get_url(result["ticket"])
        return result

    def user_info(self, openid: str) -> dict:
        """Basic information of one follower (WeChat doc: 获取用户基本信息): ``subscribe`` (0/1),
        ``subscribe_time``, ``tagid_list``, ``qr_scene_str`` ... Raises :class:`InvalidOpenid`."""
        return self.client.user.get(openid)

    def followers(self, next_openid: str | None = None) -> dict:
        """One page (≤ 10,000) of follower openids: ``{"total", "count", "data": {"openid": [...]},
        "next_openid"}`` (WeChat doc: 获取用户列表)."""
        return self.client.user.get_followers(next_openid)


# ----------------------------------------------------------------------------- helpers

def _errcode(result: dict) -> int:
    try:
        return int(result.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        return -1


def _raise(errcode: int, errmsg: str, path: str):
    raise error_for(errcode, errmsg, path)


def _path_of(endpoint: str, base: str) -> str:
    """``message/custom/send`` for an endpoint or full URL (query dropped)."""
    path = endpoint.split("?", 1)[0]
    if path.startswith(base):
        path = path[len(base):]
    elif "/cgi-bin/" in path:
        path = path.split("/cgi-bin/", 1)[1]
    return path.strip("/")


def _render_data(data: dict[str, Any]) -> dict[str, dict]:
    return {k: (v if isinstance(v, dict) else {"value": "" if v is None else str(v)}) for k, v in data.items()}


_MEDIA_TYPES = {"mpnews", "image", "voice", "mpvideo", "wxcard"}


def _mass_body(msgtype: str, content: str, clientmsgid: str | None, ignore_reprint: bool) -> dict:
    if msgtype == "text":
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": content}}
    elif msgtype in _MEDIA_TYPES:
        key = "card_id" if msgtype == "wxcard" else "media_id"
        body = {"msgtype": msgtype, msgtype: {key: content}}
    else:
        raise ValueError(f"unsupported mass msgtype {msgtype!r}")
    body["send_ignore_reprint"] = 1 if ignore_reprint else 0
    if clientmsgid:
        if len(clientmsgid) > 64:
            raise ValueError("clientmsgid must be at most 64 characters")
        body["clientmsgid"] = clientmsgid
    return body


def _openid_of(payload: Any, params: dict) -> str | None:
    touser = payload.get("touser") if isinstance(payload, dict) else None
    if isinstance(touser, str):
        return touser[:64]
    if isinstance(payload, dict) and isinstance(payload.get("openid"), str):
        return payload["openid"][:64]
    return params.get("openid")


def _summary(payload: Any) -> str:
    """What a log line may say about a payload: its type and sizes, never its text."""
    if not isinstance(payload, dict):
        return "no body"
    parts = []
    if "msgtype" in payload:
        parts.append(str(payload["msgtype"]))
        text = payload.get("text", {}).get("content") if isinstance(payload.get("text"), dict) else None
        if text is not None:
            parts.append(f"{len(text)} chars")
    if "template_id" in payload:
        parts.append(f"template {payload['template_id']}")
    if isinstance(payload.get("touser"), list):
        parts.append(f"{len(payload['touser'])} openids")
    if isinstance(payload.get("openid_list"), list):
        parts.append(f"{len(payload['openid_list'])} openids")
    if "button" in payload:
        parts.append(f"{len(payload['button'])} buttons")
    return ", ".join(parts) or "payload"


def _canned_write(path: str, outbox_id: int, payload: Any) -> dict:
    result: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
    if path == "message/template/send" or path == "message/subscribe/bizsend":
        result["msgid"] = outbox_id
    elif path.startswith("message/mass/"):
        result.update(msg_id=outbox_id, msg_data_id=outbox_id)
    elif path == "tags/create":
        name = payload.get("tag", {}).get("name", "") if isinstance(payload, dict) else ""
        result["tag"] = {"id": 100 + outbox_id, "name": name}
    elif path == "qrcode/create":
        ticket = f"dry-run-ticket-{outbox_id}"
        result.update(ticket=ticket, url=f"http://weixin.qq.com/q/dry-run-{outbox_id}",
                      expire_seconds=payload.get("expire_seconds", 0) if isinstance(payload, dict) else 0)
    elif path == "draft/add":
        result["media_id"] = f"dry-run-media-{outbox_id}"
    elif path == "freepublish/submit":
        result["publish_id"] = f"dry-run-publish-{outbox_id}"
    return result
