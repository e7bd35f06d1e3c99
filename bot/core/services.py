"""The collaborators every entry point shares (web, CLI, scheduler): built once, passed in.

Nothing here is a module-level global: ``build_services(config)`` makes a fresh set, so tests
and several apps in one process never share state by accident.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

import redis

from bot.core.config import Config
from bot.core.db import Database
from bot.core.kv import Keys, make_redis

log = logging.getLogger(__name__)

T = TypeVar("T")


class Expiring(Generic[T]):
    """One value kept for a while in this process (a per-app cache entry).

    ``get()`` gives the value until ``seconds`` (monotonic clock) after it was ``set``, then
    None; ``clear()`` forgets it at once.
    """

    def __init__(self) -> None:
        self._value: T | None = None
        self._until = 0.0

    def get(self) -> T | None:
        """The value if it is still fresh, else None."""
        if self._value is not None and time.monotonic() < self._until:
            return self._value
        return None

    def set(self, value: T, seconds: float) -> T:
        """Keep ``value`` for ``seconds``; returns it."""
        self._value, self._until = value, time.monotonic() + seconds
        return value

    def clear(self) -> None:
        """Forget the value."""
        self._value, self._until = None, 0.0


class OpenidGate(Protocol):
    """Remembers which openids this process saw lately (handlers.welcome.RecentOpenids)."""

    def first_in_a_while(self, openid: str) -> bool:
        """True (and remembered) unless ``openid`` was seen lately."""


class WordMatcher(Protocol):
    """Finds words in a message (handlers.safety.DangerMatcher): a match, or None."""

    def match(self, text: str) -> Any:
        """What was found in ``text``, or None."""


@dataclass
class Services:
    """Config, database, Redis (with its key prefix), WeChat API client and time zone, plus the
    per-app state features share across updates (typed, each documented below).

    ``wechat`` is built lazily on first use by ``wechat_factory(services)`` (the wiring layer,
    :func:`bot.app.wire_services`, passes ``bot.wechat.client.WeChatAPI.from_services``; this
    module never imports the client, so the bottom layer has no cycle). Without a factory,
    reading ``wechat`` raises ``RuntimeError``.
    """

    config: Config
    db: Database
    redis: redis.Redis
    keys: Keys
    tz: ZoneInfo
    #: Openids whose follower row this process touched lately (handlers/welcome.py makes it on
    #: first use), so later updates skip the database.
    recent_openids: OpenidGate | None = None
    #: The danger-word matcher (word file + staff's database words), rebuilt every
    #: ``handlers.safety.CACHE_SECONDS``; ``clear()`` makes the next message rebuild it.
    danger_matcher: Expiring[WordMatcher] = field(default_factory=Expiring)
    #: Background threads sending after a commit (the notifier, ``bot.wechat.notifier``:
    #: staff told of urgent help requests, answers delivered); ``Notifier.wait`` joins them.
    notify_threads: list[threading.Thread] = field(default_factory=list)
    #: True when this process parked a subscribe/unsubscribe in Redis because the database was
    #: down (``models.followers.park_event``): the next update that reaches the database
    #: records them (handlers/welcome.py); the scheduler also does, every minute.
    followers_parked: bool = False
    #: This process's one outbox worker (``bot.wechat.notifier.OutboxWorker``, made on first
    #: use by the notifier): sends queued after a commit go through it, after the response.
    outbox_worker: Any = None
    #: Builds the WeChat client on first use of :attr:`wechat` (given by the wiring layer).
    wechat_factory: "Callable[[Services], Any] | None" = None
    _wechat: Any = None

    @property
    def wechat(self) -> Any:
        """The WeChat API client (built on first use; see the class docstring)."""
        if self._wechat is None:
            if self.wechat_factory is None:
                raise RuntimeError("Services has no wechat_factory: build it with bot.app.wire_services")
            self._wechat = self.wechat_factory(self)
        return self._wechat

    def redis_ok(self) -> bool:
        """True when Redis answers PING."""
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return False


def build_services(config: Config, *, redis_client: redis.Redis | None = None,
                   wechat_factory: "Callable[[Services], Any] | None" = None) -> Services:
    """Create the shared collaborators for ``config`` (does not touch the schema).

    ``wechat_factory(services)`` builds the WeChat client on first use of ``services.wechat``;
    entry points use :func:`bot.app.wire_services`, which passes the real one."""
    db = Database(config.database_url, **config.database_timeouts())
    client = redis_client if redis_client is not None else make_redis(config.redis.get("url", ""))
    return Services(config=config, db=db, redis=client, keys=Keys(config.redis.get("prefix", "taoyuan:")),
                    tz=ZoneInfo(config.app["timezone"]), wechat_factory=wechat_factory)
