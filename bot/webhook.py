"""The webhook WeChat calls (``/wechat``): verify → decrypt → parse → de-duplicate → dispatch → reply.

Order at the edge (开发者文档 接入指南, 被动回复用户消息, 消息加解密说明):

1. body larger than 64 KiB → 413, nothing parsed;
2. ``signature`` checked in constant time before any XML is parsed → 403 when bad or missing;
   a timestamp further than ``max_clock_skew`` from our clock → ``success``, nothing done
   (:class:`ClockWatch` notices when that is our clock's fault);
3. ``wechat.encryption`` (消息加解密方式): safe mode refuses a plaintext push (403); an
   encrypted push has ``msg_signature`` checked and ``Encrypt`` decrypted with the current or
   the previous EncodingAESKey (only the decrypted copy is used, in compat mode too);
4. fields parsed (defusedxml) into an :class:`~bot.wechat.updates.Update`;
5. retries de-duplicated across processes for as long as the push could be replayed; a retry
   gets the first try's reply (the claim goes to Redis before step 4 when the message's key can
   be read straight from the text, so Redis answers while the XML is parsed). ``signature``
   covers only token, timestamp and nonce, so the same round trip remembers every push's
   (timestamp, nonce) with a digest of its raw body, an encrypted push's too (compat mode
   would otherwise take its URL with a plaintext body): the same URL with another body → 403;
6. the router runs the handlers in one database transaction, in a worker thread, within the
   reply budget (``wechat.reply_budget``, 4.3 s from the push's arrival): an answer not ready by
   then is not given passively — that try answers ``success`` and the answer goes as a 客服消息
   when it is ready (a stored notice when WeChat refuses it). One delivery only: the first try's
   process decides passive-or-客服 under one lock, and a retry finds ``success`` stored first;
   her conversation state is written only after the transaction commits;
7. the reply is rendered (and encrypted with the key that worked).

Why ``success`` and not an interim 「正在处理，请稍等」 on a late try: a passive text would be a
second message about one question (never a passive reply *and* a 客服消息); the real answer
follows within seconds as a 客服消息 (she has just written: inside the 48-hour window).

Everything after step 3 that fails — bad XML, unknown MsgType, a handler exception, the
database or Redis down — is logged and answered 200 with ``success`` or a fallback Chinese
sentence. Never a 500 to WeChat. :class:`Webhook` has no Flask in it; ``init_app`` adapts it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask, Response, request

from bot.core.db import DatabaseUnavailable, wrote_effects
from bot.wechat.dedup import UNREAD, Deduplicator, PendingClaim, read_ahead
from bot.wechat.protocol import (MAX_BODY_BYTES, AesKey, ProtocolError, SignatureError, check_signature,
                          decrypt_push, encrypt, parse_xml)
from bot.wechat.replies import NewsReply, Reply, TextReply, render, split_pages, TEXT_LIMIT_BYTES
from bot.core.logging import mask_openid
from bot.core.services import Services
from bot.wechat.errors import WeChatAPIError, WeChatNetworkError
from bot.wechat.updates import Update, update_from_fields
from handlers import build_router
from handlers.router import Context, Router

log = logging.getLogger(__name__)

SUCCESS = "success"
#: What she sees when something broke on our side (never WeChat's "暂时无法提供服务").
FALLBACK_TEXT = "抱歉，系统刚刚开了个小差，请稍后再试一次。如有急事请拨打县妇联电话；遇到危险请立即拨打110。"
#: Events she made by tapping or scanning: when their handler fails she gets
#: :data:`FALLBACK_TEXT`, not silence (a LOCATION report, a VIEW or a send report gets none).
ANSWERED_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_waitmsg", "location_select",
                             "pic_sysphoto", "pic_photo_or_album", "pic_weixin"})
#: Notice kind of an answer that missed its passive reply and could not go as a 客服消息.
KIND_LATE_REPLY = "late_reply"
#: Handler threads per process (answers still running after their budget included).
ANSWER_THREADS = 16
#: Seconds a first try waits for its handlers before its claim's lease is renewed: most runs
#: end long before, and need no renewal at all. Under the first renewal due
#: (``bot.wechat.dedup.RENEW_SECONDS``), well inside the lease (``LEASE_SECONDS``).
HOLD_AFTER_SECONDS = 1.0


class _Answering:
    """One first try's handlers running in a worker thread: who delivers the answer is decided
    under ``lock`` — the request thread while it still waits (passive reply), else the worker
    (a 客服消息, ``late``). ``done`` is a lock held until the worker has the reply (a bare
    lock: waiting on it is one C call, where an Event is a Condition in Python)."""

    __slots__ = ("lock", "done", "reply", "late", "finished")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Lock()
        self.done.acquire()
        self.reply: Reply | None = None
        self.late = False
        self.finished = False


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
        self.safe = services.config.encryption == "safe"
        self.clock = ClockWatch(services, self.max_clock_skew)
        #: Seconds from a push's arrival to its passive reply (0: no budget, run inline).
        self.budget = float(services.config.wechat.get("reply_budget", 4.3))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()

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
        """Answer one push. ``args`` are the query parameters, ``body`` the raw bytes (≤ 64 KiB).
        Returns within the reply budget (plus the edge checks), whatever the handlers do."""
        arrived = time.monotonic()
        timestamp, nonce = args.get("timestamp"), args.get("nonce")
        try:
            check_signature(self.token, args.get("signature"), timestamp, nonce)
        except SignatureError:
            log.warning("push refused: bad or missing signature")
            return WebhookResult(403, "forbidden")
        skew = self._skew(timestamp)
        if skew is None or abs(skew) > self.max_clock_skew:
            log.warning("signed push with a timestamp %s s off ignored (replay?)", skew)
            self.clock.stale(skew, timestamp, nonce)
            return WebhookResult(200, SUCCESS)
        self.clock.fresh_at = time.monotonic()
        # Seconds this signed URL stays acceptable: the retry memory must last as long.
        ttl = self.max_clock_skew - skew + 1
        aes = (args.get("encrypt_type") or "raw").lower() == "aes"
        if not aes and self.safe:
            log.warning("plaintext push refused: wechat.encryption is safe")
            return WebhookResult(403, "forbidden")
        # Every push's signed URL is bound to its raw body here, an encrypted one's too: in
        # compat mode the URL of an encrypted push, minus ``encrypt_type=aes``, would otherwise
        # carry a forged plaintext body (``signature`` covers only token/timestamp/nonce).
        # WeChat's retry is the same URL with the same body: still a retry.
        signed = (timestamp, nonce, hashlib.blake2b(body, digest_size=12).hexdigest())
        key: AesKey | None = None
        claim: PendingClaim | None = None
        try:
            xml: bytes | str = body
            if aes:
                xml, key = decrypt_push(self.token, self.aes_keys, parse_xml(body),
                                        args.get("msg_signature"), timestamp, nonce)
            claim = self._claim_early(xml, ttl, signed)
            update = update_from_fields(parse_xml(xml))
        except SignatureError:
            log.warning("push refused: bad msg_signature")
            return WebhookResult(403, "forbidden")
        except BaseException as exc:
            if claim is not None:
                claim.cancel()  # release the key it took (the signed URL stays remembered)
            if not isinstance(exc, (ProtocolError, ValueError)):
                raise
            if claim is None:  # its URL is spent all the same: not reusable with another body
                self.dedup.remember_url(signed, ttl)
            log.warning("unreadable push answered success: %s", exc)
            return WebhookResult(200, SUCCESS)

        if claim is None or claim.dedup_key != update.dedup_key():
            if claim is not None:
                claim.cancel()  # the quick read was wrong (an unusual shape)
            peek = self.services.keys("conv", update.openid) if update.is_message else None
            claim = self.dedup.begin(update.dedup_key(), peek=peek, ttl=ttl, signed=signed)
        first, stored, conversation, reused, token, taken_over = claim.result(
            deadline=arrived + self.budget if self.budget > 0 else None)
        if reused:
            log.warning("push refused: its signed URL was used before with another body")
            return WebhookResult(403, "forbidden")
        committed = self._committed_reply(update) if taken_over else None
        if committed is not None:  # the dead worker committed it: its reply, not a second run
            xml = committed
            self.dedup.publish(update.dedup_key(), xml, ttl)
        elif first:
            xml = self._answer_in_time(update, conversation, token, ttl, arrived)
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

    def _claim_early(self, xml: bytes | str, ttl: int,
                     signed: tuple[str, str, str] | None) -> PendingClaim | None:
        """Send the retry claim (her conversation's GET, the signed-URL check) before the XML
        is parsed, when the key can be read straight from the text: Redis answers while we
        parse, and the worker does not sit idle waiting for it (the biggest single cost per
        message)."""
        found = read_ahead(xml)
        if found is None:
            return None
        dedup_key, openid = found
        return self.dedup.begin(dedup_key, peek=self.services.keys("conv", openid), ttl=ttl,
                                signed=signed)

    @staticmethod
    def _skew(timestamp: str) -> int | None:
        """Our clock minus the signed ``timestamp``, in seconds (None if not a number). A
        correctly signed push further off than ``max_clock_skew`` (30..3600 s) is a replay,
        or our clock is wrong: answered ``success``, not handled."""
        try:
            return int(time.time()) - int(timestamp)
        except (TypeError, ValueError):
            return None

    def _answer_in_time(self, update: Update, conversation, token: str, ttl: int,
                        arrived: float) -> str:
        """The first try: run the handlers in a worker thread and wait for them until the
        budget (``arrived`` + :attr:`budget`, monotonic seconds) ends. Returns the reply XML
        (published for retries), or ``""`` (``success``) when it was not ready: the worker
        then delivers it as a 客服消息 (:meth:`_deliver_late`). The claim's lease is renewed
        while the handlers run (``token``: the claim's, ``""`` without Redis)."""
        dedup_key = update.dedup_key()
        if self.budget <= 0:
            xml = self._render(update, self._run(update, conversation))
            self.dedup.publish(dedup_key, xml, ttl)
            return xml
        job = _Answering()

        def work() -> None:
            reply = None
            try:
                reply = self._run(update, conversation)
            finally:
                with job.lock:
                    job.reply, late = reply, job.late
                    job.finished = True
                job.done.release()
            if late:
                self._deliver_late(update, reply, ttl)

        try:
            self._answer_pool().submit(work)
        except RuntimeError:  # the pool is shutting down (process exit): answer inline
            xml = self._render(update, self._run(update, conversation))
            self.dedup.publish(dedup_key, xml, ttl)
            return xml
        deadline = arrived + self.budget
        # The lease (6 s) outlives a run that ends within HOLD_AFTER_SECONDS: it is renewed
        # only for a run still going then (before the first renewal would have been due).
        held = False
        if not job.done.acquire(timeout=max(min(deadline, time.monotonic() + HOLD_AFTER_SECONDS)
                                            - time.monotonic(), 0.0)):
            self.dedup.hold(dedup_key, token)
            held = True
            job.done.acquire(timeout=max(deadline - time.monotonic(), 0.0))
        with job.lock:
            if not job.finished:
                job.late = True  # the worker delivers it, and lets the lease go (_deliver_late)
        if job.late:
            log.warning("%s not answered within the reply budget (%.1f s): success now, the "
                        "answer follows as a 客服消息", update.kind, self.budget)
            return ""
        xml = self._render(update, job.reply)
        self.dedup.publish(dedup_key, xml, ttl)
        if held:
            self.dedup.let_go(dedup_key)
        return xml

    def _committed_reply(self, update: Update) -> str | None:
        """The reply a run of ``update`` committed (``models.outbox.HandledMessage``), or None
        (none committed, or the database cannot say: then it runs again)."""
        from models.outbox import handled_reply

        try:
            with self.services.db.session() as session:
                return handled_reply(session, update.dedup_key())
        except Exception:  # noqa: BLE001 - run it; unique constraints still hold
            log.exception("could not check whether a taken-over message was handled")
            return None

    def _answer_pool(self) -> ThreadPoolExecutor:
        """This process's handler threads (made again after a fork)."""
        if self._pool is None or self._pool_pid != os.getpid():
            with self._pool_lock:
                if self._pool is None or self._pool_pid != os.getpid():
                    self._pool = ThreadPoolExecutor(ANSWER_THREADS, thread_name_prefix="answer")
                    self._pool_pid = os.getpid()
        return self._pool

    def _deliver_late(self, update: Update, reply: Reply | None, ttl: int) -> None:
        """Deliver an answer that missed the passive reply: first store ``success`` for
        retries (so none answers it passively or runs it again), then send it as a text
        客服消息 (WeChat doc 客服消息 - 发送消息; she wrote just now, so inside the 48-hour
        window); when WeChat refuses it (45015, 43004 ...) keep it as a notice for later
        (models/notice.py). A timeout may have delivered it: then nothing is stored (told
        once, not twice). Never raises."""
        dedup_key = update.dedup_key()
        try:
            self.dedup.mark_delivered_late(dedup_key, ttl)
        except Exception as exc:  # noqa: BLE001 - deliver anyway (availability first)
            self.dedup.outage(exc)
        finally:
            self.dedup.let_go(dedup_key)
        text = _reply_as_text(reply)
        if not text or not update.openid:
            return
        from models import notice as notices

        try:
            with self.services.db.write_session() as session:  # SQLite: it may write
                route = notices.delivery_route(session, update.openid)
                if route == notices.ROUTE_SKIP:
                    return
                if route == notices.ROUTE_SEND:
                    try:
                        self.services.wechat.send_text(update.openid, text, session=session)
                        log.info("late answer to %s sent as a 客服消息", mask_openid(update.openid))
                        return
                    except WeChatNetworkError as exc:
                        if exc.path == "message/custom/send":  # may have arrived: not twice
                            log.warning("late answer to %s: send uncertain (%s), not repeated",
                                        mask_openid(update.openid), exc)
                            return
                        log.warning("late answer not sent (%s); kept as a notice", exc)
                    except WeChatAPIError as exc:
                        log.info("late answer refused (%s); kept as a notice",
                                 getattr(exc, "errcode", type(exc).__name__))
                notices.queue_notice(session, update.openid, KIND_LATE_REPLY, text)
        except Exception:  # noqa: BLE001 - a background thread: log, never raise
            log.exception("late answer to %s could not be delivered", mask_openid(update.openid))

    def _answer(self, update: Update, conversation=UNREAD) -> str:
        """Run the handlers (in this thread, no budget); return the rendered reply XML, or
        ``""`` for no reply. ``conversation``: her raw conversation value if the de-dup claim
        already read it."""
        return self._render(update, self._run(update, conversation))

    def _render(self, update: Update, reply: Reply | None) -> str:
        """The passive-reply XML of ``reply`` (``""`` for None)."""
        if reply is None:
            return ""
        return render(reply, openid=update.openid, account=update.account
                      or self.services.config.wechat["account"])

    def _run(self, update: Update, conversation=UNREAD) -> Reply | None:
        """Run the handlers in one transaction; return the reply (None = ``success``). Her
        conversation state changes are written to Redis only once that transaction has
        committed (a failed write leaves her at the same step). Never raises."""
        started = time.perf_counter()
        reply: Reply | None
        ctx = None
        try:
            # write_session: every push writes the follower row, and on SQLite a read
            # transaction that later writes fails at once ("database is locked") when another
            # worker wrote in between; BEGIN IMMEDIATE queues it instead. Plain on PostgreSQL.
            # Made only if a handler needs it (most answers come from code and cached tables).
            with self.services.db.on_demand_write_session() as session:
                ctx = Context(update=update, services=self.services, session=session,
                              prefetched_conversation=conversation, defer_conversation=True)
                reply = self.router.dispatch(ctx)
                reply = self._page(ctx, reply)
                # it wrote: its reply commits with its effects (takeovers); not when the
                # database failed and the session was given up (ctx.forget_session), nor
                # when it only read or only touched relaxed rows (running it again is
                # harmless, and its commit then needs no INSERT and no WAL flush)
                if session.opened and session.get().in_transaction() \
                        and wrote_effects(session.get()):
                    from models.outbox import record_handled

                    record_handled(session.get(), update.dedup_key(), self._render(update, reply))
        except DatabaseUnavailable:  # the fail-fast window: FailFastGate logs it once a minute
            log.warning("%s answered with the fallback: database unavailable", update.kind)
            reply = TextReply(FALLBACK_TEXT) if _answered(update) else None
        except Exception:  # noqa: BLE001 - every failure becomes a polite answer
            log.exception("handler failed for %s", update.kind)
            reply = TextReply(FALLBACK_TEXT) if _answered(update) else None
        else:
            ctx.conversation.commit()
        # No openid here: next to a feature's own log lines it would tie a woman to what she did.
        if log.isEnabledFor(logging.DEBUG):  # one line per message is noise in production
            log.debug("%s answered in %.1f ms", update.kind, (time.perf_counter() - started) * 1000)
        return reply

    @staticmethod
    def _page(ctx: Context, reply: Reply | None) -> Reply | None:
        """Cut a long text reply into pages: the first now, the rest for 「更多」."""
        if isinstance(reply, TextReply) and len(reply.content.encode("utf-8")) > TEXT_LIMIT_BYTES:
            pages = split_pages(reply.content)
            ctx.set_more(pages[1:])
            return TextReply(pages[0])
        return reply


def _answered(update: Update) -> bool:
    """Whether a push whose handler failed still gets :data:`FALLBACK_TEXT`."""
    return update.is_message or (update.is_event and update.event in ANSWERED_EVENTS)


def _reply_as_text(reply: Reply | None) -> str:
    """A reply as the text of a 客服消息 (an article as its title, summary and link)."""
    if isinstance(reply, TextReply):
        return reply.content
    if isinstance(reply, NewsReply):
        return "\n".join(x for x in (reply.title, reply.description, reply.url) if x)
    return ""


class ClockWatch:
    """Notices that our clock, not the pushes, is wrong (one per :class:`Webhook`, per process).

    WeChat signs each push's timestamp, and it is our only other clock in the webhook. A wrong
    clock gives every push one constant offset (arrival minus signed timestamp); replays of old
    signed URLs give whatever offsets their ages make, and one URL replayed again is still one
    push. So our clock is taken to be off only when, in the last :attr:`WINDOW` seconds, no
    signed push was inside ``max_clock_skew`` and at least :attr:`MIN_PUSHES` *distinct*
    (timestamp, nonce) pushes were outside it with offsets within :attr:`AGREE_SECONDS` of each
    other; the skew is their median. That is logged at ERROR at most once per :attr:`WINDOW`
    seconds per machine (the worker processes agree through Redis) and kept for ``/healthz``
    (:meth:`skew`) for :attr:`REPORT_SECONDS`, or until a push inside the window arrives. The
    Redis key is per host name and its times are ``time.monotonic()``, which every process on
    one machine shares (the wall clock is the suspect). The database clock comparison in
    ``/healthz`` is separate.
    """

    WINDOW = 60.0
    MIN_PUSHES = 3
    AGREE_SECONDS = 30
    REPORT_SECONDS = 600

    def __init__(self, services: Services, max_clock_skew: int):
        self.services, self.max_clock_skew = services, max_clock_skew
        #: monotonic time of the last push inside the window (the webhook sets it: hot path).
        self.fresh_at = float("-inf")
        #: (monotonic, skew, (timestamp, nonce)) of recent pushes outside the window.
        self._stale: deque[tuple[float, int, tuple[str, str]]] = deque(maxlen=64)
        self._found: tuple[float, int] | None = None  # (monotonic, skew) of the last finding
        self._published_at = self._logged_at = float("-inf")
        self._key = services.keys("clock", socket.gethostname())

    def _agreeing(self, now: float) -> list[int]:
        """The largest group of distinct recent pushes' skews that agree within
        :attr:`AGREE_SECONDS`, sorted ([] when under :attr:`MIN_PUSHES`)."""
        by_url: dict[tuple[str, str], int] = {}
        for at, skew, url in self._stale:
            if at >= now - self.WINDOW:
                by_url.setdefault(url, skew)  # a URL replayed again is still one push
        skews = sorted(by_url.values())
        best: list[int] = []
        start = 0
        for end, value in enumerate(skews):
            while value - skews[start] > self.AGREE_SECONDS:
                start += 1
            if end + 1 - start > len(best):
                best = skews[start:end + 1]
        return best if len(best) >= self.MIN_PUSHES else []

    def stale(self, skew: int | None, timestamp: str = "", nonce: str = "") -> None:
        """Record a signed push ``skew`` seconds off (our clock minus its ``timestamp``; None
        when the timestamp is not a number: ignored), signed with ``nonce``. Never raises."""
        now = time.monotonic()
        if skew is None or self.fresh_at >= now - self.WINDOW:
            return  # genuine pushes are arriving in time: our clock is fine
        self._stale.append((now, skew, (str(timestamp), str(nonce))))
        recent = self._agreeing(now)
        if not recent:
            return
        skew = recent[len(recent) // 2]
        self._found = (now, skew)
        if now - self._published_at < 10:
            return
        self._published_at = now
        try:
            _, first = self.services.redis.pipeline(transaction=False).set(
                self._key, f"{skew} {now:.3f}", ex=self.REPORT_SECONDS).set(
                self._key + ":logged", 1, nx=True, ex=int(self.WINDOW)).execute()
        except Exception:  # noqa: BLE001 - Redis down: this process's own once a minute
            first = now - self._logged_at >= self.WINDOW
        if first:
            self._logged_at = now
            log.error("server clock looks %d s %s WeChat's: the last %d distinct signed pushes "
                      "were all outside max_clock_skew (%d s) by the same amount and ignored; "
                      "fix the time sync (NTP). (If the clock is right, old signed URLs are "
                      "being replayed.)",
                      abs(skew), "ahead of" if skew > 0 else "behind", len(recent),
                      self.max_clock_skew)

    def skew(self) -> int | None:
        """Our clock minus WeChat's, in seconds, when the pushes said it is off (this process's
        finding, else another's from Redis) within :attr:`REPORT_SECONDS` and no push of
        ours arrived in time since; None otherwise. Never raises."""
        now = time.monotonic()

        def current(found: tuple[float, int] | None) -> bool:
            return found is not None and found[0] > self.fresh_at \
                and now - found[0] <= self.REPORT_SECONDS

        if current(self._found):
            return self._found[1]
        try:  # another worker's finding on this machine
            value = self.services.redis.get(self._key)
            skew, at = value.split() if value else ("0", "-inf")
            found = (float(at), int(skew))
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return None
        return found[1] if current(found) else None


def init_app(app: Flask, services: Services) -> None:
    """Mount ``/wechat`` (and ``/wechat/``, no redirect) on ``app``."""
    router = build_router()
    router.start(services)
    webhook = Webhook(services, router)
    app.extensions["taoyuan_webhook"] = webhook
    mount(app, webhook)


def mount(app: Flask, webhook: Webhook, path: str = "/wechat", endpoint: str = "wechat") -> None:
    """Serve ``webhook`` at ``path`` and ``path + "/"`` (no redirect) on ``app``; the endpoint
    names are ``endpoint`` and ``endpoint + "_slash"`` (bench/bench_app.py mounts a second
    webhook, without the intent stage, beside the real one)."""

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

    for rule in (path, path + "/"):
        app.add_url_rule(rule, endpoint=endpoint + ("_slash" if rule.endswith("/") else ""),
                         view_func=view, methods=["GET", "POST"], strict_slashes=False)
