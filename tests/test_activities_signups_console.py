"""Issue 16 item 2: 「取消报名」 in 报名名单 goes through ``cancel_signup`` like the webhook and the
CLI: the first on the waiting list takes the seat, the activity is no longer 已满, she is told
after the commit; there is no generic delete and no status edit of signups."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from models import activities as acts
from models.notice import Notice
from models.outbox import OutboxMessage
from tests.helpers import csrf_token, login, make_staff


def _full_activity(services):
    with services.db.session() as s:
        act = acts.add_activity(s, title="爱心义剪", category="爱心义剪", capacity=1,
                                starts_at=datetime.now(timezone.utc) + timedelta(days=7))
        first = acts.sign_up(s, act.number, "oFirst0001", name="王秀英", phone="13812341234").signup
        second = acts.sign_up(s, act.number, "oSecond002", name="李美华", phone="13912345678").signup
        assert (first.status, second.status, act.status) == ("confirmed", "waiting", "full")
        return act.id, first.id, second.id


def test_cancel_moves_the_waiting_list_and_tells_her(services, client):
    aid, first, second = _full_activity(services)
    make_staff(services, "li", "staff")
    login(client, "li")
    page = client.get(f"/admin/signups/?flt0_0={aid}").get_data(as_text=True)
    assert "取消报名" in page and f"/admin/signups/{first}/cancel" in page
    r = client.post(f"/admin/signups/{first}/cancel",
                    data={"csrf_token": csrf_token(client, f"/admin/signups/?flt0_0={aid}")})
    assert r.status_code == 302
    with services.db.session() as s:
        assert s.get(acts.Signup, first).status == "cancelled"
        assert s.get(acts.Signup, second).status == "confirmed"
        assert s.get(acts.Activity, aid).status == "full"  # her seat went to the waiting one
        told = list(s.scalars(select(Notice.text).where(Notice.openid == "oSecond002")))
        told += [m.payload for m in s.scalars(select(OutboxMessage))
                 if "oSecond002" in (m.payload or "")]
    assert told and "已为您确认报名" in told[0]
    after = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已取消报名" in after and "递补" in after
    client.post(f"/admin/signups/{second}/cancel",
                data={"csrf_token": csrf_token(client, f"/admin/signups/?flt0_0={aid}")})
    with services.db.session() as s:
        assert s.get(acts.Activity, aid).status == "open"  # nobody waiting: a seat is free


def test_no_generic_delete_or_status_edit(services, client):
    aid, first, _second = _full_activity(services)
    make_staff(services, "li", "admin")
    login(client, "li")
    token = csrf_token(client, f"/admin/signups/?flt0_0={aid}")
    client.post("/admin/signups/delete/", data={"csrf_token": token, "id": str(first)})
    client.post(f"/admin/signups/edit/?id={first}",
                data={"csrf_token": token, "status": "cancelled", "hours": ""})
    with services.db.session() as s:
        assert s.get(acts.Signup, first).status == "confirmed"
    page = client.get(f"/admin/signups/?flt0_0={aid}").get_data(as_text=True)
    assert "/admin/signups/delete/" not in page
