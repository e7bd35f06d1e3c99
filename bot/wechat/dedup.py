"""Retry de-duplication shared by every worker process (被动回复: 消息排重).

WeChat retries a push after 5 s, three tries in all. The first try to arrive claims the key
(``SET NX``) and runs the handlers; the reply it produced is stored under the same key, and a
retry — or a concurrent copy on another worker — waits for it and answers the *same* reply, so
side effects happen once and the woman still sees an answer if the first try was the one that
timed out.

A claim in progress is a *lease* (:data:`LEASE_SECONDS`), renewed every
:data:`RENEW_SECONDS` by :class:`Leases` while the handlers run: a worker killed mid-request
stops renewing, its claim expires within seconds, and WeChat's next retry takes the key over
and runs the message itself (side effects are idempotent per MsgId). A retry that finds the
claim alive waits for the reply until its own reply budget ends (``deadline=``).

A reply, once stored, is kept as long as the push that made it can be replayed (``max_clock_skew``, 10 minutes
by default; the caller passes that ``ttl``), plus :data:`KEY_TTL` for retries signed later. With it, a push (whose
``signature`` covers only token, timestamp and nonce, encrypted or not) can bind its signed URL
to its raw body (``signed=``): the same URL again with the same body is a retry, with another body a forgery.
"""
from __future__ import annotations

import logging
import re
import os
import secrets
import threading
import time

from typing import NamedTuple

import redis

from bot.core.kv import UNREAD, HotPath, Keys, Sent
from bot.wechat.updates import MESSAGE_TYPES

log = logging.getLogger(__name__)

# -- the key read ahead: a message's de-dup key straight from the XML text ---------------------
_HEAD = (r"\s*<xml>\s*<ToUserName><!\[CDATA\[[^\]<]{0,64}\]\]></ToUserName>\s*"
         r"<FromUserName><!\[CDATA\[([0-9A-Za-z_-]{1,64})\]\]></FromUserName>\s*"
         r"<CreateTime>[0-9]{1,12}</CreateTime>\s*<MsgType><!\[CDATA\[([a-z]{1,16})\]\]></MsgType>")
_TAIL = r"<MsgId>([0-9]{1,32})</MsgId>\s*</xml>\s*\Z"
_HEAD_STR, _HEAD_BYTES = re.compile(_HEAD), re.compile(_HEAD.encode())
_TAIL_STR, _TAIL_BYTES = re.compile(_TAIL), re.compile(_TAIL.encode())


def read_ahead(xml: bytes | str) -> tuple[str, str] | None:
    """``(dedup_key, openid)`` of a message, read from the XML text before it is parsed.

    A quick look for the fields :meth:`Update.dedup_key` uses, so the webhook can send the
    retry claim while it parses. Only the usual shape of a message is recognised (CDATA
    fields in WeChat's order, MsgId last); anything else — events included — gives None.
    The text is not validated: the caller compares the result with the parsed update's own
    :meth:`Update.dedup_key` before trusting it.
    """
    head, tail = (_HEAD_BYTES, _TAIL_BYTES) if isinstance(xml, bytes) else (_HEAD_STR, _TAIL_STR)
    found = head.match(xml)
    last = tail.search(xml, max(0, len(xml) - 96)) if found else None
    if last is None:
        return None
    openid, msg_type, msg_id = (g.decode() if isinstance(g, bytes) else g
                                for g in (*found.groups(), last.group(1)))
    if msg_type not in MESSAGE_TYPES:
        return None
    return f"m:{openid}:{msg_id}", openid


#: A claim in progress is ``PENDING:<token>`` (a token per claim); a reply body never starts so.
PENDING = "\x00pending"
#: How long a key lives, in seconds, beyond the push's replay window (``ttl``): longer than
#: WeChat's three tries (about 15 s), each of which may come with a later signed timestamp.
KEY_TTL = 60
#: Seconds between two ERROR lines about Redis being unavailable to the de-duplication.
OUTAGE_LOG_SECONDS = 60
#: How long a retry waits for a first try still running, in seconds (WeChat gives up at 5 s),
#: when the caller gives no ``deadline``.
WAIT_SECONDS = 4.0
#: A claim in progress expires this many seconds after its last renewal: a dead worker's claim
#: is free again before WeChat's last retry (~10 s after the first try).
LEASE_SECONDS = 6.0
#: How often a live claim is renewed (seconds): well inside :data:`LEASE_SECONDS`.
RENEW_SECONDS = 1.5
#: Renew the claims still ours: ``KEYS`` the claim keys, ``ARGV`` their tokens then the lease (ms).
_RENEW_LUA = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('PEXPIRE', key, ARGV[#ARGV]); n = n + 1
  end
end
return n
"""


class Claim(NamedTuple):
    """The outcome of :meth:`Deduplicator.claim`."""

    first: bool
    reply: str | None
    peeked: object = UNREAD
    #: The signed URL (``signed=``) came before with another body: refuse this push.
    reused: bool = False
    #: ``first``: the claim's token, for :meth:`Deduplicator.hold` (``""`` when Redis is down).
    token: str = ""
    #: ``first`` by taking over a claim whose lease expired (its holder may have committed).
    taken_over: bool = False


class PendingClaim:
    """A retry claim written to Redis whose answer is not read yet (:meth:`Deduplicator.begin`).

    Call exactly one of :meth:`result` or :meth:`cancel`."""

    def __init__(self, dedup: Deduplicator, dedup_key: str, key: str, token: str,
                 commands: list, sent: Sent | redis.RedisError, *, ttl: int = KEY_TTL,
                 peek: bool = False, url: tuple[str, str] | None = None):
        self.dedup_key = dedup_key
        self._dedup, self._key, self._token, self._commands = dedup, key, token, commands
        self._sent, self._ttl, self._peek, self._url = sent, ttl, peek, url

    def result(self, deadline: float | None = None) -> Claim:
        """The claim's outcome, as :meth:`Deduplicator.claim` describes it. ``deadline``
        (``time.monotonic()``): how long a copy waits for the first try's reply (default
        :data:`WAIT_SECONDS` from now); a claim whose lease expired meanwhile is taken over."""
        dedup, key, token = self._dedup, self._key, self._token
        try:
            if isinstance(self._sent, redis.RedisError):
                raise self._sent
            try:
                claimed, *rest = self._sent.replies()
            except redis.ConnectionError:  # (a timeout is a hung Redis: not worth 2 s more)
                claimed, *rest, current = dedup._hot.round_trip(*self._commands, ("GET", key))
                claimed = claimed or current == token
            peeked = rest[0] if self._peek else UNREAD
            if self._url is not None and rest[-1] is None:  # URL seen before: with this body?
                url_key, digest = self._url
                if dedup._hot.round_trip(("GET", url_key))[0] not in (None, digest):
                    if claimed:  # a forgery took the key: give it back for the real message
                        dedup._hot.send_later("DEL", key)
                    return Claim(False, None, reused=True)
            if claimed:
                return Claim(True, None, peeked, token=token)
            if deadline is None:
                deadline = time.monotonic() + dedup.wait_seconds
            delay = 0.02
            while True:
                value = dedup.redis.get(key)
                if value is None:  # a dead worker's lease expired, or released after a failure
                    if dedup.redis.set(key, token, nx=True, px=dedup.lease_ms):
                        log.warning("claim taken over: the try holding it stopped renewing its "
                                    "lease (worker gone?); handling the message here")
                        return Claim(True, None, token=token, taken_over=True)
                elif not value.startswith(PENDING):
                    return Claim(False, value)
                if time.monotonic() >= deadline:
                    return Claim(False, None)
                time.sleep(delay)
                delay = min(delay * 1.5, 0.2)
        except redis.RedisError as exc:  # availability first: answer without either check
            dedup.outage(exc)
            return Claim(True, None)

    def cancel(self) -> None:
        """Give the claim up (the push turned out unreadable, or not to be ``dedup_key``):
        read Redis's answer and, if the key was ours, release it. Never raises."""
        if isinstance(self._sent, redis.RedisError):
            return
        try:
            claimed = self._sent.replies()[0]
        except redis.RedisError:
            return  # the key, if ours, expires in KEY_TTL seconds
        if claimed:
            self._dedup._hot.send_later("DEL", self._key)


class Deduplicator:
    """Claim a push, then publish its reply for retries."""

    def __init__(self, client: redis.Redis, keys: Keys, *, ttl: int = KEY_TTL,
                 wait_seconds: float = WAIT_SECONDS, lease_seconds: float = LEASE_SECONDS):
        self.redis, self.keys, self.ttl, self.wait_seconds = client, keys, ttl, wait_seconds
        self.lease_ms = max(int(lease_seconds * 1000), 1)
        self._hot = HotPath(client)
        self._outage_logged_at = float("-inf")
        self.leases = Leases(client, self.lease_ms)

    def hold(self, dedup_key: str, token: str) -> None:
        """Keep renewing the lease of the claim on ``dedup_key`` made with ``token`` (a first
        try's :attr:`Claim.token`) until :meth:`let_go`. Never raises."""
        if token:
            self.leases.hold(self.keys("dedup", dedup_key), token)

    def let_go(self, dedup_key: str) -> None:
        """Stop renewing the claim on ``dedup_key`` (its reply is published, or it failed)."""
        self.leases.let_go(self.keys("dedup", dedup_key))

    def mark_delivered_late(self, dedup_key: str, ttl: int | None = None) -> None:
        """The first try ran past its reply budget and answered ``success``; its reply goes as
        a 客服消息. Stored now (not queued) as ``success`` for retries, *before* the message is
        sent, so no retry answers it passively too or runs it again. Raises ``RedisError``."""
        self.redis.set(self.keys("dedup", dedup_key), "", ex=self.ttl + max(ttl or 0, 0))

    def outage(self, exc: BaseException) -> None:
        """Redis failed a claim: the push is handled anyway (availability first). Said at
        ERROR at most once per :data:`OUTAGE_LOG_SECONDS` (per process), not per push."""
        now = time.monotonic()
        if now - self._outage_logged_at < OUTAGE_LOG_SECONDS:
            return
        self._outage_logged_at = now
        log.error("Redis unavailable (%s): pushes are answered without de-duplication (a retry "
                  "may be handled twice) and without the signed-URL check (a logged URL can "
                  "carry another body) until it is back; said once a minute",
                  type(exc).__name__)

    def claim(self, dedup_key: str, *, peek: str | None = None, ttl: int | None = None,
              signed: tuple[str, str, str] | None = None) -> Claim:
        """Try to become the one that handles ``dedup_key``.

        ``first`` is True for the first try; for a copy, ``reply`` is the first try's stored
        reply body (``""`` = success), or None if it did not finish within
        :data:`WAIT_SECONDS`. ``peek``: another key whose value the first try will need (her
        conversation), read in the same round trip into ``peeked`` (else :data:`UNREAD`).
        ``ttl``: seconds the push can still be replayed (its signed URL accepted); the key and
        the stored reply live that plus :attr:`ttl`. ``signed``: ``(timestamp, nonce, body_digest)`` of
        a push (its ``signature`` never covers the body, encrypted or not): the URL is remembered with
        the digest for ``ttl`` seconds in the same round trip (``SET NX``; only a URL seen
        before costs a second one, to compare), and ``reused`` is True when it came before
        with another body (``first`` is then False, and a key it took is given
        back). If Redis is down, everyone handles and nothing is refused: a duplicate side
        effect is better than no answer.
        """
        return self.begin(dedup_key, peek=peek, ttl=ttl, signed=signed).result()

    def begin(self, dedup_key: str, *, peek: str | None = None, ttl: int | None = None,
              signed: tuple[str, str, str] | None = None) -> PendingClaim:
        """Send the claim now and read Redis's answer later (:meth:`PendingClaim.result`), so
        the caller can parse the push while Redis answers. Arguments as for :meth:`claim`.
        Never raises."""
        # Our own claim value: if the connection dies after Redis ran the SET (an idle
        # connection the server closed, a restart), the claim is sent again with a GET of the
        # key, which then holds our token.
        token = f"{PENDING}:{secrets.token_hex(8)}"
        key = self.keys("dedup", dedup_key)
        key_ttl = self.ttl + max(ttl or 0, 0)
        commands = [("SET", key, token, "NX", "PX", self.lease_ms)]
        if peek is not None:
            commands.append(("GET", peek))
        url = None
        if signed is not None:  # the URL's first body; compared (one more round trip) if not ours
            timestamp, nonce, digest = signed
            url = (self.keys("url", timestamp, nonce), digest)
            commands.append(("SET", url[0], digest, "NX", "EX", max(ttl or 0, 1)))
        try:
            sent: Sent | redis.RedisError = self._hot.send(*commands)
        except redis.RedisError as exc:
            sent = exc
        return PendingClaim(self, dedup_key, key, token, commands, sent, ttl=key_ttl,
                            peek=peek is not None, url=url)

    def remember_url(self, signed: tuple[str, str, str], ttl: int | None = None) -> None:
        """Remember a signed URL with its body digest (as :meth:`begin` does) for a push that
        made no claim (unreadable): queued, never answered, never raises."""
        timestamp, nonce, digest = signed
        self._hot.send_later("SET", self.keys("url", timestamp, nonce), digest, "NX", "EX",
                             max(ttl or 0, 1))

    def publish(self, dedup_key: str, reply_body: str, ttl: int | None = None) -> None:
        """Store the reply body the first try produced (``""`` for ``success``).

        Queued (:meth:`bot.core.kv.HotPath.send_later`): it goes to Redis in front of this process's
        next claim, or within :attr:`bot.core.kv.HotPath.LATER_SECONDS` on its own, long before
        WeChat's retry 5 s later; a copy already waiting polls until it is there. Redis never
        answers it: a lost write only means a retry answers ``success`` instead of the same
        reply. ``ttl``: as given to :meth:`claim`.
        """
        self._hot.send_later("SET", self.keys("dedup", dedup_key), reply_body, "EX",
                             self.ttl + max(ttl or 0, 0))


class Leases:
    """The claims this process is handling, renewed every :data:`RENEW_SECONDS` by one daemon
    thread (started on first use, again after a fork) in one round trip (a Lua
    compare-and-``PEXPIRE``: a claim taken over or answered meanwhile is left alone)."""

    def __init__(self, client: redis.Redis, lease_ms: int):
        self._redis, self._lease_ms = client, lease_ms
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0
        self._script = None

    def hold(self, key: str, token: str) -> None:
        """Renew ``key`` while its value is ``token``."""
        with self._lock:
            self._held[key] = token
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="dedup-leases", daemon=True).start()

    def let_go(self, key: str) -> None:
        """Stop renewing ``key``."""
        with self._lock:
            self._held.pop(key, None)

    def held(self) -> int:
        """How many claims are being renewed."""
        with self._lock:
            return len(self._held)

    def renew(self) -> None:
        """Renew every held claim now (the thread does this every :data:`RENEW_SECONDS`)."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return
        if self._script is None:
            self._script = self._redis.register_script(_RENEW_LUA)
        self._script(keys=[k for k, _ in held], args=[t for _, t in held] + [self._lease_ms])

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            self._wake.wait(RENEW_SECONDS)
            try:
                self.renew()
            except redis.RedisError as exc:  # the claim may lapse: a retry then runs it again
                log.warning("could not renew de-dup claims (%s)", type(exc).__name__)
            except Exception:  # noqa: BLE001 - never let the renewing thread die
                log.exception("renewing de-dup claims failed")
