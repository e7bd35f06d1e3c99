"""Followers of the account, keyed by openid, and the operations that change them."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import Boolean, Float, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import AwareDateTime, Base, utcnow

log = logging.getLogger(__name__)

#: WeChat lets an account send 客服消息 for 48 hours after the follower's last message.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=48)
#: ``touch`` rewrites ``last_interaction_at`` only when the stored time is older than this. A
#: message then costs a read, not a write + WAL flush at commit (bench/webhook.py: the write
#: was most of the webhook's time); the 48-hour window is underestimated by at most this.
TOUCH_RESOLUTION = timedelta(seconds=60)


class Follower(Base):
    """One follower (or former follower) of the account.

    ``scene`` is the parametric QR scene she followed from (``qrscene_`` stripped);
    ``last_lat``/``last_lng`` are GCJ-02 degrees from her last location message or event.
    ``valid`` turns False when WeChat says the openid is invalid (40003).
    """

    __tablename__ = "followers"
    #: What ``touch`` writes, and a new row: lost in a crash, her next message writes them
    #: again, so such a commit does not wait for the disk (bot/core/db.py ``_commit``).
    __relaxed_columns__ = frozenset({"last_interaction_at", "subscribed"})

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    first_seen_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    scene: Mapped[str | None] = mapped_column(String(64))
    last_interaction_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lng: Mapped[float | None] = mapped_column(Float)
    last_location_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    town: Mapped[str | None] = mapped_column(String(16), index=True)

    def in_service_window(self, now: datetime | None = None) -> bool:
        """True when a 客服消息 may be sent now (her last message is under 48 h old)."""
        if self.last_interaction_at is None:
            return False
        return (now or utcnow()) - self.last_interaction_at < CUSTOMER_SERVICE_WINDOW


def get_or_create(session: Session, openid: str) -> Follower:
    """Return the follower row for ``openid``, creating an unsubscribed one if new.

    Two first messages of hers on two workers at once (subscribe + 救命, say) both find no
    row: the one that loses the insert reads the winner's row instead of failing.
    """
    follower = session.get(Follower, openid)
    if follower is None:
        try:
            with session.begin_nested():
                follower = Follower(openid=openid, subscribed=False, first_seen_at=utcnow())
                session.add(follower)
        except IntegrityError:  # another worker made her row meanwhile
            follower = session.get(Follower, openid)
            if follower is None:  # pragma: no cover - a conflict on another column
                raise
    return follower


def touch(session: Session, openid: str, *, user_message: bool, now: datetime | None = None) -> Follower:
    """Record an interaction. Only messages she sent (not events) open the 48-hour window.

    Anyone who messages the account is a follower, so ``subscribed`` turns True here too.
    ``last_interaction_at`` is kept to :data:`TOUCH_RESOLUTION` (60 s): a message less than
    that after the stored time changes nothing, so a conversation does not write every step.
    """
    follower = get_or_create(session, openid)
    now = now or utcnow()
    if user_message:
        last = follower.last_interaction_at
        if last is None or not timedelta(0) <= now - last < TOUCH_RESOLUTION:
            follower.last_interaction_at = now
        if not follower.subscribed and follower.unsubscribed_at is None:
            follower.subscribed = True
    return follower


def subscribe(session: Session, openid: str, scene: str | None, now: datetime | None = None) -> Follower:
    """Mark ``openid`` subscribed (WeChat doc: 关注/取消关注事件), keeping the first scene."""
    follower = get_or_create(session, openid)
    now = now or utcnow()
    follower.subscribed = True
    follower.valid = True
    follower.subscribed_at = now
    follower.last_interaction_at = now  # a subscribe opens the customer-service window too
    if scene and not follower.scene:
        follower.scene = scene[:64]
    return follower


def unsubscribe(session: Session, openid: str, now: datetime | None = None) -> Follower:
    """Mark ``openid`` unsubscribed: no more pushes of any kind."""
    follower = get_or_create(session, openid)
    follower.subscribed = False
    follower.unsubscribed_at = now or utcnow()
    return follower


def record_location(session: Session, openid: str, lat: float, lng: float,
                    now: datetime | None = None) -> Follower:
    """Store her last reported position (GCJ-02 degrees)."""
    follower = get_or_create(session, openid)
    follower.last_lat, follower.last_lng = lat, lng
    follower.last_location_at = now or utcnow()
    return follower


def subscribed_openids(session: Session) -> list[str]:
    """Openids of current, valid followers (the only ones anything may be pushed to)."""
    rows = session.scalars(select(Follower.openid).where(Follower.subscribed.is_(True),
                                                          Follower.valid.is_(True)))
    return list(rows)


# -- subscribes that came while the database was down ------------------------------------------
#: How long a parked subscribe/unsubscribe waits in Redis for the database, in seconds.
PARKED_TTL = 7 * 24 * 3600


def _parked_key(services) -> str:
    return services.keys("followers", "parked")


def park_event(services, openid: str, event: str, scene: str | None, at: datetime) -> bool:
    """Keep a ``subscribe``/``unsubscribe`` of ``openid`` at ``at`` (aware) in Redis while the
    database is down (关注/取消关注事件), so she is not lost: :func:`replay_parked` records it
    when the database is back. The latest event per openid wins. False when Redis is down too
    (then only the log has it). Never raises."""
    value = json.dumps({"event": event, "scene": scene or "", "at": at.timestamp()})
    key = _parked_key(services)
    try:
        services.redis.pipeline(transaction=False).hset(key, openid, value).expire(
            key, PARKED_TTL).execute()
        return True
    except Exception as exc:  # noqa: BLE001 - Redis down as well: nothing else to keep it in
        log.error("a %s could not be recorded or parked (database and Redis down: %s)",
                  event, type(exc).__name__)
        return False


def replay_parked(session: Session, services, limit: int = 1000) -> list[str]:
    """Record the events :func:`park_event` kept, in ``session`` (the caller commits, then
    calls :func:`forget_parked` with the result). An event older than what the row already
    says (she wrote or followed again since) changes nothing. Returns the openids done.
    Raises ``redis.RedisError`` (nothing done) or the database's error."""
    parked = services.redis.hgetall(_parked_key(services))
    done = []
    for openid, raw in list(parked.items())[:limit]:
        try:
            item = json.loads(raw)
            at = datetime.fromtimestamp(float(item["at"]), tz=timezone.utc)
            event = item["event"]
        except (ValueError, KeyError, TypeError):
            done.append(openid)  # unreadable: drop it
            continue
        follower = get_or_create(session, openid)
        if event == "subscribe":
            if follower.subscribed_at is None or follower.subscribed_at < at:
                last = follower.last_interaction_at
                subscribe(session, openid, item.get("scene") or None, now=at)
                if last is not None and last > at:
                    follower.last_interaction_at = last
        elif event == "unsubscribe":
            if (follower.unsubscribed_at is None or follower.unsubscribed_at < at) and \
                    (follower.subscribed_at is None or follower.subscribed_at <= at):
                unsubscribe(session, openid, now=at)
        done.append(openid)
    return done


def forget_parked(services, openids: list[str]) -> None:
    """Remove recorded events from the parking (after the commit). Never raises."""
    if openids:
        try:
            services.redis.hdel(_parked_key(services), *openids)
        except Exception as exc:  # noqa: BLE001 - they are replayed again later: harmless
            log.warning("parked follower events not removed (%s)", type(exc).__name__)


def record_parked(services) -> int | None:
    """Record every parked event in a transaction of its own (the scheduler every minute; a
    web process that parked some, when the database answers again). Returns how many (0: none
    waiting), or None when the database or Redis is still down (the next call tries again)."""
    try:
        if not services.redis.hlen(_parked_key(services)):
            return 0
        with services.db.write_session() as session:
            done = replay_parked(session, services)
    except Exception as exc:  # noqa: BLE001 - still down: the next run tries again
        log.warning("parked follower events not recorded yet (%s)", type(exc).__name__)
        return None
    forget_parked(services, done)
    if done:
        log.info("recorded %d subscribe/unsubscribe events parked during a database outage",
                 len(done))
    return len(done)
