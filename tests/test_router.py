"""The dispatcher: normalising, rule order, database keyword replies, conversations, 「更多」."""
from __future__ import annotations

import pytest

from bot.core.text import compact, normalize
from bot.wechat.replies import NewsReply, TextReply
from bot.wechat.updates import Update
from handlers.router import Context, Router, Stage
from models.keywords import KeywordReply


def text_update(text: str, openid: str = "oR1") -> Update:
    return Update(msg_type="text", openid=openid, content=text, msg_id="1")


def run(services, router: Router, update: Update):
    with services.db.session() as s:
        return router.dispatch(Context(update=update, services=services, session=s))


@pytest.mark.parametrize("raw,expected", [
    ("报名３", "报名3"), ("ＡＢＣ１２３", "ABC123"), ("\u3000报名\u3000 3 ", "报名 3"),
    ("我要報名義剪", "我要报名义剪"), ("想不開", "想不开"), ("", ""), ("😀", "😀"),
    ("活动？", "活动"), ("13812345670。", "13812345670"), ("王秀英😊", "王秀英"), ("是👌", "是"),
    ("「帮助」！", "帮助"), ("？", "?"), ("【改革破难】", "改革破难"), ("报名1👍", "报名1"),
    ("他打我!!!", "他打我"), ("你好，在吗？", "你好,在吗"),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_compact_drops_spaces():
    assert compact(" 报名 ３ ") == "报名3"


def test_rule_order_priority_then_registration(services):
    router = Router()
    router.on_text(contains="义剪")(lambda ctx: "low")
    router.on_text(exact="义剪", stage=Stage.SPECIFIC)(lambda ctx: "high")
    router.on_text(regex=r"^报名(\d+)$")(lambda ctx: "signup")
    assert run(services, router, text_update("义剪")).content == "high"
    assert run(services, router, text_update("我要义剪")).content == "low"
    assert run(services, router, text_update("报名 ３")).content == "signup"


def test_click_and_event_rules(services):
    router = Router()
    router.on_click("ACTIVITIES")(lambda ctx: "list")
    router.on_click(prefix="COLUMN_")(lambda ctx: "column")
    click = Update(msg_type="event", openid="o", event="click", event_key="ACTIVITIES", create_time=1)
    assert run(services, router, click).content == "list"
    col = Update(msg_type="event", openid="o", event="click", event_key="COLUMN_1", create_time=1)
    assert run(services, router, col).content == "column"
    other = Update(msg_type="event", openid="o", event="click", event_key="NOPE", create_time=1)
    assert run(services, router, other) is None  # events nobody handles: success


def test_database_keywords_exact_beats_code_contains_after(services):
    with services.db.session() as s:
        s.add(KeywordReply(keyword="妇女节", match="exact", reply_text="三八节快乐", priority=0, active=True))
        s.add(KeywordReply(keyword="最美家庭", match="contains", reply_text="", article_title="最美家庭评选",
                           article_url="https://example.org/a", priority=0, active=True))
        s.add(KeywordReply(keyword="停用", match="exact", reply_text="x", priority=0, active=False))
    router = Router()
    router.on_text(exact="妇女节")(lambda ctx: "code")
    router.default_message = lambda ctx: "default"
    assert run(services, router, text_update("婦女節")).content == "三八节快乐"
    reply = run(services, router, text_update("我想参加最美家庭"))
    assert isinstance(reply, NewsReply) and reply.url == "https://example.org/a"
    assert run(services, router, text_update("停用")).content == "default"


def test_conversation_steps_cancel_and_expiry(services):
    router = Router()

    @router.on_text(exact="开始")
    def start(ctx):
        ctx.conversation.start("demo", "name")
        return "请问您的名字？"

    @router.on_conversation("demo")
    def step(ctx, state):
        if state.step == "name":
            ctx.conversation.update(state, step="done", name=ctx.text)
            return f"好的，{ctx.text}"
        ctx.conversation.end()
        return "结束"

    assert run(services, router, text_update("开始")).content == "请问您的名字？"
    assert run(services, router, text_update("小美")).content == "好的，小美"
    assert run(services, router, text_update("取消")).content.startswith("好的，已退出")
    assert run(services, router, text_update("小美")) is None  # no conversation, no default
    run(services, router, text_update("开始"))
    services.redis.delete(services.keys("conv", "oR1"))  # ten minutes of silence
    assert run(services, router, text_update("小美")) is None


def test_interceptor_runs_before_conversation(services):
    router = Router()
    router.intercept(lambda ctx: "救命" in ctx.compact_text, stage=Stage.SAFETY)(lambda ctx: "拨打110")
    router.on_conversation("demo")(lambda ctx, st: "step")
    with services.db.session() as s:
        Context(update=text_update("x"), services=services, session=s).conversation.start("demo", "a")
    assert run(services, router, text_update("救命啊")).content == "拨打110"
    assert run(services, router, text_update("嗯")).content == "step"


def test_more_pages(services):
    router = Router()

    @router.on_text(exact="列表")
    def listing(ctx):
        ctx.set_more(["第二页", "第三页"])
        return "第一页"
    router.default_message = lambda ctx: "default"
    assert [run(services, router, text_update(w)).content for w in ["列表", "更多", "更多", "更多"]] == \
        ["第一页", "第二页", "第三页", "default"]


def test_handler_returning_wrong_type_is_an_error(services):
    router = Router()
    router.on_text(exact="x")(lambda ctx: 42)
    with pytest.raises(TypeError):
        run(services, router, text_update("x"))


def test_escape_rules_leave_a_conversation(services):
    router = Router()
    router.on_text(exact="开始")(lambda ctx: ctx.conversation.start("demo", "a") and "开始了")
    router.on_conversation("demo")(lambda ctx, st: "请回答问题")
    router.on_text(exact="求助", escape=True)(lambda ctx: "求助入口")
    router.on_text(exact="活动")(lambda ctx: "活动列表")
    run(services, router, text_update("开始"))
    assert run(services, router, text_update("活动")).content == "请回答问题"  # not an escape
    assert run(services, router, text_update("求助")).content == "求助入口"
    assert run(services, router, text_update("活动")).content == "活动列表"  # conversation ended
    with pytest.raises(ValueError):
        router.on_text(contains="x", escape=True)


def test_conversation_store_reads_once_and_keeps_its_writes(services):
    from handlers.conversation import ConversationStore

    reads = []
    real_get = services.redis.get
    services.redis.get = lambda key: reads.append(key) or real_get(key)
    try:
        store = ConversationStore(services.redis, services.keys, "oOnce")
        assert store.get() is None and store.get() is None
        assert len(reads) == 1
        store.start("demo", "a", x=1)
        assert store.get().step == "a" and len(reads) == 1
        store.end()
        assert store.get() is None
        prefetched = ConversationStore(services.redis, services.keys, "oOnce",
                                       prefetched='{"name": "demo", "step": "b", "data": {}}')
        assert prefetched.get().step == "b" and len(reads) == 1
    finally:
        services.redis.get = real_get


def test_dedup_claim_peeks_in_the_same_round_trip(services):
    from bot.wechat.dedup import Deduplicator

    services.redis.set(services.keys("conv", "oPeek"), "state")
    dedup = Deduplicator(services.redis, services.keys)
    first = dedup.claim("m:oPeek:1", peek=services.keys("conv", "oPeek"))
    assert first.first and first.peeked == "state"
    dedup.publish("m:oPeek:1", "<xml/>")
    again = dedup.claim("m:oPeek:1", peek=services.keys("conv", "oPeek"))
    assert not again.first and again.reply == "<xml/>"


def test_rules_of_other_message_types_are_not_even_asked(services):
    router = Router()
    asked = []

    def never_for_text(ctx):
        asked.append(ctx.update.msg_type)
        return False
    router.add(never_for_text, lambda ctx: "no", stage=50, msg_types=["event"])
    router.on_event("click", key="K", stage=40)(lambda ctx: "clicked")
    router.on_message("location")(lambda ctx: "where")
    router.on_text(exact="你好")(lambda ctx: "hello")
    assert run(services, router, text_update("你好")).content == "hello"
    assert asked == []
    assert [r.name for r in router.rules_for("text")] == ["<lambda>"]
    click = Update(msg_type="event", openid="oR1", event="click", event_key="K")
    assert run(services, router, click).content == "clicked" and asked == ["event"]
    router.add(lambda ctx: True, lambda ctx: "anything", stage=99)  # no msg_types: every type
    assert run(services, router, text_update("你好")).content == "anything"


def test_unavailable_reply_names_the_federation_phone_only_when_known():
    router = Router()
    assert "县妇联电话" not in router.unavailable_reply("signup").content
    assert "急事请拨打县妇联电话0595-1234567，" in router.unavailable_reply("signup", "0595-1234567").content
