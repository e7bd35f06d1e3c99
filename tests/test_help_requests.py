"""The 求助 conversation: each category, message parts, contact preference, reference number."""
from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.wechat.updates import Location, Update
from handlers import build_router
from handlers.help import parse_category
from handlers.router import Context
from handlers import help_messages
from models import help as hr
from models.base import utcnow

FEATURES = ["handlers.safety", "handlers.help", "handlers.welcome"]
_ids = itertools.count(1)


class Chat:
    """One woman talking to the router directly (no webhook), each message in its own
    committed transaction, as the webhook does."""

    def __init__(self, services, openid: str = "o_help_woman_0001", features=None):
        self.services = services
        self.openid = openid
        self.router = build_router(features or FEATURES)

    def push(self, now: datetime | None = None, **fields) -> str:
        fields.setdefault("msg_type", "text")
        if fields["msg_type"] != "event":
            fields.setdefault("msg_id", str(next(_ids)))
        update = Update(openid=self.openid, account="gh_taoyuanjiemei", create_time=1, **fields)
        with self.services.db.session() as s:
            ctx = Context(update=update, services=self.services, session=s, now=now or utcnow())
            reply = self.router.dispatch(ctx)
        return reply.content if reply is not None and hasattr(reply, "content") else ""

    def say(self, text: str, **kw) -> str:
        return self.push(content=text, **kw)

    def click(self, key: str) -> str:
        return self.push(msg_type="event", event="click", event_key=key)

    def requests(self) -> list[hr.HelpRequest]:
        with self.services.db.session() as s:
            return list(s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == self.openid)
                                  .order_by(hr.HelpRequest.id)))


@pytest.fixture
def chat(services):
    return Chat(services)


@pytest.mark.parametrize("answer,code", [
    ("1", "law"), ("政策法律", "law"), ("法律", "law"),
    ("2", "family"), ("婚姻家庭", "family"), ("矛盾调解", "family"),
    ("3", "education"), ("家庭教育指导", "education"),
    ("4", "care"), ("关爱帮扶", "care"),
    ("5", "jobs"), ("就业创业", "jobs"),
    ("6", "other"), ("其他", "other"),
])
def test_each_category_path(chat, answer, code):
    first = chat.say("求助")
    assert "政策法律" in first and "6. 其他" in first
    assert hr.CATEGORY_LABELS[code] in chat.say(answer)
    assert "已收到" in chat.say("我想了解一下相关的政策和办法")
    assert "联系" in chat.say("提交")
    done = chat.say("1")
    assert "编号 H" in done and "答复" in done
    [row] = chat.requests()
    assert row.category == code and row.contact == hr.CONTACT_WECHAT and row.submitted
    assert row.body == "我想了解一下相关的政策和办法"
    assert row.ref in done


@pytest.mark.parametrize("text,code", [("２", "family"), ("二", "family"), ("③", "education"),
                                       ("家庭教育", "education"), ("我想问法律问题", "law"),
                                       ("7", None), ("你好", None)])
def test_parse_category(text, code):
    assert parse_category(text) == code


@pytest.mark.parametrize("start", ["留言", "我要咨询", "求 助"])
def test_start_words(chat, start):
    assert "回复数字" in chat.say(start)


def test_menu_click_starts_the_conversation(chat):
    assert "政策法律" in chat.click("HELP")
    assert "婚姻家庭" in chat.say("2")


def test_several_messages_voice_and_images_then_phone(chat):
    chat.say("留言")
    chat.say("2")
    chat.say("我和婆婆经常吵架")
    assert "语音已收到" in chat.push(msg_type="voice", media_id="VOICE1", recognition="想请人帮忙调解")
    assert "共3条" in chat.push(msg_type="image", media_id="IMG1", pic_url="http://x/1.jpg")
    chat.push(msg_type="voice", media_id="VOICE2", recognition="")
    assert "1. 微信回复" in chat.say("好了")
    assert "手机号码" in chat.say("2")
    assert "不对" in chat.say("12345")
    done = chat.say("138 1234 5678")
    assert "138****5678" in done and "13812345678" not in done
    [row] = chat.requests()
    assert row.body == "我和婆婆经常吵架\n想请人帮忙调解"
    assert [m["media_id"] for m in row.media_items] == ["VOICE1", "IMG1", "VOICE2"]
    assert row.contact == hr.CONTACT_PHONE and row.phone == "13812345678"


def test_phone_number_given_directly_and_landline(chat):
    chat.say("求助")
    chat.say("5")
    chat.say("想找一份在家附近的工作")
    chat.say("提交")
    chat.say("0595-23881234")
    [row] = chat.requests()
    assert row.contact == hr.CONTACT_PHONE and row.phone == "059523881234"


def test_no_contact_wanted(chat):
    chat.say("求助")
    chat.say("4")
    chat.say("家里老人生病了，生活比较困难")
    chat.say("提交")
    assert "不需要联系" in chat.say("3")
    [row] = chat.requests()
    assert row.contact == hr.CONTACT_NONE and row.phone is None


def test_submit_without_content_asks_again(chat):
    chat.say("求助")
    chat.say("1")
    assert "还没有说具体情况" in chat.say("提交")
    assert chat.requests() == []


@pytest.mark.parametrize("story,code", [("孩子他爸一直不给抚养费怎么办", "education"),
                                        ("村里有人一直占我家的地不还", "other")])
def test_story_instead_of_category_is_kept(chat, story, code):
    chat.say("求助")
    assert hr.CATEGORY_LABELS[code] in chat.say(story)
    chat.say("提交")
    chat.say("1")
    [row] = chat.requests()
    assert row.category == code and row.body == story


def test_unknown_category_asks_again(chat):
    chat.say("求助")
    assert "没看懂" in chat.say("嗯")


def test_cancel_leaves_and_saves_nothing(chat):
    chat.say("求助")
    chat.say("1")
    chat.say("我想问问")
    assert "退出" in chat.say("取消")
    assert chat.requests() == []


def test_location_and_link_are_kept_as_text(chat):
    chat.say("求助")
    chat.say("6")
    chat.push(msg_type="location", location=Location(lat=25.32, lng=118.29, label="桃城镇"))
    chat.say("提交")
    chat.say("1")
    [row] = chat.requests()
    assert "桃城镇" in row.body


def test_my_requests_and_no_answer_yet(chat):
    assert "还没有留言" in chat.say("我的留言")
    chat.say("求助")
    chat.say("3")
    chat.say("孩子不爱学习怎么办")
    chat.say("提交")
    chat.say("1")
    ref = chat.requests()[0].ref
    assert ref in chat.say("我的留言") and "待答复" in chat.say("我的留言")
    assert "还在处理中" in chat.say("查看回复")


def test_settings_validation(services):
    from bot.core.config import ConfigError

    good = hr.help_settings(services.config)
    assert good.retention_days == 365 and good.digest_times == ("09:00", "17:00")
    cfg = services.config
    for bad in ({"on_duty_openids": "x"}, {"digest_times": ["9点"]}, {"retention_days": 0}):
        cfg.data["help"] = bad
        with pytest.raises(ConfigError, match="help."):
            hr.help_settings(cfg)
    cfg.data.pop("help")


# -- fixtures shared with tests/test_danger*.py and tests/test_help_*.py -----------------------
STAFF = ("o_staff_duty_000001", "o_staff_duty_000002")
HELP_CONFIG = {"on_duty_openids": list(STAFF), "staff_template_id": "TPL_STAFF_NEW_REQUEST",
               "answer_template_id": "TPL_ANSWER_WAITING", "notify_in_background": False,
               "retention_days": 180}


def _services_with(db_url, redis_prefix, tmp_path, **sections):
    from bot.app import wire_services
    from tests.conftest import _empty_tables, make_config

    svc = wire_services(make_config(db_url, redis_prefix, tmp_path, **sections))
    _empty_tables(svc)
    return svc


@pytest.fixture
def help_services(db_url, redis_prefix, tmp_path):
    """Dry-run services with two on-duty staff and both template ids configured."""
    from tests.conftest import _empty_tables

    svc = _services_with(db_url, redis_prefix, tmp_path, help=dict(HELP_CONFIG))
    yield svc
    help_messages.wait_for_notifications(svc)
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def live_help_services(db_url, redis_prefix, tmp_path, fake_wechat):
    """Like ``help_services`` but calling the fake WeChat API over HTTP, notifying in a thread."""
    from tests.conftest import _empty_tables

    svc = _services_with(db_url, redis_prefix, tmp_path,
                         help=dict(HELP_CONFIG, notify_in_background=True),
                         wechat={"app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
                                 "api_base_url": fake_wechat.base_url, "timeout": 3.0})
    yield svc
    help_messages.wait_for_notifications(svc)
    _empty_tables(svc)
    svc.db.dispose()


def outbox(services, api: str | None = None) -> list:
    """Outbox rows (dry run sends), optionally only those for WeChat path ``api``."""
    import json

    from models.outbox import OutboxMessage

    with services.db.session() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [(r.api, r.openid, json.loads(r.payload)) for r in rows if api is None or r.api == api]
