"""Console pages of the other features: activities (waiting list, attendance, export),
volunteers (hours), service points (export, import check), help requests (answer), reminders."""
from __future__ import annotations

from datetime import timedelta
from io import BytesIO

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from models.base import utcnow
from tests.helpers import csrf_token, login, make_staff
from tests.clock import year_ahead

FUTURE = year_ahead(2)   # a year always ahead of the clock the tests run on


def _activity_with_signups(services) -> int:
    from models.activities import Signup, add_activity

    start = utcnow() + timedelta(days=3)
    with services.db.session() as s:
        act = add_activity(s, title="家政培训", category="家政培训", starts_at=start, capacity=1)
        s.add_all([
            Signup(activity_id=act.id, openid="w1", role="participant", status="attended",
                   name="林美", phone="13911112222", attended_at=utcnow()),
            Signup(activity_id=act.id, openid="w2", role="participant", status="waiting",
                   name="陈芳", phone="13733334444"),
            Signup(activity_id=act.id, openid="v1", role="volunteer", status="attended",
                   name="郑志", phone="13655556666", attended_at=utcnow(), hours=2.5),
        ])
        return act.id


def test_activity_lists_waiting_and_attendance(services, client):
    aid = _activity_with_signups(services)
    make_staff(services, "li", "staff")
    login(client, "li")
    body = client.get("/admin/activities/").get_data(as_text=True)
    assert "候补" in body and "已签到" in body
    waiting = client.get(f"/admin/signups/?flt0_0={aid}&flt1_7=waiting").get_data(as_text=True)
    assert "陈芳" in waiting and "林美" not in waiting and "137****4444" in waiting
    assert "13733334444" not in waiting
    attended = client.get(f"/admin/signups/?flt0_0={aid}&flt1_7=attended").get_data(as_text=True)
    assert "林美" in attended and "郑志" in attended and "陈芳" not in attended
    r = client.get(f"/admin/activities/{aid}/export.xlsx")
    rows = list(load_workbook(BytesIO(r.data)).active.iter_rows(values_only=True))
    head = next(i for i, row in enumerate(rows) if row[0] == "报名号")  # after the title rows
    assert rows[0][0].startswith("活动 ") and len(rows) == head + 4
    assert {row[3] for row in rows[head + 1:]} == {"林美", "陈芳", "郑志"}
    from models.audit import AuditEntry

    with services.db.session() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "export")).actor == "li"


def test_volunteer_hours_column(services, client):
    from models.volunteers import Volunteer

    _activity_with_signups(services)
    with services.db.session() as s:
        s.add(Volunteer(openid="v1", name="郑志", phone="13655556666", town="桃城镇"))
    make_staff(services, "li", "staff")
    login(client, "li")
    body = client.get("/admin/volunteers/").get_data(as_text=True)
    assert "郑志" in body and "136****6666" in body and ">2.5<" in body.replace(" ", "").replace("\n", "")


def test_points_export_and_import_check(services, client):
    from models.directory import ServicePoint

    with services.db.session() as s:
        s.add(ServicePoint(name="富临国际小区妇女微家", town="桃城镇", lat=25.32, lng=118.29,
                           phone="13800001111"))
    make_staff(services, "li", "staff")
    login(client, "li")
    page = client.get("/admin/points/").get_data(as_text=True)
    assert "138****1111" in page and "13800001111" not in page
    r = client.get("/admin/points/export.xlsx")
    rows = list(load_workbook(BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "名称" and rows[1][0] == "富临国际小区妇女微家"
    wb = Workbook()
    wb.active.append(list(rows[0]))
    wb.active.append(["临江经典小区妇联"] + list(rows[1][1:]))
    buf = BytesIO()
    wb.save(buf)
    token = csrf_token(client, "/admin/points/")
    r = client.post("/admin/points/import", data={
        "csrf_token": token, "dry_run": "1", "file": (BytesIO(buf.getvalue()), "points.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "检查通过（未导入）" in r.get_data(as_text=True)
    with services.db.session() as s:
        assert s.scalar(select(ServicePoint).where(ServicePoint.name == "临江经典小区妇联")) is None
    r = client.post("/admin/points/import", data={
        "csrf_token": token, "file": (BytesIO(buf.getvalue()), "points.xlsx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "导入完成" in r.get_data(as_text=True)
    with services.db.session() as s:
        assert s.scalar(select(ServicePoint).where(ServicePoint.name == "临江经典小区妇联")) is not None


def test_help_request_answer(services, client):
    from models.help import HelpRequest

    with services.db.session() as s:
        row = HelpRequest(openid="o-help", category="other", status="new",
                          body="家里有矛盾，电话 13512345678", submitted=True)
        s.add(row)
        s.flush()
        rid = row.id
    make_staff(services, "li", "staff")
    login(client, "li")
    body = client.get("/admin/help/").get_data(as_text=True)
    assert "135****5678" in body and "13512345678" not in body
    token = csrf_token(client, f"/admin/help/edit/?id={rid}")
    r = client.post(f"/admin/help/edit/?id={rid}", data={"csrf_token": token,
                                                       "answer": "您好，我们明天联系您。"})
    assert r.status_code == 302
    with services.db.session() as s:
        row = s.get(HelpRequest, rid)
        assert row.status == "answered" and row.answered_by == "li"


def test_reminder_pages_render(services, client):
    make_staff(services, "li", "staff")
    login(client, "li")
    from models.reminders import Reminder, ensure_default_reminders

    with services.db.session() as s:
        ensure_default_reminders(s)
        rid = s.scalar(select(Reminder.id).where(Reminder.kind == "scheduled").limit(1))
    assert client.get("/admin/reminders/").status_code == 200
    assert client.get("/admin/deliveries/").status_code == 200
    if rid is not None:
        body = client.get(f"/admin/reminders/{rid}/preview").get_data(as_text=True)
        assert "提醒预览" in body and ("客服消息" in body or "无法预览" in body)
        assert "无法预览" not in body


def test_activity_times_are_local_in_forms(services, client):
    from datetime import datetime, timezone

    from models.activities import Activity, add_activity

    start = datetime(int(FUTURE), 3, 8, 1, 0, tzinfo=timezone.utc)   # 09:00 in Yongchun
    with services.db.session() as s:
        aid = add_activity(s, title="三八节徒步", category="徒步", starts_at=start).id
    make_staff(services, "li", "staff")
    login(client, "li")
    page = client.get(f"/admin/activities/edit/?id={aid}").get_data(as_text=True)
    assert f'value="{FUTURE}-03-08 09:00"' in page
    token = csrf_token(client, f"/admin/activities/edit/?id={aid}")
    r = client.post(f"/admin/activities/edit/?id={aid}", data={
        "csrf_token": token, "title": "三八节徒步（改）", "category": "徒步", "place": "",
        "point_id": "", "starts_at": f"{FUTURE}-03-08 09:30", "ends_at": f"{FUTURE}-03-08 11:30",
        "deadline": "", "capacity": "", "volunteers_needed": "0", "status": "open",
        "description": ""})
    assert r.status_code == 302
    with services.db.session() as s:
        act = s.get(Activity, aid)
        assert act.title == "三八节徒步（改）"
        assert act.starts_at == datetime(int(FUTURE), 3, 8, 1, 30, tzinfo=timezone.utc)
