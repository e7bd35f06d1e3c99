"""Column articles (专栏文章): columns such as 【改革破难】 and their articles.

A follower who types a column's name (with or without 【】) or taps its menu key gets the newest
article as a news (图文) reply; 「往期」 lists recent titles. Articles link to pages published
elsewhere (the account's own posts); ``media_id`` is optional, for 群发 of an uploaded 图文.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.base import AwareDateTime, Base, is_http_url, utcnow
from bot.core.db import OnDemandSession  # noqa: F401 - named in annotations
from bot.wechat.menu import COLUMN_LATEST  # noqa: F401 - the menu key, defined once in bot/wechat/menu.py
from models.refcache import ReferenceCache

BRACKETS = "【】[]「」《》<>()（） "


class ArticleError(ValueError):
    """An article or column was refused; ``str(err)`` is a Chinese sentence for staff."""


class ArticleColumn(Base):
    """A column (栏目): ``name`` without brackets (改革破难); ``menu_key`` an optional menu
    EventKey (``COLUMN_REFORM``) that answers with this column's newest article."""

    __tablename__ = "article_columns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    menu_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    articles: Mapped[list["Article"]] = relationship(back_populates="column",
                                                     cascade="all, delete-orphan")

    @property
    def title(self) -> str:
        return f"【{self.name}】"

    def __str__(self) -> str:
        return self.title


class Article(Base):
    """One article: ``title`` (≤ 64), ``digest`` (≤ 120 shown in the news card), ``cover_url``
    (PicUrl), ``url`` (the article page), ``published_on`` (local date)."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    column_id: Mapped[int] = mapped_column(ForeignKey("article_columns.id", ondelete="CASCADE"),
                                           index=True)
    title: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(256), default="")
    cover_url: Mapped[str] = mapped_column(String(1024), default="")
    url: Mapped[str] = mapped_column(String(1024))
    media_id: Mapped[str | None] = mapped_column(String(128))
    published_on: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)

    column: Mapped[ArticleColumn] = relationship(back_populates="articles")

    def __str__(self) -> str:
        return f"{self.published_on:%Y-%m-%d} {self.title}"


def strip_brackets(text: str) -> str:
    """「【改革破难】」 -> 「改革破难」 (also [], 「」, 《》, spaces)."""
    return (text or "").strip(BRACKETS)


def _load_column_names(session: Session) -> dict[str, int]:
    rows = session.execute(select(ArticleColumn.name, ArticleColumn.id)
                           .where(ArticleColumn.active.is_(True)))
    return {name: cid for name, cid in rows}


#: Every text message asks whether it names a column: a per-process copy (models/refcache.py).
_column_names = ReferenceCache((ArticleColumn.__table__,), _load_column_names, ttl=5.0,
                               when_down=dict)


def column_names(session: "Session | OnDemandSession") -> dict[str, int]:
    """Active column names (no brackets) -> column id (a per-process copy, ≤ 5 s old).
    ``session`` may be a :class:`bot.core.db.OnDemandSession` (made only if the copy is stale)."""
    return _column_names.get(session)


def find_column(session: Session, text: str) -> ArticleColumn | None:
    """The active column whose name is ``text`` with or without brackets, or None."""
    name = strip_brackets(text)
    if not name:
        return None
    return session.scalar(select(ArticleColumn).where(ArticleColumn.name == name,
                                                      ArticleColumn.active.is_(True)))


def column_for_key(session: Session, key: str) -> ArticleColumn | None:
    """The active column whose ``menu_key`` is ``key``, or None."""
    return session.scalar(select(ArticleColumn).where(ArticleColumn.menu_key == key,
                                                      ArticleColumn.active.is_(True)))


def _published(session: Session, column_id: int | None):
    q = (select(Article).join(ArticleColumn).where(ArticleColumn.active.is_(True))
         .order_by(Article.published_on.desc(), Article.id.desc()))
    return q.where(Article.column_id == column_id) if column_id is not None else q


def latest_article(session: Session, column_id: int | None = None) -> Article | None:
    """The newest article (of one column, or of any active column), or None."""
    return session.scalars(_published(session, column_id).limit(1)).first()


def recent_articles(session: Session, column_id: int | None = None, limit: int = 8) -> list[Article]:
    """Up to ``limit`` newest articles, newest first."""
    return list(session.scalars(_published(session, column_id).limit(limit)))


#: WeChat: a menu button's ``key`` is at most 128 bytes (自定义菜单 创建接口).
MENU_KEY_MAX_BYTES = 128


def check_column(session: Session, name: str, menu_key: str | None = None, *,
                 column_id: int | None = None) -> tuple[str, str | None]:
    """Validate a column's name and menu key; returns ``(name without brackets, key or None)``.

    Raises :class:`ArticleError` for an empty name or one over 32 characters, a name or key
    another column (not ``column_id``) already has, or a key with spaces or over
    :data:`MENU_KEY_MAX_BYTES` bytes (UTF-8).
    """
    name = strip_brackets(name)
    if not name or len(name) > 32:
        raise ArticleError("栏目名称不能为空，且不超过 32 个字")
    key = (menu_key or "").strip() or None
    if key is not None:
        if any(ch.isspace() for ch in key):
            raise ArticleError("菜单 key 不能有空格，如 COLUMN_REFORM")
        if len(key.encode("utf-8")) > MENU_KEY_MAX_BYTES:
            raise ArticleError(f"菜单 key 不超过 {MENU_KEY_MAX_BYTES} 字节（英文字母算 1 字节，汉字算 3 字节）")
    other = ArticleColumn.id != column_id if column_id is not None else True
    with session.no_autoflush:
        if session.scalar(select(ArticleColumn.id).where(ArticleColumn.name == name, other)):
            raise ArticleError(f"栏目【{name}】已存在，请换一个名称")
        if key is not None and session.scalar(
                select(ArticleColumn.id).where(ArticleColumn.menu_key == key, other)):
            raise ArticleError(f"菜单 key {key} 已被其他栏目使用")
    return name, key


def add_column(session: Session, name: str, *, menu_key: str | None = None,
               description: str = "") -> ArticleColumn:
    """Create a column; raises :class:`ArticleError` (see :func:`check_column`)."""
    name, key = check_column(session, name, menu_key)
    col = ArticleColumn(name=name, menu_key=key, description=description, active=True)
    session.add(col)
    session.flush()
    return col


def validate_article(title: str, url: str, cover_url: str = "") -> None:
    """Raise :class:`ArticleError` unless title is 1-64 characters and the links (``url``
    required, ``cover_url`` optional) are http(s) URLs (:func:`models.base.is_http_url`)."""
    if not (title or "").strip() or len(title) > 64:
        raise ArticleError("标题不能为空，且不超过 64 个字")
    if not is_http_url(url):
        raise ArticleError("文章链接须是以 http:// 或 https:// 开头的完整网址")
    if cover_url and not is_http_url(cover_url):
        raise ArticleError("封面图片链接须是以 http:// 或 https:// 开头的完整网址")


def add_article(session: Session, column: ArticleColumn | str, title: str, url: str, *,
                digest: str = "", cover_url: str = "", published_on: date | None = None,
                media_id: str | None = None) -> Article:
    """Create an article in ``column`` (a row or its name). Raises :class:`ArticleError`."""
    if isinstance(column, str):
        found = find_column(session, column)
        if found is None:
            raise ArticleError(f"没有栏目【{strip_brackets(column)}】")
        column = found
    validate_article(title, url, cover_url)
    art = Article(column_id=column.id, title=title.strip(), url=url, digest=digest or "",
                  cover_url=cover_url or "", media_id=media_id or None,
                  published_on=published_on or date.today(), created_at=utcnow())
    session.add(art)
    session.flush()
    return art
