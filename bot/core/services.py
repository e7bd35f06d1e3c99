"""The collaborators every entry point shares (web, CLI, scheduler): built once, passed in.

Nothing here is a module-level global: ``build_services(config)`` makes a fresh set, so tests
and several apps in one process never share state by accident.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import redis

from bot.core.config import Config
from bot.core.db import Database
from bot.core.kv import Keys, make_redis

if TYPE_CHECKING:  # pragma: no cover
    from bot.wechat.client import WeChatAPI

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Config, database, Redis (with its key prefix), WeChat API client and time zone.

    ``wechat`` is built lazily on first use (:class:`bot.wechat.client.WeChatAPI`).
    ``extras`` is a place for feature-level shared objects (e.g. the router).
    """

    config: Config
    db: Database
    redis: redis.Redis
    keys: Keys
    tz: ZoneInfo
    extras: dict[str, Any] = field(default_factory=dict)
    _wechat: "WeChatAPI | None" = None

    @property
    def wechat(self) -> "WeChatAPI":
        if self._wechat is None:
            from bot.wechat.client import WeChatAPI

            self._wechat = WeChatAPI.from_services(self)
        return self._wechat

    def redis_ok(self) -> bool:
        """True when Redis answers PING."""
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return False


def build_services(config: Config, *, redis_client: redis.Redis | None = None) -> Services:
    """Create the shared collaborators for ``config`` (does not touch the schema)."""
    db = Database(config.database_url)
    client = redis_client if redis_client is not None else make_redis(config.redis.get("url", ""))
    return Services(config=config, db=db, redis=client, keys=Keys(config.redis.get("prefix", "taoyuan:")),
                    tz=ZoneInfo(config.app["timezone"]))
