"""Followers of the account, keyed by openid, and the operations that change them."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, Float, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.core.geo import check_coordinates
from models.base import AwareDateTime, Base, utcnow

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
    #: WeChat reported ``failed:user block`` for a 模板消息 to her (TEMPLATESENDJOBFINISH).
    template_blocked_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    #: WeChat refused a 客服消息 to her (45015 outside 48 h, 45047 too many ...).
    custom_refused_at: Mapped[datetime | None] = mapped_column(AwareDateTime())

    def in_service_window(self, now: datetime | None = None) -> bool:
        """True when a 客服消息 may be sent now (her last message is under 48 h old)."""
        if self.last_interaction_at is None:
            return False
        return (now or utcnow()) - self.last_interaction_at < CUSTOMER_SERVICE_WINDOW

    @property
    def template_blocked(self) -> bool:
        """She blocked 模板消息 and has not written since: no template message to her."""
        return refused_since(self.template_blocked_at, self.last_interaction_at)

    @property
    def custom_refused(self) -> bool:
        """WeChat refused a 客服消息 to her and she has not written since: none is tried."""
        return refused_since(self.custom_refused_at, self.last_interaction_at)


def refused_since(refused_at: datetime | None, last_interaction_at: datetime | None) -> bool:
    """True when a refusal at ``refused_at`` still holds: she has not written after it."""
    if refused_at is None:
        return False
    return last_interaction_at is None or last_interaction_at <= refused_at


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
        if (last is None or not timedelta(0) <= now - last < TOUCH_RESOLUTION
                or follower.template_blocked or follower.custom_refused):
            follower.last_interaction_at = now  # (a refusal ends when she writes again)
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
    """Store her last reported position (GCJ-02 degrees).

    Only a usable position is stored: raises :class:`bot.core.geo.BadCoordinates` (NaN or
    infinite, 0,0, latitude 999, swapped or outside China; see
    :func:`bot.core.geo.check_coordinates`) and leaves her row as it was.
    """
    lat, lng = check_coordinates(lat, lng)
    follower = get_or_create(session, openid)
    follower.last_lat, follower.last_lng = lat, lng
    follower.last_location_at = now or utcnow()
    return follower


def mark_template_blocked(session: Session, openids, now: datetime | None = None) -> int:
    """She blocked 模板消息 (TEMPLATESENDJOBFINISH ``failed:user block``): template runs skip
    her until she writes to the account again. Returns the number of rows changed."""
    openids = [o for o in dict.fromkeys(openids) if o]
    if not openids:
        return 0
    result = session.execute(update(Follower).where(Follower.openid.in_(openids))
                             .values(template_blocked_at=now or utcnow()))
    return result.rowcount or 0


def mark_custom_refused(session: Session, openids, now: datetime | None = None) -> int:
    """WeChat refused a 客服消息 to these openids (45015 ...): the 客服 channel is not tried for
    them until they write again. Returns the number of rows changed."""
    openids = [o for o in dict.fromkeys(openids) if o]
    if not openids:
        return 0
    result = session.execute(update(Follower).where(Follower.openid.in_(openids))
                             .values(custom_refused_at=now or utcnow()))
    return result.rowcount or 0


def subscribed_openids(session: Session) -> list[str]:
    """Openids of current, valid followers (the only ones anything may be pushed to)."""
    rows = session.scalars(select(Follower.openid).where(Follower.subscribed.is_(True),
                                                          Follower.valid.is_(True)))
    return list(rows)
