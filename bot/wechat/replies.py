"""Passive replies (被动回复用户消息): what a handler returns, and how it becomes XML.

A handler returns a :class:`TextReply`, a :class:`NewsReply`, a plain ``str`` (taken as text)
or ``None`` (no reply: the webhook answers ``success``). Rendering escapes ``]]>`` inside CDATA,
which wechatpy 1.8.18's ``create_reply`` does not.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

#: WeChat's limit for a text reply's Content, in bytes of UTF-8 (被动回复 文本消息).
TEXT_LIMIT_BYTES = 2048
_XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MORE_HINT = "\n（回复「更多」查看后续）"


def cdata(value: str) -> str:
    """Wrap ``value`` in CDATA, splitting any ``]]>`` so it cannot end the section early.

    Control characters that XML 1.0 forbids are dropped.
    """
    clean = _XML_FORBIDDEN.sub("", value)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def cut_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` that is at most ``limit`` bytes of UTF-8 (whole characters)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def split_pages(text: str, limit: int = TEXT_LIMIT_BYTES, hint: str = MORE_HINT) -> list[str]:
    """Split ``text`` into pages that each fit ``limit`` bytes, the hint included on all but the
    last page. Pages break at a line end where possible, else at a character boundary."""
    pages: list[str] = []
    room = limit - len(hint.encode("utf-8"))
    rest = text
    while len(rest.encode("utf-8")) > limit:
        head = cut_utf8(rest, room)
        nl = head.rfind("\n")
        if nl > len(head) // 3:
            head = head[:nl]
        pages.append(head.rstrip() + hint)
        rest = rest[len(head):].lstrip("\n")
    pages.append(rest)
    return pages


@dataclass(frozen=True)
class TextReply:
    """A text reply; ``content`` longer than 2048 bytes is paged by the webhook (「更多」)."""

    content: str


@dataclass(frozen=True)
class NewsReply:
    """A news (图文) reply with one article (WeChat allows only one since 2018)."""

    title: str
    description: str = ""
    pic_url: str = ""
    url: str = ""


@dataclass(frozen=True)
class TransferReply:
    """消息转发到客服: WeChat hands her message to the 客服 staff tools instead of answering
    (被动回复, MsgType ``transfer_customer_service``; 多客服 doc 将消息转发到客服). With
    ``kf_account`` (``name@account``) it goes to that staff member only (TransInfo/KfAccount);
    empty: to whoever is online. Valid in plaintext and (encrypted) safe mode alike."""

    kf_account: str = ""


Reply = TextReply | NewsReply | TransferReply


def render(reply: Reply, *, openid: str, account: str, now: int | None = None) -> str:
    """Render a reply as WeChat's XML (ToUserName = her openid, FromUserName = the account)."""
    ts = int(now if now is not None else time.time())
    head = (f"<xml><ToUserName>{cdata(openid)}</ToUserName><FromUserName>{cdata(account)}"
            f"</FromUserName><CreateTime>{ts}</CreateTime>")
    if isinstance(reply, TextReply):
        return head + f"<MsgType>{cdata('text')}</MsgType><Content>{cdata(cut_utf8(reply.content, TEXT_LIMIT_BYTES))}</Content></xml>"
    if isinstance(reply, TransferReply):
        info = (f"<TransInfo><KfAccount>{cdata(reply.kf_account)}</KfAccount></TransInfo>"
                if reply.kf_account else "")
        return head + f"<MsgType>{cdata('transfer_customer_service')}</MsgType>{info}</xml>"
    return (head + f"<MsgType>{cdata('news')}</MsgType><ArticleCount>1</ArticleCount><Articles><item>"
            f"<Title>{cdata(reply.title)}</Title><Description>{cdata(reply.description)}</Description>"
            f"<PicUrl>{cdata(reply.pic_url)}</PicUrl><Url>{cdata(reply.url)}</Url></item></Articles></xml>")
