"""Console sign-in: Flask-Login users, login rate limit (Redis), idle expiry, roles, audit.

Sessions are revocable on the server: the cookie names the account's ``session_version``
(models.staff), which logout, a password change and ``taoyuan staff passwd`` bump, so a copied
cookie stops working. A session also ends after ``[console] idle_minutes`` without a request
and, however busy, ``[console] max_hours`` after sign-in (the sign-in time is in the signed
cookie; Flask re-signs the cookie on every request, so its own expiry never comes).

Roles (models.staff): 管理员 ``admin`` sees every page; 工作人员 ``staff`` sees all but the staff
accounts and the audit log. A view that is not for her role answers 403; anyone not signed in
is sent to the login page.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   session, url_for)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from bot.console import lockout
from models import audit
from models.staff import StaffError, StaffUser, authenticate

log = logging.getLogger(__name__)

#: Idle minutes before a console session expires (config ``[console] idle_minutes``).
DEFAULT_IDLE_MINUTES = 30
#: Hours after sign-in when a console session ends, busy or not (``[console] max_hours``).
DEFAULT_MAX_HOURS = 12

bp = Blueprint("console_auth", __name__, url_prefix="/admin", template_folder="templates")


@dataclass
class ConsoleUser(UserMixin):
    """The signed-in staff member, detached from any database session."""

    id: int
    username: str
    display_name: str
    role: str
    openid: str | None
    session_version: int

    @classmethod
    def from_row(cls, row: StaffUser) -> "ConsoleUser":
        return cls(row.id, row.username, row.display_name or row.username, row.role, row.openid,
                   row.session_version)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def services():
    """The app's :class:`bot.core.services.Services`."""
    return current_app.extensions["taoyuan"]


def client_ip() -> str:
    """The client's address: ``remote_addr``, which ProxyFix sets from X-Forwarded-For when
    ``[console] trusted_proxies`` is set (see :mod:`bot.console`)."""
    return request.remote_addr or "?"


def audit_log(action: str, target: str = "", target_id: object = "", summary: str = "") -> None:
    """Write one audit entry for the signed-in staff member, in its own transaction."""
    actor = current_user.username if current_user.is_authenticated else "anonymous"
    with services().db.session() as s:
        audit.record(s, actor, action, target, target_id, summary, ip=client_ip())


# -- rate limit (bot.console.lockout) -----------------------------------------------------------
#: What a locked sign-in is told, by what is locked (:func:`bot.console.lockout.blocked`).
LOCKED_MESSAGES = {
    lockout.PAIR: "登录失败次数过多，该账号在这台电脑（当前网络地址）上已暂时锁定，请 15 分钟后再试；"
                  "如急需登录，请联系管理员在服务器上运行 taoyuan staff unlock 用户名 解锁。",
    lockout.ADDRESS: "这台电脑（当前网络地址）登录失败次数过多，已暂时锁定，请 15 分钟后再试，"
                     "或请联系管理员。",
    lockout.ACCOUNT: "该账号在各处登录失败的次数过多（可能有人在猜密码），已暂时锁定。请联系管理员在服务器上"
                     "运行 taoyuan staff unlock 用户名 解锁，并考虑修改密码。",
}


_proxy_warned = False


def _warn_untrusted_proxy() -> None:
    """Once per process: a forwarded address arrives while ``[console] trusted_proxies`` is 0,
    so every client behind that proxy shares its address (and its lockout)."""
    global _proxy_warned
    if _proxy_warned or "X-Forwarded-For" not in request.headers:
        return
    if int(services().config.section("console").get("trusted_proxies", 0)):
        return
    _proxy_warned = True
    log.warning("console: X-Forwarded-For received but [console] trusted_proxies = 0: every "
                "client behind the proxy counts as %s for login lockout and the audit log; "
                "behind one nginx set trusted_proxies = 1", request.remote_addr)


def login_blocked(username: str) -> str | None:
    """What is locked for this sign-in (:func:`bot.console.lockout.blocked`), or None."""
    return lockout.blocked(services(), username, client_ip())


def note_failure(username: str) -> None:
    lockout.note_failure(services(), username, client_ip())


def clear_failures(username: str) -> None:
    lockout.clear_success(services(), username, client_ip())


# -- forms and routes ------------------------------------------------------------------------
class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请填写用户名"), Length(max=32)])
    password = PasswordField("密码", validators=[DataRequired("请填写密码"), Length(max=128)])


class AccountForm(FlaskForm):
    display_name = StringField("显示名称", validators=[Optional(), Length(max=64)])
    openid = StringField("我的微信 openid（用于群发预览）", validators=[Optional(), Length(max=64)])
    password = PasswordField("新密码（不改请留空）", validators=[Optional(), Length(min=8, max=128)])
    current_password = PasswordField("当前密码（修改密码时必填）",
                                     validators=[Optional(), Length(max=128)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign-in page; too many failures in 15 minutes for the username from this address, from
    this address, or (many more) for the username from anywhere (:mod:`bot.console.lockout`)
    block further tries (429) with a message saying which, and whom to ask."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        _warn_untrusted_proxy()
        locked = login_blocked(username)
        if locked:
            flash(LOCKED_MESSAGES[locked], "error")
            status = 429
        else:
            with services().db.session() as s:
                user = authenticate(s, username, form.password.data)
                if user is None:
                    audit.record(s, username[:32] or "?", "login_failed", "staff_users", "",
                                 "登录失败", ip=client_ip())
                else:
                    audit.record(s, user.username, "login", "staff_users", user.id, "登录",
                                 ip=client_ip())
                    console_user = ConsoleUser.from_row(user)
            if user is None:
                note_failure(username)
                flash("用户名或密码不正确。", "error")
                status = 401
            else:
                clear_failures(username)
                session.clear()
                login_user(console_user)
                session["console_seen"] = session["console_login_at"] = int(time.time())
                session.permanent = True
                target = request.args.get("next") or ""
                if not target.startswith("/admin") or target.startswith("//"):
                    target = url_for("admin.index")
                return redirect(target)
    return render_template("console/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: the account's ``session_version`` is bumped, so this cookie (and any copy of
    it, and the account's other signed-in browsers) no longer signs anyone in."""
    if current_user.is_authenticated:
        with services().db.session() as s:
            row = s.get(StaffUser, current_user.id)
            if row is not None:
                row.revoke_sessions()
            audit.record(s, current_user.username, "logout", "staff_users", current_user.id,
                         "退出登录", ip=client_ip())
    logout_user()
    session.clear()
    flash("您已退出登录。", "info")
    return redirect(url_for("console_auth.login"))


# -- wiring ----------------------------------------------------------------------------------
def init_auth(app, svc) -> LoginManager:
    """Flask-Login with a user loader that checks the account is active and the password
    has not changed since sign-in; idle expiry for /admin requests."""
    manager = LoginManager()
    manager.login_view = "console_auth.login"
    manager.login_message = "请先登录。"
    manager.init_app(app)
    cfg = svc.config.section("console")
    idle = float(cfg.get("idle_minutes", DEFAULT_IDLE_MINUTES)) * 60
    lifetime = float(cfg.get("max_hours", DEFAULT_MAX_HOURS)) * 3600

    @manager.user_loader
    def load_user(user_id: str):
        try:
            uid, version = (int(x) for x in user_id.split(":", 1))
        except (ValueError, AttributeError):
            return None
        with svc.db.session() as s:
            row = s.get(StaffUser, uid)
            if row is None or not row.active or row.session_version != version:
                return None
            return ConsoleUser.from_row(row)

    @app.before_request
    def _idle_expiry():
        if not request.path.startswith("/admin") or request.path.startswith("/admin/static"):
            return None
        if "_user_id" not in session:
            return None
        now = int(time.time())
        seen = session.get("console_seen", 0)
        started = session.get("console_login_at", 0)  # none: a cookie from before this rule
        if now - seen > idle or now - started > lifetime:
            logout_user()
            session.clear()
            flash("登录已超时，请重新登录。" if now - seen > idle else
                  f"登录已超过 {lifetime / 3600:g} 小时，为了安全请重新登录。", "info")
            return redirect(url_for("console_auth.login", next=request.full_path.rstrip("?")))
        session["console_seen"] = now
        return None

    app.register_blueprint(bp)
    return manager


def require_role(admin_only: bool):
    """Access check for views: redirect to login, or 403 for the wrong role."""
    if not current_user.is_authenticated:
        return redirect(url_for("console_auth.login", next=request.full_path.rstrip("?")))
    if admin_only and not current_user.is_admin:
        abort(403)
    return None
