"""我的账号: display name, her WeChat (bound with a one-time code, for 群发 previews), password
(the current one asked)."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user, login_user

from bot.console.auth import (AccountForm, ConsoleUser, client_ip, login_blocked, note_failure,
                              services)
from bot.console.base import SecureView
from models import audit
from models.staff import BIND_CODE_SECONDS, StaffError, StaffUser, WrongPassword, issue_bind_code


class AccountView(SecureView):
    """The signed-in staff member's own account page (not in the menu)."""

    def is_visible(self) -> bool:
        return False

    @expose("/", methods=("GET", "POST"))
    def index(self):
        """My account: display name, own openid (for previews), password. A new password
        needs the current one (form error 「当前密码不正确」; wrong tries count towards the
        login lockout, so a stolen session cannot guess it either)."""
        if not current_user.is_authenticated:
            return redirect(url_for("console_auth.login", next=request.path))
        with services().db.session() as s:
            row = s.get(StaffUser, current_user.id)
            form = AccountForm(obj=row)
            if request.method == "GET":
                form.password.data = ""
            if form.validate_on_submit() and self._current_password_ok(form, row):
                row.display_name = form.display_name.data or ""
                row.openid = (form.openid.data or "").strip() or None
                changed = "显示名称、openid"
                if form.password.data:  # set by _current_password_ok
                    changed += "、密码"
                audit.record(s, row.username, "update", "staff_users", row.id, f"修改本人账号：{changed}",
                             ip=client_ip())
                fresh = ConsoleUser.from_row(row)
            else:
                return self.render("console/account.html", form=form, bound=bool(row.openid))
        login_user(fresh)  # the session version may have changed with the password
        flash("已保存。", "success")
        return redirect(url_for("account.index"))

    @expose("/bind-code", methods=("POST",))
    def bind_code(self):
        """「生成绑定码」: a one-time code (6 digits, valid :data:`BIND_CODE_SECONDS`, single use)
        shown once on this page; she sends 「绑定 <code>」 to the account from her WeChat
        (``handlers.staff``) and her account gets her openid, with nothing copied by hand."""
        if not current_user.is_authenticated:
            return redirect(url_for("console_auth.login", next=url_for("account.index")))
        svc = services()
        with svc.db.session() as s:
            row = s.get(StaffUser, current_user.id)
            code, expires = issue_bind_code(s, row.id)
            audit.record(s, row.username, "update", "staff_users", row.id, "生成微信绑定码",
                         ip=client_ip())
            qr_url = self._bind_qr(svc, s, code) if request.form.get("qr") == "1" else None
            form = AccountForm(obj=row)
            form.password.data = ""
            local = expires.astimezone(svc.tz).strftime("%H:%M")
            return self.render("console/account.html", form=form, bound=bool(row.openid),
                               bind_code=code, bind_minutes=BIND_CODE_SECONDS // 60,
                               bind_until=local, bind_qr=qr_url, dry_run=svc.config.dry_run)

    @staticmethod
    def _bind_qr(svc, session, code: str) -> str | None:
        """The image address of a temporary QR code with scene ``bind:<code>`` (WeChat doc:
        生成带参数的二维码), valid as long as the code; None when WeChat refused (the code
        still works typed). Dry run: an outbox row, and the image does not exist."""
        from bot.wechat.errors import WeChatAPIError

        try:
            qr = svc.wechat.create_qrcode(f"bind:{code}", expire_seconds=BIND_CODE_SECONDS,
                                          session=session)
        except WeChatAPIError:
            flash("微信没有生成二维码，请改用绑定码。", "error")
            return None
        return qr.get("show_url")

    @staticmethod
    def _current_password_ok(form, row: StaffUser) -> bool:
        """For a new password: the current one must be given and right (else a form error)."""
        if not form.password.data:
            return True
        field = form.current_password
        if not field.data:
            field.errors = list(field.errors) + ["修改密码请先填写当前密码"]
            return False
        if login_blocked(row.username):
            field.errors = list(field.errors) + ["密码输错次数过多，请 15 分钟后再试"]
            return False
        try:
            row.change_own_password(field.data, form.password.data)
        except WrongPassword as exc:
            note_failure(row.username)
            field.errors = list(field.errors) + [str(exc)]
            return False
        except StaffError as exc:
            form.password.errors = list(form.password.errors) + [str(exc)]
            return False
        return True
