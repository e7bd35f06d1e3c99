"""Console pages for reminders (定时提醒, with a preview) and their delivery log (推送记录)."""
from __future__ import annotations

import logging

from flask import current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired

from bot.console.auth import client_ip
from bot.console.base import AuditedModelView, ReadOnlyModelView, local_time, short_openid
from models import audit
from models import reminders as rem
from models.base import utcnow
from models.reminders import KIND_SCHEDULED, Reminder
from scheduler.reminders import (audience_openids, build_message, describe_next, scheduled_values,
                                 spec_for)
from scheduler.timing import next_fire


log = logging.getLogger(__name__)


#: Reminder kinds in Chinese.
REMINDER_KINDS = {"scheduled": "定时群发提醒", "activity": "活动前一天提醒", "notice": "待发通知"}


def audience_label(audience: str | None) -> str:
    """「topic:haircut」 -> 「订阅「义剪」的关注者」; other values as stored."""
    value = audience or ""
    if value.startswith("topic:"):
        topics = rem.TOPICS
        return f"订阅「{topics.get(value[6:], value[6:])}」的关注者"
    if value.startswith("town:"):
        return f"{value[5:]}的关注者"
    if value.startswith("activity:"):
        return f"活动 {value[9:]} 的报名者"
    return value or "（未选择）"


class ReminderForm(FlaskForm):
    """The reminder form in the staff's words (no cron, codes, JSON or seconds): the model
    operation ``models.reminders.save_reminder`` checks every value again."""

    name = StringField("提醒名称", validators=[InputRequired("请填写提醒名称")])
    title = StringField("标题（文字里的 {标题}）")
    repeat = SelectField("怎样重复", choices=[])
    day = StringField("活动日：每月几号", render_kw={"inputmode": "numeric", "placeholder": "例如 17"})
    weekday = SelectField("活动日：每周哪一天", coerce=int,
                          choices=list(enumerate(rem.WEEKDAY_NAMES)), default=4)
    offset = SelectField("哪天发送", coerce=int, choices=list(rem.OFFSET_LABELS.items()), default=0)
    at = StringField("发送时间", render_kw={"type": "time", "step": "60"})
    weekend = SelectField("活动日逢周末", choices=list(rem.WEEKEND_LABELS.items()),
                          default=rem.WEEKEND_KEEP)
    audience = SelectField("发给谁", choices=[])
    place_name = StringField("地点（文字里的 {地点}，可填服务点名称）")
    text = TextAreaField("客服消息文字", render_kw={"rows": 4})
    grace = SelectField("错过发送时间（如服务器停机）", choices=[
        ("" if k is None else str(k), v) for k, v in rem.GRACE_LABELS.items()], default="")
    enabled = BooleanField("启用", default=True)


def audience_choices(session, current: str = "") -> list[tuple[str, str]]:
    """Options of 发给谁: every topic's subscribers, every 乡镇's followers, each activity not
    yet over; ``current`` is kept even when no longer listed."""
    from models.activities import Activity
    from models.stats import YONGCHUN_TOWNS

    out = [(f"topic:{k}", audience_label(f"topic:{k}")) for k in rem.TOPICS]
    out += [(f"town:{t}", f"{t}的关注者") for t in YONGCHUN_TOWNS]
    acts = session.execute(select(Activity.number, Activity.title)
                           .where(Activity.starts_at >= utcnow()).order_by(Activity.starts_at))
    out += [(f"activity:{n}", f"活动 {n}「{t}」的报名者") for n, t in acts]
    if current and current not in dict(out):
        out.append((current, audience_label(current)))
    return out


def next_five(services, schedule: str, offset: int, weekend: str, now=None) -> list[str]:
    """The next five send times of a schedule, ``["2026-12-16 18:00（周三）", ...]`` local."""
    from scheduler.timing import ScheduleSpec

    spec = ScheduleSpec(schedule, services.tz, offset, weekend)
    out, after = [], now or utcnow()
    for _ in range(5):
        fire = next_fire(spec, after)
        if fire is None:
            break
        local = fire.at.astimezone(services.tz)
        out.append(f"{local:%Y-%m-%d %H:%M}（{rem.WEEKDAY_NAMES[local.weekday()]}）")
        after = fire.at
    return out


class ReminderView(AuditedModelView):
    """定时提醒: a list in words and a form staff understand (每月 N 日 / 每周 X / 活动前一天, a
    time picker, the weekend rule in words, the audience as a choice, labelled template
    fields); 「预览发送时间」 shows the next five send times before anything is saved. Saving
    goes through ``models.reminders.save_reminder``: a wrong value is a Chinese form error and
    nothing is saved."""

    column_list = ("name", "title", "kind", "schedule", "audience", "enabled", "next_run", "preview")
    column_labels = {"name": "名称", "title": "标题", "kind": "类型", "schedule": "时间",
                     "audience": "对象", "enabled": "启用", "next_run": "下次发送", "preview": "预览"}
    column_formatters = {"kind": lambda v, c, m, n: REMINDER_KINDS.get(m.kind, m.kind),
                         "schedule": lambda v, c, m, n: rem.describe_schedule(m),
                         "audience": lambda v, c, m, n: (audience_label(m.audience)
                                                         if m.kind == KIND_SCHEDULED else
                                                         "活动的已报名者" if m.kind == "activity"
                                                         else "通知对象本人"),
                         "enabled": lambda v, c, m, n: "是" if m.enabled else "否",
                         "next_run": lambda v, c, m, n: _next_run(m),
                         "preview": lambda v, c, m, n: Markup(
                             f'<a href="{escape(url_for(".preview", rid=m.id))}">预览</a>')}
    can_view_details = False
    can_delete = False

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        """A new scheduled reminder (the same form)."""
        return self._form_page(None)

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        """Edit the reminder ``?id=``."""
        rid = request.args.get("id", "")
        row = self.session.get(Reminder, int(rid)) if rid.isdigit() and self.id_fits(rid) else None
        if row is None:
            flash("没有这条提醒。", "error")
            return redirect(url_for(".index_view"))
        return self._form_page(row)

    def _form_page(self, row):
        services = current_app.extensions["taoyuan"]
        kind = row.kind if row is not None else KIND_SCHEDULED
        form = ReminderForm(obj=None)
        form.repeat.choices = ([(rem.REPEAT_DAY_BEFORE, "每场活动的前一天")] if kind == "activity"
                               else [(rem.REPEAT_MONTHLY, "每月 N 日"), (rem.REPEAT_WEEKLY, "每周 X")])
        form.audience.choices = audience_choices(self.session, row.audience if row else "")
        fields = self._template_fields(services, row)
        if request.method == "GET":
            self._prefill(form, row)
        typed = {k: request.form.get(f"tf_{k}", v) for k, v in fields.items()}
        times, saved_ok = [], False
        if request.method == "POST" and form.validate_on_submit():
            try:
                values = self._values(form, kind, typed)
                times = next_five(services, values.get("schedule", ""),
                                  values.get("event_offset_days", 0), values.get("weekend", "keep"))
                if request.form.get("action") == "save":
                    before = _snapshot(row)
                    saved = rem.save_reminder(self.session, row, **values)
                    audit.record(self.session, current_user.username,
                                 "create" if row is None else "update", "reminders", str(saved.id),
                                 _changes(before, _snapshot(saved)), ip=client_ip())
                    self.session.commit()
                    flash(f"已保存「{saved.name}」。接下来五次发送：" + "；".join(times), "success")
                    saved_ok = True
                    row = saved
            except rem.ReminderError as exc:
                self.session.rollback()
                times = []
                flash(str(exc), "error")
        elif request.method == "POST":
            for errors in form.errors.values():
                for e in errors:
                    flash(str(e), "error")
        elif row is not None and row.schedule and kind != "notice":
            times = next_five(services, row.schedule, row.event_offset_days or 0, row.weekend)
        return self.render("console/reminder_form.html", form=form, row=row, kind=kind,
                           fields=[(k, rem.field_label(k), typed[k]) for k in typed],
                           times=times, saved=saved_ok,
                           placeholders="".join("{" + n + "}" for n in rem.PLACEHOLDER_NAMES.values()),
                           return_url=url_for(".index_view"))

    @staticmethod
    def _template_fields(services, row) -> dict[str, str]:
        """Template field -> its text with Chinese placeholders (config, then the reminder's)."""
        from scheduler.reminders import DEFAULT_FIELDS

        cfg = services.config.section("reminders")
        fields = dict(cfg.get("fields") or DEFAULT_FIELDS)
        if row is not None:
            fields.update(row.field_map())
        return {k: rem.placeholders_to_chinese(v) for k, v in fields.items()}

    @staticmethod
    def _prefill(form, row) -> None:
        form.at.data, form.day.data = "08:00", "17"
        if row is None:
            return
        choice = rem.choice_from_reminder(row)
        if choice is not None:
            form.repeat.data, form.at.data, form.offset.data = choice.repeat, choice.at, choice.offset_days
            if choice.day is not None:
                form.day.data = str(choice.day)
            if choice.weekday is not None:
                form.weekday.data = choice.weekday
        form.name.data, form.title.data, form.place_name.data = row.name, row.title, row.place_name
        form.weekend.data, form.audience.data = row.weekend, row.audience
        form.text.data = rem.placeholders_to_chinese(row.text)
        form.enabled.data = row.enabled
        form.grace.data = "" if row.grace_seconds is None else str(row.grace_seconds)

    @staticmethod
    def _values(form, kind, typed) -> dict:
        """The form as ``save_reminder`` values; raises ReminderError for a wrong day/time."""
        values = {"name": form.name.data or "", "title": form.title.data or "",
                  "place_name": form.place_name.data or "", "weekend": form.weekend.data,
                  "text": form.text.data or "", "enabled": bool(form.enabled.data),
                  "grace_seconds": int(form.grace.data) if form.grace.data else None,
                  "fields": {k: v for k, v in typed.items()}}
        if kind == "notice":
            return values
        day_text = (form.day.data or "").strip()
        if form.repeat.data == rem.REPEAT_MONTHLY and not day_text.isdigit():
            raise rem.ReminderError(f"「每月几号」只填数字，例如 17；「{day_text}」不是日期。"
                                    "发送时间请在「发送时间」里选。")
        choice = rem.ScheduleChoice(repeat=form.repeat.data, at=form.at.data or "",
                                    day=int(day_text) if day_text.isdigit() else None,
                                    weekday=form.weekday.data,
                                    offset_days=1 if kind == "activity" else form.offset.data)
        values["schedule"] = rem.schedule_to_cron(choice)
        if kind == KIND_SCHEDULED:
            values["event_offset_days"] = choice.offset_days
            values["audience"] = form.audience.data
        return values

    @expose("/<int:rid>/preview")
    def preview(self, rid: int):
        """What the reminder would send next: rendered text, template fields, audience size."""
        info = reminder_preview(current_app.extensions["taoyuan"], self.session, rid)
        return self.render("console/reminder_preview.html", info=info, field_label=rem.field_label)


def reminder_preview(services, session, rid: int) -> dict:
    """``{"name", "next", "text", "template_id", "template_data", "audience", "error"}`` for
    reminder ``rid``; built with the scheduler's own message builder, nothing is sent."""
    from datetime import timedelta

    row = session.get(Reminder, rid)
    if row is None:
        return {"error": "没有这条提醒"}
    info = {"name": row.name, "title": row.title}
    try:
        now = utcnow()
        if row.kind != KIND_SCHEDULED:
            info["error"] = "这类提醒按活动或通知逐条发送，没有统一预览。"
            return info
        fire = next_fire(spec_for(row, services.tz), now) if row.schedule else None
        event_date = fire.event_date if fire else (now.astimezone(services.tz).date()
                                                   + timedelta(days=row.event_offset_days or 0))
        message = build_message(services, row, scheduled_values(session, row, event_date))
        info.update(next=fire.at.astimezone(services.tz).strftime("%Y-%m-%d %H:%M") if fire else "",
                    text=message.text, template_id=message.template_id or "",
                    template_data=message.template_data or {},
                    audience=len(audience_openids(session, row.audience)))
    except Exception as exc:  # noqa: BLE001 - a preview shows the problem instead of failing
        log.warning("reminder preview failed", exc_info=True)
        info["error"] = f"无法预览：{exc}"
    return info


def _snapshot(row) -> dict:
    keys = ("name", "title", "schedule", "event_offset_days", "weekend", "audience", "place_name",
            "fields", "text", "enabled", "grace_seconds")
    return {k: getattr(row, k) for k in keys} if row is not None else {}


def _changes(before: dict, after: dict) -> str:
    """「schedule: 0 18 16 * * → 30 8 16 * *」 for each changed value (the audit log)."""
    return "; ".join(f"{k}: {str(before.get(k, ''))[:60]} → {str(v)[:60]}"
                     for k, v in after.items() if before.get(k) != v)


def _next_run(reminder) -> str:
    try:
        return describe_next(current_app.extensions["taoyuan"], reminder)
    except Exception:  # noqa: BLE001 - a preview must never break the list page
        log.warning("reminder preview failed", exc_info=True)
        return ""


class DeliveryLogView(ReadOnlyModelView):
    """推送记录 (reminder delivery log)."""

    column_list = ("created_at", "reminder_id", "occurrence", "openid", "channel", "status",
                   "errcode", "detail", "attempts")
    column_default_sort = ("id", True)
    column_labels = {"created_at": "时间", "reminder_id": "提醒", "occurrence": "场次",
                     "openid": "接收者", "channel": "渠道", "status": "状态", "errcode": "错误码",
                     "detail": "说明", "attempts": "尝试次数"}
    column_formatters = {"created_at": local_time, "openid": short_openid,
                         "reminder_id": lambda v, c, m, n: _reminder_name(v.session, m.reminder_id),
                         "occurrence": lambda v, c, m, n: occurrence_label(m.occurrence),
                         "channel": lambda v, c, m, n: CHANNEL_LABELS.get(m.channel, m.channel),
                         "status": lambda v, c, m, n: DELIVERY_STATUS_LABELS.get(m.status, m.status)}


#: Delivery channels and statuses in words (the stored values stay English).
CHANNEL_LABELS = {"template": "模板消息", "subscribe": "订阅通知", "custom": "客服消息", "": "—"}
DELIVERY_STATUS_LABELS = {rem.PENDING: "待发送", rem.SENDING: "发送中", rem.SENT: "已发出",
                          rem.DELIVERED: "已送达", rem.BLOCKED: "对方拒收", rem.FAILED: "发送失败",
                          rem.SKIPPED: "未发送（已退订或无法送达）", rem.UNKNOWN: "不确定（发送时中断）"}


def _reminder_name(session, rid) -> str:
    row = session.get(Reminder, rid) if rid is not None else None
    return row.name if row is not None else str(rid or "")


def occurrence_label(occurrence: str) -> str:
    """``2026-12-17T00:00Z`` -> local 「2026-12-17 08:00」; ``activity:12`` -> 「活动 12」;
    ``notice:5`` -> 「通知 5」; ``manual:…`` -> 「手动发送 …」."""
    from datetime import datetime, timezone

    value = occurrence or ""
    kind, _, rest = value.partition(":")
    if kind == "activity":
        return f"活动 {rest}"
    if kind == "notice":
        return f"通知 {rest}"
    if kind == "manual":
        return f"手动发送 {rest}"
    try:
        at = datetime.strptime(value, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return value
    return at.astimezone(current_app.extensions["taoyuan"].tz).strftime("%Y-%m-%d %H:%M")


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"reminders": "定时提醒"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(ReminderView(rem.Reminder, session, name="定时提醒", category="提醒",
                                endpoint="reminders"))
    from flask_admin.contrib.sqla.filters import FilterEqual

    DeliveryLogView.column_filters = (
        FilterEqual(rem.DeliveryLog.status, "状态", options=list(DELIVERY_STATUS_LABELS.items())),
        FilterEqual(rem.DeliveryLog.channel, "渠道",
                    options=[(k, v) for k, v in CHANNEL_LABELS.items() if k]),
        "reminder_id")
    admin.add_view(DeliveryLogView(rem.DeliveryLog, session, name="推送记录", category="提醒",
                                   endpoint="deliveries"))
