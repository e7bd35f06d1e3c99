"""The collaborators every entry point shares (web, CLI, scheduler): built once, passed in.

Nothing here is a module-level global: ``build_services(config)`` makes a fresh set, so tests
and several apps in one process never share state by accident.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable
from zoneinfo import ZoneInfo

import redis

from bot.core.config import Config
from bot.core.db import Database
from bot.core.kv import Keys, make_redis

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Config, database, Redis (with its key prefix), WeChat API client and time zone.

    ``wechat`` is built lazily on first use by ``wechat_factory(services)`` (the wiring layer,
    :func:`bot.app.wire_services`, passes ``bot.wechat.client.WeChatAPI.from_services``; this
    module never imports the client, so the bottom layer has no cycle). Without a factory,
    reading ``wechat`` raises ``RuntimeError``.
    ``extras`` is a place for feature-level shared objects (e.g. the router).
    """

    config: Config
    db: Database
    redis: redis.Redis
    keys: Keys
    tz: ZoneInfo
    extras: dict[str, Any] = field(default_factory=dict)
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
    db = Database(config.database_url)
    client = redis_client if redis_client is not None else make_redis(config.redis.get("url", ""))
    return Services(config=config, db=db, redis=client, keys=Keys(config.redis.get("prefix", "taoyuan:")),
                    tz=ZoneInfo(config.app["timezone"]), wechat_factory=wechat_factory)
