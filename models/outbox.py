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


#: Times a message is taken when WeChat cannot be reached before sending; then a Notice.
MAX_ATTEMPTS = 3


class OutboundMessage(Base):
    """A message for ``openid`` that is not her own passive reply (a waiting-list promotion
    ...), written in the transaction of the change it reports and sent after the response by
    the one outbox worker (``handlers.activities.deliver_outbox``).

    ``key`` is its idempotency key (unique: the same event queued twice is one row, told once);
    ``kind`` a ``models.notice.KIND_*``; ``state`` one of :data:`PENDING` ... :data:`UNCERTAIN`;
    ``attempts`` counts the times a worker took it (WeChat unreachable before the send: taken
    again later, :data:`MAX_ATTEMPTS` times at most).
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


def take_pending(session: Session, limit: int = 20,
                 skip: "set[int] | frozenset[int]" = frozenset()) -> list[OutboundMessage]:
    """Take up to ``limit`` pending messages (ids in ``skip`` aside), oldest first, and mark
    them :data:`SENDING` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers never take the
    same row; SQLite's write lock serialises them). The caller commits before sending."""
    stmt = (select(OutboundMessage).where(OutboundMessage.state == PENDING)
            .order_by(OutboundMessage.id).limit(limit))
    if skip:
        stmt = stmt.where(OutboundMessage.id.not_in(sorted(skip)))
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


# -- handled messages: the reply a message got, committed with its effects -----------------------
#: A handled-message record is kept this long (seconds): WeChat's retries come within ~15 s.
HANDLED_KEEP_SECONDS = 3600


class HandledMessage(Base):
    """A message (``dedup_key``: ``bot.wechat.updates.Update.dedup_key``) whose handlers wrote
    to the database, with the passive-reply XML it got (``""`` = success), committed in the same
    transaction as its effects. A retry that takes over a dead worker's claim finds it and
    answers that reply instead of running the message again (idempotent per MsgId)."""

    __tablename__ = "handled_messages"

    dedup_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    reply: Mapped[str] = mapped_column(Text, default="")
    handled_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, index=True)


def record_handled(session: Session, dedup_key: str, reply: str, now: datetime | None = None) -> None:
    """Record ``dedup_key`` as handled with ``reply`` in the caller's transaction; now and then
    forget records older than :data:`HANDLED_KEEP_SECONDS`. A second run of the same message
    committing too fails with ``IntegrityError`` (its effects roll back)."""
    from datetime import timedelta
    import random

    now = now or utcnow()
    if random.random() < 0.01:
        session.execute(delete(HandledMessage).where(
            HandledMessage.handled_at < now - timedelta(seconds=HANDLED_KEEP_SECONDS)))
    session.merge(HandledMessage(dedup_key=dedup_key[:200], reply=reply, handled_at=now))


def handled_reply(session: Session, dedup_key: str) -> str | None:
    """The reply recorded for ``dedup_key``, or None when no run of it committed."""
    return session.scalar(select(HandledMessage.reply)
                          .where(HandledMessage.dedup_key == dedup_key[:200]))


@register_eraser
def erase_handled(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: delete the replies kept for her messages (they may quote her details)."""
    result = session.execute(delete(HandledMessage).where(
        HandledMessage.dedup_key.like(f"m:{openid}:%") | HandledMessage.dedup_key.like(f"e:{openid}:%")))
    return {"handled_messages": result.rowcount or 0}
