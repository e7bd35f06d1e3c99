"""Console pages for reminders (定时提醒, with a preview) and their delivery log (推送记录)."""
from __future__ import annotations

import logging

from flask import current_app, url_for
from flask_admin import expose
from markupsafe import Markup, escape
from wtforms import TextAreaField

from bot.console.base import AuditedModelView, ReadOnlyModelView, local_time, short_openid
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
    return value


class ReminderView(AuditedModelView):
    """定时提醒: edit; the next run is shown as a preview."""

    column_list = ("name", "title", "kind", "schedule", "audience", "enabled", "next_run", "preview")
    column_labels = {"name": "名称", "title": "标题", "kind": "类型", "schedule": "时间规则",
                     "audience": "对象", "enabled": "启用", "text": "文字", "url": "链接",
                     "template": "模板", "fields": "模板字段(JSON)", "place_name": "地点",
                     "event_offset_days": "提前天数", "weekend": "遇周末", "grace_seconds": "宽限秒数",
                     "next_run": "下次发送", "preview": "预览", "created_at": "创建时间",
                     "updated_at": "更新时间"}
    column_formatters = {"kind": lambda v, c, m, n: REMINDER_KINDS.get(m.kind, m.kind),
                         "audience": lambda v, c, m, n: audience_label(m.audience),
                         "next_run": lambda v, c, m, n: _next_run(m),
                         "preview": lambda v, c, m, n: Markup(
                             f'<a href="{escape(url_for(".preview", rid=m.id))}">预览</a>')}
    form_excluded_columns = ("created_at", "updated_at", "runs", "deliveries")
    form_overrides = {"text": TextAreaField, "fields": TextAreaField}


    @expose("/<int:rid>/preview")
    def preview(self, rid: int):
        """What the reminder would send next: rendered text, template fields, audience size."""
        info = reminder_preview(current_app.extensions["taoyuan"], self.session, rid)
        return self.render("console/reminder_preview.html", info=info)


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
    column_filters = ("status", "channel", "reminder_id")
    column_labels = {"created_at": "时间", "reminder_id": "提醒", "occurrence": "场次",
                     "openid": "接收者", "channel": "渠道", "status": "状态", "errcode": "错误码",
                     "detail": "说明", "attempts": "尝试次数"}
    column_formatters = {"created_at": local_time, "openid": short_openid}


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"reminders": "定时提醒"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(ReminderView(rem.Reminder, session, name="定时提醒", category="提醒",
                                endpoint="reminders"))
    admin.add_view(DeliveryLogView(rem.DeliveryLog, session, name="推送记录", category="提醒",
                                   endpoint="deliveries"))
