"""Issue 16 item 12: what staff read in the console is Chinese and worded for them, never the
internals: no ``ImportResult(...)``, no "active: true" tooltips, no 「保存记录成功」, staff by
name (命令行 for the CLI), the outbox in words (no API paths or JSON), delivery statuses and
template fields in words, no 「菜单 key」."""
from __future__ import annotations

from io import BytesIO

from models import audit
from models.reminders import DeliveryLog, Reminder, ensure_default_reminders
from models.staff import StaffUser
from tests.helpers import csrf_token, login, make_staff


def _admin(services, client):
    make_staff(services, "li", "admin")
    with services.db.session() as s:
        s.query(StaffUser).filter_by(username="li").one().display_name = "李主任"
    login(client, "li")


def test_import_says_what_it_did_in_words(services, client):
    _admin(services, client)
    csv = "名称,乡镇,纬度,经度,电话,简介\n富临国际小区妇女微家,桃城镇,25.32,118.29,,\n"
    r = client.post("/admin/points/import", data={
        "csrf_token": csrf_token(client, "/admin/points/"), "dry_run": "1",
        "file": (BytesIO(csv.encode("utf-8-sig")), "points.csv")},
        content_type="multipart/form-data", follow_redirects=True)
    body = r.get_data(as_text=True)
    assert "检查通过（未导入）：将新增 1 个" in body and "ImportResult" not in body


def test_lists_audit_and_outbox_in_words(services, client):
    _admin(services, client)
    with services.db.session() as s:
        audit.record(s, "cli", "create", "staff_users", "1", "创建账号 li（管理员）")
        audit.record(s, "li", "update", "keywords", "1", "修改关键词")
        ensure_default_reminders(s)
        rid = s.query(Reminder).filter_by(name="义剪-当天").one().id
        s.add(DeliveryLog(reminder_id=rid, occurrence="2026-12-17T00:00Z", openid="oWoman00001",
                          channel="template", status="delivered"))
    services.wechat.send_text("oWoman00001", "您好，活动明天开始。")
    page = client.get("/admin/audit/").get_data(as_text=True)
    assert "命令行" in page and "李主任" in page and ">cli<" not in page and ">li<" not in page
    staff = client.get("/admin/staff/").get_data(as_text=True)
    assert "active: true" not in staff and ": true" not in staff
    outbox = client.get("/admin/outbox/").get_data(as_text=True)
    assert "客服消息" in outbox and "您好，活动明天开始。" in outbox
    table = outbox[outbox.index("model-list"):outbox.index("filter-groups-data")]  # (its values)
    assert "message/custom/send" not in table and "touser" not in outbox
    deliveries = client.get("/admin/deliveries/").get_data(as_text=True)
    assert "已送达" in deliveries and "模板消息" in deliveries and "义剪-当天" in deliveries
    assert ">delivered<" not in deliveries and ">template<" not in deliveries
    preview = client.get(f"/admin/reminders/{rid}/preview").get_data(as_text=True)
    assert "thing1" not in preview and "事项（第1栏）" in preview
    columns = client.get("/admin/columns/").get_data(as_text=True)
    assert "菜单 key" not in columns


def test_flask_admin_saved_message_is_worded_for_staff():
    from bot.console.base import zh_flash

    assert zh_flash("保存记录成功") == "已保存。" and zh_flash("创建记录成功。") == "已新建。"
