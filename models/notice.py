"""Notices: messages for a woman that could not be sent as a 客服消息 right away.

WeChat allows a 客服消息 (customer-service message, ``message/custom/send``) only within 48 hours
of her last message (errcode 45015 outside). :func:`notify` sends inside the window and records a
:class:`Notice` otherwise, or when the send fails; the reminders feature delivers pending notices
later with template messages and sets ``delivered_at``.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.wechat_client import WeChatAPIError
from models.base import AwareDateTime, Base, utcnow
from models.follower import Follower
from models.privacy import is_erased, register_eraser

log = logging.getLogger(__name__)

#: Notice kinds written by this feature.
KIND_PROMOTED = "signup_promoted"
KIND_ACTIVITY_CANCELLED = "activity_cancelled"


class Notice(Base):
    """A message waiting for delivery to ``openid``.

    ``kind`` says what it is about (``signup_promoted`` ...); ``text`` is the Chinese message;
    ``delivered_at`` is set once delivered; ``attempts`` counts delivery tries.
    """

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


def queue_notice(session: Session, openid: str, kind: str, text: str,
                 now: datetime | None = None) -> Notice:
    """Record a notice for later delivery (flushed, in the caller's transaction)."""
    notice = Notice(openid=openid, kind=kind, text=text, created_at=now or utcnow(), attempts=0)
    session.add(notice)
    session.flush()
    return notice


def pending_notices(session: Session, limit: int = 500) -> list[Notice]:
    """Undelivered notices, oldest first (for the reminders feature's delivery job)."""
    stmt = (select(Notice).where(Notice.delivered_at.is_(None))
            .order_by(Notice.created_at, Notice.id).limit(limit))
    return list(session.scalars(stmt))


def mark_delivered(notice: Notice, now: datetime | None = None) -> None:
    """Set ``delivered_at`` and count the attempt."""
    notice.attempts = (notice.attempts or 0) + 1
    notice.delivered_at = now or utcnow()


def notify(services, session: Session, openid: str, kind: str, text: str,
           now: datetime | None = None) -> str:
    """Tell ``openid`` something now if WeChat allows it, else keep it as a :class:`Notice`.

    Inside the 48-hour window (``Follower.in_service_window``) sends a 客服消息 with
    ``services.wechat.send_text`` (dry run: the outbox). On any ``WeChatAPIError``
    (OutsideServiceWindow 45015, NotFollower 43004 ...) or outside the window, queues a notice.
    Returns ``"sent"`` or ``"queued"``, or ``"skipped"`` for an erased openid (``erased:...``,
    nothing sent or stored). Call it *after* committing the change it reports, so a
    slow WeChat call never holds a database lock.
    """
    if is_erased(openid):  # left by 「删除我的信息」: there is nobody to tell
        log.info("notice for an erased signup skipped, kind=%s", kind)
        return "skipped"
    now = now or utcnow()
    follower = session.get(Follower, openid)
    if follower is not None and follower.subscribed and follower.in_service_window(now):
        try:
            # session=: in dry run the outbox row joins this transaction (no second writer).
            services.wechat.send_text(openid, text, session=session)
            return "sent"
        except WeChatAPIError as exc:
            log.info("customer-service message refused (%s); notice queued, kind=%s",
                     getattr(exc, "errcode", type(exc).__name__), kind)
    queue_notice(session, openid, kind, text, now)
    return "queued"


@register_eraser
def erase_notices(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: delete her notices (they quote activities she signed up for)."""
    result = session.execute(delete(Notice).where(Notice.openid == openid))
    return {"notices": result.rowcount or 0}
