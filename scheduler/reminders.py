"""Reminder jobs: who gets a reminder (audiences), what it says (rendering), and the runs.

Audiences (``Reminder.audience``): ``topic:<topic>`` (opted in with 订阅义剪 / 订阅活动提醒),
``town:<乡镇>`` (``Follower.town``), ``activity:<number>`` (confirmed signups of an activity).
Only current, valid followers are ever included.

Messages: template id from config ``[wechat.templates]`` under the reminder's ``template``
name (模板消息) and ``<template>_subscribe`` (订阅通知); field mapping from
``[reminders.fields]`` / ``[reminders.subscribe_fields]`` overridden by the reminder's own
``fields``; placeholders ``{title}``, ``{when}``, ``{date}``, ``{place}``, ``{number}``,
``{text}``. The 客服消息 text is the reminder's ``text``.

Entry points (all take ``services`` and an aware-UTC ``now``): :func:`run_due` (every scheduled
reminder whose latest fire is due and within grace, once), :func:`run_reminder_now`,
:func:`remind_activities`, :func:`deliver_notices`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from models.activities import CANCELLED, CONFIRMED, Activity, Signup
from models.base import utcnow
from models.directory import ServicePoint
from models.followers import Follower
from models.notice import Notice
from models.reminders import (FAILED, KIND_ACTIVITY, KIND_NOTICE, KIND_SCHEDULED, RETRY, RUN_DONE,
                             RUN_MISSED, RUN_STOPPED, SENT, DeliveryLog, Reminder, ReminderError,
                             ReminderRun, TopicSubscription, ensure_default_reminders, get_reminder)
from scheduler.fanout import FanOut, Message, RunResult
from scheduler.timing import (GRACE_SAME_DAY, ScheduleSpec, activity_reminder_window,
                              grace_lookback, latest_fire, next_fire, occurrence_event_date,
                              occurrence_key, within_grace)

log = logging.getLogger(__name__)

#: Default template field mapping (template field -> text with placeholders); staff set the
#: real field names of the template chosen in the WeChat admin in ``[reminders.fields]``.
DEFAULT_FIELDS = {"thing1": "{title}", "time2": "{when}", "thing3": "{place}"}
#: WeChat shows at most 20 characters of a template field.
FIELD_LIMIT = 20
WEEKDAYS = "一二三四五六日"


# -- settings -----------------------------------------------------------------------------------
def grace_setting(services, reminder: Reminder | None = None) -> str | int:
    """The grace for missed runs: the reminder's ``grace_seconds``, else config
    ``[reminders] grace`` (``"same_day"`` or seconds), default same local day."""
    if reminder is not None and reminder.grace_seconds is not None:
        return int(reminder.grace_seconds)
    value = services.config.section("reminders").get("grace", GRACE_SAME_DAY)
    return value if value == GRACE_SAME_DAY else int(value)


def spec_for(reminder: Reminder, tz) -> ScheduleSpec:
    """The :class:`ScheduleSpec` of a reminder in time zone ``tz``."""
    return ScheduleSpec(reminder.schedule, tz, reminder.event_offset_days or 0, reminder.weekend)


# -- audiences ----------------------------------------------------------------------------------
def _reachable(stmt):
    return stmt.join(Follower, Follower.openid == stmt.selected_columns[0]).where(
        Follower.subscribed.is_(True), Follower.valid.is_(True))


def audience_openids(session, audience: str) -> list[str]:
    """Openids of current, valid followers in ``audience`` (see module docstring), sorted.

    Raises :class:`ReminderError` for an unknown audience or activity.
    """
    kind, _, value = (audience or "").partition(":")
    if kind == "topic":
        stmt = _reachable(select(TopicSubscription.openid)).where(TopicSubscription.topic == value)
    elif kind == "town":
        stmt = select(Follower.openid).where(Follower.town == value, Follower.subscribed.is_(True),
                                             Follower.valid.is_(True))
    elif kind == "activity":
        try:
            number = int(value)
        except ValueError:
            raise ReminderError(f"活动编号应为数字：{value!r}") from None
        activity = session.scalar(select(Activity).where(Activity.number == number))
        if activity is None:
            raise ReminderError(f"没有编号为 {number} 的活动")
        stmt = _reachable(select(Signup.openid)).where(Signup.activity_id == activity.id,
                                                       Signup.status == CONFIRMED)
    else:
        raise ReminderError(f"不认识的对象：{audience!r}（应为 topic:义剪主题 / town:乡镇 / activity:编号）")
    return sorted(set(session.scalars(stmt)))


# -- rendering ----------------------------------------------------------------------------------
def place_text(session, name: str) -> str:
    """A place as people read it: the directory's point called ``name`` (exact, else the first
    whose name contains it), with its address when the directory has one; else ``name``."""
    if not name:
        return ""
    point = session.scalar(select(ServicePoint).where(ServicePoint.name == name,
                                                      ServicePoint.active.is_(True)).limit(1))
    if point is None:
        point = session.scalar(select(ServicePoint).where(ServicePoint.name.contains(name),
                                                          ServicePoint.active.is_(True)).limit(1))
    if point is None:
        return name
    where = point.address or (point.town + (point.village or "") if point.town else "")
    return f"{point.name}（{where}）" if where else point.name  # unknown: left out


def format_day(day: date) -> str:
    """``12月17日（周四）``."""
    return f"{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）"


class _SafeDict(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def fill(template: str, values: dict) -> str:
    """``template`` with ``{name}`` placeholders filled; unknown ones stay as written."""
    try:
        return (template or "").format_map(_SafeDict(values))
    except (ValueError, IndexError):
        return template or ""


def build_message(services, reminder: Reminder, values: dict) -> Message:
    """The :class:`Message` of ``reminder`` with ``values`` filled in (template fields cut to
    20 characters, WeChat's display limit)."""
    wechat_templates = services.config.wechat.get("templates", {}) or {}
    cfg = services.config.section("reminders")
    name = reminder.template or "reminder"
    fields = dict(cfg.get("fields") or DEFAULT_FIELDS)
    fields.update(reminder.field_map())
    sub_fields = dict(cfg.get("subscribe_fields") or fields)
    sub_fields.update(reminder.field_map())
    data = {k: fill(v, values)[:FIELD_LIMIT] for k, v in fields.items()}
    sub_data = {k: fill(v, values)[:FIELD_LIMIT] for k, v in sub_fields.items()}
    return Message(text=fill(reminder.text, values),
                   template_id=str(wechat_templates.get(name, "") or ""), template_data=data,
                   subscribe_id=str(wechat_templates.get(f"{name}_subscribe", "") or ""),
                   subscribe_data=sub_data, url=reminder.url or "")


def scheduled_values(session, reminder: Reminder, event_date: date) -> dict:
    """Placeholder values of a scheduled reminder announcing ``event_date``."""
    return {"title": reminder.title or reminder.name, "when": format_day(event_date),
            "date": format_day(event_date), "place": place_text(session, reminder.place_name),
            "number": "", "text": ""}


# -- runs ---------------------------------------------------------------------------------------
@dataclass
class DueCheck:
    """What :func:`run_due` decided for one reminder: ``action`` is run / missed / none / done."""

    reminder: str
    action: str
    occurrence: str = ""
    result: RunResult | None = None


def _run_row(session, reminder_id: int, occurrence: str) -> ReminderRun | None:
    return session.scalar(select(ReminderRun).where(ReminderRun.reminder_id == reminder_id,
                                                    ReminderRun.occurrence == occurrence))


def run_due(services, now: datetime | None = None, *, only: int | None = None,
            fanout: FanOut | None = None) -> list[DueCheck]:
    """Run every enabled scheduled (and activity) reminder whose latest fire is due.

    A fire runs once: when its :class:`ReminderRun` exists and is done (or stopped/missed) it is
    left alone; a ``running`` one (crashed) is resumed. A fire older than the grace time
    (default: the same local day) is recorded as ``missed`` and not sent. ``only``: one
    reminder id. Returns one :class:`DueCheck` per reminder looked at.
    """
    now = now or utcnow()
    out: list[DueCheck] = []
    with services.db.write_session() as s:
        ensure_default_reminders(s)
        stmt = select(Reminder).where(Reminder.enabled.is_(True),
                                      Reminder.kind.in_([KIND_SCHEDULED, KIND_ACTIVITY]))
        if only is not None:
            stmt = stmt.where(Reminder.id == only)
        reminders = list(s.scalars(stmt))
    for reminder in reminders:
        if not reminder.schedule:
            continue
        grace = grace_setting(services, reminder)
        try:
            fire = latest_fire(spec_for(reminder, services.tz), now, lookback=grace_lookback(grace))
        except ReminderError as exc:
            log.error("reminder %s: bad schedule: %s", reminder.name, exc)
            continue
        if fire is None:
            out.append(DueCheck(reminder.name, "none"))
            continue
        with services.db.write_session() as s:
            run = _run_row(s, reminder.id, fire.key)
            if run is not None and run.status in (RUN_DONE, RUN_STOPPED, RUN_MISSED):
                out.append(DueCheck(reminder.name, "done", fire.key))
                continue
            if run is None and not within_grace(fire.at, now, services.tz, grace):
                s.add(ReminderRun(reminder_id=reminder.id, occurrence=fire.key, scheduled_for=fire.at,
                                  status=RUN_MISSED, finished_at=now,
                                  note="调度器停机，错过时间超过宽限期，未发送"))
                out.append(DueCheck(reminder.name, "missed", fire.key))
                before_it_existed = reminder.created_at is not None and fire.at < reminder.created_at
                # A fire from before the reminder existed (a fresh install) is no cause for alarm.
                log.log(logging.INFO if before_it_existed else logging.WARNING,
                        "reminder %s: fire %s missed beyond grace; not sent", reminder.name, fire.key)
                continue
        if reminder.kind == KIND_ACTIVITY:
            results = remind_activities(services, now=fire.at, fanout=fanout, reminder=reminder)
            try:
                with services.db.write_session() as s:
                    s.add(ReminderRun(reminder_id=reminder.id, occurrence=fire.key, scheduled_for=fire.at,
                                      status=RUN_DONE, finished_at=utcnow(), total=len(results),
                                      note=f"{len(results)} 个活动已提醒"))
            except IntegrityError:  # a concurrent sweep (start-up catch-up) recorded it first
                pass
            out.append(DueCheck(reminder.name, "run", fire.key))
            continue
        result = _run_scheduled(services, reminder, fire.key, fire.event_date, fire.at, fanout)
        out.append(DueCheck(reminder.name, "run", fire.key, result))
    return out


def _run_scheduled(services, reminder: Reminder, occurrence: str, event_date: date,
                   scheduled_for: datetime | None, fanout: FanOut | None) -> RunResult:
    with services.db.write_session() as s:
        openids = audience_openids(s, reminder.audience)
        message = build_message(services, reminder, scheduled_values(s, reminder, event_date))
    fanout = fanout or FanOut(services)
    return fanout.run(reminder.id, occurrence, openids, lambda _openid: message,
                      scheduled_for=scheduled_for)


def run_reminder_now(services, name: str, *, occurrence: str | None = None,
                     now: datetime | None = None, fanout: FanOut | None = None) -> RunResult | list:
    """``taoyuan reminders run NAME --now``: send reminder ``name`` now.

    The occurrence key defaults to ``manual:<local date>``, so running it twice the same day
    sends nobody anything twice (a second run resumes the first). The date announced comes from
    the occurrence (:func:`scheduler.timing.occurrence_event_date`): a fire key's own event
    date, or for a manual run the next event on or after that day — not the day it runs. Activity reminders run the
    "day before" sweep for tomorrow's activities; the notice reminder delivers pending notices.
    Raises :class:`~models.reminders.UnknownReminder`.
    """
    now = now or utcnow()
    with services.db.write_session() as s:
        ensure_default_reminders(s)
        reminder = get_reminder(s, name)
    if reminder.kind == KIND_ACTIVITY:
        return remind_activities(services, now=now, fanout=fanout, reminder=reminder)
    if reminder.kind == KIND_NOTICE:
        return deliver_notices(services, now=now, fanout=fanout)
    local_day = now.astimezone(services.tz).date()
    key = occurrence or f"manual:{local_day.isoformat()}"
    # The date comes from the occurrence, never from the clock of the run (a catch-up the
    # next day still announces the 17th).
    try:
        event_date = occurrence_event_date(spec_for(reminder, services.tz), key, local_day)
    except ReminderError:  # no (valid) schedule: a one-off reminder run by hand
        event_date = local_day + timedelta(days=reminder.event_offset_days or 0)
    return _run_scheduled(services, reminder, key, event_date, now, fanout)


# -- activities -------------------------------------------------------------------------------
def remind_activities(services, *, now: datetime | None = None, fanout: FanOut | None = None,
                      reminder: Reminder | None = None) -> list[RunResult]:
    """The day-before reminder: every activity starting tomorrow (local date of ``now``) that is
    not cancelled gets its confirmed signups reminded, once per activity (occurrence
    ``activity:<id>``). Returns one result per activity."""
    now = now or utcnow()
    start, end = activity_reminder_window(now, services.tz)
    with services.db.write_session() as s:
        if reminder is None:
            ensure_default_reminders(s)
            reminder = s.scalar(select(Reminder).where(Reminder.kind == KIND_ACTIVITY).limit(1))
        activities = list(s.scalars(select(Activity).where(
            Activity.starts_at >= start, Activity.starts_at < end, Activity.status != CANCELLED)
            .order_by(Activity.starts_at)))
        jobs = []
        for a in activities:
            jobs.append((a, audience_openids(s, f"activity:{a.number}"),
                         build_message(services, reminder, _activity_values(s, services, a))))
    fanout = fanout or FanOut(services)
    results = []
    for a, openids, message in jobs:
        results.append(fanout.run(reminder.id, f"activity:{a.id}", openids, lambda _o, m=message: m,
                                  scheduled_for=now))
    return results


def _activity_values(s, services, a: Activity) -> dict:
    """Placeholder values of the day-before reminder of activity ``a``."""
    local = a.starts_at.astimezone(services.tz)
    place = a.place or ""
    if not place and a.point_id:
        point = s.get(ServicePoint, a.point_id)
        place = place_text(s, point.name) if point else ""
    return {"title": a.title, "when": f"{format_day(local.date())} {local:%H:%M}",
            "date": format_day(local.date()), "place": place or "详见活动介绍",
            "number": str(a.number), "text": ""}


# -- the one resend after "system failed" --------------------------------------------------------
#: A template message WeChat reported ``failed: system failed`` is resent only while its report
#: is younger than this (seconds): a reminder is no use after its day.
RETRY_WITHIN = 24 * 3600


def retry_due(services, *, now: datetime | None = None, fanout: FanOut | None = None) -> list[RunResult]:
    """The next run for template messages WeChat reported ``failed: system failed``
    (TEMPLATESENDJOBFINISH; delivery-log status ``retry``): each occurrence with such rows runs
    again and sends them once more, with a new client_msg_id (scheduler/fanout.py); a second
    failure is final. The message is rebuilt from the occurrence (its own date). Pending
    notices are handed back to :func:`deliver_notices` instead. Called by the scheduler's
    periodic sweep (``job_deliver_notices``). Returns the runs made."""
    now = now or utcnow()
    with services.db.write_session() as s:
        pairs = s.execute(select(DeliveryLog.reminder_id, DeliveryLog.occurrence).where(
            DeliveryLog.status == RETRY,
            DeliveryLog.updated_at >= now - timedelta(seconds=RETRY_WITHIN)).distinct()).all()
        jobs = []
        for reminder_id, occurrence in pairs:
            reminder = s.get(Reminder, reminder_id)
            if reminder is None or not reminder.enabled:
                continue
            if reminder.kind == KIND_NOTICE:
                _notice_again(s, reminder_id, occurrence)
                continue
            message = _message_of(s, services, reminder, occurrence, now)
            if message is not None:
                jobs.append((reminder_id, occurrence, message))
    fanout = fanout or FanOut(services)
    return [fanout.run(rid, occ, [], lambda _o, m=message: m) for rid, occ, message in jobs]


def _message_of(s, services, reminder: Reminder, occurrence: str, now: datetime) -> Message | None:
    """The message occurrence ``occurrence`` of ``reminder`` sent (None: cannot be rebuilt)."""
    if reminder.kind == KIND_ACTIVITY:
        try:
            activity = s.get(Activity, int(occurrence.split(":", 1)[1]))
        except (IndexError, ValueError):
            return None
        if activity is None or activity.status == CANCELLED:
            return None
        return build_message(services, reminder, _activity_values(s, services, activity))
    local_day = now.astimezone(services.tz).date()
    try:
        event_date = occurrence_event_date(spec_for(reminder, services.tz), occurrence, local_day)
    except ReminderError:
        return None
    return build_message(services, reminder, scheduled_values(s, reminder, event_date))


def _notice_again(s, reminder_id: int, occurrence: str) -> None:
    """A notice whose template WeChat failed: pending again, for :func:`deliver_notices`."""
    parts = occurrence.split(":")
    notice = s.get(Notice, int(parts[1])) if len(parts) == 3 and parts[1].isdigit() else None
    if notice is not None:
        notice.delivered_at = None
    s.execute(update(DeliveryLog).where(
        DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence,
        DeliveryLog.status == RETRY).values(status=FAILED, detail="微信系统原因失败，改由待发通知重发",
                                            updated_at=utcnow()))


# -- notices ------------------------------------------------------------------------------------
#: A notice is given up after this many delivery attempts.
MAX_NOTICE_ATTEMPTS = 20


def deliver_notices(services, *, now: datetime | None = None, fanout: FanOut | None = None,
                    limit: int = 500) -> list[RunResult]:
    """Deliver pending :class:`models.notice.Notice` rows (e.g. waiting-list promotions) by
    template message (template ``notice`` in ``[wechat.templates]``), else 客服消息 once she is
    back in the 48-hour window. Each attempt is occurrence ``notice:<id>:<attempt>``; a notice
    that could not be sent is tried again at the next sweep. Returns the runs made."""
    now = now or utcnow()
    with services.db.write_session() as s:
        ensure_default_reminders(s)
        reminder = s.scalar(select(Reminder).where(Reminder.kind == KIND_NOTICE).limit(1))
        if reminder is None or not reminder.enabled:
            return []
        notices = list(s.scalars(select(Notice).where(Notice.delivered_at.is_(None),
                                                      Notice.attempts < MAX_NOTICE_ATTEMPTS)
                                 .order_by(Notice.created_at, Notice.id).limit(limit)))
        template_name = reminder.template if reminder.template != "reminder" else "notice"
        jobs = []
        for n in notices:
            follower = s.get(Follower, n.openid)
            if follower is None or not follower.subscribed or not follower.valid:
                continue
            values = {"title": "通知", "text": n.text, "when": format_day(now.astimezone(services.tz).date()),
                      "date": "", "place": "", "number": ""}
            msg = build_message(services, reminder, values)
            tid = str((services.config.wechat.get("templates") or {}).get(template_name, "") or "")
            fields = services.config.section("reminders").get("notice_fields") or {"thing1": "{text}"}
            msg = Message(text=n.text, template_id=tid,
                          template_data={k: fill(v, values)[:FIELD_LIMIT] for k, v in fields.items()},
                          url=msg.url)
            in_window = follower.in_service_window(now) and not follower.custom_refused
            if not msg.channels(in_window):
                continue  # no template configured and outside 48 h (or refused): wait until she writes
            jobs.append((n.id, n.openid, n.attempts or 0, msg))
    fanout = fanout or FanOut(services)
    results = []
    for notice_id, openid, attempts, msg in jobs:
        key = f"notice:{notice_id}:{attempts}"
        result = fanout.run(reminder.id, key, [openid], lambda _o, m=msg: m, scheduled_for=now)
        results.append(result)
        with services.db.write_session() as s:
            n = s.get(Notice, notice_id)
            if n is None:
                continue
            status = s.scalar(select(DeliveryLog.status).where(
                DeliveryLog.reminder_id == reminder.id, DeliveryLog.occurrence == key))
            n.attempts = attempts + 1
            if status == SENT:
                n.delivered_at = utcnow()
    return results


def describe_next(services, reminder: Reminder, now: datetime | None = None) -> str:
    """The next fire of ``reminder`` in local time (``2026-12-16 18:00``), or ``—``."""
    if not reminder.schedule:
        return "—"
    try:
        fire = next_fire(spec_for(reminder, services.tz), now or utcnow())
    except ReminderError:
        return "时间表有误"
    return fire.at.astimezone(services.tz).strftime("%Y-%m-%d %H:%M") if fire else "—"


__all__ = ["audience_openids", "build_message", "run_due", "run_reminder_now", "remind_activities",
           "retry_due",
           "deliver_notices", "place_text", "occurrence_key"]
