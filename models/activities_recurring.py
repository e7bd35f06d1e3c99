"""Recurring activities (每月固定活动): the monthly 爱心义剪 on the 17th and its kind.

A :class:`RecurringActivity` says "every month on day N at HH:MM, this title, these seats, this
place"; :func:`create_due` (the scheduler's daily job, ``taoyuan activities recurring run``)
and :func:`create_month` (the console's 「生成本月活动」, ``taoyuan activities recurring make``)
turn it into each month's ordinary :class:`models.activities.Activity`, which women sign up for
with 「报名 N」 as for any other.

Idempotent per month: an activity remembers its ``recurring_id`` and ``occurrence``
(``YYYY-MM``, unique together), and the recurring row remembers the last month it made
(``made_through``), so the daily job never makes a month twice, nor again after staff deleted
that month's activity. Times are local (``tz``) wall-clock times stored as aware UTC.

The seed article's 爱心义剪 (every 17th, 巾帼义务理发服务队 of 助困公益协会妇联) is shipped by
migration ``0201_activities_recurring``; its seats come from the config key
``[activities] haircut_seats`` while its ``capacity`` is empty (:func:`create_month`).
"""
from __future__ import annotations

import calendar
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models import activities as acts
from models.base import AwareDateTime, Base, utcnow

log = logging.getLogger(__name__)

#: Config section and defaults (``[activities]``).
DEFAULT_HAIRCUT_SEATS = 20
DEFAULT_LEAD_DAYS = 31  # a month ahead: the next one is always open for signups
#: The seed's monthly 爱心义剪 (shipped by migration 0201_activities_recurring).
HAIRCUT_TITLE = "爱心义剪"
HAIRCUT_DAY = 17
HAIRCUT_TIME = "09:00"
HAIRCUT_PLACE = "助困公益协会妇联（巾帼义务理发服务队）"

_TIME = re.compile(r"^(\d{1,2})[:：](\d{2})$")


class RecurringError(ValueError):
    """A recurring activity staff typed that cannot be saved; the message is Chinese."""


class RecurringNotFound(RecurringError):
    """No recurring activity with that id."""


class RecurringActivity(Base):
    """Every month on ``day`` (1–31; a shorter month uses its last day) at ``start_time``
    (``HH:MM`` local) for ``minutes`` minutes: an activity ``title`` of ``category`` at
    ``place``/``point_id`` with ``capacity`` participant seats (None = the config's
    ``[activities] haircut_seats``) and ``volunteers_needed``. ``lead_days``: how many days
    ahead the month's activity is made. ``made_through``: the last month (``YYYY-MM``) made."""

    __tablename__ = "recurring_activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), default="")
    day: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[str] = mapped_column(String(5), default="09:00")
    minutes: Mapped[int] = mapped_column(Integer, default=120)
    capacity: Mapped[int | None] = mapped_column(Integer)
    volunteers_needed: Mapped[int] = mapped_column(Integer, default=0)
    place: Mapped[str] = mapped_column(String(128), default="")
    point_id: Mapped[int | None] = mapped_column(ForeignKey("service_points.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text, default="")
    lead_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_LEAD_DAYS)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    made_through: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)

    def __str__(self) -> str:
        return f"{self.title}（每月{self.day}日 {self.start_time}）"


@dataclass
class MonthResult:
    """What :func:`create_month` did: the month's ``activity`` and whether it was ``created``
    now (False: it existed already)."""

    recurring: RecurringActivity
    month: str
    activity: acts.Activity
    created: bool


def default_seats(config) -> int:
    """Seats of a recurring activity with an empty capacity (the seed's 爱心义剪):
    ``[activities] haircut_seats`` of ``config`` (default :data:`DEFAULT_HAIRCUT_SEATS`)."""
    section = config.section("activities") if config is not None else {}
    return int(section.get("haircut_seats", DEFAULT_HAIRCUT_SEATS))


def check_recurring(*, title: str, day: int, start_time: str, minutes: int,
                    capacity: int | None, lead_days: int) -> str:
    """Validate a recurring activity's fields; returns ``start_time`` as ``HH:MM``. Raises
    :class:`RecurringError` (Chinese) for an empty title, a day outside 1–31, a time that is not
    ``H:MM``, a length under 15 minutes or over 24 hours, seats below 1, lead days outside 1–60."""
    if not (title or "").strip():
        raise RecurringError("活动名称不能为空")
    if not isinstance(day, int) or not 1 <= day <= 31:
        raise RecurringError("每月几号应为 1 到 31（小月没有这一天时用月末）")
    m = _TIME.match((start_time or "").strip())
    if not m or not (0 <= int(m.group(1)) <= 23 and 0 <= int(m.group(2)) <= 59):
        raise RecurringError("开始时间应写成 9:00 这样的时:分")
    if not 15 <= (minutes or 0) <= 24 * 60:
        raise RecurringError("活动时长应在 15 分钟到 24 小时之间")
    if capacity is not None and capacity < 1:
        raise RecurringError("名额至少为 1；不填则用系统设置的名额")
    if not 1 <= (lead_days or 0) <= 60:
        raise RecurringError("提前生成的天数应在 1 到 60 之间")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def occurrence_start(recurring: RecurringActivity, month: str, tz: tzinfo) -> datetime:
    """The local start of ``recurring`` in ``month`` (``YYYY-MM``): day ``day`` (or the month's
    last day) at ``start_time``, aware in ``tz``. Raises :class:`RecurringError` for a bad month."""
    try:
        year, mon = (int(x) for x in month.split("-"))
        last = calendar.monthrange(year, mon)[1]
    except (ValueError, calendar.IllegalMonthError):
        raise RecurringError("月份格式应为 YYYY-MM，例如 2027-01") from None
    hour, minute = (int(x) for x in recurring.start_time.split(":"))
    return datetime(year, mon, min(recurring.day, last), hour, minute, tzinfo=tz)


def _month_of(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m")


def _next_month(month: str) -> str:
    year, mon = (int(x) for x in month.split("-"))
    return f"{year + mon // 12}-{mon % 12 + 1:02d}"


def month_activity(session: Session, recurring_id: int, month: str) -> acts.Activity | None:
    """The activity made from ``recurring_id`` for ``month``, or None."""
    return session.scalars(select(acts.Activity).where(
        acts.Activity.recurring_id == recurring_id, acts.Activity.occurrence == month)).first()


def create_month(session: Session, recurring_id: int, month: str, *, tz: tzinfo,
                 default_seats: int = DEFAULT_HAIRCUT_SEATS, now: datetime | None = None,
                 scheduled: bool = False) -> MonthResult:
    """THE operation that makes ``month``'s activity of a recurring one (console button, CLI,
    the daily job). Idempotent: when that month's activity exists it is returned
    (``created`` False). Locks the recurring row (on SQLite pass a ``write_session()``).
    ``scheduled`` (the daily job) records the month in ``made_through``, so the job never
    makes it again, even after staff deleted it; a month made by hand does not move it.

    Raises :class:`RecurringNotFound`, :class:`RecurringError` for a bad month, and
    ``ValueError`` from :func:`models.activities.add_activity` (e.g. the start has passed).
    """
    now = now or utcnow()
    recurring = session.scalars(select(RecurringActivity).where(
        RecurringActivity.id == recurring_id).with_for_update()).first()
    if recurring is None:
        raise RecurringNotFound(f"没有编号为 {recurring_id} 的每月固定活动")
    starts_at = occurrence_start(recurring, month, tz)
    existing = month_activity(session, recurring.id, month)
    if existing is not None:
        if scheduled and (recurring.made_through is None or recurring.made_through < month):
            recurring.made_through = month
        return MonthResult(recurring, month, existing, False)
    seats = recurring.capacity if recurring.capacity is not None else default_seats
    activity = acts.add_activity(
        session, title=recurring.title, category=recurring.category or recurring.title,
        starts_at=starts_at, ends_at=starts_at + timedelta(minutes=recurring.minutes),
        capacity=seats, volunteers_needed=recurring.volunteers_needed, place=recurring.place,
        point_id=recurring.point_id, description=recurring.description, now=now)
    activity.recurring_id, activity.occurrence = recurring.id, month
    if scheduled and (recurring.made_through is None or recurring.made_through < month):
        recurring.made_through = month
    session.flush()
    log.info("recurring %s: activity %s made for %s", recurring.id, activity.number, month)
    return MonthResult(recurring, month, activity, True)


def next_month_for(session: Session, recurring_id: int, *, tz: tzinfo,
                   now: datetime | None = None) -> str:
    """The month (``YYYY-MM``) of the recurring activity's next start after ``now``: this month,
    or next month once this month's day has passed. Raises :class:`RecurringNotFound`."""
    recurring = session.get(RecurringActivity, recurring_id)
    if recurring is None:
        raise RecurringNotFound(f"没有编号为 {recurring_id} 的每月固定活动")
    now = now or utcnow()
    month = _month_of(now, tz)
    return month if occurrence_start(recurring, month, tz) > now else _next_month(month)


def due_months(recurring: RecurringActivity, *, tz: tzinfo, now: datetime) -> list[str]:
    """Months whose activity :func:`create_due` should make now: from this month to the month
    ``lead_days`` ahead, after ``made_through``, whose start is still ahead of ``now``."""
    month, last = _month_of(now, tz), _month_of(now + timedelta(days=recurring.lead_days), tz)
    out = []
    while month <= last:
        if ((recurring.made_through is None or month > recurring.made_through)
                and occurrence_start(recurring, month, tz) > now
                and occurrence_start(recurring, month, tz) <= now + timedelta(days=recurring.lead_days)):
            out.append(month)
        month = _next_month(month)
    return out


def create_due(session: Session, *, tz: tzinfo, default_seats: int = DEFAULT_HAIRCUT_SEATS,
               now: datetime | None = None) -> list[MonthResult]:
    """The daily job: for every active recurring activity, make the months of
    :func:`due_months` (each within its ``lead_days``). A month made before (or deleted by
    staff since) is not made again. Returns what was made; a month that cannot be made
    (e.g. a bad place) is logged and skipped."""
    now = now or utcnow()
    out = []
    ids = list(session.scalars(select(RecurringActivity.id).where(RecurringActivity.active.is_(True))
                               .order_by(RecurringActivity.id)))
    for rid in ids:
        recurring = session.get(RecurringActivity, rid)
        for month in due_months(recurring, tz=tz, now=now):
            try:
                with session.begin_nested():
                    result = create_month(session, rid, month, tz=tz, default_seats=default_seats,
                                          now=now, scheduled=True)
                if result.created:
                    out.append(result)
            except ValueError as exc:
                log.error("recurring %s: %s not made: %s", rid, month, exc)
    return out


def add_recurring(session: Session, *, title: str, day: int, start_time: str = "09:00",
                  minutes: int = 120, category: str = "", capacity: int | None = None,
                  volunteers_needed: int = 0, place: str = "", point_id: int | None = None,
                  description: str = "", lead_days: int = DEFAULT_LEAD_DAYS,
                  active: bool = True) -> RecurringActivity:
    """Create a recurring activity (checked by :func:`check_recurring`, which raises
    :class:`RecurringError`)."""
    start_time = check_recurring(title=title, day=day, start_time=start_time, minutes=minutes,
                                 capacity=capacity, lead_days=lead_days)
    row = RecurringActivity(title=title.strip(), category=(category or title).strip(), day=day,
                            start_time=start_time, minutes=minutes, capacity=capacity,
                            volunteers_needed=volunteers_needed or 0, place=(place or "").strip(),
                            point_id=point_id, description=description or "",
                            lead_days=lead_days, active=active, created_at=utcnow())
    session.add(row)
    session.flush()
    return row
