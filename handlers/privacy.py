"""「删除我的信息」: confirm, then erase her personal data in every feature.

Conversation ``privacy``: 删除我的信息 ──► confirm ──「确认删除」(or another answer saying 删除)──►
erased. 「是」「确定」 alone never delete (they may answer another question); any message other
than a yes or no to deleting ends the confirmation, nothing deleted, and is answered as usual.
What is erased is decided by the erasers registered in models/privacy.py; anonymous counts stay.
Her signups for activities not yet started are cancelled first (the waiting lists move up and
the promoted women are told), so an erased signup never holds a seat.
"""
from __future__ import annotations

import logging

from handlers.activities import tell_promoted_after_commit
from handlers.conversation import (CONFIRM_DELETE_WORDS, KEEP_DATA_WORDS, Conversation,
                                   ConversationState, Invalid, Step)
from handlers.router import Context, Router, Stage
from models.activities import withdraw_upcoming
from models.privacy import erase_personal_data

log = logging.getLogger(__name__)

NAME = "privacy"
ENTRY_WORDS = ["删除我的信息", "删除信息", "删除我的资料", "删除个人信息", "注销我的信息",
               "清除我的信息"]
#: Deleting cannot be undone: plain 「嗯」「好」 re-ask; these confirm.
CONFIRM_WORDS = CONFIRM_DELETE_WORDS
KEEP_WORDS = KEEP_DATA_WORDS
LABELS = {"signups": "条报名记录的姓名和手机号", "volunteers": "份志愿者登记",
          "notices": "条待发通知", "help_requests": "条求助留言"}


def entry(ctx: Context) -> str:
    """Explain what will be deleted and ask for 「确认删除」."""
    PRIVACY.begin(ctx, "confirm")
    return ("将删除您在「桃源姐妹」留下的个人信息：报名时填写的姓名和手机号、志愿者登记、求助留言内容等。"
            "您报名了还没开始的活动，也会一并取消报名（名额让给候补）。"
            "已参加活动的人数只保留匿名统计，删除后无法恢复。\n"
            "确定请回复「确认删除」，不删除请回复「取消」。")


#: A yes that may answer another question: asked again, never a deletion.
UNCLEAR_YES = frozenset({"是", "是的", "确认", "确定", "嗯", "嗯嗯", "好", "好的", "对", "对的", "可以", "行",
                         "1", "ok"})
#: What :func:`_parse_confirm` gives for a message that is neither yes nor no to deleting.
OTHER = "other"


def _parse_confirm(ctx: Context, state: ConversationState):
    """True for 「确认删除」, False for 「不删」, a re-ask for a bare yes (:data:`UNCLEAR_YES`),
    :data:`OTHER` for anything else (the confirmation ends without deleting and the message is
    answered as a fresh one)."""
    answer = ctx.compact_text.lower().rstrip("!。.!~")
    if answer in KEEP_WORDS:
        return False
    if answer in CONFIRM_WORDS:
        return True
    if answer in UNCLEAR_YES:
        return Invalid("删除后无法恢复，所以要您明确说：删除请回复「确认删除」，保留请回复「取消」。")
    return OTHER


def _confirmed(ctx: Context, state: ConversationState, erase: "bool | str") -> str | None:
    """Erase her personal data (or not) and say what was deleted, including the signups it
    cancelled; ``erase`` :data:`OTHER`: nothing deleted, the message goes on as a fresh one."""
    ctx.conversation.end()
    if erase == OTHER:
        return None
    if not erase:
        return "好的，没有删除任何信息。"
    # her seats in upcoming activities go back; promoted women are told after the commit
    withdrawn = withdraw_upcoming(ctx.session, ctx.openid, now=ctx.now)
    for result in withdrawn:
        tell_promoted_after_commit(ctx.services, ctx.session, result.activity, result.promoted)
    counts = erase_personal_data(ctx.session, ctx.openid)
    ctx.set_more([])
    done = [f"{n} {LABELS[k]}" for k, n in counts.items() if n and k in LABELS]
    detail = "：" + "、".join(done) if done else ""
    cancelled = (f"\n您报名的 {len(withdrawn)} 个还没开始的活动已取消报名，不用再去了。"
                 if withdrawn else "")
    return (f"已删除您的个人信息{detail}。{cancelled}\n"
            "以后报名活动或登记志愿者时需要重新填写。感谢您对「桃源姐妹」的信任。")


PRIVACY = Conversation(
    name=NAME,
    label="删除信息的确认",
    steps=(Step("confirm", parse=_parse_confirm, then=_confirmed,
                resume="删除请回复「确认删除」，保留请回复「取消」。"),),
    cancelled="好的，没有删除任何信息。",
)


def register(router: Router) -> None:
    """Rules of this module."""
    router.on_text(exact=ENTRY_WORDS, stage=Stage.SPECIFIC, escape=True)(entry)
    router.conversation(PRIVACY)
