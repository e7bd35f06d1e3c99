"""Console pages for activities: activities (times in local time, XLSX export) and signups
(waiting list, attendance)."""
from __future__ import annotations

from flask import Response, current_app, flash, redirect, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import DateTimeField, SelectField, TextAreaField
from wtforms.validators import Optional

from bot.console.auth import client_ip
from bot.console.base import (XLSX, AuditedModelView, LocalTimesMixin, _tz, _xlsx,
                              local_time, masked)
from handlers.activities import tell_promoted_after_commit
from models import activities as acts
from models import audit
from models import directory as sp
from models.activities import DEFAULT_DURATION, Activity, ActivityCancelled, Signup, set_capacity


#: Signup list filter arguments (Flask-Admin numbers filter operations in order): the
#: activity id filter has 7 operations (0 = equals), then status (7) and role (8), see
#: :func:`register`.
F_ACTIVITY, F_STATUS = "flt0_0", "flt1_7"


def _signup_link(_v, _c, model, _n):
    links = [("报名名单", url_for("signups.index_view", **{F_ACTIVITY: model.id})),
             ("候补", url_for("signups.index_view", **{F_ACTIVITY: model.id, F_STATUS: "waiting"})),
             ("已签到", url_for("signups.index_view", **{F_ACTIVITY: model.id, F_STATUS: "attended"})),
             ("导出", url_for("activities.export", aid=model.id))]
    return Markup(" · ".join(f'<a href="{escape(u)}">{escape(t)}</a>' for t, u in links))


#: Activity status -> Chinese label (the activity model's own labels when it has them).
ACTIVITY_STATUS_FALLBACK = {"open": "报名中", "full": "已满（可候补）", "closed": "已截止",
                            "cancelled": "已取消"}


def activity_status_labels() -> dict[str, str]:
    """``{status: Chinese label}`` for activities."""
    return dict(acts.STATUS_LABELS or ACTIVITY_STATUS_FALLBACK)


def _optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


def point_choices(session) -> list[tuple[str, str]]:
    """Select options for an activity's 服务点: ``("", 不关联)`` then every point as
    「name（town）」, by town and name; values are the point ids as text."""
    out = [("", "（不关联服务点）")]
    rows = session.execute(select(sp.ServicePoint.id, sp.ServicePoint.name, sp.ServicePoint.town)
                           .order_by(sp.ServicePoint.town, sp.ServicePoint.name))
    return out + [(str(pid), f"{name}（{town}）" if town else name) for pid, name, town in rows]


class ActivityView(LocalTimesMixin, AuditedModelView):
    """活动: create and edit (times in local time), links to the signup list and export.

    The 服务点 is chosen from a list by name; 状态 from a list with Chinese labels; raising
    名额 or 志愿者人数 goes through ``models.activities.set_capacity`` so the waiting list moves up
    (those promoted are told after the commit)."""

    local_time_fields = ("starts_at", "ends_at", "deadline")
    column_list = ("number", "title", "category", "starts_at", "place", "capacity", "status", "links")
    column_default_sort = ("starts_at", True)
    column_searchable_list = ("title", "place")
    column_filters = ("category", "status")
    column_labels = {"number": "编号", "title": "活动名称", "category": "类别", "point_id": "服务点",
                     "place": "地点", "starts_at": "开始时间", "ends_at": "结束时间",
                     "capacity": "名额（空=不限）", "deadline": "报名截止（空=开始前）",
                     "volunteers_needed": "需要志愿者人数", "status": "状态", "description": "说明",
                     "created_at": "创建时间", "links": "报名"}
    column_formatters = {"starts_at": local_time, "links": _signup_link,
                         "status": lambda v, c, m, n: activity_status_labels().get(m.status, m.status)}
    column_formatters_detail = {"starts_at": local_time, "ends_at": local_time,
                                "deadline": local_time, "created_at": local_time,
                                "status": lambda v, c, m, n: activity_status_labels().get(m.status, m.status)}
    form_columns = ("title", "category", "place", "point_id", "starts_at", "ends_at", "deadline",
                    "capacity", "volunteers_needed", "status", "description")
    form_overrides = {"starts_at": DateTimeField, "ends_at": DateTimeField, "deadline": DateTimeField,
                      "description": TextAreaField, "point_id": SelectField, "status": SelectField}
    form_args = {"starts_at": {"format": "%Y-%m-%d %H:%M", "label": "开始时间（如 2026-12-17 09:00）"},
                 "ends_at": {"format": "%Y-%m-%d %H:%M", "validators": [Optional()],
                             "label": "结束时间（空=开始后 2 小时）"},
                 "deadline": {"format": "%Y-%m-%d %H:%M", "validators": [Optional()],
                              "label": "报名截止（空=开始前）"},
                 "point_id": {"coerce": _optional_int, "choices": [("", "（不关联服务点）")],
                              "validators": [Optional()], "label": "服务点（可选）"},
                 "status": {"choices": list(ACTIVITY_STATUS_FALLBACK.items()), "label": "状态"}}
    form_widget_args = {"starts_at": {"placeholder": "2026-12-17 09:00"},
                        "ends_at": {"required": False, "placeholder": "2026-12-17 11:00"},
                        "deadline": {"required": False}, "point_id": {"required": False}}

    def _choices(self, form):
        if hasattr(form, "point_id"):
            form.point_id.choices = point_choices(self.session)
        if hasattr(form, "status"):
            form.status.choices = list(activity_status_labels().items())
        return form

    def create_form(self, obj=None):
        return self._choices(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._choices(super().edit_form(obj))

    def create_model(self, form):
        try:
            tz = _tz()
            loc = lambda v: v.replace(tzinfo=tz) if v is not None else None  # noqa: E731
            act = acts.add_activity(self.session, title=form.title.data or "",
                                    category=form.category.data or "",
                                    starts_at=loc(form.starts_at.data),
                                    ends_at=loc(form.ends_at.data), deadline=loc(form.deadline.data),
                                    capacity=form.capacity.data, place=form.place.data or "",
                                    point_id=form.point_id.data or None,
                                    volunteers_needed=form.volunteers_needed.data or 0,
                                    description=form.description.data or "")
            status = getattr(form, "status", None)
            if status is not None and status.data and status.data != act.status:
                act.status = status.data
            AuditedModelView.on_model_change(self, form, act, True)
            self.session.commit()
        except Exception as exc:  # noqa: BLE001 - model and database errors become form errors
            return self.refuse(exc)
        return act

    def on_model_change(self, form, model, is_created):
        self._localise(model)
        if model.ends_at is None and model.starts_at is not None:  # 「空=开始后 2 小时」
            model.ends_at = model.starts_at + DEFAULT_DURATION
        if model.ends_at and model.starts_at and model.ends_at <= model.starts_at:
            raise ValueError("结束时间必须晚于开始时间")
        if not is_created:
            self._apply_seats(model)
        super().on_model_change(form, model, is_created)

    def _apply_seats(self, model) -> None:
        """A changed 名额/志愿者人数 goes through ``models.activities.set_capacity``: the waiting
        list moves up and those promoted are told after the commit."""
        from sqlalchemy import inspect as sa_inspect

        state = sa_inspect(model)
        changes = {name: getattr(model, name) for name in ("capacity", "volunteers_needed")
                   if state.attrs[name].history.has_changes()}
        if not changes:
            return
        if "volunteers_needed" in changes and changes["volunteers_needed"] is None:
            changes["volunteers_needed"] = 0
        try:
            activity, promoted = set_capacity(self.session, model, **changes)
            tell_promoted_after_commit(current_app.extensions["taoyuan"], self.session, activity,
                                       promoted)
        except ActivityCancelled:
            raise ValueError("这个活动已取消，不能再修改名额") from None
        if promoted:
            flash(f"名额已更新：{len(promoted)} 位候补转为已报名，保存后会通知她们。", "success")

    @expose("/<int:aid>/export.xlsx")
    def export(self, aid: int):
        act = self.session.get(Activity, aid)
        if act is None:
            flash("没有这个活动。", "error")
            return redirect(url_for(".index_view"))
        tz = _tz()
        rows = self.session.scalars(select(Signup).where(Signup.activity_id == aid)
                                    .order_by(Signup.role, Signup.status, Signup.created_at))
        status = {"confirmed": "已报名", "waiting": "候补", "cancelled": "已取消", "attended": "已签到"}
        role = {"participant": "参加", "volunteer": "志愿者"}
        data = [[role.get(r.role, r.role), status.get(r.status, r.status), r.name or "",
                 r.phone or "", r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                 r.attended_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if r.attended_at else "",
                 r.hours or ""] for r in rows]
        audit.record(self.session, current_user.username, "export", "signups", aid,
                     f"导出活动 {act.number} 报名名单 {len(data)} 条", ip=client_ip())
        self.session.commit()
        body = _xlsx(["身份", "状态", "姓名", "电话", "报名时间", "签到时间", "志愿时长"], data,
                     f"活动{act.number}")
        return Response(body, mimetype=XLSX, headers={
            "Content-Disposition": f'attachment; filename="activity-{act.number}-signups.xlsx"'})


def _cancel_button(_v, _c, model, _n):
    """「取消报名」 for a confirmed or waiting signup: a POST (CSRF) to ``SignupView.cancel``."""
    if model.status not in (acts.CONFIRMED, acts.WAITING):
        return ""
    from flask_wtf.csrf import generate_csrf

    action = escape(url_for("signups.cancel", sid=model.id))
    return Markup(f'<form method="post" action="{action}" class="signup-cancel" '
                  f'onsubmit="return confirm(\'确定取消这条报名吗？候补的人会依次递补并收到通知。\')">'
                  f'<input type="hidden" name="csrf_token" value="{escape(generate_csrf())}">'
                  f'<button class="btn btn-sm btn-outline-danger" type="submit">取消报名</button></form>')


class SignupView(AuditedModelView):
    """报名名单: masked phones; filter by activity, status (候补 = waiting list), role.

    No generic delete and no status edit: 「取消报名」 goes through
    ``models.activities.cancel_signup`` like the webhook and the CLI (the first on the waiting
    list takes the seat, she is told after the commit, the activity's 已满 is recomputed).
    Only the volunteer hours are edited here."""

    can_create = False
    can_delete = False
    column_list = ("activity", "role", "status", "name", "phone", "created_at", "attended_at", "hours",
                   "cancel")
    column_default_sort = ("created_at", False)
    column_labels = {"activity": "活动", "activity_id": "活动编号(id)", "role": "身份", "status": "状态",
                     "name": "姓名", "phone": "电话", "created_at": "报名时间",
                     "attended_at": "签到时间", "hours": "志愿时长", "cancel": "操作"}
    column_formatters = {"phone": masked, "created_at": local_time, "attended_at": local_time,
                         "activity": lambda v, c, m, n: _activity_label(m),
                         "status": lambda v, c, m, n: {"confirmed": "已报名", "waiting": "候补",
                                                       "cancelled": "已取消", "attended": "已签到"}.get(m.status, m.status),
                         "role": lambda v, c, m, n: {"participant": "参加", "volunteer": "志愿者"}.get(m.role, m.role),
                         "cancel": _cancel_button}
    form_columns = ("hours",)
    can_view_details = False

    @expose("/<int:sid>/cancel", methods=("POST",))
    def cancel(self, sid: int):
        """Cancel signup ``sid`` as she would with 「取消报名」: ``cancel_signup`` promotes the
        first waiting signup; the promoted woman is told after the commit (客服消息 or a notice)."""
        services = current_app.extensions["taoyuan"]
        back = url_for(".index_view")
        try:
            with services.db.write_session() as s:
                signup = s.get(Signup, sid)
                if signup is None or signup.status not in (acts.CONFIRMED, acts.WAITING):
                    flash("这条报名已经取消或不存在，请刷新名单。", "error")
                    return redirect(back)
                activity = s.get(Activity, signup.activity_id)
                back = url_for(".index_view", **{F_ACTIVITY: activity.id})
                result = acts.cancel_signup(s, activity.number, signup.openid, role=signup.role)
                tell_promoted_after_commit(services, s, result.activity, result.promoted)
                moved = len(result.promoted)
                audit.record(s, current_user.username, "cancel", "signups", str(sid),
                             f"取消报名 {signup.ref}（活动 {activity.number}），候补递补 {moved} 人",
                             ip=client_ip())
        except acts.SignupClosed:
            flash("活动已经开始，不能再取消报名。", "error")
            return redirect(back)
        except acts.ActivityError:
            flash("这条报名已经取消或不存在，请刷新名单。", "error")
            return redirect(back)
        flash("已取消报名。" + (f"候补的 {moved} 位已递补为已报名，会收到通知。" if moved else ""),
              "success")
        return redirect(back)


def _activity_label(signup) -> str:
    act = signup.__dict__.get("_console_activity")
    if act is None:
        from sqlalchemy.orm import object_session

        s = object_session(signup)
        act = s.get(Activity, signup.activity_id) if s else None
    return f"{act.number} {act.title}" if act else str(signup.activity_id)


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"activities": "活动", "signups": "报名"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    from flask_admin.contrib.sqla.filters import FilterEqual

    admin.add_view(ActivityView(acts.Activity, session, name="活动", category="活动",
                                endpoint="activities"))
    SignupView.column_filters = (
        "activity_id",
        FilterEqual(acts.Signup.status, "状态", options=[
            ("confirmed", "已报名"), ("waiting", "候补"), ("attended", "已签到"),
            ("cancelled", "已取消")]),
        FilterEqual(acts.Signup.role, "身份", options=[("participant", "参加"),
                                                    ("volunteer", "志愿者")]))
    admin.add_view(SignupView(acts.Signup, session, name="报名名单", category="活动",
                              endpoint="signups"))
