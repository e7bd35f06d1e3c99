"""Redis: the shared store of every app process (access_token, de-duplication, conversations).

With no ``redis.url`` the embedded default uses fakeredis, an in-process stand-in: fine for one
process, not shared between processes. Every key goes through :class:`Keys` so a deployment (or a
test run) can share one Redis with others under its own prefix.
"""
from __future__ import annotations

import redis


class Keys:
    """Build prefixed Redis keys: ``keys("conv", openid)`` -> ``"taoyuan:conv:<openid>"``."""

    def __init__(self, prefix: str = "taoyuan:"):
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)


def make_redis(url: str) -> redis.Redis:
    """A Redis client for ``url`` (decoded str responses), or fakeredis when ``url`` is empty.

    Socket timeouts are 2 s so a dead Redis fails fast instead of eating WeChat's 5 s.
    """
    if not url:
        import fakeredis

        return fakeredis.FakeRedis(decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2,
                                socket_connect_timeout=2, health_check_interval=30)
