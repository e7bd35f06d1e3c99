"""The declarative conversation helper and the router's contracts (stages, ctx.match)."""
from __future__ import annotations

import pytest

from bot.wechat.updates import Update
from handlers import build_router
from handlers.conversation import Conversation, Invalid, Step
from handlers.router import Context, Router, Stage


def say(services, router: Router, text: str, openid: str = "oConv"):
    with services.db.session() as s:
        reply = router.dispatch(Context(update=Update(msg_type="text", openid=openid,
                                                      content=text, msg_id="1"),
                                        services=services, session=s))
    return reply.content if reply is not None else None


def _age(ctx, state):
    return int(ctx.compact_text) if ctx.compact_text.isdigit() else Invalid("请发数字")


cancelled = []
DEMO = Conversation(
    name="demo",
    label="演示",
    steps=(Step("name", parse=lambda ctx, state: ctx.text, next="age", prompt="请问您的名字？"),
           Step("age", parse=_age, prompt=lambda state: f"{state.data['name']}，您几岁？",
                then=lambda ctx, state, age: ctx.conversation.end() or f"{age}岁，记下了")),
    cancel_words=frozenset({"不玩了"}),
    timeout=42,
    on_cancel=lambda ctx, state: cancelled.append(state.step),
)


@pytest.fixture
def router():
    r = Router()
    r.conversation(DEMO)
    r.on_text(exact="开始")(lambda ctx: DEMO.begin(ctx) and "请问您的名字？")
    return r


def test_steps_prompts_validators_and_timeout(services, router):
    assert say(services, router, "开始") == "请问您的名字？"
    assert say(services, router, "小美") == "小美，您几岁？"
    assert services.redis.ttl(services.keys("conv", "oConv")) == 42
    assert say(services, router, "很年轻") == "请发数字"
    assert say(services, router, "30") == "30岁，记下了"
    assert say(services, router, "30") is None  # ended


def test_own_cancel_words_and_on_cancel(services, router):
    cancelled.clear()
    say(services, router, "开始")
    assert say(services, router, "取消") == "取消，您几岁？"  # not one of its cancel words
    assert say(services, router, "不玩了").startswith("好的，已退出")
    assert cancelled == ["age"]
    assert say(services, router, "30") is None  # ended


def test_a_declaration_names_its_steps():
    with pytest.raises(ValueError):
        Conversation("x", steps=(Step("a", parse=lambda ctx, st: 1, next="nowhere"),))


def test_the_features_declare_what_danger_words_stop():
    convs = build_router().conversations
    assert {n: c.label for n, c in convs.items() if c.interruptible} == {
        "signup": "报名", "volunteer": "志愿者登记", "mediation": "调解预约",
        "privacy": "删除信息的确认", "intent_choice": "选择", "signup_town": "乡镇",
        "activity_pick": "选择活动", "signup_cancel": "取消报名"}
    assert not convs["help"].interruptible
    assert convs["volunteer"].passive("profile")
    assert convs["intent_choice"].passive("choice")  # a numbered question is no form to stop
    assert convs["signup_town"].passive("town")      # nor is the optional town question
    assert convs["activity_pick"].passive("pick")    # nor a number after the activity list
    assert convs["signup_cancel"].passive("confirm")  # nor 「确定不去了吗？」


def test_stages_keep_the_documented_order():
    assert [s.name for s in sorted(Stage, reverse=True)] == [
        "RECORD", "SAFETY", "SAFETY_NET", "QR_SCENE", "SPECIFIC", "COMMAND", "LEFTOVER",
        "LOOSE_PHRASE", "KNOWN_QUESTION", "INTENT", "DIRECTORY", "SMALL_TALK"]
    router = build_router()
    assert [r.stage for r in router.interceptors] == [Stage.RECORD, Stage.SAFETY, Stage.SAFETY_NET]
    assert all(isinstance(r.stage, Stage) for r in router.rules)


def test_the_check_result_reaches_the_handler(services):
    router = Router()
    router.on_text(regex=r"^报名(\d+)$")(lambda ctx: f"活动{ctx.match.group(1)}")
    router.on_text(prefix="往期")(lambda ctx: f"前缀{ctx.match}")
    assert say(services, router, "报名 7") == "活动7"
    assert say(services, router, "往期 改革") == "前缀往期"
