"""The staff console at ``/admin`` (Flask-Admin, Flask-Login, Flask-WTF CSRF, Chinese UI).

``init_app(app, services)`` is listed in ``bot.app.APP_MODULES``. Every POST under /admin must
carry the CSRF token; the webhook and other blueprints are not affected. Pages for features
that are not installed (their model module is missing) are simply left out.
"""
from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from flask import request
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import scoped_session

from bot.console import auth
from bot.console.base import IndexView

log = logging.getLogger(__name__)

#: Chinese locale of Flask-Admin's own strings (its zh_Hans_CN catalogue).
LOCALE = "zh_Hans_CN"


def init_app(app, services) -> Admin:
    """Mount the console on ``app``; returns the Flask-Admin instance."""
    from bot.console import broadcasts, extra, stats, views
    from bot.console.account import AccountView
    from models.article import Article, ArticleColumn
    from models.audit import AuditEntry
    from models.follower import Follower
    from models.keyword import KeywordReply
    from models.outbox import OutboxMessage
    from models.staff import StaffUser

    cfg = services.config.section("console")
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked below, for /admin only
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)      # the login session bounds it
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(cfg.get("max_hours", 12)))
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", services.config.app["timezone"])
    Babel(app, locale_selector=lambda: LOCALE)
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf_for_console():
        if request.path.startswith("/admin") and request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()

    auth.init_auth(app, services)
    session = scoped_session(services.db.Session)
    app.teardown_appcontext(lambda exc: session.remove())

    # Flask-Admin 2.x prefers a Flask-SQLAlchemy object; our own scoped session still works.
    warnings.filterwarnings("ignore", message="Passing a session object directly is deprecated",
                            category=DeprecationWarning)
    admin = Admin(app, name="桃源姐妹 后台", theme=Bootstrap4Theme(base_template="console/master.html"),
                  index_view=IndexView(name="首页", url="/admin"))
    admin.add_view(stats.StatsView(name="月度数据", endpoint="stats"))
    extra.add_feature_views(admin, session)
    admin.add_view(views.KeywordReplyView(KeywordReply, session, name="关键词回复", category="公众号",
                                          endpoint="keywords"))
    admin.add_view(views.ColumnView(ArticleColumn, session, name="专栏", category="专栏与群发",
                                    endpoint="columns"))
    admin.add_view(views.ArticleView(Article, session, name="专栏文章", category="专栏与群发",
                                     endpoint="articles"))
    admin.add_view(broadcasts.BroadcastView(name="群发", category="专栏与群发", endpoint="broadcasts"))
    admin.add_view(views.FollowerView(Follower, session, name="关注者", category="公众号",
                                      endpoint="followers"))
    admin.add_view(views.OutboxView(OutboxMessage, session, name="发件箱", category="公众号",
                                    endpoint="outbox"))
    admin.add_view(views.StaffView(StaffUser, session, name="工作人员账号", category="系统",
                                   endpoint="staff"))
    admin.add_view(views.AuditView(AuditEntry, session, name="操作记录", category="系统",
                                   endpoint="audit"))
    admin.add_view(AccountView(name="我的账号", endpoint="account", url="/admin/account"))
    return admin
