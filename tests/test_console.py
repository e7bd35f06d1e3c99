"""Console: login, permissions (not signed in / wrong role / CSRF missing), rate limit,
idle expiry, audit log, keyword 试一试, outbox with masked data."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.audit import AuditEntry, mask_phone
from models.keywords import KeywordReply
from models.staff import StaffExists, WeakPassword, add_staff, authenticate

PASSWORD = "mima-12345"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(client, path: str = "/admin/login") -> str:
    """The CSRF token from a console page's form."""
    m = _TOKEN.search(client.get(path).get_data(as_text=True))
    assert m, f"no csrf_token on {path}"
    return m.group(1) or m.group(2)


def make_staff(services, username: str = "admin1", role: str = "admin", openid: str | None = None):
    with services.db.session() as s:
        add_staff(s, username, PASSWORD, role, openid=openid)


def login(client, username: str = "admin1", password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/admin/login", data={"csrf_token": token, "username": username,
                                             "password": password})


@pytest.fixture
def admin_client(services, client):
    make_staff(services, "admin1", "admin", openid="o-admin-preview")
    assert login(client).status_code == 302
    return client


@pytest.fixture
def staff_client(services, client):
    make_staff(services, "worker", "staff")
    assert login(client, "worker").status_code == 302
    return client


def test_staff_model_rules(services):
    with services.db.session() as s:
        add_staff(s, "li", PASSWORD, "staff")
        with pytest.raises(StaffExists):
            add_staff(s, "li", PASSWORD, "staff")
        with pytest.raises(WeakPassword):
            add_staff(s, "wang", "short", "staff")
        row = s.scalar(select(AuditEntry).limit(1))
        assert row is None
        assert authenticate(s, "li", PASSWORD) is not None
        assert authenticate(s, "li", "wrong-password") is None
        assert authenticate(s, "nobody", PASSWORD) is None


def test_answerer_name_is_the_display_name(services):
    from models.staff import answerer_name

    with services.db.session() as s:
        add_staff(s, "li", PASSWORD, "staff", display_name="李主任")
        add_staff(s, "wang", PASSWORD, "staff")
        assert answerer_name(s, "li") == "李主任"
        assert answerer_name(s, "wang") == "wang"
        assert answerer_name(s, "陈姐") == "陈姐"


def test_not_logged_in_redirects_to_login(client):
    for path in ("/admin/", "/admin/keywords/", "/admin/stats/", "/admin/broadcasts/",
                 "/admin/staff/", "/admin/stats/export.xlsx"):
        r = client.get(path)
        assert r.status_code == 302, path
        assert "/admin/login" in r.headers["Location"], path


def test_login_page_is_chinese(client):
    body = client.get("/admin/login").get_data(as_text=True)
    assert "用户名" in body and "密码" in body


def test_wrong_role_gets_403(staff_client):
    assert staff_client.get("/admin/staff/").status_code == 403
    assert staff_client.get("/admin/audit/").status_code == 403
    assert staff_client.get("/admin/keywords/").status_code == 200
    body = staff_client.get("/admin/").get_data(as_text=True)
    assert "工作人员账号" not in body  # not in her menu either


def test_admin_sees_chinese_pages(admin_client):
    for path in ("/admin/", "/admin/keywords/", "/admin/outbox/", "/admin/columns/",
                 "/admin/articles/", "/admin/broadcasts/", "/admin/stats/", "/admin/staff/",
                 "/admin/audit/", "/admin/followers/", "/admin/account/"):
        r = admin_client.get(path)
        assert r.status_code == 200, path
    body = admin_client.get("/admin/keywords/").get_data(as_text=True)
    assert "关键词" in body and "创建" in body and "列表" in body  # Flask-Admin's own strings translated too


def test_post_without_csrf_is_refused(admin_client, services):
    r = admin_client.post("/admin/keywords/new/", data={"keyword": "义剪", "match": "exact",
                                                        "reply_text": "每月17日", "priority": "0"})
    assert r.status_code == 400
    with services.db.session() as s:
        assert s.scalar(select(KeywordReply)) is None


def test_login_without_csrf_is_refused(services, client):
    make_staff(services)
    r = client.post("/admin/login", data={"username": "admin1", "password": PASSWORD})
    assert r.status_code == 400


def test_create_keyword_is_audited(admin_client, services):
    token = csrf_token(admin_client, "/admin/keywords/new/")
    r = admin_client.post("/admin/keywords/new/", data={
        "csrf_token": token, "keyword": "义剪", "match": "exact",
        "reply_text": "每月17日爱心义剪，电话 13812341234", "priority": "0", "active": "y"})
    assert r.status_code == 302
    with services.db.session() as s:
        row = s.scalar(select(KeywordReply))
        assert row.keyword == "义剪"
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "create"))
        assert entry.actor == "admin1" and entry.target == "keyword_replies"
        assert entry.target_id == str(row.id)
        assert "138****1234" in entry.summary and "13812341234" not in entry.summary


def test_try_box_answers_like_the_bot_and_changes_nothing(admin_client, services):
    with services.db.session() as s:
        s.add(KeywordReply(keyword="义剪", match="exact", reply_text="每月17日是固定义剪日",
                           priority=0, active=True))
    token = csrf_token(admin_client, "/admin/keywords/try")
    r = admin_client.post("/admin/keywords/try", data={"csrf_token": token, "text": "义剪"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "每月17日是固定义剪日" in body
    from models.followers import Follower

    with services.db.session() as s:
        assert s.scalar(select(Follower)) is None  # the sandbox session was rolled back


def test_login_rate_limited(services, client):
    make_staff(services)
    for _ in range(5):
        assert login(client, password="wrong-password").status_code == 401
    r = login(client)  # right password, but blocked now
    assert r.status_code == 429
    assert "15 分钟" in r.get_data(as_text=True)
    with services.db.session() as s:
        fails = s.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).all()
        assert len(fails) == 5


def test_lockout_is_per_account_not_per_ip(services, client):
    """Tester: 6 wrong passwords for worker1 locked admin1 (right password, same IP) too."""
    make_staff(services, "admin1", "admin")
    make_staff(services, "worker1", "staff")
    for _ in range(6):
        assert login(client, "worker1", "wrong-password").status_code in (401, 429)
    assert login(client, "worker1").status_code == 429
    assert login(client, "admin1").status_code == 302


def test_lockout_per_ip_has_a_higher_limit(services, client):
    from bot.console import lockout

    make_staff(services, "admin1", "admin")
    for i in range(lockout.IP_MAX):
        login(client, f"guess{i}", "wrong-password")
    assert login(client, "admin1").status_code == 429


def test_staff_unlock_cli(services, client, tmp_path):
    from click.testing import CliRunner

    from bot.cli import main

    make_staff(services, "worker1", "staff")
    for _ in range(5):
        login(client, "worker1", "wrong-password")
    assert login(client, "worker1").status_code == 429
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{services.config.database_url}"\n'
                   f'[redis]\nurl = "redis://127.0.0.1:6379/0"\nprefix = "{services.keys.prefix}"\n'
                   f'[app]\ninstance_dir = "{tmp_path}"\n')
    r = CliRunner().invoke(main, ["--config", str(cfg), "staff", "unlock", "worker1"])
    assert r.exit_code == 0, r.output
    assert "已解除 worker1 的登录锁定" in r.output
    assert login(client, "worker1").status_code == 302
    with services.db.session() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "unlock")).actor == "cli"


def test_idle_session_expires(services, client, monkeypatch):
    make_staff(services)
    login(client)
    assert client.get("/admin/").status_code == 200
    import bot.console.auth as auth_mod

    now = auth_mod.time.time()
    monkeypatch.setattr(auth_mod.time, "time", lambda: now + 31 * 60)
    r = client.get("/admin/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_password_change_logs_out_other_sessions(services, app):
    make_staff(services)
    first, second = app.test_client(), app.test_client()
    login(first)
    login(second)
    token = csrf_token(first, "/admin/account/")
    r = first.post("/admin/account/", data={"csrf_token": token, "display_name": "李主任",
                                            "openid": "o-li", "password": "new-password-1",
                                            "current_password": PASSWORD})
    assert r.status_code == 302
    assert first.get("/admin/").status_code == 200
    assert second.get("/admin/").status_code == 302


def test_logout_needs_post_with_csrf(admin_client):
    assert admin_client.post("/admin/logout").status_code == 400
    token = csrf_token(admin_client, "/admin/")
    assert admin_client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_outbox_page_masks_phones(admin_client, services):
    from models.outbox import OutboxMessage

    with services.db.session() as s:
        s.add(OutboxMessage(api="message/custom/send", openid="oABCDEFGHIJKLMNOP",
                            payload='{"text": {"content": "您的电话 13912345678 已登记"}}'))
    body = admin_client.get("/admin/outbox/").get_data(as_text=True)
    assert "139****5678" in body and "13912345678" not in body


def test_admin_creates_staff_account(admin_client, services):
    token = csrf_token(admin_client, "/admin/staff/new/")
    r = admin_client.post("/admin/staff/new/", data={
        "csrf_token": token, "username": "zhang", "display_name": "张", "role": "staff",
        "active": "y", "openid": "", "new_password": "zhang-pass-1"})
    assert r.status_code == 302
    with services.db.session() as s:
        assert authenticate(s, "zhang", "zhang-pass-1").role == "staff"


def test_mask_phone():
    assert mask_phone("电话13812341234，座机0595-23881234") == "电话138****1234，座机0595-23881234"


def test_staff_cli(services, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{services.config.database_url}"\n'
                   f'[redis]\nurl = "redis://127.0.0.1:6379/0"\nprefix = "{services.keys.prefix}"\n'
                   f'[app]\ninstance_dir = "{tmp_path}"\n')
    runner = CliRunner()
    r = runner.invoke(main, ["--config", str(cfg), "staff", "add", "chen", "--role", "admin",
                             "--password", "chen-pass-1"])
    assert r.exit_code == 0, r.output
    assert "已创建账号 chen（管理员）" in r.output
    r = runner.invoke(main, ["--config", str(cfg), "staff", "add", "chen", "--role", "admin",
                             "--password", "chen-pass-1"])
    assert r.exit_code != 0 and "已存在" in r.output
    r = runner.invoke(main, ["--config", str(cfg), "staff", "add", "wu"], input="wu-pass-123\nwu-pass-123\n")
    assert r.exit_code == 0, r.output
    with services.db.session() as s:
        assert authenticate(s, "wu", "wu-pass-123").role == "staff"
