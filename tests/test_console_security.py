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
from bot.app import wire_services
from models.audit import AuditEntry
from tests.conftest import _empty_tables, make_config
from tests.helpers import PASSWORD, csrf_token, login, make_staff

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
FORMULA = "=cmd|' /C calc'!A0"


@pytest.fixture
def make_app(db_url, redis_prefix, tmp_path):
    """Build an app with extra config sections (``console={...}``); services cleaned up."""
    made = []

    def build(**sections):
        svc = wire_services(make_config(db_url, redis_prefix, tmp_path, **sections))
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
    from bot.core.config import ConfigError, load_config

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
    from bot.core.config import load_config
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


# -- 10. spreadsheet formula injection -------------------------------------------------------
def test_safe_cell_rule():
    from models.spreadsheet import formula_like, safe_cell, unquote_cell

    for text in (FORMULA, "+1+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "-", "+86 595 2388 1234"):
        assert safe_cell(text) == "'" + text and unquote_cell(safe_cell(text)) == text
    for value in ("林美", "", None, -3, -2.5, 0, 13800001111, "'quoted"):
        assert safe_cell(value) == value
    assert formula_like(FORMULA) and formula_like("@x") and formula_like("-2+3")
    assert not any(formula_like(t) for t in ("-", "--", "-3", "+1.5", "林美", ""))


def test_exports_write_no_formulas(services, client):
    """Activity signups, service points (XLSX and CSV) and the monthly figures: a value typed as
    =cmd|... comes back as text with a leading ', numbers stay numbers."""
    from models.activities import Signup, add_activity
    from models.base import utcnow
    from models.directory_io import write_table
    from models.directory import ServicePoint

    with services.db.session() as s:
        act = add_activity(s, title="家政培训", category="家政培训",
                           starts_at=utcnow() + timedelta(days=3))
        s.add(Signup(activity_id=act.id, openid="w1", role="volunteer", status="attended",
                     name=FORMULA, phone="-", hours=-1.5, attended_at=utcnow()))
        s.add(ServicePoint(name="@SUM(1+1)*cmd", town="桃城镇", lat=25.32, lng=118.29,
                           phone="+86 595 2388 1234"))
        aid = act.id
    make_staff(services)
    login(client)
    rows = list(load_workbook(BytesIO(client.get(f"/admin/activities/{aid}/export.xlsx").data))
                .active.iter_rows(values_only=True))
    row = rows[next(i for i, r in enumerate(rows) if r[0] == "报名号") + 1]  # after the title rows
    assert row[3] == "'" + FORMULA and row[4] == "'-" and row[7] == -1.5
    sheet = load_workbook(BytesIO(client.get("/admin/points/export.xlsx").data)).active
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    assert [c.value for c in sheet[2]][0] == "'@SUM(1+1)*cmd"
    with services.db.session() as s:
        from models.directory import export_records

        records = export_records(s)
    write_table(services.config.instance_dir.parent / "p.csv", records)
    text = (services.config.instance_dir.parent / "p.csv").read_text(encoding="utf-8-sig")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["名称"] == "'@SUM(1+1)*cmd" and row["电话"] == "'+86 595 2388 1234"


def test_monthly_figures_export_writes_no_formulas():
    from models.stats import MonthlyFigures, to_xlsx

    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    fig = MonthlyFigures(month="2026-11", start=now, end=now, metrics=["signups"],
                         towns={"=1+1": {"signups": 2}},
                         points=[{"name": FORMULA, "town": "-", "signups": -1}],
                         totals={"signups": 2})
    wb = load_workbook(BytesIO(to_xlsx(fig)))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.value for c in cells if c.data_type == "f"]
    values = [c.value for c in cells]
    assert "'=1+1" in values and "'" + FORMULA in values and "'-" in values and -1 in values


def _upload(client, rows: list[list], name: str = "名录.csv", dry: bool = True):
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    data = {"csrf_token": csrf_token(client, "/admin/points/"),
            "file": (BytesIO(buf.getvalue().encode("utf-8-sig")), name)}
    if dry:
        data["dry_run"] = "1"
    return client.post("/admin/points/import", data=data, content_type="multipart/form-data",
                       follow_redirects=True)


HEADER = ["名称", "乡镇", "纬度", "经度", "电话", "简介"]


@SQLITE_ONLY
def test_import_refuses_formulas_but_not_phones_or_numbers(services, client):
    make_staff(services)
    login(client)
    body = _upload(client, [HEADER, [FORMULA, "桃城镇", "25.32", "118.29", "", ""],
                            ["微家二", "桃城镇", "25.32", "118.29", "", "+cmd|' /C calc'!A0"]]
                   ).get_data(as_text=True)
    assert "导入未执行" in body and "第2行「名称」" in body and "第3行「简介」" in body
    assert "当作公式" in body
    body = _upload(client, [HEADER, ["微家一", "桃城镇", "25.32", "118.29", "-", "-"],
                            ["微家二", "桃城镇", "25.33", "118.29", "+86 595 2388 1234", ""],
                            ["微家三", "桃城镇", "25.34", "118.29", "'-", "'-"]]
                   ).get_data(as_text=True)
    assert "检查通过（未导入）" in body, body


@SQLITE_ONLY
def test_export_then_import_round_trips(services, client):
    from models.directory import ServicePoint

    with services.db.session() as s:
        s.add(ServicePoint(name="微家一", town="桃城镇", lat=25.32, lng=118.29, phone="-",
                           hours="-"))
    make_staff(services)
    login(client)
    exported = client.get("/admin/points/export.xlsx").data
    r = client.post("/admin/points/import", data={
        "csrf_token": csrf_token(client, "/admin/points/"),
        "file": (BytesIO(exported), "points.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "导入完成" in r.get_data(as_text=True)
    with services.db.session() as s:
        row = s.scalar(select(ServicePoint))
        assert (row.phone, row.hours) == ("-", "-")


# -- 11. links -------------------------------------------------------------------------------
BAD_LINKS = ("javascript:alert(document.cookie)", " JavaScript:alert(1)", "data:text/html,x",
             "http://", "https:///x", "//evil.example/x", "http://a b.example/")


def test_keyword_reply_links_must_be_http():
    from models.keywords import KeywordError, check_reply_links

    for url in BAD_LINKS:
        with pytest.raises(KeywordError, match="http"):
            check_reply_links(url)
        with pytest.raises(KeywordError, match="http"):
            check_reply_links("https://mp.weixin.qq.com/s/x", url)
    check_reply_links("HTTPS://mp.weixin.qq.com/s/x", "")
    check_reply_links(None, None)


def test_article_links_must_be_http():
    from models.columns import ArticleError, validate_article

    for url in BAD_LINKS:
        with pytest.raises(ArticleError):
            validate_article("标题", url)
        with pytest.raises(ArticleError):
            validate_article("标题", "https://mp.weixin.qq.com/s/x", url)


def test_console_refuses_javascript_links(services, client):
    from models.keywords import KeywordReply

    make_staff(services)
    login(client)
    token = csrf_token(client, "/admin/keywords/new/")
    r = client.post("/admin/keywords/new/", data={
        "csrf_token": token, "keyword": "义剪", "match": "exact", "reply_text": "",
        "article_title": "点我", "article_url": "javascript:alert(document.cookie)",
        "priority": "0", "active": "y"}, follow_redirects=True)
    assert "http:// 或 https://" in r.get_data(as_text=True)
    with services.db.session() as s:
        assert s.scalar(select(KeywordReply)) is None
        s.add(KeywordReply(keyword="旧规则", match="exact", article_title="点我",
                           article_url="javascript:alert(1)", priority=0, active=True))
    token = csrf_token(client, "/admin/keywords/try")
    body = client.post("/admin/keywords/try", data={"csrf_token": token, "text": "旧规则"}
                       ).get_data(as_text=True)
    assert 'href="javascript:alert' not in body and "javascript:alert(1)" in body  # a rule saved before the check is not a live link


# -- 12. size limits -------------------------------------------------------------------------
class _HugeBody(io.RawIOBase):
    """A 300 MB request body made up as it is read; counts what was read."""

    size = 300 * 1024 * 1024

    def __init__(self):
        self.pos = self.read_bytes = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=0):
        self.pos = self.size if whence == 2 else offset
        return self.pos

    def readinto(self, buf):
        n = min(len(buf), self.size - self.pos)
        buf[:n] = b"a" * n
        self.pos += n
        self.read_bytes += n
        return n


@SQLITE_ONLY
def test_huge_anonymous_post_is_refused_before_reading(client):
    body = _HugeBody()
    r = client.post("/admin/login", input_stream=body,
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413 and "10 MB" in r.get_data(as_text=True)
    assert body.read_bytes < 1024 * 1024


@SQLITE_ONLY
def test_webhook_keeps_its_own_cap(client):
    r = client.post("/wechat?signature=x&timestamp=1&nonce=1", data=b"a" * (65 * 1024),
                    content_type="text/xml")
    assert r.status_code == 413


@SQLITE_ONLY
def test_import_stops_past_the_row_limit(services, client, monkeypatch):
    from models import directory_io as point_io

    monkeypatch.setattr(point_io, "MAX_ROWS", 50)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(HEADER)
    for i in range(2000):
        ws.append([f"微家{i}", "桃城镇", 25.32, 118.29, "", ""])
    buf = BytesIO()
    wb.save(buf)
    make_staff(services)
    login(client)
    r = client.post("/admin/points/import", data={
        "csrf_token": csrf_token(client, "/admin/points/"), "dry_run": "1",
        "file": (BytesIO(buf.getvalue()), "名录.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "表格超过 50 行" in r.get_data(as_text=True)


def test_oversized_workbook_is_refused_before_parsing(tmp_path, monkeypatch):
    """A sheet without a <dimension> is read through by openpyxl just to open it (12 s for
    300,000 rows): the unpacked size is checked first (also against zip bombs)."""
    from models import directory_io as point_io

    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(HEADER)
    for i in range(1000):
        ws.append([f"微家{i}", "桃城镇", 25.32, 118.29, "", ""])
    path = tmp_path / "big.xlsx"
    wb.save(path)
    assert len(point_io.read_table(path)) == 1000
    monkeypatch.setattr(point_io, "MAX_XLSX_BYTES", 10_000)
    with pytest.raises(point_io.PointFileError, match="Excel文件太大"):
        point_io.read_table(path)


def test_read_table_limit_counts_points_not_blank_rows(tmp_path):
    from models.directory_io import PointFileError, read_table

    path = tmp_path / "p.csv"
    rows = [HEADER] + [["微家", "桃城镇", "25.32", "118.29", "", ""]] * 3 + [[""] * 6] * 10
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    assert len(read_table(path, max_rows=3)) == 3
    with pytest.raises(PointFileError, match="表格超过 2 行"):
        read_table(path, max_rows=2)


# -- 13. small ones --------------------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_instance_files_are_private(redis_prefix, tmp_path):
    """The embedded default: SQLite file and session key in a new instance folder."""
    cfg = make_config("", redis_prefix, tmp_path, app={"secret_key": ""})
    svc = wire_services(cfg)
    try:
        create_app(services=svc)
        with svc.db.session() as s:
            s.execute(select(1))
        folder = cfg.instance_dir
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for name in ("secret_key", "taoyuan.db"):
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    finally:
        svc.db.dispose()


HUGE_IDS = (2**31, 2**63, 10**30)


def test_huge_ids_are_404_not_500(services, client):
    make_staff(services)
    login(client)
    for n in HUGE_IDS:
        for path in (f"/admin/activities/{n}/export.xlsx", f"/admin/reminders/{n}/preview",
                     f"/admin/broadcasts/{n}"):
            assert client.get(path).status_code == 404, path
        for path in (f"/admin/activities/edit/?id={n}", f"/admin/activities/details/?id={n}",
                     f"/admin/help/edit/?id={n}", f"/admin/keywords/edit/?id=x{n}"):
            r = client.get(path)
            assert r.status_code in (302, 404), (path, r.status_code)
        for path in (f"/admin/signups/?flt0_0={n}", f"/admin/activities/?page={n}"):
            r = client.get(path)
            assert r.status_code == 200, path  # an empty list (and a note when refused)
        token = csrf_token(client, "/admin/keywords/")
        r = client.post("/admin/keywords/delete/", data={"csrf_token": token, "id": str(n)})
        assert r.status_code == 302
        r = client.post("/admin/keywords/action/", data={"csrf_token": token, "action": "delete",
                                                         "rowid": [str(n), "x"]})
        assert r.status_code == 302


def test_nul_in_a_search_is_no_error_page(services, client):
    make_staff(services)
    login(client)
    for path in ("/admin/activities/?search=%00", "/admin/keywords/?search=a%00b"):
        assert client.get(path).status_code == 200, path


@SQLITE_ONLY
def test_import_error_names_the_file_not_a_server_path(services, client, monkeypatch):
    from models import directory as service_point
    from models.directory_io import PointFileError

    def broken(_session, path, **_kw):
        raise PointFileError(f"无法读取Excel文件：[Errno 5] Input/output error: '{path}'")

    monkeypatch.setattr(service_point, "import_file", broken)
    make_staff(services)
    login(client)
    r = client.post("/admin/points/import", data={
        "csrf_token": csrf_token(client, "/admin/points/"), "dry_run": "1",
        "file": (BytesIO(b"x"), "永春名录.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    body = r.get_data(as_text=True)
    assert "永春名录.xlsx" in body and "/tmp" not in body and "upload.xlsx" not in body


@SQLITE_ONLY
def test_workbook_without_a_sheet_is_a_chinese_error(services, client):
    import zipfile

    wb = Workbook()
    wb.active.append(HEADER)
    buf = BytesIO()
    wb.save(buf)
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                zout.writestr(item, zin.read(item.filename))
    make_staff(services)
    login(client)
    r = client.post("/admin/points/import", data={
        "csrf_token": csrf_token(client, "/admin/points/"), "dry_run": "1",
        "file": (BytesIO(out.getvalue()), "名录.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200 and "「名录.xlsx」无法读取" in r.get_data(as_text=True)


def test_help_answer_form_without_answer_sends_nothing(services, client):
    from models.help import HelpRequest
    from models.outbox import OutboxMessage

    answered = datetime(2026, 1, 5, tzinfo=timezone.utc)
    with services.db.session() as s:
        row = HelpRequest(openid="o-help", category="family", status="answered", body="想咨询",
                          contact="wechat", submitted=True, answer="旧的答复",
                          answered_by="李主任", answered_at=answered, answer_delivery="sent")
        s.add(row)
        s.flush()
        rid = row.id
    make_staff(services)
    login(client)
    path = f"/admin/help/edit/?id={rid}"
    r = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert r.status_code == 200 and "请填写答复内容" in r.get_data(as_text=True)
    with services.db.session() as s:
        assert s.get(HelpRequest, rid).answered_at == answered
        assert s.scalar(select(OutboxMessage)) is None


# -- i12 fixes, finding 5: nobody can lock a named colleague out ------------------------------
@SQLITE_ONLY
def test_wrong_passwords_from_rotating_addresses_do_not_lock_the_account_elsewhere(make_app):
    """10 wrong passwords for admin1 from rotating forwarded addresses locked her out
    everywhere (429 from a new address). Now only the (account, address) pairs are locked."""
    from bot.console import lockout

    app, svc = make_app(console={"trusted_proxies": 1})
    make_staff(svc, "admin1", "admin")
    attacker = app.test_client()
    for i in range(2 * lockout.IP_USER_MAX):
        assert _login_from(attacker, f"203.0.113.{i}", "admin1", "wrong-password").status_code == 401
    for _ in range(lockout.IP_USER_MAX):
        _login_from(attacker, "203.0.113.200", "admin1", "wrong-password")
    locked = _login_from(attacker, "203.0.113.200", "admin1")  # that pair is locked
    assert locked.status_code == 429 and "taoyuan staff unlock" in locked.get_data(as_text=True)
    assert _login_from(app.test_client(), "198.51.100.9", "admin1").status_code == 302


@SQLITE_ONLY
def test_an_account_is_locked_everywhere_only_at_a_much_higher_threshold(make_app, monkeypatch):
    from bot.console import lockout

    assert lockout.USER_MAX >= 50 and lockout.USER_MAX >= 5 * lockout.IP_USER_MAX
    monkeypatch.setattr(lockout, "USER_MAX", 12)  # scaled down (50 in production)
    app, svc = make_app(console={"trusted_proxies": 1})
    make_staff(svc, "admin1", "admin")
    attacker = app.test_client()
    for i in range(lockout.USER_MAX):
        _login_from(attacker, f"203.0.113.{i}", "admin1", "wrong-password")
    office = app.test_client()
    r = _login_from(office, "198.51.100.9", "admin1")
    body = r.get_data(as_text=True)
    assert r.status_code == 429 and "请联系管理员" in body and "taoyuan staff unlock" in body
    assert lockout.unlock(svc, "admin1") >= 1
    assert _login_from(office, "198.51.100.9", "admin1").status_code == 302


@SQLITE_ONLY
def test_a_forwarded_address_without_trusted_proxies_is_warned_about(make_app, caplog):
    from bot.console import auth

    auth._proxy_warned = False
    app, svc = make_app()
    make_staff(svc, "admin1", "admin")
    with caplog.at_level("WARNING", logger="bot.console.auth"):
        _login_from(app.test_client(), "203.0.113.7", "admin1", "wrong-password")
        _login_from(app.test_client(), "203.0.113.8", "admin1", "wrong-password")
    assert caplog.text.count("trusted_proxies = 0") == 1
