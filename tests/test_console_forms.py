"""Console forms after the testers' round: service points with coordinates, activities with a
service point list and status labels, seats that move the waiting list, columns and articles
validated in Chinese, no 500 or raw SQL text, help answers with her message shown, Chinese
error pages and labels."""
from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from models.base import utcnow
from tests.helpers import csrf_token, login, make_staff
from tests.clock import year_ahead

FUTURE = year_ahead(2)   # a year always ahead of the clock the tests run on

RAW_DB_WORDS = ("IntegrityError", "constraint", "[SQL", "sqlite3", "psycopg", "NOT NULL", "UNIQUE", "FOREIGN KEY",
                "Failed to", "Traceback")


def assert_no_raw_text(body: str) -> None:
    for word in RAW_DB_WORDS:
        assert word not in body, word


def add_point(services, name: str, *, town: str, lat: float = 25.32, lng: float = 118.29) -> int:
    """A service point in the database; its id."""
    from models.directory import ServicePoint

    with services.db.session() as s:
        row = ServicePoint(name=name, town=town, lat=lat, lng=lng)
        s.add(row)
        s.flush()
        return row.id


def signed_in(services, client, role: str = "staff"):
    make_staff(services, "li", role)
    assert login(client, "li").status_code == 302
    return client


def post_form(client, path: str, data: dict):
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, **data})


# -- 1. service points ------------------------------------------------------------------------
POINT = {"name": "富临国际小区妇女微家", "town": "桃城", "kind": "妇女微家", "platform": "",
         "village": "", "address": "桃城镇富临国际小区", "lat": "25.3215", "lng": "118.2946",
         "phone": "", "hours": "", "services": "亲子 早教", "description": "", "active": "y"}


def test_point_created_with_coordinates(services, client):
    from models.directory import ServicePoint

    signed_in(services, client)
    page = client.get("/admin/points/new/").get_data(as_text=True)
    assert 'name="lat"' in page and 'name="lng"' in page and "纬度" in page
    r = post_form(client, "/admin/points/new/", POINT)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    with services.db.session() as s:
        row = s.scalar(select(ServicePoint))
        assert (row.town, row.lat, row.lng, row.services) == ("桃城镇", 25.3215, 118.2946, "亲子、早教")


def test_point_form_errors_are_chinese(services, client):
    from models.directory import ServicePoint

    signed_in(services, client)
    r = post_form(client, "/admin/points/new/", {**POINT, "lat": "", "lng": ""})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "未能保存" in body
    assert_no_raw_text(body)
    r = post_form(client, "/admin/points/new/", {**POINT, "lat": "118.2946", "lng": "25.3215",
                                                 "town": "泉州"})
    body = r.get_data(as_text=True)
    assert "不是永春县的乡镇" in body and ("颠倒" in body or "永春县附近" in body or "纬度" in body)
    assert_no_raw_text(body)
    with services.db.session() as s:
        assert s.scalar(select(ServicePoint)) is None


def test_point_without_town_stays_editable(services, client):
    from models.directory import ServicePoint

    pid = add_point(services, "助困公益协会妇联", town="")
    signed_in(services, client)
    r = post_form(client, f"/admin/points/edit/?id={pid}", {
        **POINT, "name": "助困公益协会妇联", "town": "", "lat": "25.33", "lng": "118.3"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    with services.db.session() as s:
        row = s.get(ServicePoint, pid)
        assert (row.town, row.lat) == ("", 25.33)


# -- 2-4. activities --------------------------------------------------------------------------
ACTIVITY = {"title": "三八节徒步", "category": "徒步", "place": "", "point_id": "",
            "starts_at": f"{FUTURE}-03-08 09:30", "ends_at": "", "deadline": "", "capacity": "",
            "volunteers_needed": "0", "status": "open", "description": ""}


def test_activity_picks_a_service_point_by_name(services, client):
    from models.activities import Activity

    pid = add_point(services, "桃城镇妇联", town="桃城镇")
    signed_in(services, client)
    page = client.get("/admin/activities/new/").get_data(as_text=True)
    assert f'<option value="{pid}">桃城镇妇联（桃城镇）</option>' in page
    r = post_form(client, "/admin/activities/new/", {**ACTIVITY, "point_id": "99999"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert_no_raw_text(body)
    r = post_form(client, "/admin/activities/new/", {**ACTIVITY, "point_id": str(pid)})
    assert r.status_code == 302
    with services.db.session() as s:
        assert s.scalar(select(Activity)).point_id == pid


def test_database_errors_become_chinese_form_errors(services, client, monkeypatch):
    """Tester: 服务点编号 99999 gave a 500 (FOREIGN KEY). Any database error while saving a
    form is now a Chinese message on the form."""
    from sqlalchemy.exc import IntegrityError

    import models.activities

    def broken(*args, **kwargs):
        raise IntegrityError("INSERT INTO activities ...", {}, Exception("FOREIGN KEY constraint failed"))

    monkeypatch.setattr(models.activities, "add_activity", broken)
    signed_in(services, client)
    r = post_form(client, "/admin/activities/new/", ACTIVITY)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "关联记录不存在" in body
    assert_no_raw_text(body)


def test_activity_status_is_a_select_with_chinese_labels(services, client):
    from models.activities import Activity, add_activity

    with services.db.session() as s:
        aid = add_activity(s, title="爱心义剪", category="爱心义剪",
                           starts_at=utcnow() + timedelta(days=5)).id
    signed_in(services, client)
    page = client.get(f"/admin/activities/edit/?id={aid}").get_data(as_text=True)
    assert '<select class="form-control" id="status"' in page or 'id="status" name="status"' in page
    from bot.console.activities import activity_status_labels

    labels = activity_status_labels()
    assert labels["open"] in page and labels["cancelled"] in page
    r = post_form(client, f"/admin/activities/edit/?id={aid}", {**ACTIVITY, "status": "whatever"})
    assert r.status_code == 200
    with services.db.session() as s:
        assert s.get(Activity, aid).status == "open"
    listing = client.get("/admin/activities/").get_data(as_text=True)
    assert labels["open"] in listing and ">open<" not in listing.replace(" ", "").replace("\n", "")


def test_raising_capacity_promotes_the_waiting_list(services, client):
    from models.activities import Activity, Signup, add_activity
    from models.followers import Follower
    from models.outbox import OutboxMessage

    with services.db.session() as s:
        act = add_activity(s, title="家政培训", category="家政培训",
                           starts_at=utcnow() + timedelta(days=5), capacity=1)
        aid = act.id
        s.add(Follower(openid="w2", subscribed=True, valid=True, last_interaction_at=utcnow()))
        s.add_all([Signup(activity_id=aid, openid="w1", role="participant", status="confirmed"),
                   Signup(activity_id=aid, openid="w2", role="participant", status="waiting")])
        act.status = "full"
    signed_in(services, client)
    form = {**ACTIVITY, "title": "家政培训", "category": "家政培训", "capacity": "2",
            "starts_at": (utcnow() + timedelta(days=5)).astimezone(services.tz).strftime("%Y-%m-%d %H:%M"),
            "status": "full"}
    r = post_form(client, f"/admin/activities/edit/?id={aid}", form)
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    from bot.wechat.notifier import notifier_for

    notifier_for(services).wait()  # the outbox worker tells her after the commit
    with services.db.session() as s:
        w2 = s.scalar(select(Signup).where(Signup.openid == "w2"))
        assert w2.status == "confirmed"
        assert s.get(Activity, aid).capacity == 2
        sent = [m for m in s.scalars(select(OutboxMessage)) if m.openid == "w2"]
        assert sent, "the promoted woman is told"


# -- 5. dashboard -----------------------------------------------------------------------------
def test_dashboard_counts_urgent_requests(services, client):
    from models.help import HelpRequest

    with services.db.session() as s:
        s.add_all([HelpRequest(openid="o1", category="family", status="new", body="a", submitted=True),
                   HelpRequest(openid="o2", category="urgent", status="new", urgent=True,
                               distress=True, body="救命", submitted=False),
                   HelpRequest(openid="o3", category="law", status="answered", body="c", submitted=True)])
    signed_in(services, client)
    body = client.get("/admin/").get_data(as_text=True).replace(" ", "").replace("\n", "")
    m = re.search(r"待答复求助.{0,200}?>(\d+)<", body)
    assert m and m.group(1) == "2", body[body.find("待答复求助"):][:300]


# -- 6-7. columns and articles ----------------------------------------------------------------
COLUMN = {"name": "改革破难", "menu_key": "", "description": "", "active": "y"}


def test_duplicate_column_is_a_chinese_message(services, client):
    from models.columns import ArticleColumn

    signed_in(services, client)
    assert post_form(client, "/admin/columns/new/", COLUMN).status_code == 302
    r = post_form(client, "/admin/columns/new/", {**COLUMN, "name": "【改革破难】"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "已存在" in body
    assert_no_raw_text(body)
    with services.db.session() as s:
        assert len(s.scalars(select(ArticleColumn)).all()) == 1


def test_menu_key_is_checked(services, client):
    from models.columns import ArticleColumn

    signed_in(services, client)
    for key, words in (("COLUMN REFORM", "空格"), ("K" * 129, "128"), ("栏" * 43, "128")):
        r = post_form(client, "/admin/columns/new/", {**COLUMN, "menu_key": key})
        body = r.get_data(as_text=True)
        assert r.status_code == 200 and words in body, key
        assert_no_raw_text(body)
    assert post_form(client, "/admin/columns/new/", {**COLUMN, "menu_key": "K" * 128}).status_code == 302
    with services.db.session() as s:
        assert s.scalar(select(ArticleColumn)).menu_key == "K" * 128


def test_article_date_typed_as_text(services, client):
    from models.columns import Article, add_column

    with services.db.session() as s:
        cid = add_column(s, "改革破难").id
    signed_in(services, client)
    page = client.get("/admin/articles/new/").get_data(as_text=True)
    assert 'data-role="datepicker"' not in page
    assert re.search(r'<input[^>]*name="published_on"[^>]*type="text"', page)
    r = post_form(client, "/admin/articles/new/", {
        "column": str(cid), "title": "近邻工作法", "digest": "", "cover_url": "",
        "url": "https://mp.weixin.qq.com/s/334", "media_id": "", "published_on": "2026-11-20"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    with services.db.session() as s:
        art = s.scalar(select(Article))
        assert art.published_on == date(2026, 11, 20)
    edit = client.get(f"/admin/articles/edit/?id={art.id}").get_data(as_text=True)
    assert 'value="2026-11-20"' in edit
    r = post_form(client, "/admin/articles/new/", {
        "column": str(cid), "title": "第二篇", "digest": "", "cover_url": "",
        "url": "https://mp.weixin.qq.com/s/335", "media_id": "", "published_on": "20号"})
    assert r.status_code == 200 and "published_on" in r.get_data(as_text=True)


# -- 9-10. Chinese pages and the help answer page --------------------------------------------
def test_403_page_is_chinese(services, client):
    signed_in(services, client, "staff")
    r = client.get("/admin/staff/")
    body = r.get_data(as_text=True)
    assert r.status_code == 403 and "没有权限" in body and "Forbidden" not in body


def _help_request(services, **kw) -> int:
    from models.help import HelpRequest

    with services.db.session() as s:
        row = HelpRequest(**{"openid": "o-help", "category": "family", "status": "new",
                             "body": "家里有矛盾，想请人调解", "contact": "phone",
                             "phone": "13512345678", "submitted": True, **kw})
        s.add(row)
        s.flush()
        return row.id


def test_help_pages_are_chinese(services, client):
    rid = _help_request(services, urgent=True, distress=True, category="urgent")
    signed_in(services, client)
    listing = client.get("/admin/help/").get_data(as_text=True)
    assert "紧急求助" in listing and "待答复" in listing
    for raw in (">urgent<", ">new<", ">family<"):
        assert raw not in listing.replace(" ", "").replace("\n", "")
    details = client.get(f"/admin/help/details/?id={rid}").get_data(as_text=True)
    for english in ("Distress", "Submitted", "Updated At", "Created At"):
        assert english not in details, english
    assert "危险信号" in details and "更新时间" in details
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", details)  # no UTC microseconds


def test_help_answer_page_shows_her_message(services, client):
    from models.help import HelpRequest

    rid = _help_request(services)
    make_staff(services, "li", "staff")
    with services.db.session() as s:
        from models.staff import StaffUser

        s.scalar(select(StaffUser).where(StaffUser.username == "li")).display_name = "李主任"
    login(client, "li")
    page = client.get(f"/admin/help/edit/?id={rid}").get_data(as_text=True)
    assert "家里有矛盾，想请人调解" in page and "13512345678" in page and "婚姻家庭" in page
    assert page.index("家里有矛盾") < page.index('name="answer"')
    r = post_form(client, f"/admin/help/edit/?id={rid}", {"answer": "您好，我们明天联系您。"})
    assert r.status_code == 302
    with services.db.session() as s:
        assert s.get(HelpRequest, rid).answered_by == "李主任"
    r = post_form(client, f"/admin/help/edit/?id={rid}", {"answer": "   "})
    body = r.get_data(as_text=True)
    assert "empty answer" not in body


def test_audit_reminders_and_details_speak_chinese(services, client):
    from models.reminders import ensure_default_reminders

    with services.db.session() as s:
        ensure_default_reminders(s)
    signed_in(services, client, "admin")
    audit = client.get("/admin/audit/").get_data(as_text=True)
    assert "登录" in audit and "工作人员账号" in audit and ">staff_users<" not in audit
    reminders = client.get("/admin/reminders/").get_data(as_text=True)
    assert "定时群发提醒" in reminders and "订阅「义剪」的关注者" in reminders
    assert "topic:haircut" not in reminders
    post_form(client, "/admin/columns/new/", COLUMN)
    from models.columns import ArticleColumn

    with services.db.session() as s:
        cid = s.scalar(select(ArticleColumn.id))
    details = client.get(f"/admin/columns/details/?id={cid}").get_data(as_text=True)
    assert ">是<" in details.replace(" ", "").replace("\n", "") and "True" not in details
