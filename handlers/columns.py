"""Column articles (专栏) for followers, and the 群发 result event.

- She types a column's name, 【改革破难】 or 改革破难 → the newest article as a news reply.
- Menu key ``COLUMN_LATEST`` (or a column's own ``menu_key``) → the newest article.
- 「往期」/「往期文章」/「专栏」 (optionally followed by a column name) → recent titles, with links.
- MASSSENDJOBFINISH (事件推送群发结果) → the broadcast's figures; no reply.
"""
from __future__ import annotations

import logging

from bot.wechat.menu import COLUMN_LATEST, COLUMN_PREFIX
from bot.wechat.replies import NewsReply
from handlers.router import Context, Router, Stage
from models import columns as articles
from models.broadcasts import record_job_finish

log = logging.getLogger(__name__)

NO_ARTICLE = "专栏暂时还没有文章，敬请期待。回复「帮助」看看我还能做什么。"
PAST_WORDS = ("往期", "往期文章", "历史文章", "专栏")


def _news(art: articles.Article) -> NewsReply:
    return NewsReply(title=f"{art.column.title}{art.title}", description=art.digest or "",
                     pic_url=art.cover_url or "", url=art.url)


def _is_column_name(ctx: Context) -> bool:
    if ctx.update.msg_type not in ("text", "voice"):
        return False
    name = articles.strip_brackets(ctx.compact_text)
    return bool(name) and len(name) <= 32 and name in articles.column_names(ctx.session_source)


def _is_past(ctx: Context) -> bool:
    return (ctx.update.msg_type in ("text", "voice")
            and ctx.compact_text.startswith(PAST_WORDS) and len(ctx.compact_text) <= 40)


def column_latest(ctx: Context):
    """The newest article of the column she named (or tapped), as a news (图文) reply."""
    column = None
    if ctx.update.is_event:
        if ctx.update.event_key != COLUMN_LATEST:
            column = articles.column_for_key(ctx.session, ctx.update.event_key)
    else:
        column = articles.find_column(ctx.session, ctx.compact_text)
    art = articles.latest_article(ctx.session, column.id if column else None)
    if art is None:
        return NO_ARTICLE
    return _news(art)


def past_articles(ctx: Context, column_words: str | None = None) -> str:
    """Recent titles (of one column when named after 往期), newest first, with links.
    ``column_words``: the column she named, when the words come from elsewhere than her text
    (the intent stage passes "" for 「有没有往期文章」)."""
    rest = ctx.compact_text if column_words is None else column_words
    for word in sorted(PAST_WORDS, key=len, reverse=True):
        if column_words is None and rest.startswith(word):
            rest = rest[len(word):]
            break
    column = articles.find_column(ctx.session, rest) if rest else None
    if rest and column is None:
        return f"没有找到栏目「{articles.strip_brackets(rest)[:20]}」。" + _column_hint(ctx)
    rows = articles.recent_articles(ctx.session, column.id if column else None, limit=8)
    if not rows:
        return NO_ARTICLE
    head = f"{column.title}往期文章：" if column else "专栏往期文章："
    lines = [head]
    for art in rows:
        lines.append(f"· {art.published_on:%m月%d日} {art.column.title}"
                     f'<a href="{art.url}">{art.title}</a>')
    lines.append(_column_hint(ctx))
    return "\n".join(lines)


def _column_hint(ctx: Context) -> str:
    names = sorted(articles.column_names(ctx.session))
    if not names:
        return ""
    return "回复栏目名看最新一篇：" + "、".join(f"【{n}】" for n in names[:6])


def mass_send_finished(ctx: Context) -> None:
    """MASSSENDJOBFINISH: store total / filtered / sent / error counts on the broadcast."""
    u = ctx.update
    bc = record_job_finish(ctx.session, u.msg_id, u.status, total=u.total_count,
                           filtered=u.filter_count, sent=u.sent_count, errors=u.error_count)
    if bc is None:
        log.info("MASSSENDJOBFINISH for unknown msg_id %s", u.msg_id)
    return None


def register(router: Router) -> None:
    """Column rules: names (stage SPECIFIC, above generic text rules), 往期, menu keys, job
    events."""
    router.add(_is_column_name, column_latest, stage=Stage.SPECIFIC, name="column_by_name")
    router.add(_is_past, past_articles, stage=Stage.SPECIFIC, name="column_past")
    router.on_click(prefix=COLUMN_PREFIX)(column_latest)
    router.on_event("masssendjobfinish")(mass_send_finished)
