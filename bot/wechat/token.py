"""The access_token shared by every process through Redis (「获取 Access token」: a token lives
7200 s, a new fetch invalidates the old one after 5 minutes, 2000 fetches a day).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable, Iterator

import redis

log = logging.getLogger(__name__)

#: After a Redis error the token lives in process memory; Redis is tried again after this (s).
REDIS_RETRY_AFTER = 30
#: How often (seconds) a process waiting for another's token fetch looks for the new token.
LOCK_POLL = 0.02

class TokenStore:
    """The access_token shared by every process through Redis.

    ``get()`` returns the cached token or fetches one; ``refresh(stale)`` replaces a token WeChat
    rejected. Fetching happens under a redis-py Lock; whoever gets the lock second finds the new
    token in Redis and does not fetch again. ``fetch(force_refresh) -> (token, expires_in_seconds)``
    does the HTTP call. The token is kept for ``expires_in`` minus a margin (at most 300 s).
    If Redis is down, a token is kept in this process's memory instead.
    """

    def __init__(self, client: redis.Redis, key: str, fetch: Callable[[bool], tuple[str, int]],
                 lock_seconds: float):
        self.redis = client
        self.key = key
        self.lock_key = key + ":lock"
        self.fetch = fetch
        self.lock_seconds = lock_seconds
        self._memory: tuple[str, float] | None = None
        self._redis_down_until = 0.0
        self._local_lock = _local_lock_for(client)
        self._fallback_lock = threading.Lock()

    def get(self) -> str:
        """The current access_token (fetching one if none is cached)."""
        token = self._cached()
        return token if token else self.refresh(None)

    def refresh(self, stale: str | None) -> str:
        """A token other than ``stale`` (``None``: any valid token), fetched at most once.

        Normal mode first (it never invalidates anyone's token); only if WeChat hands back the very
        token it just rejected is ``force_refresh`` used.
        """
        with self._lock(stale) as fresh:
            if fresh:
                return fresh
            token = self._cached()
            if token and token != stale:
                return token
            token, expires_in = self.fetch(False)
            if stale is not None and token == stale:
                log.warning("access_token rejected but still current: forcing a refresh")
                token, expires_in = self.fetch(True)
            self._store(token, expires_in)
            return token

    def _redis_ok(self) -> bool:
        return time.monotonic() >= self._redis_down_until

    def _redis_failed(self, exc: Exception) -> None:
        log.warning("Redis unavailable for access_token (%s): using process memory for %d s",
                    type(exc).__name__, REDIS_RETRY_AFTER)
        self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER

    def _cached(self) -> str | None:
        if self._redis_ok():
            try:
                return self.redis.get(self.key)
            except redis.RedisError as exc:
                self._redis_failed(exc)
        if self._memory and self._memory[1] > time.time():
            return self._memory[0]
        return None

    def _store(self, token: str, expires_in: int) -> None:
        ttl = max(1, int(expires_in) - min(300, int(expires_in) // 5))
        self._memory = (token, time.time() + ttl)
        if self._redis_ok():
            try:
                self.redis.set(self.key, token, ex=ttl)
            except redis.RedisError as exc:
                self._redis_failed(exc)

    @contextlib.contextmanager
    def _lock(self, stale: str | None) -> Iterator[str | None]:
        """Hold the refresh lock; yields None, or a fresh token that appeared while waiting
        (then the lock is not taken: another process has just fetched)."""
        if self._local_lock is not None or not self._redis_ok():
            # in-process fakeredis without Lua, or Redis down: a thread lock is all there is
            with self._local_lock or self._fallback_lock:
                yield None
            return
        lock = self.redis.lock(self.lock_key, timeout=self.lock_seconds, sleep=LOCK_POLL)
        acquired, fresh = self._acquire(lock, stale)
        if fresh:
            yield fresh
            return
        try:
            yield None
        finally:
            if acquired:
                with contextlib.suppress(redis.RedisError):
                    lock.release()

    def _acquire(self, lock, stale: str | None) -> tuple[bool, str | None]:
        """Wait for the lock, watching Redis: (True, None) when acquired, (False, token) when
        another process stored a fresh token meanwhile, (False, None) on timeout or Redis error."""
        deadline = time.monotonic() + self.lock_seconds
        try:
            while True:
                if lock.acquire(blocking_timeout=LOCK_POLL * 2):
                    return True, None
                token = self._cached()
                if token and token != stale:
                    return False, token
                if time.monotonic() > deadline:
                    log.warning("access_token lock not acquired: fetching in normal mode without it")
                    return False, None
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return False, None


_LOCAL_LOCKS: dict[int, threading.Lock] = {}


def _local_lock_for(client: redis.Redis) -> threading.Lock | None:
    """A thread lock for fakeredis without Lua (its Lock cannot release); None for real Redis."""
    if not type(client).__module__.startswith("fakeredis"):
        return None
    try:
        import lupa  # noqa: F401
        return None
    except ImportError:
        return _LOCAL_LOCKS.setdefault(id(client), threading.Lock())
