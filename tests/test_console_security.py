"""Console safe defaults (issue 12, items 7-13): client address behind a proxy, cookie flags and
security headers, revocable sessions with an absolute lifetime, spreadsheet formula injection,
http(s)-only links, body and import size limits, file modes, huge ids, import error text and the
help answer form."""
from __future__ import annotations

import csv
import io
import os
import stat
from datetime import datetime, timedelta, timezone
from io import BytesIO

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from bot.app import create_app
from bot.services import build_services
from models.audit import AuditEntry
from tests.conftest import _empty_tables, make_config
from tests.test_console import PASSWORD, csrf_token, login, make_staff

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
def make_app(db_url, redis_prefix, tmp_path):
    """Build an app with extra config sections (``console={...}``); services cleaned up."""
    made = []

    def build(**sections):
        svc = build_services(make_config(db_url, redis_prefix, tmp_path, **sections))
        _empty_tables(svc)
        made.append(svc)
        return create_app(services=svc), svc

    yield build
    for svc in made:
        _empty_tables(svc)
        svc.db.dispose()


def _login_from(client, ip: str, username: str, password: str = PASSWORD):
    """A sign-in through a proxy at 127.0.0.1 that forwards for ``ip``."""
    return client.post("/admin/login", headers={"X-Forwarded-For": ip},
                       environ_base={"REMOTE_ADDR": "127.0.0.1"},
                       data={"csrf_token": csrf_token(client), "username": username,
                             "password": password})


# -- 7. lockout behind a proxy ---------------------------------------------------------------
@SQLITE_ONLY
def test_lockout_and_audit_use_the_forwarded_client_address(make_app, monkeypatch):
    """Behind nginx every request comes from 127.0.0.1: 30 wrong passwords from one attacker
    locked every staff member out. With trusted_proxies = 1 the lockout and the audit log use
    the client address nginx forwards."""
    from bot.console import lockout

    monkeypatch.setattr(lockout, "IP_MAX", 4)
    app, svc = make_app(console={"trusted_proxies": 1})
    make_staff(svc, "admin1", "admin")
    attacker, office = app.test_client(), app.test_client()
    for i in range(lockout.IP_MAX):
        assert _login_from(attacker, "203.0.113.7", f"guess{i}", "wrong-password").status_code == 401
    assert _login_from(attacker, "203.0.113.7", "admin1").status_code == 429
    assert _login_from(office, "198.51.100.9", "admin1").status_code == 302
    with svc.db.session() as s:
        ips = {(e.action, e.ip) for e in s.scalars(select(AuditEntry))}
    assert ("login_failed", "203.0.113.7") in ips and ("login", "198.51.100.9") in ips
    assert not any(ip == "127.0.0.1" for _, ip in ips)


@SQLITE_ONLY
def test_forwarded_for_is_ignored_without_a_trusted_proxy(make_app):
    """Default 0: a client cannot pick its own address with X-Forwarded-For."""
    app, svc = make_app()
    make_staff(svc, "admin1", "admin")
    assert _login_from(app.test_client(), "203.0.113.7", "admin1").status_code == 302
    with svc.db.session() as s:
        assert s.scalar(select(AuditEntry.ip).where(AuditEntry.action == "login")) == "127.0.0.1"


def test_trusted_proxies_config_is_checked():
    from bot.config import ConfigError, load_config

    assert load_config(overrides={"console": {"trusted_proxies": 0}}, environ={})
    assert load_config(overrides={"console": {"trusted_proxies": 2, "https": True}}, environ={})
    for bad in ({"trusted_proxies": -1}, {"trusted_proxies": "1"}, {"https": "yes"}):
        with pytest.raises(ConfigError, match="console."):
            load_config(overrides={"console": bad}, environ={})


# -- 8. cookies and headers ------------------------------------------------------------------
def _session_cookie(response) -> str:
    cookies = [v for v in response.headers.getlist("Set-Cookie") if v.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


@SQLITE_ONLY
def test_session_cookie_flags(make_app):
    app, svc = make_app()  # dry run = development over http: not Secure
    make_staff(svc)
    cookie = _session_cookie(login(app.test_client()))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    app, svc = make_app(console={"https": True})
    make_staff(svc, "admin2")
    cookie = _session_cookie(login(app.test_client(), "admin2"))
    assert "Secure" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie


def test_https_is_the_default_in_production():
    from bot.config import load_config
    from bot.console import https_enabled

    prod = {"wechat": {"app_secret": "0123456789abcdef0123456789abcdef"}}
    assert https_enabled(load_config(overrides=prod, environ={}))
    assert not https_enabled(load_config(overrides={**prod, "console": {"https": False}}, environ={}))
    assert not https_enabled(load_config(environ={}))


SECURITY = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


@SQLITE_ONLY
def test_security_headers_on_every_console_response(services, client):
    make_staff(services)
    anonymous = client.get("/admin/login")
    login(client)
    for r in (anonymous, client.get("/admin/"), client.get("/admin/stats/export.xlsx"),
              client.get("/admin/points/export.xlsx"), client.get("/admin/no-such-page")):
        for name, value in SECURITY.items():
            assert r.headers.get(name) == value, (r.request.path, name)
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "no-store" not in client.get("/healthz").headers.get("Cache-Control", "")


# -- 9. sessions -----------------------------------------------------------------------------
def _copy_session(source, target) -> None:
    target.set_cookie("session", source.get_cookie("session").value)


def test_logout_invalidates_a_copied_cookie(services, app):
    make_staff(services)
    browser, thief = app.test_client(), app.test_client()
    login(browser)
    _copy_session(browser, thief)
    assert thief.get("/admin/").status_code == 200
    token = csrf_token(browser, "/admin/")
    assert browser.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    r = thief.get("/admin/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


@SQLITE_ONLY
def test_session_ends_after_max_hours_however_busy(services, client, monkeypatch):
    import bot.console.auth as auth_mod

    make_staff(services)
    login(client)
    start = auth_mod.time.time()
    clock = {"now": start}
    monkeypatch.setattr(auth_mod.time, "time", lambda: clock["now"])
    while clock["now"] < start + 11.9 * 3600:  # a request every 20 minutes: never idle
        clock["now"] += 20 * 60
        assert client.get("/admin/").status_code == 200
    clock["now"] = start + 12 * 3600 + 60
    r = client.get("/admin/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    assert "12 小时" in client.get(r.headers["Location"]).get_data(as_text=True)


@SQLITE_ONLY
def test_cookie_without_sign_in_time_is_refused(services, app):
    """A session cookie signed before the absolute limit existed has no sign-in time."""
    make_staff(services)
    client = app.test_client()
    login(client)
    with client.session_transaction() as sess:
        sess.pop("console_login_at")
    assert client.get("/admin/").status_code == 302


def test_password_change_needs_the_current_password(services, client):
    from models.staff import authenticate

    make_staff(services)
    login(client)
    for current, error in (("", "修改密码请先填写当前密码"), ("wrong-password", "当前密码不正确")):
        token = csrf_token(client, "/admin/account/")
        r = client.post("/admin/account/", data={"csrf_token": token, "display_name": "",
                                                  "openid": "", "password": "new-password-1",
                                                  "current_password": current})
        assert r.status_code == 200 and error in r.get_data(as_text=True)
    with services.db.session() as s:
        assert authenticate(s, "admin1", PASSWORD) is not None
        assert authenticate(s, "admin1", "new-password-1") is None
    token = csrf_token(client, "/admin/account/")
    r = client.post("/admin/account/", data={"csrf_token": token, "display_name": "",
                                              "openid": "", "password": "new-password-1",
                                              "current_password": PASSWORD})
    assert r.status_code == 302
    with services.db.session() as s:
        assert authenticate(s, "admin1", "new-password-1") is not None
    assert client.get("/admin/").status_code == 200  # her own session goes on


@SQLITE_ONLY
def test_admin_cannot_change_her_own_password_on_the_staff_page(services, client):
    from models.staff import StaffUser, authenticate

    make_staff(services)
    login(client)
    with services.db.session() as s:
        uid = s.scalar(select(StaffUser.id))
    path = f"/admin/staff/edit/?id={uid}"
    token = csrf_token(client, path)
    r = client.post(path, data={"csrf_token": token, "username": "admin1", "display_name": "",
                                "role": "admin", "active": "y", "openid": "",
                                "new_password": "new-password-1"}, follow_redirects=True)
    assert "我的账号" in r.get_data(as_text=True)
    with services.db.session() as s:
        assert authenticate(s, "admin1", PASSWORD) is not None


@SQLITE_ONLY
def test_staff_passwd_cli_ends_her_sessions(services, client, tmp_path):
    from click.testing import CliRunner

    from bot.cli import main

    make_staff(services)
    login(client)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{services.config.database_url}"\n'
                   f'[redis]\nurl = "redis://127.0.0.1:6379/0"\nprefix = "{services.keys.prefix}"\n'
                   f'[app]\ninstance_dir = "{tmp_path}"\n')
    r = CliRunner().invoke(main, ["--config", str(cfg), "staff", "passwd", "admin1",
                                  "--password", "new-password-1"])
    assert r.exit_code == 0, r.output
    assert client.get("/admin/").status_code == 302
