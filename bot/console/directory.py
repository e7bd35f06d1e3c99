"""Console page for the directory's service points (近邻娘家服务点): edit, import/export spreadsheet."""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Response, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from wtforms import FloatField, TextAreaField
from wtforms.validators import InputRequired, Optional

from bot.console.auth import client_ip
from bot.console.base import XLSX, AuditedModelView, masked
from models import audit
from models import directory as points
from models.directory import ServicePoint, export_records
from models.directory_io import PointFileError, clean_point_fields, point_field_errors, write_table


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
        (``models.directory_io.point_field_errors``: Chinese messages shown next to each field)."""
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
        records = export_records(self.session)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "points.xlsx"
            write_table(path, records)
            data = path.read_bytes()
        return Response(data, mimetype=XLSX,
                        headers={"Content-Disposition": 'attachment; filename="service-points.xlsx"'})

    @expose("/import", methods=("POST",))
    def import_file(self):
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
                    result = points.import_file(s, path, dry_run=dry)
                    if not dry:
                        audit.record(s, current_user.username, "import", "service_points", "",
                                     f"导入服务点「{name}」：{import_summary(result)}", ip=client_ip())
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
        flash(("检查通过（未导入）：" if dry else "导入完成：") + import_summary(result), "success")
        return redirect(url_for(".index_view"))


def import_summary(result) -> str:
    """An ``ImportResult`` as staff read it: 「新增 5 个，更新 1 个，没有变化 3 个」 (a check
    says 「将新增 …」)."""
    verb = "将" if result.dry_run else ""
    return (f"{verb}新增 {result.created} 个，{verb}更新 {result.updated} 个，"
            f"没有变化 {result.unchanged} 个服务点。")


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"service_points": "服务点"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(PointView(ServicePoint, session, name="服务点", category="近邻娘家",
                             endpoint="points"))
