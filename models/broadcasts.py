"""群发 (mass send) of a column article or a text, to all followers or one town.

Flow: :func:`create_broadcast` (draft) → :func:`preview_broadcast` to the staff member's own
openid (WeChat doc 群发接口: 预览接口 ``mass/preview``) → :func:`send_broadcast`
(``mass/sendall`` with ``filter.tag_id`` for a town, and a ``clientmsgid`` fixed per broadcast so
WeChat itself refuses a second send) → :func:`record_job_finish` on MASSSENDJOBFINISH.

Towns are WeChat user tags (用户标签管理) kept in step with ``Follower.town`` by
:func:`sync_town_tags`; what WeChat holds is mirrored in ``town_tag_members``.
A follower receives at most 4 mass sends a month: :func:`sends_this_month` counts them.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.columns import Article
from models.base import AwareDateTime, Base, utcnow
from models.followers import Follower

KIND_TEXT = "text"
KIND_ARTICLE = "article"
KINDS = {KIND_TEXT: "文字", KIND_ARTICLE: "专栏文章"}
STATUSES = {"draft": "草稿", "previewed": "已预览", "sent": "已提交微信", "finished": "已完成",
            "failed": "失败"}
#: WeChat: a follower receives at most this many mass sends per calendar month.
MONTHLY_LIMIT = 4
#: WeChat's text mass send limit is 2048 bytes of content; stay well inside it (characters).
TEXT_MAX = 600
#: WeChat: batch tagging accepts at most 50 openids per call.
TAG_BATCH = 50


class BroadcastError(ValueError):
    """A broadcast operation was refused; ``str(err)`` is a Chinese sentence for staff."""


class NotPreviewed(BroadcastError):
    """Sending before a preview went to the staff member's own openid."""


class AlreadySent(BroadcastError):
    """The broadcast was sent already (a double submit)."""


class MonthlyLimitReached(BroadcastError):
    """Followers in the audience already had :data:`MONTHLY_LIMIT` mass sends this month."""


class Broadcast(Base):
    """One mass send. ``town`` None = all followers. Figures come from MASSSENDJOBFINISH:
    ``total_count`` (粉丝数), ``filter_count`` (过滤后准备发送), ``sent_count``, ``error_count``."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=KIND_TEXT)
    text: Mapped[str] = mapped_column(Text, default="")
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True)
    town: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    client_msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    msg_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    previewed_by: Mapped[str | None] = mapped_column(String(64))
    previewed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    sent_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    job_status: Mapped[str | None] = mapped_column(String(64))
    total_count: Mapped[int | None] = mapped_column(Integer)
    filter_count: Mapped[int | None] = mapped_column(Integer)
    sent_count: Mapped[int | None] = mapped_column(Integer)
    error_count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    article: Mapped[Article | None] = relationship()

    @property
    def audience(self) -> str:
        return self.town or "全体关注者"

    @property
    def status_name(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def label(self) -> str:
        if self.kind == KIND_ARTICLE and self.article is not None:
            return f"{self.article.column.title}{self.article.title}"
        return (self.text or "")[:30]


class TownTag(Base):
    """The WeChat user tag (id) that stands for a town."""

    __tablename__ = "town_tags"

    town: Mapped[str] = mapped_column(String(16), primary_key=True)
    tag_id: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class TownTagMember(Base):
    """What WeChat holds: ``openid`` carries the tag of ``town`` (mirror of batch tagging)."""

    __tablename__ = "town_tag_members"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    town: Mapped[str] = mapped_column(String(16), index=True)
    tag_id: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)


def new_client_msg_id() -> str:
    """A clientmsgid (≤ 64 characters) unique to one broadcast."""
    return "taoyuan-" + secrets.token_hex(12)


def create_broadcast(session: Session, *, kind: str, actor: str, text: str = "",
                     article_id: int | None = None, town: str | None = None) -> Broadcast:
    """A draft broadcast. Raises :class:`BroadcastError` for an empty/too long text, a
    missing article, an unknown kind, a typed text with ``kind`` article (it would not go), or
    a ``town`` with no current follower (nobody would receive it)."""
    if kind not in KINDS:
        raise BroadcastError("群发类型只能是文字或专栏文章")
    text = (text or "").strip()
    if kind == KIND_TEXT and not text:
        raise BroadcastError("请填写群发的文字内容")
    if kind == KIND_TEXT and len(text) > TEXT_MAX:
        raise BroadcastError(f"文字群发不超过 {TEXT_MAX} 个字")
    if kind == KIND_ARTICLE and (article_id is None or session.get(Article, article_id) is None):
        raise BroadcastError("请选择要群发的专栏文章")
    if kind == KIND_ARTICLE and text:
        raise BroadcastError("您填写了文字，但「群发内容」选的是「专栏文章」：要发这段文字，请选「文字」；"
                             "要发文章，请先清空文字框。")
    town = (town or "").strip() or None
    if town and audience_size(session, town) == 0:
        raise BroadcastError(f"「{town}」目前没有关注者（0 人），群发不会送到任何人，所以没有保存。"
                             "请换一个发送对象。")
    bc = Broadcast(kind=kind, text=text if kind == KIND_TEXT else "",
                   article_id=article_id if kind == KIND_ARTICLE else None, town=town,
                   status="draft", client_msg_id=new_client_msg_id(), created_by=actor,
                   created_at=utcnow())
    session.add(bc)
    session.flush()
    return bc


def mass_message(bc: Broadcast) -> tuple[str, str]:
    """``(msgtype, content_or_media_id)`` for WeChat's mass send.

    An article with a ``media_id`` goes as ``mpnews``; otherwise as ``text`` with the title,
    digest and a link (WeChat renders ``<a href>`` in text messages).
    """
    if bc.kind == KIND_ARTICLE and bc.article is not None:
        art = bc.article
        if art.media_id:
            return "mpnews", art.media_id
        body = f"{art.column.title}{art.title}"
        if art.digest:
            body += f"\n{art.digest}"
        return "text", body + f'\n<a href="{art.url}">点击阅读全文</a>'
    return "text", bc.text


#: msgtype -> the Chinese name shown to staff.
MSGTYPE_LABELS = {"text": "文字消息", "mpnews": "图文消息（素材 media_id）"}


def audience_size(session: Session, town: str | None) -> int:
    """How many current, valid followers a broadcast to ``town`` (None = all) reaches, by our
    own records (WeChat's figure arrives later in MASSSENDJOBFINISH)."""
    stmt = select(func.count()).select_from(Follower).where(
        Follower.subscribed.is_(True), Follower.valid.is_(True))
    if town:
        stmt = stmt.where(Follower.town == town)
    return int(session.scalar(stmt) or 0)


def month_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end (aware UTC) of the local calendar month containing ``now``."""
    local = now.astimezone(tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def sends_this_month(session: Session, town: str | None, now: datetime, tz: ZoneInfo) -> int:
    """The most mass sends any follower of the audience got this local month (sent or
    finished broadcasts): for a town, sends to all + to that town; for all, sends to all +
    the busiest town."""
    start, end = month_bounds(now, tz)
    rows = session.execute(
        select(Broadcast.town, func.count()).where(
            Broadcast.status.in_(("sent", "finished")), Broadcast.sent_at >= start,
            Broadcast.sent_at < end).group_by(Broadcast.town)).all()
    counts = {t: n for t, n in rows}
    to_all = counts.pop(None, 0)
    if town:
        return to_all + counts.get(town, 0)
    return to_all + max(counts.values(), default=0)


def _locked(session: Session, broadcast_id: int) -> Broadcast:
    bc = session.scalar(select(Broadcast).where(Broadcast.id == broadcast_id).with_for_update())
    if bc is None:
        raise BroadcastError("没有这条群发")
    return bc


def preview_broadcast(session: Session, wechat, broadcast_id: int, openid: str, actor: str,
                      now: datetime | None = None) -> Broadcast:
    """Send the broadcast to ``openid`` only (``mass/preview``) and mark it previewed.

    Raises :class:`BroadcastError` without an openid or after it was sent; WeChat errors
    (``bot.wechat.client.WeChatAPIError``) propagate.
    """
    if not openid:
        raise BroadcastError("请先在「我的账号」里绑定您的微信（生成绑定码，用微信发送「绑定 六位数字」），才能预览")
    bc = _locked(session, broadcast_id)
    if bc.status in ("sent", "finished"):
        raise AlreadySent("这条群发已经发出，不能再预览")
    msgtype, content = mass_message(bc)
    wechat.mass_preview(openid, msgtype, content, session=session)
    bc.status = "previewed" if bc.status != "failed" else bc.status
    bc.previewed_by, bc.previewed_at = actor, now or utcnow()
    return bc


def send_broadcast(session: Session, wechat, broadcast_id: int, actor: str, tz: ZoneInfo, *,
                   accept_limit: bool = False, now: datetime | None = None) -> Broadcast:
    """Mass-send a previewed broadcast once (``mass/sendall`` with its fixed clientmsgid).

    Call inside ``db.write_session()``: the row is locked, so a double submit finds it sent
    and gets :class:`AlreadySent`. Raises :class:`NotPreviewed`, :class:`MonthlyLimitReached`
    (unless ``accept_limit``), :class:`BroadcastError` when no follower is in the town.
    For a town, the WeChat tags are first brought in step with ``Follower.town``
    (:func:`sync_town_tags`).
    A WeChat error marks the broadcast ``failed`` (it may be retried: same clientmsgid) and is
    re-raised.
    """
    now = now or utcnow()
    bc = _locked(session, broadcast_id)
    if bc.status in ("sent", "finished"):
        raise AlreadySent(f"这条群发已于 {bc.sent_at.astimezone(tz):%m-%d %H:%M} 由 {bc.sent_by} 发出，"
                          "不会重复发送")
    if bc.previewed_at is None:
        raise NotPreviewed("请先预览到自己的微信，确认无误后再群发")
    if not accept_limit and sends_this_month(session, bc.town, now, tz) >= MONTHLY_LIMIT:
        raise MonthlyLimitReached(f"本月已群发 {MONTHLY_LIMIT} 次，关注者本月收不到更多群发")
    tag_id = None
    if bc.town:
        sync_town_tags(session, wechat, now)  # the tag must match Follower.town right now
        tag = session.get(TownTag, bc.town)
        if tag is None:
            raise BroadcastError(f"{bc.town} 还没有关注者登记乡镇，无法按乡镇群发")
        tag_id = tag.tag_id
    msgtype, content = mass_message(bc)
    try:
        msg_id = wechat.mass_send_all(msgtype, content, tag_id=tag_id, clientmsgid=bc.client_msg_id,
                                      session=session)
    except Exception as exc:
        bc.status, bc.error = "failed", str(exc)[:500]
        raise
    bc.status, bc.msg_id, bc.sent_by, bc.sent_at, bc.error = "sent", str(msg_id), actor, now, None
    return bc


def record_job_finish(session: Session, msg_id: str, status: str, *, total: int | None,
                      filtered: int | None, sent: int | None, errors: int | None,
                      now: datetime | None = None) -> Broadcast | None:
    """Store MASSSENDJOBFINISH figures (事件推送群发结果) on the broadcast with ``msg_id``;
    None when no broadcast has it (e.g. a send made in WeChat's own web console)."""
    if not msg_id:
        return None
    bc = session.scalar(select(Broadcast).where(Broadcast.msg_id == str(msg_id)))
    if bc is None:
        return None
    bc.status = "finished"
    bc.job_status = (status or "")[:64]
    bc.total_count, bc.filter_count, bc.sent_count, bc.error_count = total, filtered, sent, errors
    bc.finished_at = now or utcnow()
    return bc


def sync_town_tags(session: Session, wechat, now: datetime | None = None) -> dict[str, int]:
    """Bring WeChat's town tags in step with ``Follower.town`` of current followers.

    Creates a tag per town (用户标签管理: 创建标签), untags followers who moved or left
    (``batch_untag``), tags the new ones (``batch_tag``, ≤ 50 openids per call).
    Returns counts ``{"tags_created", "tagged", "untagged"}``. WeChat errors propagate; what was
    done before the error is kept in the mirror when the caller commits.
    """
    now = now or utcnow()
    wanted = {oid: town for oid, town in session.execute(
        select(Follower.openid, Follower.town).where(
            Follower.subscribed.is_(True), Follower.valid.is_(True), Follower.town.is_not(None),
            Follower.town != ""))}
    held = {m.openid: m for m in session.scalars(select(TownTagMember))}
    result = {"tags_created": 0, "tagged": 0, "untagged": 0}
    tags = {t.town: t for t in session.scalars(select(TownTag))}
    for town in sorted(set(wanted.values()) - set(tags)):
        tag = TownTag(town=town, tag_id=int(wechat.create_tag(town, session=session)), synced_at=now)
        session.add(tag)
        tags[town] = tag
        result["tags_created"] += 1
    leaving: dict[int, list[str]] = {}
    for oid, member in held.items():
        if wanted.get(oid) != member.town:
            leaving.setdefault(member.tag_id, []).append(oid)
    for tag_id, oids in leaving.items():
        for i in range(0, len(oids), TAG_BATCH):
            chunk = oids[i:i + TAG_BATCH]
            wechat.batch_untag(tag_id, chunk, session=session)
            for oid in chunk:
                session.delete(held.pop(oid))
            result["untagged"] += len(chunk)
    session.flush()
    joining: dict[str, list[str]] = {}
    for oid, town in wanted.items():
        if oid not in held:
            joining.setdefault(town, []).append(oid)
    for town, oids in joining.items():
        tag = tags[town]
        for i in range(0, len(oids), TAG_BATCH):
            chunk = oids[i:i + TAG_BATCH]
            wechat.batch_tag(tag.tag_id, chunk, session=session)
            session.add_all(TownTagMember(openid=o, town=town, tag_id=tag.tag_id, synced_at=now)
                            for o in chunk)
            result["tagged"] += len(chunk)
        tag.synced_at = now
    session.flush()
    return result
