"""群发: draft → preview → send once (clientmsgid), the 4-a-month warning, town tags kept in
step with Follower.town, MASSSENDJOBFINISH figures; through the model, the console, the real
client against the fake WeChat API, and the webhook."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from bot.simulator import Simulator, event_fields, flask_transport
from models import columns as articles
from models import broadcasts as bcast
from models.followers import Follower
from models.outbox import OutboxMessage
from tests.helpers import csrf_token, login, make_staff

NOV = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)


class RecordingWeChat:
    """Records the calls a broadcast makes (the same method names as bot.wechat.client)."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.next_tag = 100

    def mass_preview(self, openid, msgtype, content, *, session=None):
        self.calls.append(("preview", openid, msgtype, content))
        return 1

    def mass_send_all(self, msgtype, content, tag_id=None, clientmsgid=None, *, session=None):
        self.calls.append(("sendall", msgtype, content, tag_id, clientmsgid))
        return 9000 + len(self.calls)

    def create_tag(self, name, *, session=None):
        self.next_tag += 1
        self.calls.append(("create_tag", name, self.next_tag))
        return self.next_tag

    def batch_tag(self, tag_id, openids, *, session=None):
        assert len(openids) <= 50
        self.calls.append(("tag", tag_id, tuple(openids)))
        return len(openids)

    def batch_untag(self, tag_id, openids, *, session=None):
        assert len(openids) <= 50
        self.calls.append(("untag", tag_id, tuple(openids)))
        return len(openids)


def _article(services) -> int:
    with services.db.session() as s:
        col = articles.add_column(s, "改革破难")
        return articles.add_article(s, col, "近邻工作法", "https://mp.weixin.qq.com/s/334",
                                    digest="服务妇女零距离", published_on=date(2026, 11, 1)).id


def _followers(services, towns: dict[str, str | None]):
    with services.db.session() as s:
        for openid, town in towns.items():
            s.add(Follower(openid=openid, subscribed=True, valid=True, town=town))


def test_preview_then_send_once(services):
    wx = RecordingWeChat()
    aid = _article(services)
    with services.db.session() as s:
        bid = bcast.create_broadcast(s, kind="article", article_id=aid, actor="li").id
    with services.db.write_session() as s, pytest.raises(bcast.NotPreviewed):
        bcast.send_broadcast(s, wx, bid, "li", services.tz, now=NOV)
    with services.db.write_session() as s:
        bcast.preview_broadcast(s, wx, bid, "o-li", "li")
    assert wx.calls[0][:3] == ("preview", "o-li", "text")
    assert "【改革破难】近邻工作法" in wx.calls[0][3] and 'href="https://mp.weixin.qq.com/s/334"' in wx.calls[0][3]
    with services.db.write_session() as s:
        bc = bcast.send_broadcast(s, wx, bid, "li", services.tz, now=NOV)
        cid = bc.client_msg_id
    assert wx.calls[-1] == ("sendall", "text", wx.calls[0][3], None, cid)
    with services.db.write_session() as s, pytest.raises(bcast.AlreadySent):
        bcast.send_broadcast(s, wx, bid, "li", services.tz, now=NOV)
    assert sum(1 for c in wx.calls if c[0] == "sendall") == 1


def test_media_id_goes_as_mpnews(services):
    aid = _article(services)
    with services.db.session() as s:
        s.get(articles.Article, aid).media_id = "MEDIA_1"
        bc = bcast.create_broadcast(s, kind="article", article_id=aid, actor="li")
        assert bcast.mass_message(bc) == ("mpnews", "MEDIA_1")


def test_bad_drafts_refused(services):
    with services.db.session() as s:
        with pytest.raises(bcast.BroadcastError):
            bcast.create_broadcast(s, kind="text", text="  ", actor="li")
        with pytest.raises(bcast.BroadcastError):
            bcast.create_broadcast(s, kind="article", article_id=999, actor="li")
        with pytest.raises(bcast.BroadcastError):
            bcast.create_broadcast(s, kind="text", text="长" * 601, actor="li")
    with services.db.write_session() as s:
        bid = bcast.create_broadcast(s, kind="text", text="你好", actor="li").id
    with services.db.write_session() as s, pytest.raises(bcast.BroadcastError):
        bcast.preview_broadcast(s, RecordingWeChat(), bid, "", "li")


def test_monthly_limit_warning(services):
    wx = RecordingWeChat()
    ids = []
    with services.db.session() as s:
        for i in range(5):
            bc = bcast.create_broadcast(s, kind="text", text=f"通知{i}", actor="li")
            bc.previewed_at = NOV
            ids.append(bc.id)
    for bid in ids[:4]:
        with services.db.write_session() as s:
            bcast.send_broadcast(s, wx, bid, "li", services.tz, now=NOV)
    with services.db.session() as s:
        assert bcast.sends_this_month(s, None, NOV, services.tz) == 4
        assert bcast.sends_this_month(s, None, datetime(2026, 12, 1, tzinfo=timezone.utc), services.tz) == 0
    with services.db.write_session() as s, pytest.raises(bcast.MonthlyLimitReached):
        bcast.send_broadcast(s, wx, ids[4], "li", services.tz, now=NOV)
    with services.db.write_session() as s:
        assert bcast.send_broadcast(s, wx, ids[4], "li", services.tz, now=NOV,
                                    accept_limit=True).status == "sent"


def test_town_tags_kept_in_step(services):
    wx = RecordingWeChat()
    towns = {f"o{i:03d}": "桃城镇" for i in range(60)}
    towns.update({"o-peng": "蓬壶镇", "o-none": None})
    _followers(services, towns)
    with services.db.write_session() as s:
        result = bcast.sync_town_tags(s, wx)
    assert result == {"tags_created": 2, "tagged": 61, "untagged": 0}
    assert sum(1 for c in wx.calls if c[0] == "tag") == 3  # 50 + 10 + 1
    with services.db.session() as s:
        s.get(Follower, "o000").town = "蓬壶镇"      # moved
        s.get(Follower, "o001").subscribed = False   # left
    with services.db.write_session() as s:
        result = bcast.sync_town_tags(s, wx)
    assert result == {"tags_created": 0, "tagged": 1, "untagged": 2}
    with services.db.session() as s:
        members = {m.openid: m.town for m in s.scalars(select(bcast.TownTagMember))}
        assert members["o000"] == "蓬壶镇" and "o001" not in members
        tag = s.get(bcast.TownTag, "蓬壶镇").tag_id
        bid = bcast.create_broadcast(s, kind="text", text="蓬壶镇活动", town="蓬壶镇", actor="li").id
        s.get(bcast.Broadcast, bid).previewed_at = NOV
        s.add(Follower(openid="o-new", subscribed=True, valid=True, town="蓬壶镇"))
    with services.db.write_session() as s:
        bcast.send_broadcast(s, wx, bid, "li", services.tz, now=NOV)
    assert wx.calls[-1][3] == tag
    assert ("tag", tag, ("o-new",)) in wx.calls  # the send brought the tags in step first


def test_town_without_tag_refused(services):
    _followers(services, {"o-yidu": "一都镇"})
    with services.db.session() as s:
        bc = bcast.create_broadcast(s, kind="text", text="通知", town="一都镇", actor="li")
        bc.previewed_at, bid = NOV, bc.id
        s.get(Follower, "o-yidu").subscribed = False  # she left before the send
    with services.db.write_session() as s, pytest.raises(bcast.BroadcastError, match="无法按乡镇群发"):
        bcast.send_broadcast(s, RecordingWeChat(), bid, "li", services.tz, now=NOV)


def test_masssendjobfinish_updates_figures(services, client):
    with services.db.session() as s:
        bc = bcast.create_broadcast(s, kind="text", text="通知", actor="li")
        bc.status, bc.msg_id, bc.sent_at, bid = "sent", "1000001", NOV, bc.id
    sim = Simulator(token=services.config.wechat["token"])
    reply = sim.send(flask_transport(client), event_fields(
        "o-system", "MASSSENDJOBFINISH", MsgID=1000001, Status="send success", TotalCount=120,
        FilterCount=118, SentCount=117, ErrorCount=1))
    assert reply is None
    with services.db.session() as s:
        bc = s.get(bcast.Broadcast, bid)
        assert (bc.status, bc.total_count, bc.filter_count, bc.sent_count, bc.error_count) == \
            ("finished", 120, 118, 117, 1)
        assert bc.job_status == "send success"


def test_console_flow_in_dry_run(services, client):
    """Staff create, preview to their own openid, confirm; a double submit is refused."""
    make_staff(services, "li", "staff", openid="o-li-own")
    login(client, "li")
    aid = _article(services)
    _followers(services, {"o-a": "桃城镇", "o-b": None})
    token = csrf_token(client, "/admin/broadcasts/new")
    r = client.post("/admin/broadcasts/new", data={"csrf_token": token, "kind": "article",
                                                   "article_id": str(aid), "text": "", "town": ""})
    assert r.status_code == 302
    detail = r.headers["Location"]
    bid = int(detail.rstrip("/").rsplit("/", 1)[1])
    page = client.get(detail).get_data(as_text=True)
    assert "预览到我的微信" in page and "本月已群发 0 次" in page
    token = csrf_token(client, detail)
    r = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token}, follow_redirects=True)
    assert "请先预览" in r.get_data(as_text=True)
    client.post(f"/admin/broadcasts/{bid}/preview", data={"csrf_token": token})
    # 「② 确认群发」 asks once more, with the audience size (tester: no confirmation step).
    ask = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token}).get_data(as_text=True)
    assert "将发送给 2 位关注者，确定吗？" in ask and 'name="confirmed" value="1"' in ask
    with services.db.session() as s:
        assert [m.api for m in s.scalars(select(OutboxMessage))] == ["message/mass/preview"]
    r1 = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token, "confirmed": "1"},
                     follow_redirects=True)
    assert "演练：未真正发送" in r1.get_data(as_text=True)  # issue 16: dry run says so
    r2 = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token, "confirmed": "1"},
                     follow_redirects=True)
    assert "不会重复发送" in r2.get_data(as_text=True)
    r3 = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token}, follow_redirects=True)
    assert "不会重复发送" in r3.get_data(as_text=True)
    with services.db.session() as s:
        apis = [m.api for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        assert apis == ["message/mass/preview", "message/mass/sendall"]
        preview = s.scalars(select(OutboxMessage)).first()
        assert preview.openid == "o-li-own"
        from models.audit import AuditEntry

        actions = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.target == "broadcasts"))]
        assert actions.count("send") == 1 and "preview" in actions and "create" in actions


def test_real_client_against_fake_wechat(live_services, fake_wechat):
    """The same flow over HTTP: town tag created and applied, clientmsgid sent once."""
    svc = live_services
    _followers(svc, {"o-a": "桃城镇", "o-b": "桃城镇"})
    with svc.db.write_session() as s:
        bcast.sync_town_tags(s, svc.wechat)
    with svc.db.session() as s:
        bc = bcast.create_broadcast(s, kind="text", text="桃城镇妇女微家活动通知", town="桃城镇", actor="li")
        bid = bc.id
    with svc.db.write_session() as s:
        bcast.preview_broadcast(s, svc.wechat, bid, "o-a", "li")
    with svc.db.write_session() as s:
        bc = bcast.send_broadcast(s, svc.wechat, bid, "li", svc.tz)
        msg_id, cid = bc.msg_id, bc.client_msg_id
    calls = fake_wechat.calls_to("message/mass/sendall")
    assert len(calls) == 1 and calls[0].json["clientmsgid"] == cid
    assert calls[0].json["filter"]["is_to_all"] is False
    assert len(fake_wechat.calls_to("tags/members/batchtagging")) == 1
    # WeChat itself refuses a repeat of the same clientmsgid (45065) and the client returns the
    # first msg_id: even a send that bypassed our lock would not reach followers twice.
    assert str(svc.wechat.mass_send_all("text", "x", clientmsgid=cid)) == msg_id


def test_console_refuses_a_text_over_600_characters(services, client):
    """Tester: a 700-character text was saved although the field says 最多 600 字."""
    make_staff(services, "li", "staff", openid="o-li-own")
    login(client, "li")
    token = csrf_token(client, "/admin/broadcasts/new")
    for text in ("长" * 700, "长\r\n" * 350, " " + "长" * 601 + " "):
        r = client.post("/admin/broadcasts/new", data={"csrf_token": token, "kind": "text",
                                                       "text": text, "town": ""})
        assert r.status_code == 200
        assert "600" in r.get_data(as_text=True)
    with services.db.session() as s:
        assert s.scalar(select(bcast.Broadcast)) is None
    r = client.post("/admin/broadcasts/new", data={"csrf_token": token, "kind": "text",
                                                   "text": "长" * 600, "town": ""})
    assert r.status_code == 302


def test_detail_page_names_the_message_type_in_chinese(services, client):
    make_staff(services, "li", "staff", openid="o-li-own")
    login(client, "li")
    with services.db.session() as s:
        bid = bcast.create_broadcast(s, kind="text", text="三八节活动通知", actor="li").id
    page = client.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    assert "文字消息" in page and ">text<" not in page
    with services.db.session() as s:
        assert bcast.audience_size(s, None) == 0
    _followers(services, {"o-a": "桃城镇", "o-b": "蓬壶镇", "o-c": None})
    with services.db.session() as s:
        assert bcast.audience_size(s, None) == 3 and bcast.audience_size(s, "桃城镇") == 1
