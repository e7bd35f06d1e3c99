"""Issue 16 item 6: urgent first. Urgent unanswered requests are on top of 求助留言, in red,
with how long she has waited, shown as H00003; the detail and answer pages word the urgency
as the webhook recorded it; the dashboard's 待答复求助 card counts the urgent ones and links
to them; 「答复并发送」 says how the answer reached her."""
from __future__ import annotations

import re
from datetime import timedelta

from models import help as hr
from models.base import utcnow
from tests.helpers import csrf_token, login, make_staff, webhook_sender


def _add(services, **kw) -> int:
    fields = {"openid": "o_her_000001", "category": "family", "status": "new", "body": "想咨询",
              "submitted": True}
    fields.update(kw)
    with services.db.session() as s:
        row = hr.HelpRequest(**fields)
        s.add(row)
        s.flush()
        return row.id


def _rows(body: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]


def test_urgent_unanswered_requests_are_on_top_in_red_with_their_wait(services, client):
    now = utcnow()
    old = _add(services, body="普通留言一", created_at=now - timedelta(hours=5))
    urgent = _add(services, category="urgent", urgent=True, body="他打我", submitted=False,
                  created_at=now - timedelta(hours=2, minutes=5))
    _add(services, body="普通留言二", created_at=now - timedelta(minutes=3))
    _add(services, urgent=True, status="answered", body="已答复的紧急", created_at=now)
    make_staff(services, "li", "staff")
    login(client, "li")
    body = client.get("/admin/help/").get_data(as_text=True)
    rows = _rows(body)
    assert f"H{urgent:05d}" in rows[0] and "urgent-open" in rows[0], rows[0]
    assert "已等 2 小时" in rows[0] and "紧急" in rows[0]
    assert "普通留言" in rows[1] and "普通留言" in rows[2]          # the other unanswered ones next
    assert "已答复的紧急" in rows[3] and "urgent-open" not in rows[3]
    assert f"H{old:05d}" in body and f">{old}<" not in body.replace(" ", "")
    assert "tr:has(.urgent-open)" in body                               # the red row style
    assert "✔" not in body and "fa-check" not in body


def test_detail_and_answer_page_agree_with_what_the_webhook_recorded(services, client):
    say = webhook_sender(services)
    say("o_her_beaten_01", "他打我")
    with services.db.session() as s:
        row = s.query(hr.HelpRequest).one()
        rid, ref = row.id, row.ref
        assert row.urgent and not row.distress
    make_staff(services, "li", "staff")
    login(client, "li")
    details = client.get(f"/admin/help/details/?id={rid}").get_data(as_text=True)
    assert "紧急：有危险信号（可能正遭受暴力或威胁）" in details and ref in details
    assert "危险信号（求救）" not in details           # no 「危险信号 否」 beside 「紧急 是」
    page = client.get(f"/admin/help/edit/?id={rid}").get_data(as_text=True)
    assert "紧急：有危险信号（可能正遭受暴力或威胁）" in page and ref in page
    assert "答复并发送" in page


def test_dashboard_card_counts_urgent_and_links_to_them(services, client):
    _add(services)
    _add(services, category="urgent", urgent=True, body="他打我", submitted=False)
    make_staff(services, "li", "staff")
    login(client, "li")
    home = client.get("/admin/").get_data(as_text=True)
    assert "其中紧急 1 条" in home
    link = re.search(r'href="([^"]*urgent_open=1[^"]*)"', home)
    assert link, home
    listing = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "只显示紧急且待答复的求助" in listing
    assert "他打我" in listing and "想咨询" not in listing


def test_answer_and_send_says_how_it_was_delivered(services, client):
    rid = _add(services)
    make_staff(services, "li", "staff")
    login(client, "li")
    path = f"/admin/help/edit/?id={rid}"
    r = client.post(path, data={"csrf_token": csrf_token(client, path), "answer": "您好，我们明天联系您。"},
                    follow_redirects=True)
    body = r.get_data(as_text=True)
    # she never wrote in the last 48 hours (no follower row) and no template is set: 等她查看
    assert f"已答复 H{rid:05d}" in body and "等她查看" in body, body
    assert "演练：未真正发送" in body
    assert "记录已保存" not in body and "保存成功" not in body


def test_answer_by_customer_service_message_says_so(services, client):
    say = webhook_sender(services)
    say("o_her_talking_1", "求助")  # she writes: inside the 48-hour window
    rid = _add(services, openid="o_her_talking_1")
    make_staff(services, "li", "staff")
    login(client, "li")
    path = f"/admin/help/edit/?id={rid}"
    r = client.post(path, data={"csrf_token": csrf_token(client, path), "answer": "您好。"},
                    follow_redirects=True)
    assert "通过客服消息发到了她的微信" in r.get_data(as_text=True)
