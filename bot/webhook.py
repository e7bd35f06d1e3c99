"""The webhook WeChat calls (``/wechat``): verify → decrypt → parse → de-duplicate → dispatch → reply.

Order at the edge (开发者文档 接入指南, 被动回复用户消息, 消息加解密说明):

1. body larger than 64 KiB → 413, nothing parsed;
2. ``signature`` checked in constant time before any XML is parsed → 403 when bad or missing;
3. safe/compat mode: ``msg_signature`` checked, ``Encrypt`` decrypted with the current or the
   previous EncodingAESKey;
4. fields parsed (defusedxml) into an :class:`~bot.updates.Update`;
5. retries de-duplicated across processes; a retry gets the first try's reply (the claim goes
   to Redis before step 4 when the message's key can be read straight from the text, so Redis
   answers while the XML is parsed);
6. the router runs the handlers in one database transaction;
7. the reply is rendered (and encrypted with the key that worked).

Everything after step 3 that fails — bad XML, unknown MsgType, a handler exception, the
database or Redis down — is logged and answered 200 with ``success`` or a fallback Chinese
sentence. Never a 500 to WeChat. :class:`Webhook` has no Flask in it; ``init_app`` adapts it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import Flask, Response, request

from bot.dedup import UNREAD, Deduplicator, PendingClaim
from bot.protocol import (MAX_BODY_BYTES, AesKey, ProtocolError, SignatureError, check_signature,
                          decrypt_push, encrypt, parse_xml)
from bot.replies import Reply, TextReply, render, split_pages, TEXT_LIMIT_BYTES
from bot.services import Services
from bot.updates import Update, read_ahead, update_from_fields
from handlers import build_router
from handlers.router import Context, Router

log = logging.getLogger(__name__)

SUCCESS = "success"
#: What she sees when something broke on our side (never WeChat's "暂时无法提供服务").
FALLBACK_TEXT = "抱歉，系统刚刚开了个小差，请稍后再试一次。如有急事请拨打县妇联电话；遇到危险请立即拨打110。"


@dataclass
class WebhookResult:
    """What the HTTP layer sends: status code, body and content type."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Webhook:
    """The push pipeline for one account; safe to share between threads."""

    def __init__(self, services: Services, router: Router):
        self.services = services
        self.router = router
        self.token = services.config.wechat["token"]
        app_id = services.config.wechat["app_id"]
        self.aes_keys = [AesKey(k, app_id) for k in services.config.aes_keys()]
        self.dedup = Deduplicator(services.redis, services.keys)
        self.max_clock_skew = int(services.config.wechat.get("max_clock_skew", 600))

    # -- GET: URL verification (接入指南) ------------------------------------------------------
    def verify(self, args) -> WebhookResult:
        """Echo ``echostr`` exactly when the signature is right, else 403."""
        try:
            check_signature(self.token, args.get("signature"), args.get("timestamp"), args.get("nonce"))
        except SignatureError:
            return WebhookResult(403, "forbidden")
        return WebhookResult(200, args.get("echostr", ""))

    # -- POST: a push ------------------------------------------------------------------------
    def handle(self, args, body: bytes) -> WebhookResult:
        """Answer one push. ``args`` are the query parameters, ``body`` the raw bytes (≤ 64 KiB)."""
        timestamp, nonce = args.get("timestamp"), args.get("nonce")
        try:
            check_signature(self.token, args.get("signature"), timestamp, nonce)
        except SignatureError:
            log.warning("push refused: bad or missing signature")
            return WebhookResult(403, "forbidden")
        if self._stale(timestamp):
            log.warning("signed push with a timestamp %s s off ignored (replay?)",
                        self._skew(timestamp))
            return WebhookResult(200, SUCCESS)
        aes = (args.get("encrypt_type") or "raw").lower() == "aes"
        key: AesKey | None = None
        claim: PendingClaim | None = None
        try:
            xml: bytes | str = body
            if aes:
                xml, key = decrypt_push(self.token, self.aes_keys, parse_xml(body),
                                        args.get("msg_signature"), timestamp, nonce)
            claim = self._claim_early(xml)
            update = update_from_fields(parse_xml(xml))
        except SignatureError:
            log.warning("push refused: bad msg_signature")
            return WebhookResult(403, "forbidden")
        except BaseException as exc:
            if claim is not None:
                claim.cancel()  # release the key it took
            if not isinstance(exc, (ProtocolError, ValueError)):
                raise
            log.warning("unreadable push answered success: %s", exc)
            return WebhookResult(200, SUCCESS)

        if claim is None or claim.dedup_key != update.dedup_key():
            if claim is not None:
                claim.cancel()  # the quick read was wrong (an unusual shape)
            peek = self.services.keys("conv", update.openid) if update.is_message else None
            claim = self.dedup.begin(update.dedup_key(), peek=peek)
        first, stored, conversation = claim.result()
        if first:
            xml = self._answer(update, conversation)
            self.dedup.publish(update.dedup_key(), xml)
        else:
            log.debug("retry of %s: same reply", update.kind)
            xml = stored or ""
        if not xml:
            return WebhookResult(200, SUCCESS)
        if key is not None:
            try:
                xml = encrypt(key, self.token, xml, nonce)
            except Exception:  # noqa: BLE001 - never a 500 to WeChat
                log.exception("could not encrypt reply; answering success")
                return WebhookResult(200, SUCCESS)
        return WebhookResult(200, xml, "application/xml; charset=utf-8")

    def _claim_early(self, xml: bytes | str) -> PendingClaim | None:
        """Send the retry claim (and her conversation's GET) before the XML is parsed, when
        the key can be read straight from the text: Redis answers while we parse, and the
        worker does not sit idle waiting for it (the biggest single cost per message)."""
        found = read_ahead(xml)
        if found is None:
            return None
        dedup_key, openid = found
        return self.dedup.begin(dedup_key, peek=self.services.keys("conv", openid))

    @staticmethod
    def _skew(timestamp: str) -> int | None:
        try:
            return int(time.time()) - int(timestamp)
        except (TypeError, ValueError):
            return None

    def _stale(self, timestamp: str) -> bool:
        """True when the signed ``timestamp`` is further from now than ``max_clock_skew`` seconds
        (0 = never): a correctly signed but old push is a replay, answered ``success``."""
        if not self.max_clock_skew:
            return False
        skew = self._skew(timestamp)
        return skew is None or abs(skew) > self.max_clock_skew

    def _answer(self, update: Update, conversation=UNREAD) -> str:
        """Run the handlers; return the rendered reply XML, or ``""`` for no reply.
        ``conversation``: her raw conversation value if the de-dup claim already read it."""
        started = time.perf_counter()
        reply: Reply | None
        try:
            # write_session: every push writes the follower row, and on SQLite a read
            # transaction that later writes fails at once ("database is locked") when another
            # worker wrote in between; BEGIN IMMEDIATE queues it instead. Plain on PostgreSQL.
            # Made only if a handler needs it (most answers come from code and cached tables).
            with self.services.db.on_demand_write_session() as session:
                ctx = Context(update=update, services=self.services, session=session,
                              prefetched_conversation=conversation)
                reply = self.router.dispatch(ctx)
                reply = self._page(ctx, reply)
        except Exception:  # noqa: BLE001 - every failure becomes a polite answer
            log.exception("handler failed for %s", update.kind)
            reply = TextReply(FALLBACK_TEXT) if update.is_message else None
        # No openid here: next to a feature's own log lines it would tie a woman to what she did.
        if log.isEnabledFor(logging.DEBUG):  # one line per message is noise in production
            log.debug("%s answered in %.1f ms", update.kind, (time.perf_counter() - started) * 1000)
        if reply is None:
            return ""
        return render(reply, openid=update.openid, account=update.account
                      or self.services.config.wechat["account"])

    @staticmethod
    def _page(ctx: Context, reply: Reply | None) -> Reply | None:
        """Cut a long text reply into pages: the first now, the rest for 「更多」."""
        if isinstance(reply, TextReply) and len(reply.content.encode("utf-8")) > TEXT_LIMIT_BYTES:
            pages = split_pages(reply.content)
            ctx.set_more(pages[1:])
            return TextReply(pages[0])
        return reply


def init_app(app: Flask, services: Services) -> None:
    """Mount ``/wechat`` (and ``/wechat/``, no redirect) on ``app``."""
    webhook = Webhook(services, build_router())
    app.extensions["taoyuan_webhook"] = webhook

    def view():
        # A plain dict: a MultiDict answers a missing key (encrypt_type in plaintext mode) by
        # raising and catching an HTTP exception inside .get(), a measurable cost per push.
        args = request.args.to_dict()
        if request.method == "GET":
            result = webhook.verify(args)
        else:
            length = request.content_length
            if length is not None and length > MAX_BODY_BYTES:
                return Response("too large", 413)
            body = request.stream.read(MAX_BODY_BYTES + 1)
            if len(body) > MAX_BODY_BYTES:
                return Response("too large", 413)
            try:
                result = webhook.handle(args, body)
            except Exception:  # noqa: BLE001 - never a 500 to WeChat (handle checked the signature)
                log.exception("push failed unexpectedly; answered success")
                result = WebhookResult(200, SUCCESS)
        return Response(result.body, result.status, content_type=result.content_type)

    for rule in ("/wechat", "/wechat/"):
        app.add_url_rule(rule, endpoint="wechat" + ("_slash" if rule.endswith("/") else ""),
                         view_func=view, methods=["GET", "POST"], strict_slashes=False)
