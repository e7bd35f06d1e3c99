"""Issue 16 items 3 and 4: the broadcast form keeps what she typed, says what will go and
refuses a target nobody would receive; in dry run every page says 演练模式 and a send says
「演练：未真正发送」 (no 已提交微信群发, no msg_id)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from models import broadcasts as bcast
from models import columns as articles
from models.followers import Follower
from tests.helpers import csrf_token, login, make_staff


def _article(services) -> int:
    with services.db.session() as s:
        col = articles.add_column(s, "改革破难")
        return articles.add_article(s, col, "近邻工作法", "https://mp.weixin.qq.com/s/334",
                                    published_on=date(2026, 11, 1)).id


def _followers(services, towns):
    with services.db.session() as s:
        for openid, town in towns.items():
            s.add(Follower(openid=openid, subscribed=True, valid=True, town=town))


def _new(client, **data):
    token = csrf_token(client, "/admin/broadcasts/new")
    return client.post("/admin/broadcasts/new", data={"csrf_token": token, **data})


def _count(services) -> int:
    with services.db.session() as s:
        return s.scalar(select(func.count()).select_from(bcast.Broadcast))


def test_typed_text_is_kept_and_never_swapped_for_the_article(services, client):
    make_staff(services, "li", "staff")
    login(client, "li")
    aid = _article(services)
    _followers(services, {"o-a": "桃城镇"})
    r = _new(client, kind="article", article_id=str(aid), text="三八节活动通知：欢迎参加", town="")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "三八节活动通知：欢迎参加" in page
    assert "选的是「专栏文章」" in page and _count(services) == 0
    r = _new(client, article_id=str(aid), text="三八节活动通知", town="")  # no 群发内容 chosen
    page = r.get_data(as_text=True)
    assert "请选择群发内容" in page and "三八节活动通知" in page and _count(services) == 0
    form = client.get("/admin/broadcasts/new").get_data(as_text=True)
    assert "将发送" in form and "（1 位关注者）" in form and 'checked>' not in form.replace('checked="checked"', 'checked>')


def test_a_town_without_followers_is_refused_with_the_reason(services, client):
    make_staff(services, "li", "staff")
    login(client, "li")
    _followers(services, {"o-a": "桃城镇"})
    page = _new(client, kind="text", text="蓬壶镇妇女微家活动", town="蓬壶镇").get_data(as_text=True)
    assert "「蓬壶镇」目前没有关注者（0 人）" in page and "蓬壶镇妇女微家活动" in page
    assert _count(services) == 0
    assert _new(client, kind="text", text="桃城镇活动", town="桃城镇").status_code == 302


def test_dry_run_says_so_everywhere_and_after_a_send(services, client):
    assert services.config.dry_run
    make_staff(services, "li", "staff", openid="o-li-own")
    login(client, "li")
    _followers(services, {"o-a": "桃城镇", "o-b": None})
    for path in ("/admin/", "/admin/broadcasts/", "/admin/broadcasts/new", "/admin/reminders/"):
        assert "演练模式" in client.get(path).get_data(as_text=True), path
    r = _new(client, kind="text", text="三八节活动通知", town="")
    detail = r.headers["Location"]
    bid = int(detail.rstrip("/").rsplit("/", 1)[1])
    token = csrf_token(client, detail)
    client.post(f"/admin/broadcasts/{bid}/preview", data={"csrf_token": token})
    sent = client.post(f"/admin/broadcasts/{bid}/send", data={"csrf_token": token, "confirmed": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "演练：未真正发送" in sent and "演练模式" in sent
    assert "已提交微信群发" not in sent and "msg_id" not in sent
