"""When reminders fire: pure functions of (schedule, time zone, now), no database, no clock.

A schedule is a 5-field cron expression ``"minute hour day month day_of_week"`` read in local
time (Asia/Shanghai by default, whatever the server's own zone). ``event_offset_days`` says how
many days after the fire date the announced event is (1 = "the day before"); the weekend policy
applies to that event date: keep, skip the month, move to the Friday before or the Monday after
(the fire time moves with it, same wall-clock time). All datetimes returned are aware UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from models.reminders import (WEEKEND_FRIDAY, WEEKEND_KEEP, WEEKEND_MONDAY, WEEKEND_POLICIES,
                             WEEKEND_SKIP, ReminderError)

#: Default grace for a missed run: it still fires if it is the same local day.
GRACE_SAME_DAY = "same_day"
#: How far the weekend policy may move a fire (days), used to widen searches.
_MAX_SHIFT = timedelta(days=3)


@dataclass(frozen=True)
class ScheduleSpec:
    """A reminder's timing: cron ``schedule`` in ``tz``, ``offset_days`` to the event date, and
    the ``weekend`` policy (keep / skip / friday / monday)."""

    schedule: str
    tz: ZoneInfo
    offset_days: int = 0
    weekend: str = WEEKEND_KEEP


@dataclass(frozen=True)
class Fire:
    """One fire: ``at`` (aware UTC) and the local ``event_date`` it announces."""

    at: datetime
    event_date: date

    @property
    def key(self) -> str:
        """The occurrence key, e.g. ``"2026-12-17T00:00Z"``."""
        return occurrence_key(self.at)


def occurrence_key(at: datetime) -> str:
    """Occurrence key of a fire time: UTC, minute precision, ``YYYY-MM-DDTHH:MMZ``."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def parse_schedule(schedule: str, tz: ZoneInfo) -> CronTrigger:
    """A CronTrigger for a 5-field cron expression in ``tz``.

    Raises :class:`ReminderError` (Chinese message) for a malformed expression.
    """
    parts = (schedule or "").split()
    if len(parts) != 5:
        raise ReminderError(f"时间表应为5段（分 时 日 月 周），例如「0 18 16 * *」，收到：{schedule!r}")
    try:
        return CronTrigger.from_crontab(" ".join(parts), timezone=tz)
    except ValueError as exc:
        raise ReminderError(f"时间表有误：{schedule!r}（{exc}）") from None


def check_spec(spec: ScheduleSpec) -> None:
    """Validate a spec; raises :class:`ReminderError`."""
    parse_schedule(spec.schedule, spec.tz)
    if spec.weekend not in WEEKEND_POLICIES:
        raise ReminderError(f"周末规则应为 {'/'.join(WEEKEND_POLICIES)} 之一，收到：{spec.weekend!r}")


def weekend_shift(event: date, policy: str) -> int | None:
    """Days to move an event on ``event`` under ``policy``; None = skip it. 0 on weekdays."""
    wd = event.weekday()  # Monday 0 ... Sunday 6
    if wd < 5 or policy == WEEKEND_KEEP:
        return 0
    if policy == WEEKEND_SKIP:
        return None
    if policy == WEEKEND_FRIDAY:
        return 4 - wd          # Saturday -1, Sunday -2
    if policy == WEEKEND_MONDAY:
        return 7 - wd          # Saturday +2, Sunday +1
    raise ReminderError(f"未知的周末规则：{policy!r}")


def fires_between(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Fire]:
    """Every fire with ``start <= at < end`` (aware datetimes), weekend policy applied, sorted."""
    trigger = parse_schedule(spec.schedule, spec.tz)
    cursor = (start - _MAX_SHIFT).astimezone(spec.tz)
    stop = (end + _MAX_SHIFT).astimezone(spec.tz)
    out: list[Fire] = []
    while True:
        base = trigger.get_next_fire_time(None, cursor)
        if base is None or base >= stop:
            break
        cursor = base + timedelta(seconds=1)
        local = base.astimezone(spec.tz)
        event = local.date() + timedelta(days=spec.offset_days)
        shift = weekend_shift(event, spec.weekend)
        if shift is None:
            continue
        moved_date = local.date() + timedelta(days=shift)
        at = datetime.combine(moved_date, local.time(), tzinfo=spec.tz).astimezone(timezone.utc)
        if start <= at < end:
            out.append(Fire(at=at, event_date=event + timedelta(days=shift)))
    return sorted(set(out), key=lambda f: f.at)


def next_fire(spec: ScheduleSpec, after: datetime, *, horizon_days: int = 800) -> Fire | None:
    """The first fire strictly after ``after`` within ``horizon_days``; None if there is none."""
    window = timedelta(days=40)
    start = after + timedelta(seconds=1)
    limit = after + timedelta(days=horizon_days)
    while start < limit:
        fires = fires_between(spec, start, min(start + window, limit))
        if fires:
            return fires[0]
        start += window
    return None


def latest_fire(spec: ScheduleSpec, now: datetime, *, lookback: timedelta = timedelta(days=2)) -> Fire | None:
    """The most recent fire with ``now - lookback < at <= now``, or None."""
    fires = fires_between(spec, now - lookback + timedelta(microseconds=1), now + timedelta(microseconds=1))
    return fires[-1] if fires else None


def fire_for_key(spec: ScheduleSpec, key: str) -> Fire | None:
    """The fire whose occurrence key (:func:`occurrence_key`, ``"2026-12-16T10:00Z"``) is
    ``key``, with the event date it announces; None when ``key`` is not such a key or the
    schedule has no fire at that minute (it was edited since)."""
    try:
        at = datetime.strptime(key, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None
    fires = fires_between(spec, at, at + timedelta(minutes=1))
    return fires[0] if fires else None


def announced_fire(spec: ScheduleSpec, day: date, *, limit: int = 1000) -> Fire | None:
    """The occurrence a run made by hand on local day ``day`` announces: the first fire whose
    event date is ``day`` or later (``义剪-前一天`` run on 12-06 → the 16th's fire, event the
    17th; run on the 16th after 18:00 → the same). A pure function of ``day``, so a run resumed
    on another day announces the same date. None when the schedule never fires again."""
    start = datetime.combine(day, time(0, 0), tzinfo=spec.tz)
    cursor = start - timedelta(days=abs(spec.offset_days) + 1) - _MAX_SHIFT
    for _ in range(limit):
        fire = next_fire(spec, cursor)
        if fire is None:
            return None
        if fire.event_date >= day:
            return fire
        cursor = fire.at
    return None


def occurrence_event_date(spec: ScheduleSpec, key: str, run_day: date) -> date:
    """The event date a run of occurrence ``key`` announces, whatever the day it runs.

    ``key``: a scheduled fire's key (its own event date, weekend policy included), or
    ``manual:<local date>`` (:func:`announced_fire` of that date); any other key (or a fire the
    schedule no longer has) falls back to :func:`announced_fire` of ``run_day``, then to
    ``run_day`` plus the offset. Raises :class:`ReminderError` for a malformed schedule.
    """
    fire = fire_for_key(spec, key)
    if fire is not None:
        return fire.event_date
    day = run_day
    if key.startswith("manual:"):
        try:
            day = date.fromisoformat(key.split(":", 1)[1])
        except ValueError:
            pass
    else:
        try:  # a fire key the edited schedule no longer has: the day it was due
            at = datetime.strptime(key, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc)
            return at.astimezone(spec.tz).date() + timedelta(days=spec.offset_days)
        except ValueError:
            pass
    fire = announced_fire(spec, day)
    return fire.event_date if fire is not None else day + timedelta(days=spec.offset_days)


def within_grace(at: datetime, now: datetime, tz: ZoneInfo, grace: str | int | None) -> bool:
    """May a fire due at ``at`` still run at ``now``?

    ``grace``: ``"same_day"`` (default: same local date in ``tz``) or a number of seconds.
    A fire in the future is never within grace.
    """
    if now < at:
        return False
    if grace is None or grace == GRACE_SAME_DAY:
        return at.astimezone(tz).date() == now.astimezone(tz).date()
    return (now - at).total_seconds() <= float(grace)


def grace_lookback(grace: str | int | None) -> timedelta:
    """How far back to look for a missed fire under ``grace`` (at least one day)."""
    if grace is None or grace == GRACE_SAME_DAY:
        return timedelta(days=1, hours=1)
    return max(timedelta(days=1, hours=1), timedelta(seconds=float(grace)))


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of local calendar day ``day`` as aware UTC datetimes."""
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def activity_reminder_window(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Activities starting in this UTC range get their "day before" reminder at ``now``:
    the whole of tomorrow, local time."""
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return local_day_bounds(tomorrow, tz)


def parse_hhmm(value: str) -> time:
    """``"18:00"`` -> time(18, 0); raises :class:`ReminderError`."""
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError):
        raise ReminderError(f"时间应为 时:分，例如 18:00，收到：{value!r}") from None
