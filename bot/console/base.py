"""Building blocks of console pages: access control, CSRF-protected forms, audited edits, and the
column formatters and helpers the feature pages share."""
from __future__ import annotations

import logging
from io import BytesIO

from flask import current_app, flash, redirect, request
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.babel import Translations
from flask_admin.contrib.sqla import ModelView
from flask_admin.helpers import get_redirect_target
from flask_admin.form import BaseForm
from flask_admin.model import typefmt
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import Integer
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DataError, SQLAlchemyError

from bot.console.auth import client_ip, require_role
from models import audit
from models.audit import mask_phone
from models.base import is_http_url, utcnow
from models.spreadsheet import safe_row

log = logging.getLogger(__name__)
#: Largest value of an INTEGER id (PostgreSQL: 32-bit signed); see :meth:`AuditedModelView.id_fits`.
MAX_DB_ID = 2**31 - 1

#: Attributes never written to the audit log, even masked.
SECRET_FIELDS = {"password_hash"}
#: Flask-Admin messages its Chinese catalogue leaves untranslated (shown by master.html).
FLASH_ZH = {
    "Failed to create record.": "未能保存，请按表单中的红字提示修改后再保存。",
    "Failed to save record.": "未能保存，请按表单中的红字提示修改后再保存。",
    # the zh catalogue's own wording reads like a database; staff read 已保存
    "保存记录成功": "已保存。",
    "Record was successfully saved.": "已保存。",
    "创建记录成功。": "已新建。",
    "Record was successfully created.": "已新建。",
}
#: Audit-log and record actors that are no staff account, in words.
ACTOR_NAMES = {"cli": "命令行", "system": "系统", "scheduler": "定时任务", "": "系统"}


def staff_name(session, username: str | None) -> str:
    """Who did it, as staff read it: 命令行 for ``cli``, else the account's display name
    (``models.staff.answerer_name``), else the name as recorded."""
    from models.staff import answerer_name

    name = (username or "").strip()
    if name in ACTOR_NAMES:
        return ACTOR_NAMES[name]
    return answerer_name(session, name)


def yes_no(_view, value, *_args) -> str:
    """Type formatter of booleans: 是 / 否 (never an English tooltip such as "active: true")."""
    return "是" if value else "否"


def zh_flash(message: str) -> str:
    """Template filter: a flashed message in Chinese (known Flask-Admin English ones mapped)."""
    return FLASH_ZH.get(str(message), message)


def db_error_message(exc: Exception) -> str:
    """A Chinese sentence for a database error raised while saving a console form; never the
    raw SQL or its parameters (they may hold phone numbers)."""
    text = str(getattr(exc, "orig", exc)).lower()
    if "unique" in text or "duplicate" in text:
        return "保存失败：已有相同的记录（名称、编号或 key 重复），请换一个再保存。"
    if "foreign key" in text:
        return "保存失败：所选的关联记录不存在（可能已被删除），请重新选择。"
    if "not null" in text or "null value" in text:
        return "保存失败：有必填的内容没有填写，请补全后再保存。"
    if "too long" in text or "check constraint" in text or "out of range" in text:
        return "保存失败：有内容太长或格式不对，请检查后再保存。"
    return "保存失败：数据库暂时无法保存这次修改，请检查填写的内容后重试。"


def form_error_message(exc: Exception) -> str | None:
    """The Chinese sentence to flash for an exception raised while saving a console form, or
    None for WTForms validation errors (Flask-Admin shows those next to the field)."""
    if exc.__class__.__module__.startswith("wtforms"):
        return None
    if isinstance(exc, SQLAlchemyError):
        log.warning("console form refused by the database: %s", type(exc).__name__)
        return db_error_message(exc)
    if isinstance(exc, ValueError):
        return str(exc)
    log.error("console form failed: %s", type(exc).__name__)
    return "保存失败，请检查填写的内容后重试。如果一直失败，请联系技术人员。"


class SecureForm(BaseForm):
    """Flask-Admin's form base with Flask-WTF's CSRF token (``csrf_token`` field)."""

    class Meta(FlaskForm.Meta):
        _translations = Translations()

        def get_translations(self, form):
            return self._translations


class Secured:
    """Mixin: signed-in staff only; ``admin_only`` views answer 403 to 工作人员."""

    admin_only = False

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and (not self.admin_only or current_user.is_admin)

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name, **kwargs):
        return require_role(self.admin_only)


class SecureView(Secured, BaseView):
    """A custom console page."""


class IndexView(Secured, AdminIndexView):
    """The console home page (/admin/): a few figures and shortcuts."""

    @expose("/")
    def index(self):
        from bot.console.dashboard import dashboard_figures

        return self.render("console/index.html", figures=dashboard_figures())


def change_summary(model) -> str:
    """「field: old → new」 for each changed column of ``model`` (phones masked by audit)."""
    state = sa_inspect(model)
    parts = []
    for attr in state.mapper.column_attrs:
        if attr.key in SECRET_FIELDS:
            continue
        hist = state.attrs[attr.key].history
        if hist.has_changes():
            old = hist.deleted[0] if hist.deleted else ""
            new = hist.added[0] if hist.added else ""
            parts.append(f"{attr.key}: {str(old)[:60]} → {str(new)[:60]}")
    return "; ".join(parts)


class AuditedModelView(Secured, ModelView):
    """A model page whose every create/edit/delete is written to the audit log in the same
    transaction as the change. Model errors (``ValueError`` subclasses) are flashed in Chinese;
    database errors (IntegrityError ...) and anything unexpected become a Chinese form error,
    never a 500 or raw SQL text (:func:`form_error_message`)."""

    form_base_class = SecureForm
    column_type_formatters = {**typefmt.BASE_FORMATTERS, bool: yes_no}
    column_type_formatters_detail = {**typefmt.DETAIL_FORMATTERS, bool: yes_no}
    page_size = 50
    can_view_details = True
    can_export = False
    create_modal = False
    edit_modal = False

    def on_model_change(self, form, model, is_created):
        summary = change_summary(model)
        self.session.flush()
        audit.record(self.session, current_user.username, "create" if is_created else "update",
                     model.__tablename__, self._pk_of(model), summary, ip=client_ip())

    def on_model_delete(self, model):
        audit.record(self.session, current_user.username, "delete", model.__tablename__,
                     self._pk_of(model), str(model)[:200], ip=client_ip())

    def _pk_of(self, model) -> str:
        ident = sa_inspect(model).identity
        return ":".join(str(v) for v in ident) if ident else ""

    def id_fits(self, value) -> bool:
        """False when ``value`` (an ``?id=`` or a row of a bulk action) cannot be an id of this
        page's table: an integer key given a non-number or one beyond :data:`MAX_DB_ID`
        (PostgreSQL refused it with an error page, SQLite overflowed)."""
        keys = sa_inspect(self.model).primary_key
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            return True
        try:
            return 0 <= int(str(value)) <= MAX_DB_ID
        except ValueError:
            return False

    def get_one(self, id):  # noqa: A002 - Flask-Admin's name
        """The row for ``id``, or None (Flask-Admin: 「记录不存在」) when it cannot be an id."""
        return super().get_one(id) if self.id_fits(id) else None

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        """Flask-Admin's list query. A search, filter or page number the database cannot take
        (a number beyond its integers, a NUL character: PostgreSQL refuses both, SQLite
        overflows) shows an empty list and a Chinese message instead of an error page."""
        try:
            return super().get_list(page, sort_column, sort_desc, search, filters,
                                    execute=execute, page_size=page_size)
        except (DataError, OverflowError):
            self.session.rollback()
            flash("搜索或筛选的内容无效（数字太大或含有特殊字符），请修改后再试。", "error")
            return 0, []

    def handle_action(self, return_view=None):
        """Bulk actions: rows that cannot be ids are refused like missing ones."""
        if not all(self.id_fits(v) for v in request.form.getlist("rowid")):
            flash("没有找到所选的记录，请刷新列表后再试。", "error")
            return redirect(get_redirect_target() or self.get_url(".index_view"))
        return super().handle_action(return_view)

    def handle_view_exception(self, exc):
        message = form_error_message(exc)
        if message is None:
            return super().handle_view_exception(exc)
        flash(message, "error")
        return True

    def refuse(self, exc: Exception) -> bool:
        """For custom ``create_model``/``update_model``: roll back, flash the Chinese message,
        return False (Flask-Admin then shows the form again)."""
        self.session.rollback()
        if not self.handle_view_exception(exc):
            flash("保存失败，请检查填写的内容后重试。", "error")
        return False


class ReadOnlyModelView(AuditedModelView):
    """A list-only page (outbox, audit log, followers)."""

    can_create = False
    can_edit = False
    can_delete = False


def masked(_view, _context, model, name) -> str:
    """Column formatter: phone numbers masked (138****1234)."""
    return mask_phone(str(getattr(model, name) or ""))


def short_openid(_view, _context, model, name) -> str:
    """Column formatter: an openid shortened to its first 6 and last 4 characters."""
    value = str(getattr(model, name) or "")
    return value if len(value) <= 12 else f"{value[:6]}…{value[-4:]}"


def local_time(_view, _context, model, name) -> str:
    value = getattr(model, name)
    if value is None:
        return ""
    tz = current_app.extensions["taoyuan"].tz
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def local_today():
    """Today's date in local time (Asia/Shanghai)."""
    return utcnow().astimezone(current_app.extensions["taoyuan"].tz).date()


def link_formatter(label: str):
    def fmt(_v, _c, model, name):
        url = getattr(model, name) or ""
        if not is_http_url(url):
            return url
        return Markup(f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(label)}</a>')
    return fmt


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(safe_row(header))
    for row in rows:
        ws.append(safe_row(row))
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()
