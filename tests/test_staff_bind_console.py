"""Issue 16 item 8: staff bind their WeChat without copying openids. 「我的账号」 shows a
one-time code (6 digits, 10 minutes, single use); she sends 「绑定 123456」 to the account
(through the real webhook); her staff account gets her openid and the 群发 preview goes there."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from models import staff as st
from models.base import utcnow
from models.outbox import OutboxMessage
from tests.helpers import csrf_token, login, make_staff, webhook_sender


def _code(client) -> str:
    token = csrf_token(client, "/admin/account/")
    page = client.post("/admin/account/bind-code", data={"csrf_token": token}).get_data(as_text=True)
    m = re.search(r"绑定 (\d{6})", page)
    assert m, page
    assert "10 分钟内有效" in page and "只能用一次" in page
    return m.group(1)


def _openid_of(services, username="li"):
    with services.db.session() as s:
        return s.scalar(select(st.StaffUser.openid).where(st.StaffUser.username == username))


def test_binding_code_binds_her_wechat_once(services, client):
    make_staff(services, "li", "staff")
    login(client, "li")
    page = client.get("/admin/account/").get_data(as_text=True)
    assert "生成绑定码" in page and "还没有绑定微信" in page
    code = _code(client)
    say = webhook_sender(services)
    reply = say("o_li_own_wechat_01", f"绑定 {code}")
    assert "绑定成功" in reply and "li" in reply, reply
    assert _openid_of(services) == "o_li_own_wechat_01"
    assert "已绑定微信" in client.get("/admin/account/").get_data(as_text=True)
    again = say("o_someone_else_001", f"绑定 {code}")           # single use
    assert "绑定码不对或已经用过" in again, again
    assert _openid_of(services) == "o_li_own_wechat_01"


def test_expired_and_wrong_codes_are_refused_in_chinese(services):
    make_staff(services, "li", "staff")
    now = utcnow()
    with services.db.session() as s:
        sid = s.scalar(select(st.StaffUser.id).where(st.StaffUser.username == "li"))
        code, expires = st.issue_bind_code(s, sid, now=now - timedelta(minutes=11))
        assert expires < now
    say = webhook_sender(services)
    assert "已过期" in say("o_late_000000001", f"绑定 {code}")
    assert _openid_of(services) is None
    for _ in range(st.BIND_CODE_DIGITS - 1):
        assert "绑定码不对" in say("o_guesser_000001", "绑定 000000")
    assert "次数太多" in say("o_guesser_000001", "绑定 111111")


def test_broadcast_preview_goes_to_the_bound_wechat(services, client):
    from models import broadcasts as bcast

    make_staff(services, "li", "staff")
    login(client, "li")
    with services.db.session() as s:
        bid = bcast.create_broadcast(s, kind=bcast.KIND_TEXT, actor="li", text="本周六近邻课堂").id
    detail = f"/admin/broadcasts/{bid}"
    assert "绑定您的微信" in client.get(detail).get_data(as_text=True)  # not bound yet: told how
    webhook_sender(services)("o_li_own_wechat_02", f"绑定 {_code(client)}")
    client.post(f"{detail}/preview", data={"csrf_token": csrf_token(client, detail)})
    with services.db.session() as s:
        sent = s.scalars(select(OutboxMessage)).all()
        assert [(m.api, m.openid) for m in sent if "mass" in m.api] == \
            [("message/mass/preview", "o_li_own_wechat_02")]


def test_scanning_the_binding_qr_code_binds_too(services, client):
    from tests.helpers import event

    make_staff(services, "li", "staff")
    login(client, "li")
    token = csrf_token(client, "/admin/account/")
    page = client.post("/admin/account/bind-code", data={"csrf_token": token, "qr": "1"}).get_data(as_text=True)
    assert 'id="bind-qr"' in page and "演练模式：二维码不会真正生成" in page
    code = re.search(r"绑定 (\d{6})", page).group(1)
    with services.db.session() as s:
        qr = s.scalars(select(OutboxMessage).where(OutboxMessage.api == "qrcode/create")).one()
        body = qr.payload
    assert f"bind:{code}" in body and '"expire_seconds": 600' in body
    reply = event(services, "o_li_scanned_0001", "subscribe", f"qrscene_bind:{code}")
    assert "绑定成功" in reply, reply
    assert _openid_of(services) == "o_li_scanned_0001"
    assert "绑定码不对" in event(services, "o_other_scan_0001", "scan", f"bind:{code}")
