"""Console page for staff accounts (工作人员账号, 管理员 only)."""
from __future__ import annotations

from flask import flash
from flask_login import current_user
from wtforms import PasswordField, SelectField
from wtforms.validators import Optional

from bot.console.base import AuditedModelView, local_time, short_openid
from models.staff import ROLES, StaffError, StaffUser, add_staff


class StaffView(AuditedModelView):
    """工作人员账号 (管理员 only). Passwords are set here or with ``taoyuan staff add``."""

    admin_only = True
    column_list = ("username", "display_name", "role", "active", "openid", "last_login_at")
    column_labels = {"username": "用户名", "display_name": "显示名称", "role": "角色",
                     "active": "启用", "openid": "本人微信 openid", "last_login_at": "最近登录",
                     "new_password": "新密码（不改请留空）"}
    column_formatters = {"role": lambda v, c, m, n: ROLES.get(m.role, m.role),
                         "openid": short_openid, "last_login_at": local_time}
    form_columns = ("username", "display_name", "role", "active", "openid", "new_password")
    form_overrides = {"role": SelectField}
    form_args = {"role": {"choices": list(ROLES.items())}}
    form_extra_fields = {"new_password": PasswordField("新密码", validators=[Optional()])}
    can_view_details = False

    def create_model(self, form):
        try:
            user = add_staff(self.session, form.username.data or "", form.new_password.data or "",
                             form.role.data, display_name=form.display_name.data or "",
                             openid=form.openid.data or None)
            user.active = bool(form.active.data)
            self.on_model_change(form, user, True)
            self.session.commit()
        except StaffError as exc:
            flash(str(exc), "error")
            self.session.rollback()
            return False
        return user

    def on_model_change(self, form, model, is_created):
        if not is_created and form.new_password.data:
            if model.id == current_user.id:  # her own: only with the current one, 我的账号
                raise StaffError("修改自己的密码请到右上角「我的账号」（需要填写当前密码）")
            model.set_password(form.new_password.data)
        if model.id == current_user.id and (model.role != "admin" or not model.active):
            raise StaffError("不能取消自己的管理员权限或停用自己的账号")
        model.openid = (model.openid or "").strip() or None
        super().on_model_change(form, model, is_created)

    def on_model_delete(self, model):
        if model.id == current_user.id:
            raise StaffError("不能删除自己的账号")
        super().on_model_delete(model)


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"staff_users": "工作人员账号"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(StaffView(StaffUser, session, name="工作人员账号", category="系统",
                             endpoint="staff"))
