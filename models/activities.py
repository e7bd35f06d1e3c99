"""Activities (活动) and signups (报名): the operations that decide who gets a seat.

An :class:`Activity` has a short ``number`` women and staff type (「报名 3」). A :class:`Signup`
is one person's place in one activity in one role (``participant`` or ``volunteer``); the
database allows one signup per (activity, openid, role), and a cancelled signup is reused when
she signs up again.

Capacity holds under concurrency on both databases: every operation that changes seats locks
the activity row first (``SELECT ... FOR UPDATE`` on PostgreSQL). On SQLite that clause is
ignored, so callers must pass a session from ``services.db.write_session()`` (``BEGIN
IMMEDIATE``: one writer at a time). Operations never commit; the caller's session does.

Times are aware UTC; people see Asia/Shanghai.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import (Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_,
                        func, or_, select)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import AwareDateTime, Base, utcnow
from models.privacy import ERASED_PREFIX, anonymous_openid, register_eraser
from models.directory import ServicePoint

log = logging.getLogger(__name__)

# Activity statuses.
OPEN, FULL, CLOSED, CANCELLED = "open", "full", "closed", "cancelled"
ACTIVITY_STATUSES = (OPEN, FULL, CLOSED, CANCELLED)
#: How staff see a status (console, CLI).
STATUS_LABELS = {OPEN: "开放报名", FULL: "已满", CLOSED: "已截止", CANCELLED: "已取消"}
# Signup statuses and roles.
CONFIRMED, WAITING, SIGNUP_CANCELLED, ATTENDED = "confirmed", "waiting", "cancelled", "attended"
SIGNUP_STATUSES = (CONFIRMED, WAITING, SIGNUP_CANCELLED, ATTENDED)
PARTICIPANT, VOLUNTEER = "participant", "volunteer"
ROLES = (PARTICIPANT, VOLUNTEER)

#: Categories from the seed article (staff may use others).
CATEGORIES = ("家政培训", "电商直播培训", "近邻课堂", "亲子早教", "爱心义剪", "巾帼宣讲", "普法宣传", "徒步")
#: The choice for a category not in :data:`CATEGORIES` (the console then asks for its name).
OTHER_CATEGORY = "其他"
#: Service-point platform of the mediation rooms (秀丽个人调解室, 陈秀美个人评理室 ...): their
#: activities are private mediation times (:func:`private_clause`, models/mediation.py).
MEDIATION_PLATFORM = "纠纷化解"
#: Activity categories staff may use for mediation times (any activity at a 纠纷化解 point counts).
MEDIATION_CATEGORIES = ("调解", "矛盾调解", "纠纷调解", "预约调解", "家事调解", "评理")
#: An activity created without an end lasts this long.
DEFAULT_DURATION = timedelta(hours=2)
#: Check-in opens this long before the start and closes this long after the end.
CHECKIN_EARLY = timedelta(hours=2)
CHECKIN_LATE = timedelta(hours=2)
#: Activity numbers are database INTEGERs: anything outside 1..MAX_NUMBER is no activity.
MAX_NUMBER = 2**31 - 1


class BadDateTime(ValueError):
    """A date and time staff typed that :func:`parse_local_datetime` cannot read; the message is
    Chinese, for staff."""


#: 2027-01-17 9:00, 2027/1/17 09:00, 2027.1.17 9:00, 2027-01-17T09:00 (a date picker's value).
_NUMERIC = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2})[:：](\d{2})(?::\d{2})?)?$")
#: [2027年]1月17日[ ][上午|下午|晚上 …]9点[30分|半] or 9:30.
_CHINESE = re.compile(
    r"^(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]?\s*(凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?\s*"
    r"(?:(\d{1,2})(?:[:：](\d{2})|[点时](?:(\d{1,2})分?|(半))?))?$")
_PM_WORDS = ("下午", "傍晚", "晚上")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
#: What staff are told a date may look like (console help texts, CLI errors).
DATETIME_EXAMPLES = "2027-01-17 9:00、2027/1/17 9:00 或 1月17日 上午9点"


def _cn_numbers(text: str) -> str:
    """「十七」 -> 「17」, 「九」 -> 「9」 (numbers up to 99 written in Chinese characters)."""
    def one(m: re.Match) -> str:
        s = m.group(0)
        if "十" not in s:
            return "".join(str(_CN_DIGITS[c]) for c in s)
        tens, _, units = s.partition("十")
        return str((_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS[units] if units else 0))
    return re.sub(r"[零〇一二两三四五六七八九十]+", one, text)


def parse_local_datetime(text: str, tz: tzinfo, *, now: datetime | None = None,
                         required: bool = True, label: str = "时间") -> datetime | None:
    """THE reading of a date and time staff type (console forms and CLI alike), in local time.

    Accepts ``2027-01-17 9:00``, ``2027/1/17 9:00``, ``2027-01-17T09:00`` (a date picker),
    ``1月17日 上午9点``, ``2027年1月17日 下午3点半``, ``1月17日 9:30`` (Chinese numerals too). A
    date without a year is the next such day from ``now`` (this year, or next year once it has
    passed); a numeric date alone is midnight (as the CLI always took it). Returns an aware datetime in ``tz``; an empty ``text`` gives None unless
    ``required``. Raises :class:`BadDateTime` (Chinese, naming ``label``) for anything else,
    a missing time of day, or an impossible date or hour.
    """
    raw = (text or "").strip()
    if not raw:
        if required:
            raise BadDateTime(f"请填写{label}，例如 {DATETIME_EXAMPLES}")
        return None
    t = _cn_numbers(re.sub(r"\s+", " ", raw))
    hour = minute = None
    m = _NUMERIC.match(t)
    if m:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hour, minute = (int(m.group(4)), int(m.group(5))) if m.group(4) is not None else (0, 0)
    else:
        m = _CHINESE.match(t.replace(" ", "") if "：" not in t and ":" not in t else t)
        if not m:
            raise BadDateTime(f"{label}「{raw}」看不懂，请写成 {DATETIME_EXAMPLES}")
        year = int(m.group(1)) if m.group(1) else None
        month, day = int(m.group(2)), int(m.group(3))
        if m.group(5) is not None:
            hour = int(m.group(5))
            minute = int(m.group(6) or m.group(7) or 0) + (30 if m.group(8) else 0)
            part = m.group(4) or ""
            if part in _PM_WORDS and hour < 12:
                hour += 12
            elif part == "中午" and hour < 6:
                hour += 12
    if hour is None:
        raise BadDateTime(f"{label}请写上几点，例如 {DATETIME_EXAMPLES}")
    guess_year = year is None
    if guess_year:
        now_local = (now or utcnow()).astimezone(tz)
        year = now_local.year
    try:
        when = datetime(year, month, day, hour, minute, tzinfo=tz)
        if guess_year and when <= now_local:  # already past this year: next year's
            when = datetime(year + 1, month, day, hour, minute, tzinfo=tz)
        return when
    except ValueError:
        raise BadDateTime(f"{label}「{raw}」不是有效的日期或时间") from None


class ActivityError(Exception):
    """Base of this module's named errors; ``activity`` is set when one was found."""

    def __init__(self, message: str = "", activity: "Activity | None" = None):
        super().__init__(message or type(self).__name__)
        self.activity = activity


class ActivityNotFound(ActivityError):
    """No activity has that number."""


class SignupClosed(ActivityError):
    """The activity is closed or cancelled, its deadline has passed, or it has started."""


class ActivityFull(ActivityError):
    """No seat left and the caller did not accept the waiting list."""


class AlreadySignedUp(ActivityError):
    """She already has a confirmed, waiting or attended signup in this role.

    ``signup`` is the row (usable only inside the session that raised); ``signup_id`` and
    ``status`` stay readable after the rollback.
    """

    def __init__(self, message: str = "", activity=None, signup: "Signup | None" = None):
        super().__init__(message, activity)
        self.signup = signup
        self.signup_id = signup.id if signup is not None else None
        self.status = signup.status if signup is not None else None


class NotSignedUp(ActivityError):
    """She has no active signup to cancel."""


class ActivityCancelled(ActivityError):
    """Staff tried to close, re-cancel or change the seats of a cancelled activity (final)."""


class NoVolunteersNeeded(ActivityError):
    """A volunteer signup for an activity that needs none."""


class CheckInNotOpen(ActivityError):
    """Check-in outside the activity's time (``CHECKIN_EARLY`` before start to ``CHECKIN_LATE``
    after end), or the activity is cancelled."""


class Activity(Base):
    """An activity women can sign up for.

    ``number``: the short number to reply with (unique, 1, 2, 3 ...). ``category``: one of
    :data:`CATEGORIES` or staff's own. ``point_id``: the host 近邻娘家 service point (optional).
    ``place``: where, as people say it. ``starts_at``/``ends_at``/``deadline``: aware UTC
    (``deadline`` None = until the start). ``capacity``: participant seats (None = unlimited).
    ``volunteers_needed``: volunteer seats (0 = takes no volunteers). ``status``: open, full,
    closed or cancelled.
    """

    __tablename__ = "activities"
    __table_args__ = (UniqueConstraint("recurring_id", "occurrence",
                                       name="uq_activities_recurring_id_occurrence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), default="", index=True)
    point_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_points.id", ondelete="SET NULL"), index=True)
    place: Mapped[str] = mapped_column(String(128), default="")
    starts_at: Mapped[datetime] = mapped_column(AwareDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(AwareDateTime())
    capacity: Mapped[int | None] = mapped_column(Integer)
    deadline: Mapped[datetime | None] = mapped_column(AwareDateTime())
    volunteers_needed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=OPEN, index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    #: The recurring activity (models/activities_recurring.py) this one was made from, and the
    #: local month (``YYYY-MM``) it is for; one activity per (recurring, month).
    recurring_id: Mapped[int | None] = mapped_column(
        ForeignKey("recurring_activities.id", ondelete="SET NULL"), index=True)
    occurrence: Mapped[str | None] = mapped_column(String(7))

    @property
    def checkin_scene(self) -> str:
        """The parametric QR scene string for check-in (``checkin:<number>``, ≤ 64 chars)."""
        return f"checkin:{self.number}"

    @property
    def hours(self) -> float:
        """Length in hours, rounded to a quarter hour (volunteer service time credited)."""
        seconds = max((self.ends_at - self.starts_at).total_seconds(), 0)
        return round(seconds / 900) / 4

    def signup_deadline(self) -> datetime:
        """When signups close: ``deadline``, or the start when none was set."""
        return self.deadline or self.starts_at

    def accepting(self, now: datetime) -> bool:
        """True when signups are taken now (open or full, before the deadline)."""
        return self.status in (OPEN, FULL) and now < self.signup_deadline()


class Signup(Base):
    """One person's signup for one activity in one ``role`` (participant or volunteer).

    ``status``: confirmed, waiting, cancelled or attended. ``name``/``phone``: her details for
    this activity (NULL after 「删除我的信息」, when ``openid`` becomes ``erased:...``).
    ``created_at`` orders the waiting list (reset when a cancelled signup is reused).
    ``hours``: volunteer service hours credited at check-in.
    """

    __tablename__ = "signups"
    __table_args__ = (
        UniqueConstraint("activity_id", "openid", "role", name="uq_signups_activity_openid_role"),
        Index("ix_signups_activity_role_status", "activity_id", "role", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    openid: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16), default=PARTICIPANT)
    status: Mapped[str] = mapped_column(String(16), default=CONFIRMED)
    name: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    consented_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    attended_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    hours: Mapped[float | None] = mapped_column(Float)

    @property
    def ref(self) -> str:
        """The 报名号 shown to her and staff (``B0011``), unlike an activity number (``11``)."""
        return f"B{self.id:04d}"


# -- results ---------------------------------------------------------------------------------
@dataclass
class SignupResult:
    """What :func:`sign_up` did: ``status`` is confirmed or waiting; ``position`` is her place
    on the waiting list (1 = next), None when confirmed."""

    activity: Activity
    signup: Signup
    status: str
    position: int | None = None


@dataclass
class CancelResult:
    """What :func:`cancel_signup` did; ``promoted`` are the waiting signups now confirmed
    (tell them with :func:`models.notice.notify` after the commit)."""

    activity: Activity
    signup: Signup
    promoted: list[Signup] = field(default_factory=list)


@dataclass
class CheckInResult:
    """What :func:`check_in` did: the signups marked attended (``walk_in`` when she had none and
    one was created), volunteer ``hours`` credited, ``already`` when she had checked in before."""

    activity: Activity
    signups: list[Signup]
    hours: float = 0.0
    walk_in: bool = False
    already: bool = False


# -- queries ---------------------------------------------------------------------------------
def get_activity(session: Session, number: int, *, lock: bool = False) -> Activity | None:
    """The activity with short ``number``, or None (also for a number outside
    1..:data:`MAX_NUMBER`, which the database could not even compare); ``lock`` = ``SELECT ...
    FOR UPDATE``."""
    if not isinstance(number, int) or not 1 <= number <= MAX_NUMBER:
        return None
    stmt = select(Activity).where(Activity.number == number)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def private_clause():
    """SQL condition true for *private* activities: mediation times (预约调解) booked one to one
    through handlers/help.py, i.e. a mediation category or a host point on the 纠纷化解
    platform (the same rule as :func:`models.mediation.mediation_slots`). They never appear
    in public lists and 「报名 N」 cannot take them."""
    points = select(ServicePoint.id).where(ServicePoint.platform == MEDIATION_PLATFORM)
    return or_(Activity.category.in_(MEDIATION_CATEGORIES),
               and_(Activity.point_id.is_not(None), Activity.point_id.in_(points)))


def is_public(session: Session, activity: Activity) -> bool:
    """False for a private mediation time (see :func:`private_clause`)."""
    stmt = select(func.count()).select_from(Activity).where(Activity.id == activity.id,
                                                           private_clause())
    return not session.scalar(stmt)


def upcoming_activities(session: Session, now: datetime, *, category: str | None = None,
                        volunteers: bool = False, include_full: bool = True,
                        public_only: bool = True, limit: int = 20) -> list[Activity]:
    """Open (and full) activities still taking signups, nearest start first.

    ``category`` filters by category; ``volunteers`` keeps only those needing volunteers;
    ``public_only`` (default) leaves out private mediation times (:func:`private_clause`).
    """
    statuses = (OPEN, FULL) if include_full else (OPEN,)
    stmt = (select(Activity).where(Activity.status.in_(statuses), Activity.starts_at > now)
            .order_by(Activity.starts_at, Activity.number).limit(limit))
    if category:
        stmt = stmt.where(Activity.category == category)
    if volunteers:
        stmt = stmt.where(Activity.volunteers_needed > 0)
    if public_only:
        stmt = stmt.where(~private_clause())
    return [a for a in session.scalars(stmt) if now < a.signup_deadline()]


def find_activity(session: Session, words: str, now: datetime) -> Activity | None:
    """The nearest upcoming activity whose category or title contains ``words`` (「义剪」)."""
    words = (words or "").strip()
    if not words:
        return None
    for act in upcoming_activities(session, now, limit=200):
        if words in act.category or words in act.title or (act.category and act.category in words):
            return act
    return None


def _taken(session: Session, activity_id: int, role: str) -> int:
    stmt = select(func.count()).select_from(Signup).where(
        Signup.activity_id == activity_id, Signup.role == role,
        Signup.status.in_((CONFIRMED, ATTENDED)))
    return session.scalar(stmt) or 0


def seats_for(activity: Activity, role: str) -> int | None:
    """Seats in ``role``: ``capacity`` for participants (None = unlimited), else volunteers_needed."""
    return activity.capacity if role == PARTICIPANT else activity.volunteers_needed


def seats_left(session: Session, activity: Activity, role: str = PARTICIPANT) -> int | None:
    """Free seats in ``role`` (None = unlimited)."""
    seats = seats_for(activity, role)
    if seats is None:
        return None
    return max(seats - _taken(session, activity.id, role), 0)


def signup_counts(session: Session, activity: Activity) -> dict[str, dict[str, int]]:
    """``{role: {status: count}}`` for every role and status (zeros included)."""
    out = {role: {status: 0 for status in SIGNUP_STATUSES} for role in ROLES}
    stmt = (select(Signup.role, Signup.status, func.count()).where(Signup.activity_id == activity.id)
            .group_by(Signup.role, Signup.status))
    for role, status, count in session.execute(stmt):
        out.setdefault(role, {})[status] = count
    return out


def waiting_position(session: Session, signup: Signup) -> int | None:
    """Her place on the waiting list (1 = next to be promoted), None if not waiting."""
    if signup.status != WAITING:
        return None
    stmt = select(func.count()).select_from(Signup).where(
        Signup.activity_id == signup.activity_id, Signup.role == signup.role,
        Signup.status == WAITING,
        (Signup.created_at < signup.created_at)
        | ((Signup.created_at == signup.created_at) & (Signup.id < signup.id)))
    return (session.scalar(stmt) or 0) + 1


def my_signups(session: Session, openid: str, now: datetime,
               include_past_days: int = 7) -> list[tuple[Signup, Activity]]:
    """Her confirmed/waiting/attended signups for activities from ``include_past_days`` ago on,
    nearest first."""
    since = now - timedelta(days=include_past_days)
    stmt = (select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
            .where(Signup.openid == openid, Signup.status != SIGNUP_CANCELLED,
                   Activity.starts_at >= since)
            .order_by(Activity.starts_at, Signup.role))
    return [(s, a) for s, a in session.execute(stmt)]


def known_contact(session: Session, openid: str) -> tuple[str | None, str | None]:
    """Name and phone from her latest signup that has them (the form skips known fields)."""
    stmt = (select(Signup.name, Signup.phone).where(Signup.openid == openid, Signup.name.is_not(None))
            .order_by(Signup.created_at.desc()).limit(1))
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else (None, None)


def existing_signup(session: Session, activity: Activity, openid: str,
                    role: str = PARTICIPANT) -> Signup | None:
    """Her signup (any status) for ``activity`` in ``role``, or None."""
    return session.scalars(select(Signup).where(
        Signup.activity_id == activity.id, Signup.openid == openid, Signup.role == role)).first()


# -- staff operations --------------------------------------------------------------------------
def next_number(session: Session) -> int:
    """The next short number (one more than the largest ever given)."""
    return (session.scalar(select(func.max(Activity.number))) or 0) + 1


def add_activity(session: Session, *, title: str, category: str, starts_at: datetime,
                 ends_at: datetime | None = None, capacity: int | None = None,
                 deadline: datetime | None = None, volunteers_needed: int = 0,
                 place: str = "", point_id: int | None = None, description: str = "",
                 now: datetime | None = None, allow_past: bool = False) -> Activity:
    """Create an activity with the next short number (status open).

    ``starts_at``/``ends_at``/``deadline`` must be aware datetimes. ``ends_at`` defaults to
    start + :data:`DEFAULT_DURATION`. ``capacity``: at least 1, None = unlimited. Raises
    ``ValueError`` (message in Chinese, for staff) for an empty title or category, a start or
    deadline before ``now`` (unless ``allow_past``, for recording a past activity), an end before the
    start, a deadline after the start, or a capacity below 1.
    """
    title = (title or "").strip()
    if not title:
        raise ValueError("活动名称不能为空")
    if len(title) > 64:
        raise ValueError("活动名称最多 64 个字")
    category = (category or "").strip()
    if not category:
        raise ValueError("请填写活动类别，例如：" + "、".join(CATEGORIES[:4]))
    if len(category) > 32:
        raise ValueError("活动类别最多 32 个字")
    for label, value in (("开始时间", starts_at), ("结束时间", ends_at), ("报名截止时间", deadline)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{label}必须带时区")
    ends_at = ends_at or starts_at + DEFAULT_DURATION
    if ends_at <= starts_at:
        raise ValueError("结束时间必须晚于开始时间")
    if deadline is not None and deadline > starts_at:
        raise ValueError("报名截止时间不能晚于开始时间")
    if not allow_past and starts_at <= (now or utcnow()):
        raise ValueError("开始时间已经过去了，请检查日期和时间（当地时间）")
    if not allow_past and deadline is not None and deadline <= (now or utcnow()):
        raise ValueError("报名截止时间已经过去了，请检查日期和时间（当地时间）")
    if capacity is not None and capacity < 1:
        raise ValueError("名额至少为 1；不限名额请不填名额")
    if volunteers_needed < 0:
        raise ValueError("志愿者人数不能是负数")
    activity = Activity(number=next_number(session), title=title, category=category,
                        starts_at=starts_at, ends_at=ends_at, capacity=capacity, deadline=deadline,
                        volunteers_needed=volunteers_needed, place=(place or "").strip(),
                        point_id=point_id, description=description or "", status=OPEN,
                        created_at=now or utcnow())
    session.add(activity)
    session.flush()
    log.info("activity %s created (%s, capacity %s)", activity.number, activity.category,
             activity.capacity)
    return activity


def set_status(session: Session, number: int, status: str) -> Activity:
    """Set an activity's status (closed: no more signups; cancelled: called off, final).

    Raises :class:`ActivityNotFound`, :class:`ActivityCancelled` when it is already cancelled,
    or ``ValueError`` for an unknown status.
    """
    if status not in ACTIVITY_STATUSES:
        raise ValueError(f"unknown activity status {status!r}")
    activity = get_activity(session, number, lock=True)
    if activity is None:
        raise ActivityNotFound(f"no activity {number}")
    if activity.status == CANCELLED:
        raise ActivityCancelled(f"activity {number} is cancelled", activity)
    activity.status = status
    session.flush()
    return activity


def close_activity(session: Session, number: int) -> Activity:
    """Stop taking signups for activity ``number`` (status closed). Raises ActivityNotFound,
    :class:`ActivityCancelled`."""
    return set_status(session, number, CLOSED)


_UNCHANGED = object()


def set_capacity(session: Session, activity: "Activity | int", capacity=_UNCHANGED, *,
                 volunteers_needed=_UNCHANGED, now: datetime | None = None
                 ) -> tuple[Activity, list[Signup]]:
    """THE operation for staff changing seats (CLI ``events seats``, console): participant
    ``capacity`` (None = unlimited) and/or ``volunteers_needed``; extra seats go to the waiting
    list first come first served.

    ``activity``: the row or its number. Returns the activity and the promoted signups; the
    caller tells them after its commit (``handlers.activities.tell_promoted_after_commit``).
    Fewer seats never cancel a
    confirmed signup. Locks the activity row (on SQLite pass a ``write_session()``). Raises
    :class:`ActivityNotFound`, :class:`ActivityCancelled`, ``ValueError`` for a negative number.
    """
    number = activity.number if isinstance(activity, Activity) else activity
    activity = get_activity(session, number, lock=True)
    if activity is None:
        raise ActivityNotFound(f"no activity {number}")
    if activity.status == CANCELLED:
        raise ActivityCancelled(f"activity {number} is cancelled", activity)
    if capacity is not _UNCHANGED:
        if capacity is not None and capacity < 0:
            raise ValueError("名额不能是负数")
        activity.capacity = capacity
    if volunteers_needed is not _UNCHANGED:
        if volunteers_needed is None or volunteers_needed < 0:
            raise ValueError("志愿者人数不能是负数")
        activity.volunteers_needed = volunteers_needed
    session.flush()
    promoted = []
    for role in ROLES:
        promoted += promote_waiting(session, activity, role, now)
    _refresh_full(session, activity)
    return activity, promoted


def cancel_activity(session: Session, number: int) -> tuple[Activity, list[Signup]]:
    """Call activity ``number`` off (status cancelled). Returns it and the confirmed/waiting
    signups whose women should be told (see :func:`models.notice.notify`); their rows keep
    their status for the figures. Signups left by 「删除我的信息」 (``erased:...``) are not
    returned. Raises :class:`ActivityNotFound`, :class:`ActivityCancelled`
    when it was cancelled before (its women have been told already).
    """
    activity = set_status(session, number, CANCELLED)
    affected = list(session.scalars(select(Signup).where(
        Signup.activity_id == activity.id, Signup.status.in_((CONFIRMED, WAITING)),
        ~Signup.openid.startswith(ERASED_PREFIX))))  # erased: nobody to tell
    log.info("activity %s cancelled; %d signup(s) to tell", number, len(affected))
    return activity, affected


# -- signups -----------------------------------------------------------------------------------
def _refresh_full(session: Session, activity: Activity) -> None:
    """Keep ``status`` open/full in step with participant seats."""
    if activity.status not in (OPEN, FULL):
        return
    left = seats_left(session, activity, PARTICIPANT)
    activity.status = FULL if left == 0 else OPEN


def sign_up(session: Session, number: int, openid: str, *, role: str = PARTICIPANT,
            name: str | None = None, phone: str | None = None, allow_waiting: bool = True,
            public_only: bool = False, now: datetime | None = None) -> SignupResult:
    """Sign ``openid`` up for activity ``number``: a seat if one is free, else the waiting list.

    Locks the activity row (on SQLite pass a ``write_session()``). Reuses her cancelled signup.
    ``public_only`` (「报名 N」): a private mediation time (:func:`private_clause`) counts as not
    found; 预约调解 books them without it.
    Raises :class:`ActivityNotFound`, :class:`SignupClosed`, :class:`NoVolunteersNeeded`,
    :class:`AlreadySignedUp` (with ``.signup``), or :class:`ActivityFull` when no seat is free
    and ``allow_waiting`` is False.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    now = now or utcnow()
    activity = get_activity(session, number, lock=True)
    if activity is None or (public_only and not is_public(session, activity)):
        raise ActivityNotFound(f"no activity {number}")
    if not activity.accepting(now):
        raise SignupClosed(f"activity {number} is not taking signups", activity)
    if role == VOLUNTEER and not activity.volunteers_needed:
        raise NoVolunteersNeeded(f"activity {number} needs no volunteers", activity)
    signup = existing_signup(session, activity, openid, role)
    if signup is not None and signup.status != SIGNUP_CANCELLED:
        raise AlreadySignedUp(f"already signed up for {number}", activity, signup)
    left = seats_left(session, activity, role)
    status = CONFIRMED if left is None or left > 0 else WAITING
    if status == WAITING and not allow_waiting:
        raise ActivityFull(f"activity {number} is full", activity)
    if signup is None:
        signup = Signup(activity_id=activity.id, openid=openid, role=role)
        session.add(signup)
    signup.status, signup.name, signup.phone = status, name, phone
    signup.created_at, signup.consented_at = now, now
    signup.cancelled_at = signup.attended_at = signup.hours = None
    session.flush()
    _refresh_full(session, activity)
    position = waiting_position(session, signup)
    log.info("signup %s: activity %s role %s -> %s", signup.id, number, role, status)
    return SignupResult(activity, signup, status, position)


def promote_waiting(session: Session, activity: Activity, role: str = PARTICIPANT,
                    now: datetime | None = None) -> list[Signup]:
    """Confirm waiting signups, first come first served, while seats are free.

    The caller holds the activity's lock. Returns the promoted signups (possibly empty).
    Nothing is promoted once the activity has started or been cancelled.
    """
    now = now or utcnow()
    if activity.status == CANCELLED or now >= activity.starts_at:
        return []
    left = seats_left(session, activity, role)
    stmt = (select(Signup).where(Signup.activity_id == activity.id, Signup.role == role,
                                 Signup.status == WAITING,
                                 ~Signup.openid.startswith(ERASED_PREFIX))  # nobody to tell
            .order_by(Signup.created_at, Signup.id))
    if left is not None:
        stmt = stmt.limit(left)
    promoted = list(session.scalars(stmt))
    for signup in promoted:
        signup.status = CONFIRMED
        log.info("signup %s promoted from the waiting list (activity %s)", signup.id,
                 activity.number)
    session.flush()
    _refresh_full(session, activity)
    return promoted


def cancel_signup(session: Session, number: int, openid: str, *, role: str | None = None,
                  now: datetime | None = None) -> CancelResult:
    """Cancel her signup for activity ``number`` (``role`` None: participant first, else
    volunteer) and promote the first waiting person into a freed seat.

    Locks the activity row. Raises :class:`ActivityNotFound` or :class:`NotSignedUp` (no
    confirmed or waiting signup), :class:`SignupClosed` once the activity has started.
    """
    now = now or utcnow()
    activity = get_activity(session, number, lock=True)
    if activity is None:
        raise ActivityNotFound(f"no activity {number}")
    roles = (role,) if role else ROLES
    signup = None
    for r in roles:
        found = existing_signup(session, activity, openid, r)
        if found is not None and found.status in (CONFIRMED, WAITING):
            signup = found
            break
    if signup is None:
        raise NotSignedUp(f"no active signup for {number}", activity)
    if now >= activity.starts_at:
        raise SignupClosed(f"activity {number} has started", activity)
    was_confirmed = signup.status == CONFIRMED
    signup.status, signup.cancelled_at = SIGNUP_CANCELLED, now
    session.flush()
    promoted = promote_waiting(session, activity, signup.role, now) if was_confirmed else []
    _refresh_full(session, activity)
    log.info("signup %s cancelled (activity %s), %d promoted", signup.id, number, len(promoted))
    return CancelResult(activity, signup, promoted)


def signup_id_from_ref(ref: str) -> int | None:
    """The signup id in a 报名号 (``"B0006"``/``"b6"`` -> 6, see :attr:`Signup.ref`), or None."""
    ref = (ref or "").strip()
    if len(ref) < 2 or ref[0] not in "Bb" or not ref[1:].isdigit() or len(ref) > 11:
        return None
    value = int(ref[1:])
    return value if 1 <= value <= MAX_NUMBER else None


def cancel_signup_ref(session: Session, ref: str, openid: str, *,
                      now: datetime | None = None) -> CancelResult:
    """Cancel her signup by its 报名号 (``"B0006"``), as :func:`cancel_signup` does by number.

    Raises :class:`NotSignedUp` when the 报名号 is not hers or not confirmed/waiting (the
    ``activity`` attribute is set when it is hers), :class:`SignupClosed` once started.
    """
    signup_id = signup_id_from_ref(ref)
    signup = session.get(Signup, signup_id) if signup_id else None
    if signup is None or signup.openid != openid:
        raise NotSignedUp(f"no signup {ref!r} of hers")
    activity = session.get(Activity, signup.activity_id)
    if signup.status not in (CONFIRMED, WAITING):
        raise NotSignedUp(f"signup {signup.id} is {signup.status}", activity)
    return cancel_signup(session, activity.number, openid, role=signup.role, now=now)


def check_in(session: Session, number: int, openid: str, now: datetime | None = None) -> CheckInResult:
    """Mark her attendance at activity ``number`` (QR scene ``checkin:<number>``).

    Every confirmed or waiting signup of hers becomes attended; a volunteer signup gets the
    activity's hours. With no signup she is recorded as a walk-in participant. Once she has an
    attended signup here, a scan is a repeat (``already``, ``hours`` 0): a signup made since
    is marked attended quietly, nothing is reported twice. Raises :class:`ActivityNotFound`, or :class:`CheckInNotOpen`
    outside [start - CHECKIN_EARLY, end + CHECKIN_LATE] or for a cancelled activity.
    """
    now = now or utcnow()
    activity = get_activity(session, number, lock=True)
    if activity is None:
        raise ActivityNotFound(f"no activity {number}")
    if (activity.status == CANCELLED or now < activity.starts_at - CHECKIN_EARLY
            or now > activity.ends_at + CHECKIN_LATE):
        raise CheckInNotOpen(f"check-in for {number} is not open", activity)
    mine = list(session.scalars(select(Signup).where(Signup.activity_id == activity.id,
                                                     Signup.openid == openid)))
    attended = [s for s in mine if s.status == ATTENDED]
    todo = [s for s in mine if s.status in (CONFIRMED, WAITING)]
    if attended:
        for signup in todo:  # e.g. a volunteer signup made after her first scan
            signup.status, signup.attended_at = ATTENDED, now
            if signup.role == VOLUNTEER:
                signup.hours = activity.hours
        session.flush()
        return CheckInResult(activity, attended + todo, already=True)
    walk_in = False
    if not todo:
        signup = existing_signup(session, activity, openid, PARTICIPANT)
        if signup is None:
            signup = Signup(activity_id=activity.id, openid=openid, role=PARTICIPANT, created_at=now)
            session.add(signup)
        todo, walk_in = [signup], True
    hours = 0.0
    for signup in todo:
        signup.status, signup.attended_at = ATTENDED, now
        if signup.role == VOLUNTEER:
            signup.hours = activity.hours
            hours += activity.hours
    session.flush()
    log.info("check-in at activity %s: %d signup(s), walk-in=%s", number, len(todo), walk_in)
    return CheckInResult(activity, todo, hours, walk_in)


def volunteer_hours(session: Session, openid: str) -> tuple[float, list[tuple[Activity, float]]]:
    """Her total volunteer service hours and the (activity, hours) list, newest first."""
    stmt = (select(Activity, Signup.hours).join(Signup, Signup.activity_id == Activity.id)
            .where(Signup.openid == openid, Signup.role == VOLUNTEER, Signup.status == ATTENDED)
            .order_by(Activity.starts_at.desc()))
    rows = [(a, float(h or 0)) for a, h in session.execute(stmt)]
    return sum(h for _, h in rows), rows


def withdraw_upcoming(session: Session, openid: str, *, now: datetime | None = None
                      ) -> list[CancelResult]:
    """Cancel all her confirmed and waiting signups for activities not yet started (「删除我的
    信息」 gives their seats back); the waiting lists move up as in :func:`cancel_signup`.

    Locks each activity row in turn, in id order (on SQLite pass a ``write_session()``).
    Returns one :class:`CancelResult` per cancelled signup (empty when she had none); the
    caller tells the promoted women after its commit (as for :func:`set_capacity`).
    """
    now = now or utcnow()
    stmt = (select(Activity.number, Signup.role).join(Signup, Signup.activity_id == Activity.id)
            .where(Signup.openid == openid, Signup.status.in_((CONFIRMED, WAITING)),
                   Activity.starts_at > now)
            .order_by(Activity.id, Signup.role))
    results = []
    for number, role in session.execute(stmt).all():
        results.append(cancel_signup(session, number, openid, role=role, now=now))
    return results


@register_eraser
def erase_signups(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: give back her seats in activities not yet started
    (:func:`withdraw_upcoming`), then blank name and phone of all her signups and unlink them
    from her openid.

    The rows stay (status, role, hours) so counts and volunteer-hour totals are unchanged.
    Callers that can tell promoted women should call :func:`withdraw_upcoming` first and tell
    them (handlers/privacy.py does); promoted here are not told (logged).
    """
    for result in withdraw_upcoming(session, openid):
        if result.promoted:
            log.warning("activity %s: %d promoted signup(s) not told (no services)",
                        result.activity.number, len(result.promoted))
    signups = list(session.scalars(select(Signup).where(Signup.openid == openid)))
    for signup in signups:
        signup.name = signup.phone = None
        signup.openid = anonymous_openid()
    session.flush()
    return {"signups": len(signups)}

