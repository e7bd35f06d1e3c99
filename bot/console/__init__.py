"""The staff console at ``/admin`` (Flask-Admin, Flask-Login, Flask-WTF CSRF, Chinese UI).

``init_app(app, services)`` is listed in ``bot.app.APP_MODULES``. Every POST under /admin must
carry the CSRF token; the webhook and other blueprints are not affected. Each feature adds its
own pages: ``register(admin, session)`` in ``bot/console/<feature>.py``, found from the feature
manifest (``bot.core.features``), then the shared pages (outbox, audit log, my account).

Safe defaults for every /admin response: request bodies over :data:`MAX_BODY` get 413 before
they are read; the session cookie is HttpOnly, SameSite=Lax and (``[console] https``) Secure;
:data:`SECURITY_HEADERS` and ``Cache-Control: no-store`` (pages and exports show personal
data). Behind ``[console] trusted_proxies`` reverse proxies, werkzeug's ProxyFix gives the real
client address (login lockout, audit log).
"""
from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from flask import render_template, request
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import scoped_session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from bot.console import auth
from bot.console.base import MAX_DB_ID, IndexView, staff_name, zh_flash
from bot.core.features import registrations
from models.audit import AuditEntry
from models.outbox import OutboxMessage

log = logging.getLogger(__name__)

#: Chinese locale of Flask-Admin's own strings (its zh_Hans_CN catalogue).
LOCALE = "zh_Hans_CN"


#: Console error pages: status -> (title, sentence).
ERROR_PAGES = {
    400: ("请求无效", "页面已过期或表单不完整，请返回上一页刷新后再试。"),
    403: ("没有权限", "您的账号没有权限打开这个页面。如需要，请联系管理员。"),
    404: ("页面不存在", "没有找到这个页面，请从后台菜单进入。"),
    405: ("操作无效", "这个操作不能这样打开，请从后台页面上的按钮操作。"),
    413: ("内容太大", "提交的内容或上传的文件超过 10 MB，没有接收。请把表格拆成几个较小的文件再上传。"),
    500: ("出错了", "系统出了点问题，刚才的操作没有完成。请稍后再试；如果一直出错，请联系技术人员。"),
}


#: Largest request body the console accepts (bytes); larger ones get 413 before being read.
MAX_BODY = 10 * 1024 * 1024
#: Sent with every /admin response: no framing (clickjacking), no MIME sniffing, no full URLs
#: (with ids and search terms) in the Referer sent to other sites.
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


class DbIdConverter(IntegerConverter):
    """``<int:...>`` in this app's URLs: a number above :data:`MAX_DB_ID` matches no route
    (404) instead of reaching the database (PostgreSQL: out of range; SQLite: overflow)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_DB_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def https_enabled(config) -> bool:
    """``[console] https``: mark the session cookie Secure. Default: on in production
    (``wechat.app_secret`` set), off in dry run (local development over http)."""
    return bool(config.section("console").get("https", not config.dry_run))


def _safe_defaults(app, cfg: dict) -> None:
    """Proxy, body size limit, cookie flags and security headers for the console."""
    proxies = int(cfg.get("trusted_proxies", 0))
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    app.url_map.converters["int"] = DbIdConverter

    @app.before_request
    def _limit_console_body():
        if request.path.startswith("/admin"):
            request.max_content_length = MAX_BODY  # the webhook keeps its own 64 KiB cap

    @app.after_request
    def _console_headers(response):
        if request.path.startswith("/admin"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if not request.path.startswith("/admin/static/"):
                response.headers["Cache-Control"] = "no-store"
        return response


def _chinese_error_pages(app) -> None:
    """Error pages under /admin in Chinese; other paths (the webhook) keep Flask's own."""

    def handler(exc):
        code = getattr(exc, "code", None) or 500
        if not request.path.startswith("/admin") or code not in ERROR_PAGES:
            return exc
        if code == 500:
            original = getattr(exc, "original_exception", None)
            log.error("console page failed: %s", type(original or exc).__name__)
        title, message = ERROR_PAGES[code]
        if code == 400 and "CSRF" in str(getattr(exc, "description", "")):
            message = "页面已过期（安全令牌无效），请返回上一页刷新后再提交。"
        return render_template("console/error.html", title=title, message=message), code

    for code in ERROR_PAGES:
        app.register_error_handler(code, handler)


def _staff_name(services, username: str | None) -> str:
    """Template helper ``staff_name``: a staff username as people read it (``base.staff_name``)."""
    with services.db.session() as s:
        return staff_name(s, username)


def init_app(app, services) -> Admin:
    """Mount the console on ``app``; returns the Flask-Admin instance."""
    from bot.console import audit, outbox
    from bot.console.account import AccountView

    cfg = services.config.section("console")
    _safe_defaults(app, cfg)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked below, for /admin only
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)      # the login session bounds it
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=float(cfg.get("max_hours", 12)))
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # Flask defines the key: setdefault would not set it
    app.config["SESSION_COOKIE_SECURE"] = https_enabled(services.config)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", services.config.app["timezone"])
    Babel(app, locale_selector=lambda: LOCALE)
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf_for_console():
        if request.path.startswith("/admin") and request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()

    auth.init_auth(app, services)
    app.add_template_filter(zh_flash, "zh_flash")
    # 演练模式 on every console page (master.html) and on each page that would send
    app.context_processor(lambda: {"console_dry_run": services.config.dry_run,
                                   "staff_name": lambda username: _staff_name(services, username)})
    _chinese_error_pages(app)
    session = scoped_session(services.db.Session)
    app.teardown_appcontext(lambda exc: session.remove())

    # Flask-Admin 2.x prefers a Flask-SQLAlchemy object; our own scoped session still works.
    warnings.filterwarnings("ignore", message="Passing a session object directly is deprecated",
                            category=DeprecationWarning)
    admin = Admin(app, name="桃源姐妹 后台", theme=Bootstrap4Theme(base_template="console/master.html"),
                  index_view=IndexView(name="首页", url="/admin"))
    for register in registrations("bot.console"):  # each feature's pages, manifest order
        register(admin, session)
    admin.add_view(outbox.OutboxView(OutboxMessage, session, name="发件箱", category="公众号",
                                     endpoint="outbox"))
    admin.add_view(audit.AuditView(AuditEntry, session, name="操作记录", category="系统",
                                   endpoint="audit"))
    admin.add_view(AccountView(name="我的账号", endpoint="account", url="/admin/account"))
    return admin
