"""我的账号: display name, own openid (for 群发 previews), password."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user, login_user

from bot.console.auth import AccountForm, ConsoleUser, client_ip, services
from bot.console.base import SecureView
from models import audit
from models.staff import StaffError, StaffUser


class AccountView(SecureView):
    """The signed-in staff member's own account page (not in the menu)."""

    def is_visible(self) -> bool:
        return False

    @expose("/", methods=("GET", "POST"))
    def index(self):
        """My account: display name, own openid (for previews), password."""
        if not current_user.is_authenticated:
            return redirect(url_for("console_auth.login", next=request.path))
        with services().db.session() as s:
            row = s.get(StaffUser, current_user.id)
            form = AccountForm(obj=row)
            if request.method == "GET":
                form.password.data = ""
            if form.validate_on_submit():
                row.display_name = form.display_name.data or ""
                row.openid = (form.openid.data or "").strip() or None
                changed = "显示名称、openid"
                try:
                    if form.password.data:
                        row.set_password(form.password.data)
                        changed += "、密码"
                except StaffError as exc:
                    flash(str(exc), "error")
                    return self.render("console/account.html", form=form)
                audit.record(s, row.username, "update", "staff_users", row.id, f"修改本人账号：{changed}",
                             ip=client_ip())
                fresh = ConsoleUser.from_row(row)
            else:
                return self.render("console/account.html", form=form)
        login_user(fresh)  # the session version may have changed with the password
        flash("已保存。", "success")
        return redirect(url_for("account.index"))
