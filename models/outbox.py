"""The outbox: what the account would have sent while in dry run (no app_secret configured)
(:class:`OutboxMessage`), and the outbound queue (:class:`OutboundMessage`): messages that are not
her own reply, written with the change they report and sent after the response by one worker
with idempotency keys (issue 15)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import AwareDateTime, Base, utcnow
from models.privacy import register_eraser


class OutboxMessage(Base):
    """One outbound API call not made: ``api`` is the WeChat path (``message/custom/send``),
    ``payload`` its JSON body (personal fields included, so only staff pages show it)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, index=True)
    api: Mapped[str] = mapped_column(String(128))
    openid: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)


# -- outbound messages: sends that are not her own reply, delivered after the response --------
#: :attr:`OutboundMessage.state` values.
PENDING = "pending"      # waiting for the outbox worker
SENDING = "sending"      # taken by a worker (committed before the send: never taken twice)
SENT = "sent"            # WeChat accepted the 客服消息
NOTICE = "notice"        # outside the 48-hour window or refused: kept as a Notice for later
SKIPPED = "skipped"      # an erased openid: nobody to tell
UNCERTAIN = "uncertain"  # the send timed out: it may have arrived, so it is not repeated


class OutboundMessage(Base):
    """A message for ``openid`` that is not her own passive reply (a waiting-list promotion
    ...), written in the transaction of the change it reports and sent after the response by
    the one outbox worker (``handlers.activities.deliver_outbox``).

    ``key`` is its idempotency key (unique: the same event queued twice is one row, told once);
    ``kind`` a ``models.notice.KIND_*``; ``state`` one of :data:`PENDING` ... :data:`UNCERTAIN`.
    """

    __tablename__ = "outbound"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


def enqueue(session: Session, key: str, openid: str, kind: str, text: str,
            now: datetime | None = None) -> bool:
    """Queue a message under idempotency ``key`` in the caller's transaction (flushed).
    Returns False (nothing added) when ``key`` is queued already, by this transaction or an
    earlier one; a concurrent insert of the same key fails that transaction's commit with
    ``IntegrityError`` (the unique constraint), so it is never queued twice."""
    if session.scalar(select(OutboundMessage.id).where(OutboundMessage.key == key)) is not None:
        return False
    session.add(OutboundMessage(key=key, openid=openid, kind=kind, text=text, state=PENDING,
                                attempts=0, created_at=now or utcnow()))
    session.flush()
    return True


def take_pending(session: Session, limit: int = 20) -> list[OutboundMessage]:
    """Take up to ``limit`` pending messages, oldest first, and mark them :data:`SENDING`
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers never take the same row; SQLite's
    write lock serialises them). The caller commits before sending."""
    stmt = (select(OutboundMessage).where(OutboundMessage.state == PENDING)
            .order_by(OutboundMessage.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    for row in rows:
        row.state = SENDING
        row.attempts = (row.attempts or 0) + 1
    session.flush()
    return rows


def finish(session: Session, message_id: int, state: str, now: datetime | None = None) -> None:
    """Record how message ``message_id`` ended (:data:`SENT`, :data:`NOTICE` ...)."""
    row = session.get(OutboundMessage, message_id)
    if row is not None:
        row.state, row.done_at = state, now or utcnow()


def pending_count(session: Session) -> int:
    """Messages still waiting for the worker."""
    return session.scalar(select(func.count()).select_from(OutboundMessage)
                          .where(OutboundMessage.state == PENDING)) or 0


@register_eraser
def erase_outbound(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: delete the messages queued for her."""
    result = session.execute(delete(OutboundMessage).where(OutboundMessage.openid == openid))
    return {"outbound": result.rowcount or 0}
