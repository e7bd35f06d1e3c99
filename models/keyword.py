"""Keyword replies staff add without a deploy: fixed text or one article for a keyword."""
from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base

MATCH_EXACT = "exact"
MATCH_CONTAINS = "contains"


class KeywordReply(Base):
    """A staff-defined answer: when normalised text equals (or contains) ``keyword``.

    With ``article_url`` set the reply is a news (图文) reply of one article, else ``reply_text``.
    Higher ``priority`` wins; exact matches beat contains matches of equal priority.
    """

    __tablename__ = "keyword_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    keyword: Mapped[str] = mapped_column(String(64), index=True)
    match: Mapped[str] = mapped_column(String(16), default=MATCH_EXACT)
    reply_text: Mapped[str] = mapped_column(Text, default="")
    article_title: Mapped[str | None] = mapped_column(String(128))
    article_description: Mapped[str | None] = mapped_column(String(512))
    article_pic_url: Mapped[str | None] = mapped_column(String(1024))
    article_url: Mapped[str | None] = mapped_column(String(1024))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


def find_keyword_reply(session: Session, text: str) -> KeywordReply | None:
    """The best active rule for ``text`` (compact-normalised, see handlers.text), or None."""
    rows = session.scalars(select(KeywordReply).where(KeywordReply.active.is_(True))).all()
    best: tuple[int, int, KeywordReply] | None = None
    from handlers.text import compact

    for row in rows:
        word = compact(row.keyword)
        if row.match == MATCH_EXACT and text == word:
            rank = (row.priority, 1)
        elif row.match == MATCH_CONTAINS and word and word in text:
            rank = (row.priority, 0)
        else:
            continue
        if best is None or rank > best[:2]:
            best = (*rank, row)
    return best[2] if best else None
