"""Scheduled reminders (爱心义剪 on the 17th, activity reminders), their runs, the delivery log,
and topic subscriptions (订阅义剪 / 订阅活动提醒), with the operations that change them.

A :class:`Reminder` is data staff can edit: a cron-style schedule in Asia/Shanghai, a weekend
policy, an audience, the template-message fields and the 客服消息 text. Every send attempt is a
:class:`DeliveryLog` row, unique per (reminder, occurrence, openid), so a run that crashed and is
started again sends only what is missing. :class:`ReminderRun` records one occurrence's run.
:class:`SchedulerJob` maps APScheduler's own job table (SQLAlchemyJobStore) so the migrated
schema and the models agree.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import (Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint, Unicode, delete, select)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import AwareDateTime, Base, utcnow
from models.followers import mark_template_blocked
from models.privacy import register_eraser

# -- topics ------------------------------------------------------------------------------------
TOPIC_HAIRCUT = "haircut"
TOPIC_ACTIVITIES = "activities"
#: Topic -> its Chinese name (what she types after 订阅/退订).
TOPICS = {TOPIC_HAIRCUT: "义剪", TOPIC_ACTIVITIES: "活动提醒"}

# -- reminder kinds ------------------------------------------------------------------------------
KIND_SCHEDULED = "scheduled"   # fires on its cron schedule, to its audience
KIND_ACTIVITY = "activity"     # built-in: the day before each activity, to confirmed signups
KIND_NOTICE = "notice"         # built-in: pending Notice rows (e.g. waiting-list promotions)

# -- weekend policies (the event day falls on Saturday or Sunday) -----------------------------------
WEEKEND_KEEP = "keep"          # no change
WEEKEND_SKIP = "skip"          # no reminder that month
WEEKEND_FRIDAY = "friday"      # the event moves to the Friday before
WEEKEND_MONDAY = "monday"      # the event moves to the Monday after
WEEKEND_POLICIES = (WEEKEND_KEEP, WEEKEND_SKIP, WEEKEND_FRIDAY, WEEKEND_MONDAY)

# -- run and delivery statuses ----------------------------------------------------------------------
RUN_RUNNING, RUN_DONE, RUN_STOPPED, RUN_MISSED = "running", "done", "stopped", "missed"
PENDING, SENDING, SENT = "pending", "sending", "sent"
DELIVERED, BLOCKED, FAILED = "delivered", "blocked", "failed"
SKIPPED, UNKNOWN = "skipped", "unknown"
#: WeChat reported ``failed: system failed`` for her template message: the next run of the
#: occurrence sends it once more (a new client_msg_id, ending in :data:`RETRY_MARK`).
RETRY = "retry"
RETRY_MARK = "R"
#: Statuses that mean "this recipient is finished with" (never sent again).
FINAL_STATUSES = frozenset({SENT, DELIVERED, BLOCKED, FAILED, SKIPPED, UNKNOWN})

HAIRCUT_PLACE = "助困公益协会妇联"


class ReminderError(ValueError):
    """A reminder operation was refused; the message is Chinese, for staff."""


class UnknownReminder(ReminderError):
    """No reminder has that name."""


class Reminder(Base):
    """One reminder, editable by staff.

    ``schedule``: 5-field cron ``"minute hour day month day_of_week"`` in local time
    (Asia/Shanghai), e.g. ``"0 18 16 * *"``. ``event_offset_days``: days from the fire date to
    the event it announces (1 for "the day before"). ``weekend``: what happens when the *event*
    date is a Saturday or Sunday (see ``WEEKEND_POLICIES``). ``audience``: ``topic:haircut``,
    ``town:桃城镇`` or ``activity:<number>``. ``template``: logical template name, looked up in
    config ``[wechat.templates]`` (template message) and ``<name>_subscribe`` (订阅通知);
    ``fields``: JSON object of template field -> text with ``{title}``/``{when}``/``{place}``
    placeholders, overriding config ``[reminders.fields]``. ``text``: the 客服消息 text.
    ``place_name``: a service point's name, looked up in the directory when rendering.
    ``grace_seconds``: how late a missed run may still fire (None = config, default same day).
    """

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=KIND_SCHEDULED)
    title: Mapped[str] = mapped_column(String(64), default="")
    schedule: Mapped[str] = mapped_column(String(64), default="")
    event_offset_days: Mapped[int] = mapped_column(Integer, default=0)
    weekend: Mapped[str] = mapped_column(String(16), default=WEEKEND_KEEP)
    audience: Mapped[str] = mapped_column(String(128), default="")
    place_name: Mapped[str] = mapped_column(String(128), default="")
    template: Mapped[str] = mapped_column(String(32), default="reminder")
    fields: Mapped[str] = mapped_column(Text, default="{}")
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1024), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    grace_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, onupdate=utcnow)

    def field_map(self) -> dict[str, str]:
        """``fields`` as a dict (empty when blank or not a JSON object)."""
        try:
            value = json.loads(self.fields or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class ReminderRun(Base):
    """One occurrence of a reminder being delivered (or recorded as missed).

    ``occurrence``: the key, e.g. ``"2026-12-17T00:00Z"`` (scheduled fire time in UTC),
    ``"activity:12"``, ``"notice:5"`` or ``"manual:2026-11-29"``. Unique per reminder, so an
    occurrence is never run twice. ``status``: running, done, stopped (45009 quota; ``note``
    says so) or missed (outside the grace time). Counters are filled at the end of a run.
    """

    __tablename__ = "reminder_runs"
    __table_args__ = (UniqueConstraint("reminder_id", "occurrence",
                                       name="uq_reminder_runs_reminder_occurrence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    occurrence: Mapped[str] = mapped_column(String(40))
    scheduled_for: Mapped[datetime | None] = mapped_column(AwareDateTime())
    status: Mapped[str] = mapped_column(String(16), default=RUN_RUNNING)
    started_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(String(255), default="")


class DeliveryLog(Base):
    """One recipient of one occurrence: the attempt, its channel and what WeChat said.

    ``channel``: template / subscribe / custom ('' before the first attempt). ``status``:
    pending → sending → sent → (TEMPLATESENDJOBFINISH) delivered / blocked / failed; or skipped
    (unsubscribed, invalid, no channel), unknown (a 客服消息 interrupted by a crash: never
    resent). ``msg_id``: WeChat's msgid of a template message. ``client_msg_id``: the
    idempotency key sent with template messages, the same on every retry.
    """

    __tablename__ = "delivery_log"
    __table_args__ = (UniqueConstraint("reminder_id", "occurrence", "openid",
                                       name="uq_delivery_log_reminder_occurrence_openid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    occurrence: Mapped[str] = mapped_column(String(40))
    openid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    msg_id: Mapped[str | None] = mapped_column(String(64), index=True)
    client_msg_id: Mapped[str] = mapped_column(String(64), default="")
    errcode: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(255), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)


class TopicSubscription(Base):
    """She asked for reminders on ``topic`` (``haircut`` / ``activities``) by 订阅义剪 etc."""

    __tablename__ = "topic_subscriptions"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)


class SchedulerJob(Base):
    """APScheduler 3's SQLAlchemyJobStore table, declared here so migrations create it.

    Same columns as APScheduler's own definition; it never changes them.
    """

    __tablename__ = "apscheduler_jobs"

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


# -- operations --------------------------------------------------------------------------------
def subscribe_topic(session: Session, openid: str, topic: str) -> bool:
    """Opt ``openid`` in to ``topic``. Returns False when she already was. Raises
    :class:`ReminderError` for an unknown topic."""
    if topic not in TOPICS:
        raise ReminderError(f"没有这个订阅：{topic}")
    if session.get(TopicSubscription, (openid, topic)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(TopicSubscription(openid=openid, topic=topic, created_at=utcnow()))
    except IntegrityError:  # a concurrent 订阅 from the same woman
        return False
    return True


def unsubscribe_topic(session: Session, openid: str, topic: str) -> bool:
    """Opt ``openid`` out of ``topic``. Returns False when she was not subscribed."""
    result = session.execute(delete(TopicSubscription).where(
        TopicSubscription.openid == openid, TopicSubscription.topic == topic))
    return bool(result.rowcount)


def is_subscribed(session: Session, openid: str, topic: str) -> bool:
    """True when ``openid`` is opted in to ``topic``."""
    return session.get(TopicSubscription, (openid, topic)) is not None


def get_reminder(session: Session, name: str) -> Reminder:
    """The reminder called ``name``; raises :class:`UnknownReminder`."""
    row = session.scalar(select(Reminder).where(Reminder.name == name))
    if row is None:
        raise UnknownReminder(f"没有名为「{name}」的提醒")
    return row


@dataclass(frozen=True)
class DefaultReminder:
    """A reminder shipped with the account (see :data:`DEFAULT_REMINDERS`)."""

    name: str
    kind: str
    title: str = ""
    schedule: str = ""
    event_offset_days: int = 0
    audience: str = ""
    place_name: str = ""
    text: str = ""


#: Shipped by default: 爱心义剪 on the 17th of every month (the 巾帼义务理发服务队 of
#: 助困公益协会妇联, per the seed article), the day before at 18:00 and the morning at 08:00;
#: plus the built-in activity-reminder and notice deliveries.
DEFAULT_REMINDERS = (
    DefaultReminder(
        name="义剪-前一天", kind=KIND_SCHEDULED, title="爱心义剪", schedule="0 18 16 * *",
        event_offset_days=1, audience=f"topic:{TOPIC_HAIRCUT}", place_name=HAIRCUT_PLACE,
        text="【爱心义剪】明天{when}是爱心义剪日，巾帼义务理发服务队为大家免费理发。"
             "\n地点：{place}\n回复「退订义剪」不再接收此提醒。"),
    DefaultReminder(
        name="义剪-当天", kind=KIND_SCHEDULED, title="爱心义剪", schedule="0 8 17 * *",
        event_offset_days=0, audience=f"topic:{TOPIC_HAIRCUT}", place_name=HAIRCUT_PLACE,
        text="【爱心义剪】今天{when}是爱心义剪日，巾帼义务理发服务队免费理发，欢迎前来。"
             "\n地点：{place}\n回复「退订义剪」不再接收此提醒。"),
    DefaultReminder(
        name="活动提醒", kind=KIND_ACTIVITY, title="活动提醒", schedule="0 18 * * *",
        text="【活动提醒】您报名的「{title}」将于{when}开始，地点：{place}。"
             "\n如不能参加，请回复「取消报名 {number}」，把名额留给其他姐妹。"),
    DefaultReminder(name="待发通知", kind=KIND_NOTICE, title="通知", text="{text}"),
)


def ensure_default_reminders(session: Session) -> int:
    """Insert the shipped reminders that are missing (by name); returns how many were added.

    Never changes a reminder staff edited. Idempotent; safe to call at every start.
    """
    existing = set(session.scalars(select(Reminder.name)))
    added = 0
    for d in DEFAULT_REMINDERS:
        if d.name in existing:
            continue
        session.add(Reminder(name=d.name, kind=d.kind, title=d.title, schedule=d.schedule,
                             event_offset_days=d.event_offset_days, audience=d.audience,
                             place_name=d.place_name, text=d.text, weekend=WEEKEND_KEEP,
                             template="reminder", fields="{}", enabled=True))
        added += 1
    if added:
        session.flush()
    return added


#: The activity reminder's send time when its schedule is missing or not a daily 「M H * * *」.
ACTIVITY_REMINDER_AT = (18, 0)


def activity_reminder_at(session: Session, starts_at: datetime, tz) -> datetime | None:
    """When the day-before reminder (kind :data:`KIND_ACTIVITY`, daily at its cron's time,
    for the activities of the next local day) will go out for an activity starting at
    ``starts_at``: the day before its local date at that time (aware, in ``tz``); None when the
    reminder is disabled. The caller compares it with now: a signup after it is never
    reminded."""
    ensure_default_reminders(session)
    reminder = session.scalar(select(Reminder).where(Reminder.kind == KIND_ACTIVITY).limit(1))
    if reminder is None or not reminder.enabled:
        return None
    parts = (reminder.schedule or "").split()
    hour, minute = ACTIVITY_REMINDER_AT
    if len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit():
        minute, hour = int(parts[0]), int(parts[1])
    day_before = starts_at.astimezone(tz).date() - timedelta(days=1)
    return datetime.combine(day_before, time(hour, minute), tzinfo=tz)


def erase_reminder_data(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: her topic subscriptions and delivery-log rows."""
    subs = session.execute(delete(TopicSubscription).where(TopicSubscription.openid == openid))
    logs = session.execute(delete(DeliveryLog).where(DeliveryLog.openid == openid))
    return {"topic_subscriptions": subs.rowcount or 0, "delivery_log": logs.rowcount or 0}


register_eraser(erase_reminder_data)


#: Status of TEMPLATESENDJOBFINISH -> what staff read in the delivery log.
FINISH_DETAILS = {DELIVERED: "已送达", BLOCKED: "对方已拒收模板消息，她再发消息前不再发模板消息",
                  RETRY: "微信系统原因发送失败，下次运行时重发一次",
                  FAILED: "微信系统原因发送失败（已重发过一次，不再重发）"}


def record_template_finish(session: Session, msg_id: str, status: str,
                           now: datetime | None = None) -> int:
    """Apply a TEMPLATESENDJOBFINISH event (模板消息 事件推送: 送达结果) to the delivery log.

    ``status``: WeChat's Status — ``success`` → delivered; ``failed:user block`` → blocked, and
    her follower row is marked so that template runs skip her until she writes again
    (:func:`models.followers.mark_template_blocked`); ``failed: system failed`` (or anything
    else) → :data:`RETRY` the first time (the next run of the occurrence resends it once),
    failed when the resend fails too. Returns the number of rows changed (0 for an unknown
    msg_id).
    """
    if not msg_id:
        return 0
    now = now or utcnow()
    s = (status or "").strip().lower()
    rows = session.scalars(select(DeliveryLog).where(DeliveryLog.msg_id == msg_id)).all()
    for row in rows:
        if s == "success":
            new = DELIVERED
        elif "block" in s:
            new = BLOCKED
        else:
            new = FAILED if (row.client_msg_id or "").endswith(RETRY_MARK) else RETRY
        row.status = new
        row.detail = f"{FINISH_DETAILS[new]}（{(status or '').strip()[:60]}）"
        row.updated_at = now
    blocked = [row.openid for row in rows if row.status == BLOCKED]
    if blocked:
        mark_template_blocked(session, blocked, now=now)
    return len(rows)


def retry_client_msg_id(first: str) -> str:
    """The client_msg_id of the one resend after ``failed: system failed`` (≤ 32 characters,
    ends in :data:`RETRY_MARK`, so a second failure is known as such)."""
    return (first or "")[:31] + RETRY_MARK


# -- editing (console and CLI alike) ------------------------------------------------------------
#: How a scheduled reminder repeats, in the staff's words: every month on day N, every week on
#: weekday X; the built-in activity reminder goes the day before each activity.
REPEAT_MONTHLY, REPEAT_WEEKLY, REPEAT_DAY_BEFORE = "monthly", "weekly", "day_before"
REPEAT_LABELS = {REPEAT_MONTHLY: "每月 N 日", REPEAT_WEEKLY: "每周 X", REPEAT_DAY_BEFORE: "活动前一天"}
#: Weekday number (Monday 0) -> its Chinese name and its cron name (names, not numbers:
#: APScheduler and crontab disagree on what 0 is).
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_CRON_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: What happens when the event day is a Saturday or Sunday, in words.
WEEKEND_LABELS = {WEEKEND_KEEP: "照常提醒（周末也办）", WEEKEND_SKIP: "这个月不提醒（周末不办）",
                  WEEKEND_FRIDAY: "提前到周五办", WEEKEND_MONDAY: "推迟到周一办"}
#: When the reminder goes out relative to the event day (``event_offset_days``).
OFFSET_LABELS = {0: "活动当天", 1: "活动前一天", 2: "活动前两天"}
#: A missed run (server down at the time) may still go out: ``grace_seconds`` in words
#: (None = config, by default the same day).
GRACE_LABELS = {None: "当天之内补发（默认）", 3600: "晚了一小时之内补发", 0: "错过就不补发"}
#: Placeholders of reminder texts and template fields: stored name -> what staff type.
PLACEHOLDER_NAMES = {"title": "标题", "when": "时间", "date": "日期", "place": "地点",
                     "number": "活动编号", "text": "通知内容"}
#: WeChat template field name prefixes (``thing1``, ``time2`` …) -> a Chinese label.
FIELD_KIND_LABELS = {"thing": "事项", "time": "时间", "date": "日期", "phrase": "状态",
                     "character_string": "编号", "number": "数字", "name": "姓名", "amount": "金额",
                     "letter": "字母", "symbol": "符号", "car_number": "车牌", "phone_number": "电话",
                     "const": "固定文字", "keyword": "关键词", "first": "开头", "remark": "备注"}
MONTH_DAY_MAX = 28


@dataclass(frozen=True)
class ScheduleChoice:
    """A schedule as staff choose it. ``repeat``: :data:`REPEAT_LABELS` key; ``day``: the event
    day of the month (1–28, monthly); ``weekday``: the event weekday (Monday 0, weekly);
    ``at``: send time ``"HH:MM"`` local; ``offset_days``: 0 on the day, 1 the day before, 2."""

    repeat: str
    at: str
    day: int | None = None
    weekday: int | None = None
    offset_days: int = 0


def parse_send_time(value: str) -> tuple[int, int]:
    """``"08:30"``/``"8:30"`` -> ``(8, 30)``; raises :class:`ReminderError` (Chinese) for
    anything else, e.g. 「周五」 or 「每月17日 8:30」."""
    text = str(value or "").strip().replace("：", ":")
    hh, sep, mm = text.partition(":")
    if sep and hh.isdigit() and mm.isdigit() and len(hh) <= 2 and len(mm) == 2:
        h, m = int(hh), int(mm)
        if 0 <= h <= 23 and 0 <= m <= 59:
            return h, m
    raise ReminderError(f"发送时间应为「时:分」，例如 08:30；「{text}」不是一个时间。")


def schedule_to_cron(choice: ScheduleChoice) -> str:
    """The 5-field cron (local time) of ``choice``. Raises :class:`ReminderError` (Chinese)
    for a day outside 1–28, an unknown weekday, an offset that leaves the month, a bad time."""
    h, m = parse_send_time(choice.at)
    if choice.offset_days not in OFFSET_LABELS:
        raise ReminderError("提前天数只能是活动当天、前一天或前两天。")
    if choice.repeat == REPEAT_MONTHLY:
        if choice.day is None or not 1 <= choice.day <= MONTH_DAY_MAX:
            raise ReminderError(f"「每月几号」只填 1 到 {MONTH_DAY_MAX} 的数字，例如 17"
                                "（29–31 日不是每个月都有）。")
        fire_day = choice.day - choice.offset_days
        if fire_day < 1:
            raise ReminderError(f"活动在每月 {choice.day} 日时，不能提前到上个月发送，请改为活动当天发送。")
        return f"{m} {h} {fire_day} * *"
    if choice.repeat == REPEAT_WEEKLY:
        if choice.weekday is None or not 0 <= choice.weekday <= 6:
            raise ReminderError("请选择每周的哪一天（周一到周日）。")
        return f"{m} {h} * * {_CRON_WEEKDAYS[(choice.weekday - choice.offset_days) % 7]}"
    if choice.repeat == REPEAT_DAY_BEFORE:
        return f"{m} {h} * * *"
    raise ReminderError("请选择提醒怎样重复：每月 N 日、每周 X 或活动前一天。")


def choice_from_reminder(reminder: Reminder) -> ScheduleChoice | None:
    """``reminder``'s schedule as a :class:`ScheduleChoice`, or None when its cron is not one
    the form can show (then the form starts from 每月 17 日)."""
    parts = (reminder.schedule or "").split()
    if len(parts) != 5 or not (parts[0].isdigit() and parts[1].isdigit()) or parts[3] != "*":
        return None
    at = f"{int(parts[1]):02d}:{int(parts[0]):02d}"
    offset = reminder.event_offset_days or 0
    if reminder.kind == KIND_ACTIVITY:
        return ScheduleChoice(REPEAT_DAY_BEFORE, at, offset_days=1)
    if parts[2].isdigit() and parts[4] == "*":
        return ScheduleChoice(REPEAT_MONTHLY, at, day=int(parts[2]) + offset, offset_days=offset)
    if parts[2] == "*" and parts[4].lower() in _CRON_WEEKDAYS:
        wd = (_CRON_WEEKDAYS.index(parts[4].lower()) + offset) % 7
        return ScheduleChoice(REPEAT_WEEKLY, at, weekday=wd, offset_days=offset)
    return None


def describe_schedule(reminder: Reminder) -> str:
    """The schedule in words: 「每月17日 · 活动前一天 18:00 发送」, 「每周五 · 活动当天 08:00 发送」,
    「每场活动前一天 18:00」; the weekend rule is added when it is not 照常."""
    if reminder.kind == KIND_NOTICE:
        return "有新通知时随时发送"
    choice = choice_from_reminder(reminder)
    if choice is None:
        return "（自定义时间）" if reminder.schedule else "—"
    if choice.repeat == REPEAT_DAY_BEFORE:
        return f"每场活动前一天 {choice.at}"
    what = (f"每月{choice.day}日" if choice.repeat == REPEAT_MONTHLY
            else f"每{WEEKDAY_NAMES[choice.weekday]}")
    text = f"{what} · {OFFSET_LABELS[choice.offset_days]} {choice.at} 发送"
    if reminder.weekend and reminder.weekend != WEEKEND_KEEP:
        text += f"；逢周末{WEEKEND_LABELS.get(reminder.weekend, '')}"
    return text


def check_cron(schedule: str) -> None:
    """Raise :class:`ReminderError` (Chinese) unless ``schedule`` is a valid 5-field cron."""
    from apscheduler.triggers.cron import CronTrigger

    parts = (schedule or "").split()
    if len(parts) != 5:
        raise ReminderError(f"时间规则应为5段（分 时 日 月 周），例如「0 18 16 * *」；收到「{schedule}」。")
    try:
        CronTrigger.from_crontab(" ".join(parts), timezone="UTC")
    except ValueError:
        raise ReminderError(f"时间规则有误：「{schedule}」。") from None


def placeholders_to_chinese(text: str) -> str:
    """``"{title} {when}"`` -> ``"{标题} {时间}"`` (what staff read and type)."""
    for key, name in PLACEHOLDER_NAMES.items():
        text = (text or "").replace("{" + key + "}", "{" + name + "}")
    return text or ""


def placeholders_from_chinese(text: str) -> str:
    """``"{标题}"`` -> ``"{title}"``; raises :class:`ReminderError` for an unknown ``{…}``."""
    import re

    text = text or ""
    for key, name in PLACEHOLDER_NAMES.items():
        text = text.replace("{" + name + "}", "{" + key + "}")
    unknown = [m for m in re.findall(r"\{([^{}]*)\}", text) if m not in PLACEHOLDER_NAMES]
    if unknown:
        names = "".join("{" + n + "}" for n in PLACEHOLDER_NAMES.values())
        raise ReminderError(f"不认识的占位符「{{{unknown[0]}}}」，可用的有：{names}。")
    return text


def field_label(key: str) -> str:
    """A template field name as staff read it: ``thing1`` -> 「事项（第1栏）」."""
    import re

    m = re.fullmatch(r"([a-z_]+?)(\d*)", key or "")
    kind, num = (m.group(1), m.group(2)) if m else (key, "")
    label = FIELD_KIND_LABELS.get(kind, "模板内容")
    return f"{label}（第{num}栏）" if num else label


def check_audience(session: Session, audience: str) -> None:
    """Raise :class:`ReminderError` (Chinese) unless ``audience`` is ``topic:<topic>``,
    ``town:<乡镇>`` or ``activity:<existing number>``."""
    kind, _, value = (audience or "").partition(":")
    if kind == "topic" and value in TOPICS:
        return
    if kind == "town" and value.strip():
        return
    if kind == "activity" and value.isdigit():
        from models.activities import Activity

        if session.scalar(select(Activity.id).where(Activity.number == int(value))) is not None:
            return
        raise ReminderError(f"没有编号为 {value} 的活动。")
    raise ReminderError("请选择提醒发给谁（订阅的关注者、某个乡镇或某个活动的报名者）。")


_EDITABLE = ("name", "title", "schedule", "event_offset_days", "weekend", "audience", "place_name",
             "template", "fields", "text", "url", "enabled", "grace_seconds")


def save_reminder(session: Session, reminder: Reminder | None = None, **values) -> Reminder:
    """Create (``reminder`` None) or change a reminder after checking every value; nothing is
    changed when one is wrong. The one way the console and ``taoyuan reminders set`` edit.

    ``values``: any of ``name``, ``title``, ``schedule`` (5-field cron, local time),
    ``event_offset_days`` (0–2), ``weekend`` (:data:`WEEKEND_POLICIES`), ``audience`` (see
    :func:`check_audience`; scheduled reminders only), ``place_name``, ``template``, ``fields``
    (dict template field -> text, or its JSON), ``text``, ``url``, ``enabled``,
    ``grace_seconds`` (None or seconds ≥ 0). Raises :class:`ReminderError` (Chinese, for staff).
    """
    unknown = set(values) - set(_EDITABLE)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    current = {k: getattr(reminder, k) for k in _EDITABLE} if reminder is not None else {
        "name": "", "title": "", "schedule": "", "event_offset_days": 0, "weekend": WEEKEND_KEEP,
        "audience": "", "place_name": "", "template": "reminder", "fields": "{}", "text": "",
        "url": "", "enabled": True, "grace_seconds": None}
    new = {**current, **values}
    kind = reminder.kind if reminder is not None else KIND_SCHEDULED
    new["name"] = (new["name"] or "").strip()
    if not new["name"] or len(new["name"]) > 64:
        raise ReminderError("请填写提醒名称（不超过 64 个字）。")
    clash = session.scalar(select(Reminder.id).where(Reminder.name == new["name"]))
    if clash is not None and (reminder is None or clash != reminder.id):
        raise ReminderError(f"已经有一条名为「{new['name']}」的提醒，请换一个名称。")
    if kind != KIND_NOTICE:
        check_cron(new["schedule"])
    if new["weekend"] not in WEEKEND_POLICIES:
        raise ReminderError("请选择活动日逢周末时怎么办。")
    if new["event_offset_days"] not in OFFSET_LABELS:
        raise ReminderError("提前天数只能是活动当天、前一天或前两天。")
    if kind == KIND_SCHEDULED:
        check_audience(session, new["audience"])
        if not (new["text"] or "").strip():
            raise ReminderError("请填写提醒的文字内容。")
    fields = new["fields"]
    if isinstance(fields, str):
        try:
            fields = json.loads(fields or "{}")
        except ValueError:
            raise ReminderError("模板内容格式有误。") from None
    if not isinstance(fields, dict):
        raise ReminderError("模板内容格式有误。")
    fields = {str(k): placeholders_from_chinese(str(v)) for k, v in fields.items()}
    new["fields"] = json.dumps(fields, ensure_ascii=False)
    new["text"] = placeholders_from_chinese(new["text"] or "")
    grace = new["grace_seconds"]
    if grace is not None and (not isinstance(grace, int) or grace < 0):
        raise ReminderError("补发时限应为不小于 0 的秒数。")
    if len(new["title"] or "") > 64 or len(new["place_name"] or "") > 128:
        raise ReminderError("标题不超过 64 个字，地点不超过 128 个字。")
    if reminder is None:
        reminder = Reminder(kind=kind)
        session.add(reminder)
    for key, value in new.items():
        if getattr(reminder, key, None) != value:
            setattr(reminder, key, value)
    session.flush()
    return reminder
