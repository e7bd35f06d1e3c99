"""Notices: messages for a woman that could not be sent as a 客服消息 right away.

WeChat allows a 客服消息 (customer-service message, ``message/custom/send``) only within 48 hours
of her last message (errcode 45015 outside). :func:`delivery_route` says whether to send now;
the sender (``handlers.activities.notify``, through the notifier) records a :class:`Notice`
otherwise, or when the send fails; the reminders feature delivers pending notices later with
template messages and sets ``delivered_at``.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import AwareDateTime, Base, utcnow
from models.followers import Follower
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


#: What :func:`delivery_route` says to do with a message for her.
ROUTE_SEND = "send"    # inside WeChat's 48-hour window: send a 客服消息 now
ROUTE_QUEUE = "queue"  # outside it (or not following): keep a Notice for later
ROUTE_SKIP = "skip"    # left by 「删除我的信息」 (``erased:...``): there is nobody to tell


def delivery_route(session: Session, openid: str, now: datetime | None = None) -> str:
    """How a message for ``openid`` can reach her now: ``ROUTE_SEND`` when she follows the
    account and wrote within 48 hours (``Follower.in_service_window``; WeChat doc 客服消息),
    ``ROUTE_QUEUE`` otherwise, ``ROUTE_SKIP`` for an erased openid. Decides only; the
    sender is ``handlers.activities.notify``."""
    if is_erased(openid):
        return ROUTE_SKIP
    follower = session.get(Follower, openid)
    if follower is not None and follower.subscribed and follower.in_service_window(now or utcnow()):
        return ROUTE_SEND
    return ROUTE_QUEUE


@register_eraser
def erase_notices(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: delete her notices (they quote activities she signed up for)."""
    result = session.execute(delete(Notice).where(Notice.openid == openid))
    return {"notices": result.rowcount or 0}
