"""Column articles for followers: name with/without 【】, menu keys, 往期, through the router
and end-to-end through the webhook."""
from __future__ import annotations

from datetime import date

import pytest

import handlers
from bot.wechat.replies import NewsReply, TextReply
from bot.simulator import Simulator, event_fields, flask_transport, text_fields
from bot.wechat.updates import Update
from handlers.router import Context
from models import columns as articles


def seed(services):
    with services.db.session() as s:
        reform = articles.add_column(s, "【改革破难】", menu_key="COLUMN_REFORM")
        home = articles.add_column(s, "近邻娘家")
        articles.add_article(s, reform, "“334”近邻工作法，服务妇女零距离",
                             "https://mp.weixin.qq.com/s/334", digest="永春县妇联深化改革",
                             cover_url="https://example.org/334.jpg", published_on=date(2026, 9, 22))
        articles.add_article(s, reform, "妇女微家97家", "https://mp.weixin.qq.com/s/97",
                             published_on=date(2026, 11, 1))
        articles.add_article(s, home, "爱心义剪每月17日", "https://mp.weixin.qq.com/s/17",
                             published_on=date(2026, 10, 17))


def ask(services, update: Update):
    router = handlers.build_router()
    with services.db.session() as s:
        return router.dispatch(Context(update=update, services=services, session=s))


def text(content: str) -> Update:
    return Update(msg_type="text", openid="o-reader", content=content, msg_id="1")


@pytest.mark.parametrize("said", ["【改革破难】", "改革破难", " 改革破難 ", "[改革破难]"])
def test_column_name_gets_newest_article(services, said):
    seed(services)
    reply = ask(services, text(said))
    assert isinstance(reply, NewsReply)
    assert reply.title == "【改革破难】妇女微家97家"
    assert reply.url == "https://mp.weixin.qq.com/s/97"


def test_menu_keys(services):
    seed(services)
    latest = ask(services, Update(msg_type="event", event="click", openid="o1",
                                  event_key=articles.COLUMN_LATEST))
    assert isinstance(latest, NewsReply) and latest.title.endswith("妇女微家97家")
    own = ask(services, Update(msg_type="event", event="click", openid="o1",
                               event_key="COLUMN_REFORM"))
    assert isinstance(own, NewsReply) and own.title.startswith("【改革破难】")


def test_past_titles(services):
    seed(services)
    reply = ask(services, text("往期"))
    assert isinstance(reply, TextReply)
    lines = reply.content.splitlines()
    assert "妇女微家97家" in lines[1] and "爱心义剪" in lines[2] and "334" in lines[3]
    one = ask(services, text("往期 改革破难")).content
    assert "爱心义剪" not in one and "【改革破难】往期文章" in one
    assert "没有找到栏目" in ask(services, text("往期不存在的栏目")).content
    assert ask(services, text("专栏")).content.startswith("专栏往期文章：")


def test_no_articles_is_a_helpful_sentence(services):
    reply = ask(services, Update(msg_type="event", event="click", openid="o1",
                                 event_key=articles.COLUMN_LATEST))
    assert "专栏暂时还没有文章" in reply.content


def test_inactive_column_is_ignored(services):
    seed(services)
    with services.db.session() as s:
        articles.find_column(s, "改革破难").active = False
    reply = ask(services, text("改革破难"))
    assert not (isinstance(reply, NewsReply) and "改革破难" in reply.title)


def test_article_validation(services):
    with services.db.session() as s:
        col = articles.add_column(s, "改革破难")
        with pytest.raises(articles.ArticleError):
            articles.add_article(s, col, "", "https://x")
        with pytest.raises(articles.ArticleError):
            articles.add_article(s, col, "标题", "javascript:alert(1)")
        with pytest.raises(articles.ArticleError):
            articles.add_column(s, "【改革破难】")


def test_column_through_the_webhook(services, client):
    seed(services)
    sim, transport = Simulator(token=services.config.wechat["token"]), flask_transport(client)
    reply = sim.send(transport, text_fields("o-web", "【改革破难】"))
    assert reply["MsgType"] == "news"
    assert reply["Articles"]["item"]["Title"] == "【改革破难】妇女微家97家"
    reply = sim.send(transport, event_fields("o-web", "CLICK", EventKey="COLUMN_LATEST"))
    assert reply["Articles"]["item"]["Url"] == "https://mp.weixin.qq.com/s/97"
