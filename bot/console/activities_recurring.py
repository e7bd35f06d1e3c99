"""Console page 活动 → 每月固定活动: recurring activities (the 17th's 爱心义剪) and the
「生成本月活动」 button that makes the next month's activity now (idempotent)."""
from __future__ import annotations

from flask import current_app, flash, redirect, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from wtforms import SelectField, TextAreaField
from wtforms.validators import Optional

from bot.console.activities import F_ACTIVITY, _optional_int, point_choices
from bot.console.auth import client_ip
from bot.console.base import AuditedModelView
from models import activities_recurring as rec
from models import audit
from models import directory as sp


def _seats(view, _c, model, _n) -> str:
    if model.capacity is not None:
        return str(model.capacity)
    return f"{rec.default_seats(current_app.extensions['taoyuan'].config)}（按系统设置）"


def _where(view, _c, model, _n) -> str:
    point = view.session.get(sp.ServicePoint, model.point_id) if model.point_id else None
    return "；".join(x for x in ((point.name if point is not None else ""), model.place) if x) or "（未填）"


def _make_button(view, _c, model, _n) -> Markup:
    """A POST button 「生成下一次活动」 (CSRF-protected), and a link to the latest one made."""
    svc = current_app.extensions["taoyuan"]
    month = rec.next_month_for(view.session, model.id, tz=svc.tz)
    made = rec.month_activity(view.session, model.id, month)
    label = f"生成{int(month[5:])}月活动"
    out = []
    if made is not None:
        link = url_for("signups.index_view", **{F_ACTIVITY: made.id})
        out.append(f'<a href="{escape(link)}">{int(month[5:])}月：活动 {made.number} 报名名单</a>')
    else:
        out.append(f'<form method="post" class="d-inline" action="{escape(url_for(".make", rid=model.id))}">'
                   f'<input type="hidden" name="csrf_token" value="{escape(generate_csrf())}">'
                   f'<button type="submit" class="btn btn-sm btn-primary recurring-make">'
                   f'{escape(label)}</button></form>')
    return Markup(" ".join(out))


class RecurringActivityView(AuditedModelView):
    """每月固定活动: every month on day N at a time, with seats and a place; the daily job makes
    each month's activity ahead of time, 「生成…月活动」 makes it now (once per month)."""

    column_list = ("title", "day", "start_time", "capacity", "place", "active", "made_through", "make")
    column_labels = {"title": "活动名称", "category": "类别", "day": "每月几号",
                     "start_time": "开始时间", "minutes": "时长（分钟）",
                     "capacity": "名额", "volunteers_needed": "需要志愿者人数", "place": "地点",
                     "point_id": "服务点", "lead_days": "提前几天生成", "active": "启用",
                     "made_through": "已自动生成到", "description": "说明", "make": "本月活动",
                     "created_at": "创建时间"}
    column_formatters = {"day": lambda v, c, m, n: f"每月{m.day}日", "capacity": _seats,
                         "place": _where, "make": _make_button,
                         "active": lambda v, c, m, n: "启用" if m.active else "停用",
                         "made_through": lambda v, c, m, n: m.made_through or "（尚未）"}
    form_columns = ("title", "category", "day", "start_time", "minutes", "capacity",
                    "volunteers_needed", "place", "point_id", "lead_days", "active", "description")
    form_overrides = {"point_id": SelectField, "description": TextAreaField}
    form_args = {
        "title": {"label": "活动名称（如：爱心义剪）"},
        "category": {"label": "类别（不填则同活动名称）", "validators": [Optional()]},
        "day": {"label": "每月几号（1–31，小月没有这一天时用月末）"},
        "start_time": {"label": "开始时间（如 9:00）"},
        "minutes": {"label": "时长（分钟，如 180）"},
        "capacity": {"label": "名额（不填则按系统设置，爱心义剪默认 20）"},
        "lead_days": {"label": "提前几天生成当月活动（1–60，默认 31：下一次总能报名）"},
        "point_id": {"coerce": _optional_int, "choices": [("", "（不关联服务点）")],
                     "validators": [Optional()], "label": "服务点（可选）"},
    }
    form_widget_args = {"start_time": {"type": "time"}, "point_id": {"required": False},
                        "capacity": {"required": False}, "category": {"required": False}}
    column_default_sort = ("day", False)
    can_view_details = False

    def _choices(self, form):
        if hasattr(form, "point_id"):
            form.point_id.choices = point_choices(self.session)
        return form

    def create_form(self, obj=None):
        return self._choices(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._choices(super().edit_form(obj))

    def on_model_change(self, form, model, is_created):
        model.start_time = rec.check_recurring(
            title=model.title or "", day=model.day, start_time=model.start_time or "",
            minutes=model.minutes or 0, capacity=model.capacity, lead_days=model.lead_days or 0)
        model.title = model.title.strip()
        model.category = (model.category or "").strip() or model.title
        model.place = (model.place or "").strip()
        model.description = model.description or ""
        model.volunteers_needed = model.volunteers_needed or 0
        if model.created_at is None:
            from models.base import utcnow

            model.created_at = utcnow()
        super().on_model_change(form, model, is_created)

    @expose("/<int:rid>/make", methods=("POST",))
    def make(self, rid: int):
        """Make the next month's activity of recurring ``rid`` now (idempotent) and open its
        报名名单."""
        svc = current_app.extensions["taoyuan"]
        try:
            month = rec.next_month_for(self.session, rid, tz=svc.tz)
            result = rec.create_month(self.session, rid, month, tz=svc.tz,
                                      default_seats=rec.default_seats(svc.config))
            act = result.activity
            if result.created:
                audit.record(self.session, current_user.username, "create", "activities", act.id,
                             f"由每月固定活动「{result.recurring.title}」生成 {month} 的活动 {act.number}",
                             ip=client_ip())
            self.session.commit()
        except ValueError as exc:  # RecurringError, add_activity's checks
            self.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for(".index_view"))
        when = act.starts_at.astimezone(svc.tz).strftime("%m月%d日 %H:%M")
        verb = "已生成" if result.created else "这个月的活动已经有了"
        flash(f"{verb}：活动 {act.number}「{act.title}」，{when}，名额 {act.capacity or '不限'}。"
              f"关注者回复「报名 {act.number}」即可报名。", "success")
        return redirect(url_for("signups.index_view", **{F_ACTIVITY: act.id}))


#: Audit-log tables of this feature part, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"recurring_activities": "每月固定活动"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add 每月固定活动
    under 活动 on the scoped ``session``."""
    admin.add_view(RecurringActivityView(rec.RecurringActivity, session, name="每月固定活动",
                                         category="活动", endpoint="recurring"))
