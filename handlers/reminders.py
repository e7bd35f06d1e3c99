"""订阅义剪 / 退订义剪, 订阅活动提醒 / 退订活动提醒, and TEMPLATESENDJOBFINISH events.

She opts in to a topic by text; the reminders (scheduler/) go to the topic's subscribers.
TEMPLATESENDJOBFINISH (模板消息 事件推送: 送达结果) updates the delivery log and gets no reply.
"""
from __future__ import annotations

import logging

from handlers.router import Context, Router, Stage
from models.reminders import (TOPIC_ACTIVITIES, TOPIC_HAIRCUT, is_subscribed, record_template_finish,
                             subscribe_topic, unsubscribe_topic)

log = logging.getLogger(__name__)

SUBSCRIBE_WORDS = {
    TOPIC_HAIRCUT: ["订阅义剪", "订阅爱心义剪", "义剪提醒", "订阅理发", "开启义剪提醒"],
    TOPIC_ACTIVITIES: ["订阅活动提醒", "订阅活动", "活动提醒", "开启活动提醒"],
}
UNSUBSCRIBE_WORDS = {
    TOPIC_HAIRCUT: ["退订义剪", "取消订阅义剪", "取消义剪提醒", "退订爱心义剪", "关闭义剪提醒"],
    TOPIC_ACTIVITIES: ["退订活动提醒", "取消订阅活动提醒", "取消活动提醒", "退订活动", "关闭活动提醒"],
}
STATUS_WORDS = ["订阅", "我的订阅", "提醒设置", "退订"]

SUBSCRIBED = {
    TOPIC_HAIRCUT: ("好的，已为您订阅爱心义剪提醒。\n每月17日是巾帼义务理发服务队的固定义剪日，"
                    "我们会在16日晚上6点和17日早上8点提醒您。\n回复「退订义剪」可随时取消。"),
    TOPIC_ACTIVITIES: ("好的，已为您订阅活动提醒。\n有新活动或您报名的活动开始前一天，我们会提醒您。"
                       "\n回复「退订活动提醒」可随时取消。"),
}
ALREADY = {
    TOPIC_HAIRCUT: "您已经订阅了爱心义剪提醒，每月16日晚上和17日早上会提醒您。回复「退订义剪」可取消。",
    TOPIC_ACTIVITIES: "您已经订阅了活动提醒。回复「退订活动提醒」可取消。",
}
UNSUBSCRIBED = {
    TOPIC_HAIRCUT: "已为您退订爱心义剪提醒，以后不再发送。想再收到时，回复「订阅义剪」即可。",
    TOPIC_ACTIVITIES: ("已为您退订活动提醒。您已报名的活动，开始前一天仍会提醒您。"
                       "想再收到时，回复「订阅活动提醒」即可。"),
}
NOT_SUBSCRIBED = {
    TOPIC_HAIRCUT: "您还没有订阅爱心义剪提醒。想订阅请回复「订阅义剪」。",
    TOPIC_ACTIVITIES: "您还没有订阅活动提醒。想订阅请回复「订阅活动提醒」。",
}
NAMES = {TOPIC_HAIRCUT: "爱心义剪提醒（每月17日义剪日）", TOPIC_ACTIVITIES: "活动提醒"}


def _subscriber(topic: str):
    def handler(ctx: Context) -> str:
        ctx.follower  # noqa: B018 - make sure her follower row exists
        added = subscribe_topic(ctx.session, ctx.openid, topic)
        return SUBSCRIBED[topic] if added else ALREADY[topic]
    handler.__name__ = f"subscribe_{topic}"
    return handler


def _unsubscriber(topic: str):
    def handler(ctx: Context) -> str:
        removed = unsubscribe_topic(ctx.session, ctx.openid, topic)
        return UNSUBSCRIBED[topic] if removed else NOT_SUBSCRIBED[topic]
    handler.__name__ = f"unsubscribe_{topic}"
    return handler


def subscribe(ctx: Context, topic: str) -> str:
    """Subscribe her to ``topic`` (``TOPIC_*``); the same reply as its 订阅 words."""
    return _subscriber(topic)(ctx)


def unsubscribe(ctx: Context, topic: str | None = None) -> str:
    """Unsubscribe her from ``topic``, or (None: 「别再给我发提醒了」) from every topic she has;
    the same replies as the 退订 words."""
    if topic is not None:
        return _unsubscriber(topic)(ctx)
    topics = [t for t in (TOPIC_HAIRCUT, TOPIC_ACTIVITIES) if is_subscribed(ctx.session, ctx.openid, t)]
    if not topics:
        return "您目前没有订阅任何提醒，不会收到提醒消息。"
    return "\n".join(_unsubscriber(t)(ctx) for t in topics)


def my_subscriptions(ctx: Context) -> str:
    """订阅 / 我的订阅: what she is subscribed to and how to change it."""
    lines = ["您的提醒订阅："]
    for topic in (TOPIC_HAIRCUT, TOPIC_ACTIVITIES):
        mark = "已订阅" if is_subscribed(ctx.session, ctx.openid, topic) else "未订阅"
        lines.append(f"· {NAMES[topic]}：{mark}")
    lines.append("回复「订阅义剪」「退订义剪」「订阅活动提醒」「退订活动提醒」即可更改。")
    return "\n".join(lines)


def template_finished(ctx: Context) -> None:
    """TEMPLATESENDJOBFINISH: WeChat reports a template message delivered, blocked or failed."""
    changed = record_template_finish(ctx.session, ctx.update.msg_id, ctx.update.status)
    if not changed:
        log.info("TEMPLATESENDJOBFINISH for an unknown msgid %s", ctx.update.msg_id)
    return None


def register(router: Router) -> None:
    """Add the subscription rules and the TEMPLATESENDJOBFINISH event to ``router``."""
    for topic, words in SUBSCRIBE_WORDS.items():
        router.on_text(exact=words, stage=Stage.SPECIFIC)(_subscriber(topic))
    for topic, words in UNSUBSCRIBE_WORDS.items():
        router.on_text(exact=words, stage=Stage.SPECIFIC)(_unsubscriber(topic))
    router.on_text(exact=STATUS_WORDS, stage=Stage.SPECIFIC)(my_subscriptions)
    router.on_event("templatesendjobfinish")(template_finished)
