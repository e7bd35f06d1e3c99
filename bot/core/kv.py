"""Redis: the shared store of every app process (access_token, de-duplication, conversations).

With no ``redis.url`` the embedded default uses fakeredis, an in-process stand-in: fine for one
process, not shared between processes. Every key goes through :class:`Keys` so a deployment (or a
test run) can share one Redis with others under its own prefix.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque

import redis

# the C reply parser redis[hiredis] brings (a declared dependency) also packs commands, in
# half redis-py's time
from hiredis import pack_command as _hiredis_pack

log = logging.getLogger(__name__)

#: A value not read from Redis yet (``Claim.peeked`` when the claim did not peek at a key; a
#: store's value before its first read). Compare with ``is``.
UNREAD = object()
_SKIP = ("CLIENT", "REPLY", "SKIP")


class Keys:
    """Build prefixed Redis keys: ``keys("conv", openid)`` -> ``"taoyuan:conv:<openid>"``."""

    def __init__(self, prefix: str = "taoyuan:"):
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(map(str, parts))


def make_redis(url: str, *, socket_timeout: float = 2.0) -> redis.Redis:
    """A Redis client for ``url`` (decoded str responses), or fakeredis when ``url`` is empty.

    Socket timeouts are ``socket_timeout`` seconds (2) so a dead Redis fails fast instead of
    eating WeChat's 5 s; and once Redis has not answered within them, the client's
    connections fail at once for a while instead of waiting again (:class:`FailFast`).
    """
    if not url:
        import fakeredis

        return fakeredis.FakeRedis(decode_responses=True)
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=socket_timeout,
                                  socket_connect_timeout=socket_timeout, health_check_interval=30)
    pool = client.connection_pool
    pool.connection_class = type("FailFast" + pool.connection_class.__name__,
                                 (FailFast, pool.connection_class), {"quiet_until": 0.0})
    return client


class FailFast:
    """Mixed into one client's connection class by :func:`make_redis`.

    A hung Redis (it accepts, never answers) or one behind a link that drops packets costs
    every command the whole socket timeout: a message needs three or four, far past WeChat's
    5 s, and WeChat then shows her 「该公众号暂时无法提供服务」. After one timeout, every
    connection of that client (the pool's and :class:`HotPath`'s) raises
    ``redis.ConnectionError`` at once for :attr:`QUIET_SECONDS`, which callers already treat
    as "Redis is down" (answer without it); then the next command tries again.
    """

    #: Seconds to fail fast after a timeout.
    QUIET_SECONDS = 10.0
    quiet_until = 0.0  # monotonic seconds; set on the per-client subclass

    def connect(self, *args, **kwargs):
        self._refuse_while_quiet()
        return self._noting_timeouts(super().connect, *args, **kwargs)

    def send_packed_command(self, *args, **kwargs):
        self._refuse_while_quiet()
        return self._noting_timeouts(super().send_packed_command, *args, **kwargs)

    def read_response(self, *args, **kwargs):
        return self._noting_timeouts(super().read_response, *args, **kwargs)

    def _noting_timeouts(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except redis.TimeoutError:
            self._went_quiet()
            raise

    def _refuse_while_quiet(self) -> None:
        if time.monotonic() < type(self).quiet_until:
            raise redis.ConnectionError("Redis timed out a moment ago; not waiting for it again yet")

    def _went_quiet(self) -> None:
        log.warning("Redis did not answer within the timeout; failing fast for %.0f s",
                    self.QUIET_SECONDS)
        type(self).quiet_until = time.monotonic() + self.QUIET_SECONDS


class HotPath:
    """The Redis commands every webhook message runs, on connections kept apart from the pool.

    Every text message costs two Redis commands: the retry claim (with her conversation read in
    the same round trip) and the reply stored for retries. Through redis-py's client each went
    through the pool (checkout, readiness poll, metrics, release) and a pipeline object; on the
    webhook benchmark the two took a quarter of a worker's CPU per message. Here a process keeps
    its own few connections (a free list: one per thread that is using one right now), built by
    the client's own connection class with the client's settings (timeouts, decoding,
    password), and sends packed commands on them:

    * :meth:`round_trip` sends several commands in one write and reads their replies
      (:meth:`send` splits it: write now, read later);
    * :meth:`send_later` queues a write that may be lost (the reply stored for retries). It
      rides in front of the process's next round trip, prefixed with ``CLIENT REPLY SKIP``
      (Redis ≥ 3.2) so the server answers nothing: no write and no wake-up of Redis of its own.
      With no round trip to carry it, a background thread sends it after
      :attr:`LATER_SECONDS`; at exit it is sent at once. Support for SKIP is probed once per
      connection; a server or proxy without it gets the write's reply read and dropped. Given
      up: an error from such a write (out of memory) goes unseen, and a round trip on another
      thread may overtake it.

    A connection found broken is dropped, and the idle ones with it (what broke one, a restart
    or an idle timeout, has most likely broken them all). A failed send is retried once on a
    new connection (a command cut off mid-send is never executed by Redis); a failed read is
    not (the connection may have died after Redis ran the commands: the caller knows whether
    running them again is safe). Errors raised: ``redis.RedisError`` (ConnectionError, TimeoutError, or the
    ResponseError a command answered).
    """

    PROBE = "taoyuan-reply-skip-probe"
    #: Longest time, in seconds, a write queued by :meth:`send_later` waits for a round trip.
    LATER_SECONDS = 0.05
    #: A flusher thread with nothing to do for this long, in seconds, ends (a new one starts
    #: with the next queued write).
    FLUSHER_IDLE_SECONDS = 30.0

    def __init__(self, client: redis.Redis):
        pool = client.connection_pool
        self._make = lambda: pool.connection_class(**pool.connection_kwargs)
        self._pid = -1
        self._this_process()

    def round_trip(self, *commands: tuple) -> list:
        """Run ``commands`` (each a tuple such as ``("GET", key)``) in one round trip; their
        replies in order (``None`` for a missing key, ``"OK"`` for a done SET). Writes queued
        by :meth:`send_later` go first, in the same write."""
        return self.send(*commands).replies()

    def send(self, *commands: tuple) -> "Sent":
        """The first half of :meth:`round_trip`: write ``commands`` now and read their replies
        later with :meth:`Sent.replies` (exactly once), so the caller can work while Redis
        answers. Raises ``redis.RedisError`` when the write fails twice (queued writes it
        carried are queued again)."""
        self._this_process()
        later = self._take_later()
        try:
            entry, owed = self._send(commands, later=later)
        except redis.RedisError:
            self._requeue(later)
            raise
        return Sent(self, entry, later, owed, len(commands))

    def send_later(self, *command: object) -> None:
        """Queue one write that may be lost (``"SET", key, value, "EX", 60``); see the class.

        Never raises: a write that cannot be sent is lost (logged by the flusher)."""
        self._this_process()
        with self._lock:
            self._later.append(command)
            if len(self._later) == 1:
                self._flush_soon()

    def flush(self) -> None:
        """Send the writes :meth:`send_later` queued, now, as ordinary commands whose replies
        are read: a dead connection is noticed and they are sent again on a new one. Raises
        ``redis.RedisError`` when that fails too (the writes are then lost)."""
        self._this_process()
        later = self._take_later()
        for attempt in (1, 2):
            if not later:
                return
            entry, _ = self._send(later)
            try:
                self._read(entry[0], len(later), ignore=len(later))  # errors there: theirs
            except (redis.ConnectionError, redis.TimeoutError):
                if attempt == 2:
                    raise
                continue
            self._idle.append(entry)
            return

    # -- internals ----------------------------------------------------------------------------
    def _this_process(self) -> None:
        """After a fork, start afresh: the parent's sockets, queue and thread are not ours."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._idle: deque = deque()  # (connection, skip supported); thread-safe pop/append
            self._later: list[tuple] = []
            self._lock = threading.Lock()
            self._wake: threading.Event | None = None  # the flusher's, while it runs

    def _take_later(self) -> list[tuple]:
        if not self._later:  # (read without the lock: a write queued right now waits its turn)
            return []
        with self._lock:
            later, self._later = self._later, []
        return later

    def _requeue(self, later: list[tuple]) -> None:
        """Put writes whose fate is unknown (their connection broke) back in front of the
        queue; they are idempotent (SET, DEL), so sending them twice is harmless."""
        if later:
            with self._lock:
                self._later[:0] = later
                if len(self._later) == len(later):
                    self._flush_soon()

    def _drop(self, conn) -> None:
        """``conn`` is broken: close it, and the idle ones too. What broke one (a Redis
        restart, a timeout for idle clients, a proxy) has most likely broken them all, and a
        resend must not land on another dead one."""
        conn.disconnect()
        while True:
            try:
                self._idle.pop()[0].disconnect()
            except IndexError:
                return

    def _flush_soon(self) -> None:
        """Wake this process's flusher thread, starting it if needed (``_lock`` held)."""
        if not getattr(self, "_exit_hook", False):
            self._exit_hook = True
            atexit.register(_flush_at_exit, weakref.ref(self))
        if self._wake is None:
            wake = threading.Event()
            try:
                threading.Thread(target=_flusher, args=(weakref.ref(self), wake),
                                 name="taoyuan-redis-later", daemon=True).start()
            except RuntimeError as exc:  # no thread to be had: the next round trip carries it
                log.warning("no flusher thread for queued Redis writes (%s)", exc)
                return
            self._wake = wake
        self._wake.set()

    def _checkout(self) -> tuple:
        try:
            return self._idle.pop()
        except IndexError:
            conn = self._make()
            return conn, self._probe(conn)

    def _send(self, commands, *, later=()) -> tuple:
        """Send ``later`` (queued writes, their replies skipped where the server can) and
        ``commands`` on a checked-out connection. Returns ``(entry, owed)``: the connection's
        free-list entry and how many replies to ``later`` come before the commands' own."""
        for attempt in (1, 2):
            conn = None
            try:
                conn, skip = entry = self._checkout()
                if skip:
                    payload, owed = [c for write in later for c in (_SKIP, write)], 0
                else:
                    payload, owed = list(later), len(later)
                conn.send_packed_command(_pack(conn, payload + list(commands)), check_health=False)
                return entry, owed
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if conn is not None:
                    self._drop(conn)
                if attempt == 2:
                    raise exc if isinstance(exc, redis.RedisError) else redis.ConnectionError(str(exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, conn, count: int, ignore: int = 0) -> list:
        """The ``count`` replies owed on ``conn``; a broken connection is dropped. An error
        answered to one of the first ``ignore`` (queued writes) is not raised."""
        replies: list = []
        error: redis.ResponseError | None = None
        try:
            for i in range(count):
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as exc:  # keep reading: the rest are still owed
                    replies.append(None)
                    if i >= ignore:
                        error = error or exc
        except BaseException as exc:
            self._drop(conn)
            if isinstance(exc, OSError) and not isinstance(exc, redis.RedisError):
                raise redis.ConnectionError(str(exc)) from exc
            raise
        if error is not None:
            raise error
        return replies

    def _probe(self, conn) -> bool:
        """True if, after ``CLIENT REPLY SKIP``, the next command's reply is really skipped."""
        try:
            conn.send_packed_command(conn.pack_commands(
                [_SKIP, ("ECHO", "skipped"), ("ECHO", self.PROBE)]))
            for count in (1, 2, 3):  # read up to the last ECHO, whatever came before it
                try:
                    reply = conn.read_response()
                except redis.ResponseError:
                    reply = None
                if reply in (self.PROBE, self.PROBE.encode()):
                    return count == 1
        except BaseException:
            conn.disconnect()
            raise
        conn.disconnect()  # pragma: no cover - a server that answers nonsense
        return False  # pragma: no cover


class Sent:
    """Commands written by :meth:`HotPath.send` whose replies are not read yet.

    Holds the connection until :meth:`replies` is called (a connection never read from again
    is dropped, not reused, so an abandoned ``Sent`` costs a connection, not a wrong reply)."""

    __slots__ = ("_hot", "_entry", "_later", "_owed", "_count")

    def __init__(self, hot: HotPath, entry: tuple, later: list, owed: int, count: int):
        self._hot, self._entry, self._later, self._owed, self._count = hot, entry, later, owed, count

    def replies(self) -> list:
        """The commands' replies in order. Raises ``redis.RedisError`` (the ResponseError a
        command answered, once every reply is read; ConnectionError, TimeoutError: then the
        queued writes sent in front of the commands are queued again)."""
        entry, self._entry = self._entry, None
        if entry is None:
            raise RuntimeError("replies() already read")
        hot = self._hot
        try:
            replies = hot._read(entry[0], self._owed + self._count, ignore=self._owed)
        except redis.ResponseError:
            hot._idle.append(entry)  # every reply was read: the connection is in step
            raise
        except redis.RedisError:  # broken (and dropped): did Redis run the queued writes?
            hot._requeue(self._later)
            raise
        hot._idle.append(entry)
        return replies[self._owed:]


def _flusher(ref: weakref.ref, wake: threading.Event) -> None:
    """A process's background sender of :meth:`HotPath.send_later` writes.

    Wakes when a write is queued, gives round trips :attr:`HotPath.LATER_SECONDS` to carry it,
    then sends what is left. Ends when idle for :attr:`HotPath.FLUSHER_IDLE_SECONDS`, when
    its HotPath is gone, or after a fork (the child starts its own)."""
    pid = os.getpid()
    while True:
        hot = ref()
        if hot is None or hot._pid != pid:
            return
        idle, delay = hot.FLUSHER_IDLE_SECONDS, hot.LATER_SECONDS
        del hot  # do not keep it alive while waiting
        woken = wake.wait(idle)
        hot = ref()
        if hot is None or hot._pid != pid:
            return
        if not woken:
            with hot._lock:
                if not wake.is_set():  # nothing queued since: end; the next write starts one
                    hot._wake = None
                    return
            continue
        wake.clear()
        del hot
        time.sleep(delay)
        hot = ref()
        if hot is None:
            return
        try:
            hot.flush()
        except redis.RedisError as exc:
            log.warning("queued Redis writes lost (%s)", type(exc).__name__)
        del hot


def _flush_at_exit(ref: weakref.ref) -> None:
    hot = ref()
    if hot is not None and hot._pid == os.getpid() and hot._later:
        try:
            hot.flush()
        except redis.RedisError as exc:  # pragma: no cover - Redis gone at exit
            log.warning("queued Redis writes lost at exit (%s)", type(exc).__name__)


def _pack(conn, commands) -> list[bytes]:
    """``commands`` in the Redis protocol (RESP), ready for ``send_packed_command``."""
    return [b"".join(_hiredis_pack(tuple(a if isinstance(a, (str, bytes)) else str(a) for a in c))
                     for c in commands)]
