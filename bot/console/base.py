"""Building blocks of console pages: access control, CSRF-protected forms, audited edits."""
from __future__ import annotations

from flask import flash
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.babel import Translations
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import BaseForm
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import inspect as sa_inspect

from bot.console.auth import client_ip, require_role
from models import audit

#: Attributes never written to the audit log, even masked.
SECRET_FIELDS = {"password_hash"}


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
    transaction as the change. Model errors (``ValueError`` subclasses) are flashed in Chinese."""

    form_base_class = SecureForm
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

    def handle_view_exception(self, exc):
        if isinstance(exc, ValueError) and not exc.__class__.__module__.startswith("wtforms"):
            flash(str(exc), "error")
            return True
        return super().handle_view_exception(exc)


class ReadOnlyModelView(AuditedModelView):
    """A list-only page (outbox, audit log, followers)."""

    can_create = False
    can_edit = False
    can_delete = False
