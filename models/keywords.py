"""Keyword replies staff add without a deploy: fixed text or one article for a keyword.

Every text message looks the rules up, so each process keeps a copy of the active rules per
database for :data:`RULES_TTL` seconds (models/refcache.py): loading them as ORM rows cost ~6 µs of CPU per rule per
message (0.4 ms with 50 rules, 1.3 ms with 200; bench/webhook_costs.py --keyword-rules). Any insert/update/delete of ``keyword_replies`` this process makes through
SQLAlchemy drops the copy at once; an edit made by another process shows within RULES_TTL.
"""
from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.core.db import OnDemandSession  # noqa: F401 - named in annotations
from bot.core.text import compact
from models.base import Base, is_http_url
from models.refcache import ReferenceCache

MATCH_EXACT = "exact"
MATCH_CONTAINS = "contains"


class KeywordError(ValueError):
    """A keyword reply was refused; ``str(err)`` is a Chinese sentence for staff."""


def check_reply_links(article_url: str | None, article_pic_url: str | None = None) -> None:
    """Check a keyword reply's links before it is saved (console form, any other writer).

    Raises :class:`KeywordError` unless each link given is an http(s) URL
    (:func:`models.base.is_http_url`): the news reply's link is shown in 试一试 and sent to
    followers, so ``javascript:`` and the like never get in. Empty links are allowed (a text
    reply has none).
    """
    if article_url and not is_http_url(article_url):
        raise KeywordError("图文链接须是以 http:// 或 https:// 开头的完整网址")
    if article_pic_url and not is_http_url(article_pic_url):
        raise KeywordError("图文封面链接须是以 http:// 或 https:// 开头的完整网址")


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


#: Seconds a process answers from its copy of the active rules (edits by other processes).
RULES_TTL = 5.0
_COLUMNS = ("id", "keyword", "match", "reply_text", "article_title", "article_description",
            "article_pic_url", "article_url", "priority", "active")


class _Index:
    """Active rules ready for matching: exact words in a dict, contains words in a list."""

    def __init__(self, rows: tuple[KeywordReply, ...]):
        self.rows = rows
        self.exact: dict[str, tuple[int, KeywordReply]] = {}
        contains = []
        for row in rows:  # by id: on equal priority the older rule wins
            word, priority = compact(row.keyword), row.priority or 0
            if row.match == MATCH_EXACT:
                if word not in self.exact or priority > self.exact[word][0]:
                    self.exact[word] = (priority, row)
            elif row.match == MATCH_CONTAINS and word:
                contains.append((word, priority, row))
        self.contains = tuple(contains)


def _load(session: Session) -> _Index:
    rows = session.scalars(select(KeywordReply).where(KeywordReply.active.is_(True))
                           .order_by(KeywordReply.id)).all()
    return _Index(tuple(KeywordReply(**{c: getattr(r, c) for c in _COLUMNS}) for r in rows))


_rules = ReferenceCache((KeywordReply.__table__,), _load, ttl=RULES_TTL,
                        when_down=lambda: _Index(()))


def forget_cached_rules() -> None:
    """Drop the cached rules now (after raw-SQL edits the write hook cannot see)."""
    _rules.forget()


def _index(session: "Session | OnDemandSession") -> _Index:
    return _rules.get(session)


def active_rules(session: Session) -> tuple[KeywordReply, ...]:
    """The active rules of ``session``'s database (its engine), oldest first, from this
    process's copy when fresh (younger than :data:`RULES_TTL` and no change since).

    The rows are detached copies: read their attributes, do not add them to a session.
    """
    return _index(session).rows


def find_keyword_reply(session: "Session | OnDemandSession", text: str) -> KeywordReply | None:
    """The best active rule for ``text`` (compact-normalised, see bot.core.text), or None.
    ``session`` may be a :class:`bot.core.db.OnDemandSession` (made only if the copy is stale).

    Higher priority wins; on equal priority exact beats contains, then the older rule. The row
    returned is a detached copy (see :func:`active_rules`).
    """
    index = _index(session)
    best: tuple[int, int, KeywordReply] | None = None
    if text in index.exact:
        priority, row = index.exact[text]
        best = (priority, 1, row)
    for word, priority, row in index.contains:
        if word in text and (best is None or (priority, 0) > best[:2]):
            best = (priority, 0, row)
    return best[2] if best else None
