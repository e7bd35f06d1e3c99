"""Console page 「没听懂的话」: masked list with counts, one-click teach or ignore, 试一试."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from models import intents as I
from models.audit import AuditEntry
from tests.helpers import csrf_token, login, make_staff

DAY = date(2031, 4, 16)


@pytest.fixture
def staff_client(services, client):
    make_staff(services, "worker", "staff")
    assert login(client, "worker").status_code == 302
    return client


def _record(services, text: str, times: int = 1) -> int:
    with services.db.session() as s:
        for _ in range(times):
            row = I.record_unmatched(s, text, I.classify(text, today=DAY))
        s.flush()
        return row.id


def test_page_needs_a_login(client):
    r = client.get("/admin/intents/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_list_is_masked_counted_and_in_chinese(services, staff_client):
    _record(services, "阿嬷的鸭仔丢了 13812345678", times=3)
    _record(services, "啦啦啦啦")
    html = staff_client.get("/admin/intents/").get_data(as_text=True)
    assert "没听懂的话" in html and "试一试" in html
    assert "13812345678" not in html and "138****5678" in html
    first, second = html.index("阿嬷的鸭仔"), html.index("啦啦啦啦")
    assert first < second  # most frequent first
    assert re.search(r"<td>3</td>", html)
    assert "留言求助" in html and "忽略" in html and "归类" in html  # Chinese labels to pick from
    assert "help</option>" not in html  # intent keys are not shown as labels


def test_one_click_teach_and_ignore(services, staff_client):
    taught = _record(services, "阿嬷的鸭仔丢了")
    ignored = _record(services, "啦啦啦啦")
    token = csrf_token(staff_client, "/admin/intents/")
    r = staff_client.post("/admin/intents/assign", data={"csrf_token": token, "id": taught,
                                                         "intent": "help", "action": "teach"})
    assert r.status_code == 302
    r = staff_client.post("/admin/intents/assign", data={"csrf_token": token, "id": ignored,
                                                         "intent": "help", "action": "ignore"},
                          follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "已忽略" in html and "阿嬷的鸭仔" not in html.split("unmatched-table")[1]
    with services.db.session() as s:
        rows = {r.id: r for r in I.list_unmatched(s, status=None)}
        assert rows[taught].status == I.STATUS_ASSIGNED and rows[taught].intent == "help"
        assert rows[ignored].status == I.STATUS_IGNORED
        assert [(e.text, e.intent, e.staff) for e in s.scalars(select(I.TaughtExample))] == [
            ("阿嬷的鸭仔丢了", "help", "worker")]
        assert I.model_version(s) == 1
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.target == "intent_unmatched"))]
        assert sorted(actions) == ["ignore", "teach"]
    everything = staff_client.get("/admin/intents/?all=1").get_data(as_text=True)
    assert "已归类：留言求助" in everything and "已忽略" in everything


def test_assign_refuses_unknown_rows_and_intents_and_needs_csrf(services, staff_client):
    row = _record(services, "啦啦啦啦")
    token = csrf_token(staff_client, "/admin/intents/")
    r = staff_client.post("/admin/intents/assign", data={"csrf_token": token, "id": 99999,
                                                         "intent": "help"}, follow_redirects=True)
    assert "找不到这条消息" in r.get_data(as_text=True)
    r = staff_client.post("/admin/intents/assign", data={"csrf_token": token, "id": row,
                                                         "intent": "bogus"}, follow_redirects=True)
    assert "没有这个意图" in r.get_data(as_text=True)
    r = staff_client.post("/admin/intents/assign", data={"id": row, "intent": "help"})
    assert r.status_code in (400, 302)
    with services.db.session() as s:
        assert I.list_unmatched(s)[0].status == I.STATUS_OPEN


def test_try_box_shows_label_confidence_and_slots(staff_client):
    token = csrf_token(staff_client, "/admin/intents/")
    html = staff_client.post("/admin/intents/try", data={"csrf_token": token,
                                                         "text": "桃城镇有没有妇女微家"}).get_data(as_text=True)
    assert "理解为：<strong>查乡镇服务点</strong>" in html
    assert re.search(r"把握 \d+%", html) and "乡镇 桃城镇" in html and "需要 妇女微家" in html
    html = staff_client.post("/admin/intents/try", data={"csrf_token": token,
                                                         "text": "他说要砍死我"}).get_data(as_text=True)
    assert "紧急求助" in html and "危险信号" in html
