"""Redis: the shared store of every app process (access_token, de-duplication, conversations).

With no ``redis.url`` the embedded default uses fakeredis, an in-process stand-in: fine for one
process, not shared between processes. Every key goes through :class:`Keys` so a deployment (or a
test run) can share one Redis with others under its own prefix.
"""
from __future__ import annotations

import os
from collections import deque

import redis

try:  # the C reply parser redis[hiredis] brings also packs commands, in half redis-py's time
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py packs without it
    _hiredis_pack = None


class Keys:
    """Build prefixed Redis keys: ``keys("conv", openid)`` -> ``"taoyuan:conv:<openid>"``."""

    def __init__(self, prefix: str = "taoyuan:"):
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(map(str, parts))


def make_redis(url: str) -> redis.Redis:
    """A Redis client for ``url`` (decoded str responses), or fakeredis when ``url`` is empty.

    Socket timeouts are 2 s so a dead Redis fails fast instead of eating WeChat's 5 s.
    """
    if not url:
        import fakeredis

        return fakeredis.FakeRedis(decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2,
                                socket_connect_timeout=2, health_check_interval=30)


class HotPath:
    """The Redis commands every webhook message runs, on connections kept apart from the pool.

    Every text message costs two Redis commands: the retry claim (with her conversation read in
    the same round trip) and the reply stored for retries. Through redis-py's client each goes
    through the pool (checkout, readiness poll, metrics, release) and a pipeline object; on the
    webhook benchmark the two took a quarter of a worker's CPU per message. Here a process keeps
    its own few connections (a free list: one per thread that is using one right now), built by
    the client's own connection class with the client's settings (timeouts, decoding,
    password), and sends packed commands on them:

    * :meth:`round_trip` sends several commands in one write and reads their replies;
    * :meth:`send_no_reply` prefixes a write with ``CLIENT REPLY SKIP`` (Redis ≥ 3.2) so the
      server sends nothing back and the call is one ``sendall``. Support is probed once per
      connection; a server or proxy without it gets an ordinary round trip. Given up: an error
      from that write (out of memory) goes unseen. Use it only for writes that may be lost.

    A connection found broken is dropped. A failed send is retried once on a new connection (a
    command cut off mid-send is never executed by Redis); a failed read is not (the connection
    may have died after Redis ran the commands: the caller knows whether running them again is
    safe). Errors raised: ``redis.RedisError`` (ConnectionError, TimeoutError, or the
    ResponseError a command answered).
    """

    PROBE = "taoyuan-reply-skip-probe"

    def __init__(self, client: redis.Redis):
        pool = client.connection_pool
        self._make = lambda: pool.connection_class(**pool.connection_kwargs)
        self._pid = os.getpid()
        self._idle: deque = deque()  # (connection, skip supported); pop/append are thread-safe

    def round_trip(self, *commands: tuple) -> list:
        """Run ``commands`` (each a tuple such as ``("GET", key)``) in one round trip; their
        replies in order (``None`` for a missing key, ``"OK"`` for a done SET)."""
        entry = self._send(commands)
        try:
            replies = self._read(entry[0], len(commands))
        except redis.ResponseError:
            self._idle.append(entry)  # every reply was read: the connection is in step
            raise
        self._idle.append(entry)  # (a broken one was dropped by _read)
        return replies

    def send_no_reply(self, *command: object) -> None:
        """Run one write (``"SET", key, value, "EX", 60``) without waiting for its reply."""
        entry = self._send([("CLIENT", "REPLY", "SKIP"), command], only_if_skipped=True)
        if entry is None:  # the server cannot skip replies: an ordinary round trip
            self.round_trip(command)
        else:
            self._idle.append(entry)

    # -- internals ----------------------------------------------------------------------------
    def _checkout(self) -> tuple:
        if self._pid != os.getpid():  # a forked child: the parent's sockets are not ours
            self._pid, self._idle = os.getpid(), deque()
        try:
            return self._idle.pop()
        except IndexError:
            conn = self._make()
            return conn, self._probe(conn)

    def _send(self, commands, *, only_if_skipped: bool = False) -> tuple | None:
        """Send ``commands`` on a checked-out connection; return its entry (None when
        ``only_if_skipped`` and the server cannot skip replies)."""
        for attempt in (1, 2):
            conn = None
            try:
                conn, skip = entry = self._checkout()
                if only_if_skipped and not skip:
                    self._idle.append(entry)
                    return None
                conn.send_packed_command(_pack(conn, commands), check_health=False)
                return entry
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if conn is not None:
                    conn.disconnect()
                if attempt == 2:
                    raise exc if isinstance(exc, redis.RedisError) else redis.ConnectionError(str(exc))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _read(conn, count: int) -> list:
        """The ``count`` replies owed on ``conn``; a broken connection is disconnected."""
        replies: list = []
        error: redis.ResponseError | None = None
        try:
            for _ in range(count):
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as exc:  # keep reading: the rest are still owed
                    replies.append(None)
                    error = error or exc
        except BaseException as exc:
            conn.disconnect()
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
                [("CLIENT", "REPLY", "SKIP"), ("ECHO", "skipped"), ("ECHO", self.PROBE)]))
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


def _pack(conn, commands) -> list[bytes]:
    """``commands`` in the Redis protocol (RESP), ready for ``send_packed_command``."""
    if _hiredis_pack is None:  # pragma: no cover
        return conn.pack_commands(commands)
    return [b"".join(_hiredis_pack(tuple(a if isinstance(a, (str, bytes)) else str(a) for a in c))
                     for c in commands)]
