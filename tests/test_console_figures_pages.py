"""Console pages for issue 16 items 9–11 (Flask test client): activity dates typed three ways,
结束时间 optional, 类别 from a list with 其他, 地点 shows the 服务点, 报名号 in 报名名单, the
export named and headed by the activity; staff set a follower's 乡镇; 每月固定活动 makes the
month's activity once."""
from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO
from urllib.parse import unquote

from openpyxl import load_workbook
from sqlalchemy import select

from models import activities as acts
from models.base import utcnow
from tests.clock import year_ahead
from tests.helpers import complete_signup, csrf_token, login, make_staff, new_activity

FUTURE = year_ahead(2)


def signed_in(services, client):
    make_staff(services, "li", "staff")
    assert login(client, "li").status_code == 302
    return client


def post_form(client, path: str, data: dict):
    return client.post(path, data={"csrf_token": csrf_token(client, path), **data})


def add_point(services, name, town):
    from models.directory import ServicePoint

    with services.db.session() as s:
        p = ServicePoint(name=name, town=town, lat=25.32, lng=118.29)
        s.add(p)
        s.flush()
        return p.id


FORM = {"title": "家政培训", "category": "家政培训", "category_other": "", "place": "",
        "point_id": "", "ends_at": "", "deadline": "", "capacity": "10",
        "volunteers_needed": "0", "status": "open", "description": ""}


def test_activity_dates_three_ways_end_optional_category_other(services, client):
    signed_in(services, client)
    page = client.get("/admin/activities/new/").get_data(as_text=True)
    assert 'type="datetime-local"' in page                     # the date picker
    end_input = re.search(r'<input[^>]*name="ends_at"[^>]*>', page).group(0)
    assert "required" not in end_input and "开始后 2 小时" in page
    assert '<option value="其他">' in page and "爱心义剪" in page
    for i, start in enumerate([f"{FUTURE}-01-17 9:00", f"{FUTURE}/1/18 9:00", "1月19日 上午9点"]):
        r = post_form(client, "/admin/activities/new/", {**FORM, "title": f"培训{i}", "starts_at": start})
        assert r.status_code == 302, r.get_data(as_text=True)[-3000:]
    r = post_form(client, "/admin/activities/new/", {**FORM, "title": "读书", "category": "其他",
                                                     "category_other": "读书会",
                                                     "starts_at": f"{FUTURE}-02-01 14:00"})
    assert r.status_code == 302
    r = post_form(client, "/admin/activities/new/", {**FORM, "title": "坏", "starts_at": "周五"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "看不懂" in body
    r = post_form(client, "/admin/activities/new/", {**FORM, "title": "坏2", "category": "其他",
                                                     "starts_at": f"{FUTURE}-02-01 14:00"})
    assert "其他类别" in r.get_data(as_text=True)
    with services.db.session() as s:
        rows = {a.title: a for a in s.scalars(select(acts.Activity))}
    assert set(rows) == {"培训0", "培训1", "培训2", "读书"}
    tz = services.tz
    assert [rows[f"培训{i}"].starts_at.astimezone(tz).strftime("%m-%d %H:%M") for i in range(3)] == [
        "01-17 09:00", "01-18 09:00", "01-19 09:00"]
    assert rows["培训0"].ends_at - rows["培训0"].starts_at == timedelta(hours=2)
    assert rows["读书"].category == "读书会"
    edit = client.get(f"/admin/activities/edit/?id={rows['读书'].id}").get_data(as_text=True)
    assert 'value="读书会"' in edit                       # her own category shown under 其他


def test_place_column_ref_column_and_export(services, client):
    pid = add_point(services, "助困公益协会妇联", "桃城镇")
    number = new_activity(services, title="爱心义剪", category="爱心义剪", capacity=3)
    with services.db.session() as s:
        act = acts.get_activity(s, number)
        act.point_id, act.place = pid, ""
        aid, day = act.id, act.starts_at.astimezone(services.tz).strftime("%Y-%m-%d")
    complete_signup(services, "oA", number)
    with services.db.session() as s:
        ref = s.scalar(select(acts.Signup)).ref
    signed_in(services, client)
    listing = client.get("/admin/activities/").get_data(as_text=True)
    assert "助困公益协会妇联（桃城镇）" in listing
    signups = client.get(f"/admin/signups/?flt0_0={aid}").get_data(as_text=True)
    assert "报名号" in signups and ref in signups
    r = client.get(f"/admin/activities/{aid}/export.xlsx")
    disposition = unquote(r.headers["Content-Disposition"])
    assert f"活动{number}-爱心义剪-{day}-报名名单.xlsx" in disposition
    rows = list(load_workbook(BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == f"活动 {number}：爱心义剪" and day in rows[1][0] and "助困公益协会妇联" in rows[1][0]


def test_staff_set_a_follower_town(services, client):
    from models.followers import TOWN_STAFF, Follower

    with services.db.session() as s:
        s.add(Follower(openid="oTownless", subscribed=True, first_seen_at=utcnow()))
    signed_in(services, client)
    page = client.get("/admin/followers/edit/?id=oTownless").get_data(as_text=True)
    assert "蓬壶镇" in page
    r = post_form(client, "/admin/followers/edit/?id=oTownless", {"town": "蓬壶镇"})
    assert r.status_code == 302
    with services.db.session() as s:
        f = s.get(Follower, "oTownless")
        assert (f.town, f.town_source) == ("蓬壶镇", TOWN_STAFF)
    listing = client.get("/admin/followers/").get_data(as_text=True)
    assert "工作人员设置" in listing
    r = post_form(client, "/admin/followers/edit/?id=oTownless", {"town": "北京"})
    with services.db.session() as s:
        assert s.get(Follower, "oTownless").town == "蓬壶镇"


def test_recurring_page_makes_the_month_once(services, client):
    from models import activities_recurring as rec

    with services.db.session() as s:
        rid = rec.add_recurring(s, title="爱心义剪", day=17, start_time="09:00", minutes=180,
                                place="助困公益协会妇联").id
    signed_in(services, client)
    page = client.get("/admin/recurring/").get_data(as_text=True)
    assert "每月17日" in page and "按系统设置" in page and "recurring-make" in page
    token = csrf_token(client, "/admin/recurring/")
    r = client.post(f"/admin/recurring/{rid}/make", data={"csrf_token": token})
    assert r.status_code == 302 and "/admin/signups/" in r.headers["Location"]
    r = client.post(f"/admin/recurring/{rid}/make", data={"csrf_token": token})
    assert r.status_code == 302
    with services.db.session() as s:
        made = list(s.scalars(select(acts.Activity)))
    assert len(made) == 1 and made[0].capacity == 20 and made[0].starts_at > utcnow()
    page = client.get("/admin/recurring/").get_data(as_text=True)
    assert f"活动 {made[0].number} 报名名单" in page
    r = post_form(client, "/admin/recurring/new/", {"title": "月末读书会", "category": "", "day": "40",
                                                   "start_time": "19:30", "minutes": "90",
                                                   "capacity": "", "volunteers_needed": "0",
                                                   "place": "", "point_id": "", "lead_days": "31",
                                                   "active": "y", "description": ""})
    assert "1 到 31" in r.get_data(as_text=True)
