"""Console pages for other features' tables, added only when their model module exists:
service points (import/export spreadsheet), activities (signups, waiting list, attendance,
XLSX export), volunteers, reminders and their delivery log, help requests."""
from __future__ import annotations

import logging
import tempfile
from importlib import import_module
from io import BytesIO
from pathlib import Path

from flask import Response, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import DateTimeField, FloatField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Optional

from bot.console.auth import client_ip
from bot.console.base import AuditedModelView, ReadOnlyModelView, form_error_message
from bot.console.views import local_time, masked, short_openid
from models import audit
from models.audit import mask_phone

log = logging.getLogger(__name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _module(name: str):
    try:
        return import_module(name)
    except ImportError:
        return None


def _tz():
    return current_app.extensions["taoyuan"].tz


class LocalTimesMixin:
    """Forms show and take local time (Asia/Shanghai); the database keeps aware UTC."""

    local_time_fields: tuple[str, ...] = ()

    def on_form_prefill(self, form, id):
        for name in self.local_time_fields:
            field = getattr(form, name, None)
            if field is not None and field.data is not None and field.data.tzinfo is not None:
                field.data = field.data.astimezone(_tz()).replace(tzinfo=None)

    def _localise(self, model):
        for name in self.local_time_fields:
            value = getattr(model, name, None)
            if value is not None and value.tzinfo is None:
                setattr(model, name, value.replace(tzinfo=_tz()))


def _xlsx(header: list[str], rows: list[list], title: str) -> bytes:
    """An XLSX workbook of one sheet; text cells through ``models.spreadsheet.safe_cell``."""
    from openpyxl import Workbook

    from models.spreadsheet import safe_row

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(safe_row(header))
    for row in rows:
        ws.append(safe_row(row))
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- service points --------------------------------------------------------------------------
class PointView(AuditedModelView):
    """近邻娘家服务点: list, search, edit, import/export spreadsheet (XLSX/CSV)."""

    list_template = "console/points_list.html"
    column_list = ("name", "town", "kind", "platform", "address", "phone", "approximate", "active")
    column_searchable_list = ("name", "address", "services", "village")
    column_filters = ("town", "platform", "active", "approximate")
    column_labels = {"name": "名称", "town": "乡镇", "kind": "类型", "platform": "平台",
                     "village": "村社区", "address": "地址", "lat": "纬度（GCJ-02）",
                     "lng": "经度（GCJ-02）", "approximate": "大致位置", "phone": "电话",
                     "hours": "开放时间", "services": "服务", "description": "简介",
                     "active": "启用", "updated_at": "更新时间"}
    column_formatters = {"phone": masked}
    form_columns = ("name", "town", "kind", "platform", "village", "address", "lat", "lng",
                    "approximate", "phone", "hours", "services", "description", "active")
    # Flask-Admin has no converter for Float columns (it left 纬度/经度 out of the form).
    form_args = {"town": {"validators": [Optional()], "label": "乡镇（不知道可留空）"},
                 "lat": {"label": "纬度（GCJ-02，如 25.3215）",
                         "validators": [InputRequired("请填写纬度（GCJ-02，如 25.3215）")]},
                 "lng": {"label": "经度（GCJ-02，如 118.2946）",
                         "validators": [InputRequired("请填写经度（GCJ-02，如 118.2946）")]}}
    form_widget_args = {"town": {"required": False, "placeholder": "如 桃城镇；不知道可留空"},
                        "lat": {"placeholder": "25.3215"}, "lng": {"placeholder": "118.2946"}}
    form_overrides = {"description": TextAreaField, "lat": FloatField, "lng": FloatField}

    def validate_form(self, form):
        """WTForms checks, then the directory's own rules for a point's fields
        (``models.point_io.point_field_errors``: Chinese messages shown next to each field)."""
        from models.point_io import clean_point_fields, point_field_errors

        ok = super().validate_form(form)
        if not ok or not hasattr(form, "lat"):
            return ok
        values = {f.name: f.data for f in form if f.name != "csrf_token"}
        editing = request.args.get("id", type=int)
        errors = point_field_errors(values, session=self.session, point_id=editing)
        for name, message in errors.items():
            field = getattr(form, name, None)
            if field is None:
                flash(message, "error")
            else:
                field.errors = list(field.errors) + [message]
        if errors:
            return False
        for name, value in clean_point_fields(values).items():  # 桃城 → 桃城镇, tags joined by 、
            field = getattr(form, name, None)
            if field is not None and name in ("town", "platform", "services"):
                field.data = value
        return True

    def on_model_change(self, form, model, is_created):
        for name in ("town", "kind", "platform", "village", "address", "phone", "hours", "services",
                     "description"):
            if getattr(model, name, "") is None:
                setattr(model, name, "")  # text columns are NOT NULL: empty is ""
        super().on_model_change(form, model, is_created)

    @expose("/export.xlsx")
    def export(self):
        from models.point_io import write_table
        from models.service_point import export_records

        records = export_records(self.session)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "points.xlsx"
            write_table(path, records)
            data = path.read_bytes()
        return Response(data, mimetype=XLSX,
                        headers={"Content-Disposition": 'attachment; filename="service-points.xlsx"'})

    @expose("/import", methods=("POST",))
    def import_file(self):
        from models.point_io import PointFileError
        from models.service_point import import_file

        upload = request.files.get("file")
        suffix = Path(upload.filename or "").suffix.lower() if upload else ""
        if not upload or suffix not in (".xlsx", ".csv"):
            flash("请选择 .xlsx 或 .csv 文件。", "error")
            return redirect(url_for(".index_view"))
        name = Path((upload.filename or "").replace("\\", "/")).name[:100]  # as on her computer
        dry = request.form.get("dry_run") == "1"
        svc = current_app.extensions["taoyuan"]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            upload.save(path)
            try:
                with svc.db.write_session() as s:
                    result = import_file(s, path, dry_run=dry)
                    if not dry:
                        audit.record(s, current_user.username, "import", "service_points", "",
                                     f"导入服务点「{name}」: {result}", ip=client_ip())
            except PointFileError as exc:  # never show the server's temporary path
                reason = str(exc).replace(str(path), name).replace(tmp, "")
                flash(f"文件「{name}」无法读取：{reason}", "error")
                return redirect(url_for(".index_view"))
            except Exception as exc:  # ImportRejected lists every bad row
                errors = getattr(exc, "errors", None)
                if errors is None:
                    raise
                for err in list(errors)[:20]:
                    flash(str(err), "error")
                flash(f"导入未执行：共 {len(errors)} 处错误，请改正后重新上传。", "error")
                return redirect(url_for(".index_view"))
        flash(("检查通过（未导入）：" if dry else "导入完成：") + str(result), "success")
        return redirect(url_for(".index_view"))


# -- activities ------------------------------------------------------------------------------
#: Signup list filter arguments (Flask-Admin numbers filter operations in order): the
#: activity id filter has 7 operations (0 = equals), then status (7) and role (8), see
#: :func:`add_feature_views`.
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
    act = _module("models.activity")
    labels = getattr(act, "STATUS_LABELS", None) if act is not None else None
    return dict(labels or ACTIVITY_STATUS_FALLBACK)


def _optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


def point_choices(session) -> list[tuple[str, str]]:
    """Select options for an activity's 服务点: ``("", 不关联)`` then every point as
    「name（town）」, by town and name; values are the point ids as text."""
    sp = _module("models.service_point")
    out = [("", "（不关联服务点）")]
    if sp is None:
        return out
    rows = session.execute(select(sp.ServicePoint.id, sp.ServicePoint.name, sp.ServicePoint.town)
                           .order_by(sp.ServicePoint.town, sp.ServicePoint.name))
    return out + [(str(pid), f"{name}（{town}）" if town else name) for pid, name, town in rows]


class ActivityView(LocalTimesMixin, AuditedModelView):
    """活动: create and edit (times in local time), links to the signup list and export.

    The 服务点 is chosen from a list by name; 状态 from a list with Chinese labels; raising
    名额 or 志愿者人数 goes through ``models.activity.set_capacity`` so the waiting list moves up
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
        from models.activity import add_activity

        try:
            tz = _tz()
            loc = lambda v: v.replace(tzinfo=tz) if v is not None else None  # noqa: E731
            act = add_activity(self.session, title=form.title.data or "",
                               category=form.category.data or "", starts_at=loc(form.starts_at.data),
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
            from models.activity import DEFAULT_DURATION

            model.ends_at = model.starts_at + DEFAULT_DURATION
        if model.ends_at and model.starts_at and model.ends_at <= model.starts_at:
            raise ValueError("结束时间必须晚于开始时间")
        if not is_created:
            self._apply_seats(model)
        super().on_model_change(form, model, is_created)

    def _apply_seats(self, model) -> None:
        """A changed 名额/志愿者人数 goes through ``models.activity.set_capacity``: the waiting
        list moves up and those promoted are told after the commit."""
        from sqlalchemy import inspect as sa_inspect

        from handlers.activities import tell_promoted_after_commit
        from models.activity import ActivityCancelled, set_capacity

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
        from models.activity import Activity, Signup

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


class SignupView(AuditedModelView):
    """报名名单: masked phones; filter by activity, status (候补 = waiting list), role."""

    can_create = False
    column_list = ("activity", "role", "status", "name", "phone", "created_at", "attended_at", "hours")
    column_default_sort = ("created_at", False)
    column_labels = {"activity": "活动", "activity_id": "活动编号(id)", "role": "身份", "status": "状态",
                     "name": "姓名", "phone": "电话", "created_at": "报名时间",
                     "attended_at": "签到时间", "hours": "志愿时长"}
    column_formatters = {"phone": masked, "created_at": local_time, "attended_at": local_time,
                         "activity": lambda v, c, m, n: _activity_label(m),
                         "status": lambda v, c, m, n: {"confirmed": "已报名", "waiting": "候补",
                                                       "cancelled": "已取消", "attended": "已签到"}.get(m.status, m.status),
                         "role": lambda v, c, m, n: {"participant": "参加", "volunteer": "志愿者"}.get(m.role, m.role)}
    form_columns = ("status", "hours")
    can_view_details = False


def _activity_label(signup) -> str:
    from models.activity import Activity

    act = signup.__dict__.get("_console_activity")
    if act is None:
        from sqlalchemy.orm import object_session

        s = object_session(signup)
        act = s.get(Activity, signup.activity_id) if s else None
    return f"{act.number} {act.title}" if act else str(signup.activity_id)


class VolunteerView(AuditedModelView):
    """志愿者: masked phones; hours are on the signups (签到时记入)."""

    can_create = False
    column_list = ("name", "phone", "town", "skills", "hours", "created_at")
    column_searchable_list = ("name", "skills")
    column_filters = ("town",)
    column_labels = {"name": "姓名", "phone": "电话", "town": "乡镇", "skills": "特长",
                     "available": "可服务时间", "created_at": "登记时间", "updated_at": "更新时间",
                     "hours": "累计服务时长（小时）"}
    column_formatters = {"phone": masked, "created_at": local_time,
                         "hours": lambda v, c, m, n: _volunteer_hours(v.session, m.openid)}
    form_excluded_columns = ("openid", "created_at", "updated_at")
    column_details_exclude_list = ("openid",)


def _volunteer_hours(session, openid: str) -> str:
    from sqlalchemy import func

    from models.activity import Signup

    total = session.scalar(select(func.coalesce(func.sum(Signup.hours), 0)).where(
        Signup.openid == openid, Signup.role == "volunteer", Signup.attended_at.is_not(None)))
    return f"{float(total or 0):g}"


#: Reminder kinds in Chinese.
REMINDER_KINDS = {"scheduled": "定时群发提醒", "activity": "活动前一天提醒", "notice": "待发通知"}


def audience_label(audience: str | None) -> str:
    """「topic:haircut」 -> 「订阅「义剪」的关注者」; other values as stored."""
    value = audience or ""
    if value.startswith("topic:"):
        rem = _module("models.reminder")
        topics = getattr(rem, "TOPICS", {}) if rem is not None else {}
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

    from models.base import utcnow
    from models.reminder import KIND_SCHEDULED, Reminder

    row = session.get(Reminder, rid)
    if row is None:
        return {"error": "没有这条提醒"}
    info = {"name": row.name, "title": row.title}
    try:
        from scheduler.jobs import audience_openids, build_message, scheduled_values, spec_for
        from scheduler.timing import next_fire

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
        from scheduler.jobs import describe_next

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


def _help_labels(name: str) -> dict[str, str]:
    hr = _module("models.help_request")
    return dict(getattr(hr, name, None) or {}) if hr is not None else {}


def _label_formatter(labels_name: str, attr: str):
    return lambda v, c, m, n: _help_labels(labels_name).get(getattr(m, attr), getattr(m, attr))


def _yes_no(_v, _c, model, name) -> str:
    return "是" if getattr(model, name) else "否"


#: Help answer errors -> the sentence shown to staff.
HELP_ERRORS = {"EmptyMessage": "请填写答复内容。", "RequestNotFound": "没有这条求助。",
               "RequestAnonymised": "这条求助已按保存期限匿名化，不能再答复。"}


class HelpRequestView(AuditedModelView):
    """求助留言: masked list; the answer page shows her message and contact details above the
    answer box; the answer is delivered by the help feature. 答复人 is the staff member's
    display name (her username when she has none), as shown in the console's top bar."""

    can_create = False
    can_delete = False
    edit_template = "console/help_edit.html"
    column_list = ("id", "created_at", "urgent", "category", "status", "body", "answered_by")
    column_default_sort = ("id", True)
    column_filters = ("status", "urgent", "category")
    column_labels = {"id": "编号", "created_at": "提交时间", "urgent": "紧急", "category": "类别",
                     "status": "状态", "body": "内容", "answer": "答复", "answered_by": "答复人",
                     "phone": "电话", "distress": "危险信号（求救）", "submitted": "已提交",
                     "updated_at": "更新时间", "contact": "联系方式", "media": "图片/语音",
                     "staff_notified_at": "通知工作人员时间", "answered_at": "答复时间",
                     "answer_delivery": "答复送达方式", "answer_seen_at": "她查看答复时间",
                     "closed_at": "关闭时间", "anonymised_at": "匿名化时间"}
    column_formatters = {"created_at": local_time,
                         "category": _label_formatter("CATEGORY_LABELS", "category"),
                         "status": _label_formatter("STATUS_LABELS", "status"),
                         "body": lambda v, c, m, n: mask_phone(m.body or "")[:40] + ("…" if len(m.body or "") > 40 else ""),
                         "phone": masked}
    column_formatters_detail = {
        name: local_time for name in ("created_at", "updated_at", "staff_notified_at",
                                      "answered_at", "answer_seen_at", "closed_at", "anonymised_at")}
    column_formatters_detail.update({
        "category": _label_formatter("CATEGORY_LABELS", "category"),
        "status": _label_formatter("STATUS_LABELS", "status"),
        "contact": _label_formatter("CONTACT_LABELS", "contact"),
        "urgent": _yes_no, "distress": _yes_no, "submitted": _yes_no,
        "answer_delivery": _label_formatter("DELIVERY_LABELS", "answer_delivery"),
        "body": lambda v, c, m, n: mask_phone(m.body or ""), "phone": masked})
    form_columns = ("answer",)
    form_overrides = {"answer": TextAreaField}
    # Required: a POST without ``answer`` kept the old answer in the form and sent it again.
    form_args = {"answer": {"label": "答复（保存后发给她）",
                            "validators": [InputRequired("请填写答复内容。")]}}
    column_details_exclude_list = ("openid", "media")

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if template == self.edit_template and model is not None:
            kwargs["her"] = help_summary(model)
        return super().render(template, **kwargs)

    def update_model(self, form, model):
        from handlers.help_messages import deliver_after_commit
        from models.help_request import record_answer

        try:
            from models.staff import answerer_name

            record_answer(self.session, model.id, form.answer.data or "",
                          staff=answerer_name(self.session, current_user.username))
            deliver_after_commit(current_app.extensions["taoyuan"], self.session, model.id)
            audit.record(self.session, current_user.username, "answer", "help_requests", model.id,
                         "答复求助", ip=client_ip())
            self.session.commit()
        except Exception as exc:  # noqa: BLE001 - named help errors are shown to staff
            self.session.rollback()
            message = HELP_ERRORS.get(type(exc).__name__) or form_error_message(exc)
            flash(f"答复未保存：{message}" if message else "答复未保存，请检查后重试。", "error")
            return False
        return True


def help_summary(row) -> list[tuple[str, str]]:
    """(Chinese label, text) rows shown read-only above the answer box: her message, category,
    urgency, how she wants to be contacted and her phone (in full: staff call her back)."""
    tz = _tz()
    when = lambda v: v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if v else ""  # noqa: E731
    contact = _help_labels("CONTACT_LABELS").get(row.contact, row.contact or "")
    out = [("编号", str(row.id)), ("提交时间", when(row.created_at)),
           ("类别", _help_labels("CATEGORY_LABELS").get(row.category, row.category)),
           ("状态", _help_labels("STATUS_LABELS").get(row.status, row.status))]
    if row.urgent or row.distress:
        out.append(("紧急", "是（含危险信号，请尽快处理）" if row.distress else "是"))
    out += [("她的留言", row.body or "（无文字）"), ("联系方式", contact)]
    if row.phone:
        out.append(("电话", row.phone))
    if row.answer:
        out.append(("上次答复", f"{row.answer}（{row.answered_by or ''} {when(row.answered_at)}）"))
    return out


def add_feature_views(admin, session) -> None:
    """Add the pages of every installed feature."""
    sp = _module("models.service_point")
    if sp is not None:
        admin.add_view(PointView(sp.ServicePoint, session, name="服务点", category="近邻娘家",
                                 endpoint="points"))
    act = _module("models.activity")
    if act is not None:
        admin.add_view(ActivityView(act.Activity, session, name="活动", category="活动",
                                    endpoint="activities"))
        from flask_admin.contrib.sqla.filters import FilterEqual

        SignupView.column_filters = (
            "activity_id",
            FilterEqual(act.Signup.status, "状态", options=[
                ("confirmed", "已报名"), ("waiting", "候补"), ("attended", "已签到"),
                ("cancelled", "已取消")]),
            FilterEqual(act.Signup.role, "身份", options=[("participant", "参加"),
                                                        ("volunteer", "志愿者")]))
        admin.add_view(SignupView(act.Signup, session, name="报名名单", category="活动",
                                  endpoint="signups"))
    vol = _module("models.volunteer")
    if vol is not None:
        admin.add_view(VolunteerView(vol.Volunteer, session, name="志愿者", category="活动",
                                     endpoint="volunteers"))
    rem = _module("models.reminder")
    if rem is not None:
        admin.add_view(ReminderView(rem.Reminder, session, name="定时提醒", category="提醒",
                                    endpoint="reminders"))
        admin.add_view(DeliveryLogView(rem.DeliveryLog, session, name="推送记录", category="提醒",
                                       endpoint="deliveries"))
    hr = _module("models.help_request")
    if hr is not None:
        admin.add_view(HelpRequestView(hr.HelpRequest, session, name="求助留言", category="求助",
                                       endpoint="help"))
