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
from wtforms import DateTimeField, TextAreaField
from wtforms.validators import Optional

from bot.console.auth import client_ip
from bot.console.base import AuditedModelView, ReadOnlyModelView
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
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(header)
    for row in rows:
        ws.append(row)
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
    form_excluded_columns = ("updated_at",)

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
                                     f"导入服务点: {result}", ip=client_ip())
            except PointFileError as exc:
                flash(f"文件无法读取：{exc}", "error")
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


class ActivityView(LocalTimesMixin, AuditedModelView):
    """活动: create and edit (times in local time), links to the signup list and export."""

    local_time_fields = ("starts_at", "ends_at", "deadline")
    column_list = ("number", "title", "category", "starts_at", "place", "capacity", "status", "links")
    column_default_sort = ("starts_at", True)
    column_searchable_list = ("title", "place")
    column_filters = ("category", "status")
    column_labels = {"number": "编号", "title": "活动名称", "category": "类别", "point_id": "服务点编号",
                     "place": "地点", "starts_at": "开始时间", "ends_at": "结束时间",
                     "capacity": "名额（空=不限）", "deadline": "报名截止（空=开始前）",
                     "volunteers_needed": "需要志愿者人数", "status": "状态", "description": "说明",
                     "created_at": "创建时间", "links": "报名"}
    column_formatters = {"starts_at": local_time, "links": _signup_link}
    form_columns = ("title", "category", "place", "point_id", "starts_at", "ends_at", "deadline",
                    "capacity", "volunteers_needed", "status", "description")
    form_overrides = {"starts_at": DateTimeField, "ends_at": DateTimeField, "deadline": DateTimeField,
                      "description": TextAreaField}
    form_args = {"starts_at": {"format": "%Y-%m-%d %H:%M", "label": "开始时间（如 2026-12-17 09:00）"},
                 "ends_at": {"format": "%Y-%m-%d %H:%M", "validators": [Optional()],
                             "label": "结束时间（空=开始后 2 小时）"},
                 "deadline": {"format": "%Y-%m-%d %H:%M", "validators": [Optional()],
                              "label": "报名截止（空=开始前）"}}
    form_widget_args = {"starts_at": {"placeholder": "2026-12-17 09:00"},
                        "ends_at": {"required": False, "placeholder": "2026-12-17 11:00"},
                        "deadline": {"required": False}}

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
            AuditedModelView.on_model_change(self, form, act, True)
            self.session.commit()
        except (ValueError, TypeError) as exc:
            flash(str(exc), "error")
            self.session.rollback()
            return False
        return act

    def on_model_change(self, form, model, is_created):
        self._localise(model)
        if model.ends_at and model.starts_at and model.ends_at <= model.starts_at:
            raise ValueError("结束时间必须晚于开始时间")
        super().on_model_change(form, model, is_created)

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


class ReminderView(AuditedModelView):
    """定时提醒: edit; the next run is shown as a preview."""

    column_list = ("name", "title", "kind", "schedule", "audience", "enabled", "next_run", "preview")
    column_labels = {"name": "名称", "title": "标题", "kind": "类型", "schedule": "时间规则",
                     "audience": "对象", "enabled": "启用", "text": "文字", "url": "链接",
                     "template": "模板", "fields": "模板字段(JSON)", "place_name": "地点",
                     "event_offset_days": "提前天数", "weekend": "遇周末", "grace_seconds": "宽限秒数",
                     "next_run": "下次发送", "preview": "预览"}
    column_formatters = {"next_run": lambda v, c, m, n: _next_run(m),
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


class HelpRequestView(AuditedModelView):
    """求助留言: masked list; staff write the answer (delivered by the help feature)."""

    can_create = False
    can_delete = False
    column_list = ("id", "created_at", "urgent", "category", "status", "body", "answered_by")
    column_default_sort = ("id", True)
    column_filters = ("status", "urgent", "category")
    column_labels = {"id": "编号", "created_at": "时间", "urgent": "紧急", "category": "类别",
                     "status": "状态", "body": "内容", "answer": "答复", "answered_by": "答复人",
                     "phone": "电话"}
    column_formatters = {"created_at": local_time,
                         "body": lambda v, c, m, n: mask_phone(m.body or "")[:40] + ("…" if len(m.body or "") > 40 else ""),
                         "phone": masked}
    form_columns = ("answer",)
    form_overrides = {"answer": TextAreaField}
    column_details_exclude_list = ("openid", "media")

    def update_model(self, form, model):
        from models.help_request import deliver_after_commit, record_answer

        try:
            record_answer(self.session, model.id, form.answer.data or "", staff=current_user.username)
            deliver_after_commit(current_app.extensions["taoyuan"], self.session, model.id)
            audit.record(self.session, current_user.username, "answer", "help_requests", model.id,
                         "答复求助", ip=client_ip())
            self.session.commit()
        except Exception as exc:  # noqa: BLE001 - named help errors are shown to staff
            self.session.rollback()
            flash(f"答复未保存：{exc or type(exc).__name__}", "error")
            return False
        return True


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
