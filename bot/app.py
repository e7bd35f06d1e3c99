"""The Flask app factory: ``create_app()`` wires the webhook, health check and console."""
from __future__ import annotations

import logging
import os
import secrets

from flask import Flask, jsonify

from bot.core.config import Config, ConfigError, load_config, production_blockers
from bot.core.services import Services, build_services
from bot.wechat.client import WeChatAPI
from models.help import help_settings
from models.outbox import OutboxMessage

log = logging.getLogger(__name__)

#: Blueprints/initialisers: modules with ``init_app(app, services)``, loaded in order.
APP_MODULES = [
    "bot.webhook",
    "bot.console",
]


def wire_services(config: Config, *, redis_client=None) -> Services:
    """The shared collaborators of an entry point (web, CLI, scheduler, tests): :func:`build_services`
    with the real WeChat client (:meth:`WeChatAPI.from_services`, its dry-run outbox the
    ``models.outbox`` table) as ``services.wechat``.

    ``redis_client``: a ready client instead of one made from ``[redis] url``."""
    return build_services(config, redis_client=redis_client, wechat_factory=_wechat_client)


def _wechat_client(services: Services) -> WeChatAPI:
    """The WeChat client of ``services``, its dry-run outbox in ``models.outbox``."""
    return WeChatAPI.from_services(services, outbox_model=OutboxMessage)


def _instance_secret(services: Services) -> str:
    """A session key kept in the instance folder, so every worker process shares it. A new
    file is readable by its owner only (0600; a new instance folder 0700)."""
    path = services.config.instance_dir / "secret_key"
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:  # first process wins (O_EXCL); others read its key
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                               "w") as fh:
                    fh.write(secrets.token_hex(32))
            except FileExistsError:
                pass
        key = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:  # e.g. root, for whom os.access says yes
        raise ConfigError(
            f"app.secret_key: 未填写，且无法读取或创建会话密钥文件 {path}（{type(exc).__name__}）；请填写"
            f"一个随机的长字符串，或让实例目录可写 / not set, and the session key file {path} can "
            f"be neither read nor created ({exc.strerror or exc}): set a long random string, "
            "or make the instance folder writable") from None
    if not key:
        raise ConfigError(f"app.secret_key: 会话密钥文件 {path} 是空的；请删除它（会重新生成）或填写 "
                          f"secret_key / the session key file {path} is empty: remove it (a new "
                          "one is made) or set secret_key")
    return key


def refuse_unsafe_production(config: Config) -> None:
    """Raise :class:`ConfigError` listing :func:`bot.core.config.production_blockers` (each
    logged at CRITICAL first), if there are any: gunicorn then stops ("Worker failed to boot")."""
    blockers = production_blockers(config)
    if blockers:
        for line in blockers:
            log.critical("拒绝启动 / refusing to start: %s", line)
        raise ConfigError("\n".join(blockers))


def create_app(config: Config | None = None, *, services: Services | None = None) -> Flask:
    """Build the app. ``services`` wins over ``config``; neither = load_config().

    When it builds its own services (from ``config`` or the loaded one) it refuses an unsafe
    production configuration first (:func:`refuse_unsafe_production`), so every entry point
    does (``gunicorn 'bot.app:create_app()'``, ``bot.wsgi``); a caller passing ``services``
    has checked its own. Raises :class:`ConfigError` (bilingual) also when the instance
    session key file cannot be made."""
    from importlib import import_module

    if services is None:
        config = config or load_config()
        refuse_unsafe_production(config)
        services = wire_services(config)
    help_settings(services.config)  # the [help] section's values, beyond their types
    app = Flask(__name__, instance_path=str(services.config.instance_dir))
    app.config["SECRET_KEY"] = services.config.app.get("secret_key") or _instance_secret(services)
    app.config["MAX_CONTENT_LENGTH"] = None  # the webhook enforces its own 64 KiB cap
    app.extensions["taoyuan"] = services

    @app.get("/healthz")
    def healthz():
        """Database, Redis and clock; 503 when any is not ok. ``clock_skew_seconds``: our
        clock minus the database server's (``database``, PostgreSQL only) and minus the
        timestamps WeChat signs (``pushes``, only while they say it is off: see
        :class:`bot.webhook.ClockWatch`); ``clock`` is ``clock_skew`` when either is beyond
        ``max_clock_skew`` (every push is then ignored)."""
        db_ok, redis_ok = services.db.ping(), services.redis_ok()
        body = {"database": "ok" if db_ok else "down", "redis": "ok" if redis_ok else "down"}
        db_skew = services.db.clock_skew() if db_ok else None
        push_skew = app.extensions["taoyuan_webhook"].clock.skew()
        limit = services.config.wechat["max_clock_skew"]
        clock_ok = push_skew is None and (db_skew is None or abs(db_skew) <= limit)
        body["clock"] = "ok" if clock_ok else "clock_skew"
        body["clock_skew_seconds"] = {"database": None if db_skew is None else round(db_skew),
                                      "pushes": push_skew}
        return jsonify(body), 200 if db_ok and redis_ok and clock_ok else 503

    for name in APP_MODULES:
        import_module(name).init_app(app, services)
    return app
