"""Staff accounts of the console (管理员 admin / 工作人员 staff) and the operations on them.

Passwords are stored only as salted hashes (werkzeug's scrypt). Nothing here knows Flask: the
console wraps a :class:`StaffUser` for Flask-Login itself.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from models.base import AwareDateTime, Base, utcnow

ROLE_ADMIN = "admin"
ROLE_STAFF = "staff"
#: Role -> the Chinese name shown in the console.
ROLES = {ROLE_ADMIN: "管理员", ROLE_STAFF: "工作人员"}
MIN_PASSWORD = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,32}$")
#: A hash of a random password: checked when the username is unknown so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password-0")


class StaffError(ValueError):
    """A staff operation was refused; ``str(err)`` is a Chinese sentence for the operator."""


class StaffExists(StaffError):
    """The username is taken."""


class WeakPassword(StaffError):
    """The password is shorter than :data:`MIN_PASSWORD` characters."""


class BadRole(StaffError):
    """The role is not ``admin`` or ``staff``."""


class WrongPassword(StaffError):
    """The current password given to change one's own password is not hers."""


class BindCodeInvalid(StaffError):
    """「绑定 123456」 with a code no staff account has (never issued, already used, or
    replaced by a newer one)."""


class BindCodeExpired(StaffError):
    """「绑定 123456」 with a code whose :data:`BIND_CODE_SECONDS` have passed."""


#: How long a WeChat binding code (「我的账号」 → 绑定码) is valid, in seconds.
BIND_CODE_SECONDS = 600
#: Digits of a binding code.
BIND_CODE_DIGITS = 6


class StaffUser(Base):
    """One console account.

    ``openid`` is the staff member's own WeChat openid (for 群发 previews); ``role`` is
    ``admin`` (everything) or ``staff`` (no staff/settings pages). ``session_version`` changes
    when the password changes or she signs out (:meth:`revoke_sessions`), which logs out every
    open console session of the account, copied cookies included.
    """

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=ROLE_STAFF)
    openid: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    #: SHA-256 (hex) of her one-time WeChat binding code, and when it stops working; both
    #: None when she has no code waiting (:func:`issue_bind_code`, :func:`bind_wechat`).
    bind_code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    bind_code_expires_at: Mapped[datetime | None] = mapped_column(AwareDateTime())

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def role_name(self) -> str:
        return ROLES.get(self.role, self.role)

    def set_password(self, password: str) -> None:
        """Hash and store ``password``; raises :class:`WeakPassword`; logs out old sessions."""
        if len(password or "") < MIN_PASSWORD:
            raise WeakPassword(f"密码至少 {MIN_PASSWORD} 位")
        self.password_hash = generate_password_hash(password)
        self.revoke_sessions()

    def change_own_password(self, current: str, new: str) -> None:
        """Her own password change: ``current`` must be her password now. Raises
        :class:`WrongPassword` (nothing changed) or :class:`WeakPassword`."""
        if not self.check_password(current):
            raise WrongPassword("当前密码不正确")
        self.set_password(new)

    def revoke_sessions(self) -> None:
        """End every console session of this account (the session cookie carries the version
        it was signed in with; the console refuses any other)."""
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return bool(password) and check_password_hash(self.password_hash, password)

    def __str__(self) -> str:  # shown in console select boxes
        return self.display_name or self.username


def add_staff(session: Session, username: str, password: str, role: str = ROLE_STAFF, *,
              display_name: str = "", openid: str | None = None) -> StaffUser:
    """Create an account. Raises :class:`StaffExists`, :class:`WeakPassword`, :class:`BadRole`,
    or :class:`StaffError` for a username that is not 2-32 letters, digits, ``_.-``."""
    username = (username or "").strip()
    if not _USERNAME.match(username):
        raise StaffError("用户名须为 2-32 位字母、数字或 _ . -")
    if role not in ROLES:
        raise BadRole("角色只能是 admin（管理员）或 staff（工作人员）")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise StaffExists(f"用户名 {username} 已存在")
    user = StaffUser(username=username, role=role, display_name=display_name or "",
                     openid=openid or None, active=True, session_version=0, created_at=utcnow())
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str,
                 now: datetime | None = None) -> StaffUser | None:
    """The active account for ``username``/``password`` (and stamp ``last_login_at``), or None.

    Takes the same time whether or not the username exists.
    """
    user = session.scalar(select(StaffUser).where(StaffUser.username == (username or "").strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "x")
        return None
    if not user.check_password(password) or not user.active:
        return None
    user.last_login_at = now or utcnow()
    return user


def answerer_name(session: Session, username: str) -> str:
    """The name recorded as 答复人 for ``username``: her display name if she has one, else the
    username; a name that is no account (e.g. ``taoyuan requests reply --staff 李主任``) as given.
    The console and the CLI both use this, so one person shows under one name."""
    name = (username or "").strip()
    user = session.scalar(select(StaffUser).where(StaffUser.username == name)) if name else None
    return (user.display_name or user.username) if user is not None else name


# -- binding her WeChat without copying openids ----------------------------------------------
def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def issue_bind_code(session: Session, staff_id: int, *, now: datetime | None = None,
                    randbelow=secrets.randbelow) -> tuple[str, datetime]:
    """A new one-time code (``"042917"``: :data:`BIND_CODE_DIGITS` digits) for staff account
    ``staff_id`` and when it expires (aware UTC, :data:`BIND_CODE_SECONDS` from ``now``). She
    sends 「绑定 <code>」 to the account from her WeChat (:func:`bind_wechat`). A new code
    replaces her previous one; no two live codes are the same. Only the code's SHA-256 is
    stored. Raises ``LookupError`` when the account does not exist."""
    row = session.get(StaffUser, staff_id)
    if row is None:
        raise LookupError(staff_id)
    now = now or utcnow()
    while True:
        code = f"{randbelow(10 ** BIND_CODE_DIGITS):0{BIND_CODE_DIGITS}d}"
        taken = session.scalar(select(StaffUser.id).where(
            StaffUser.bind_code_hash == _code_hash(code), StaffUser.id != staff_id,
            StaffUser.bind_code_expires_at > now))
        if taken is None:
            break
    row.bind_code_hash = _code_hash(code)
    row.bind_code_expires_at = now + timedelta(seconds=BIND_CODE_SECONDS)
    session.flush()
    return code, row.bind_code_expires_at


def bind_wechat(session: Session, code: str, openid: str, *,
                now: datetime | None = None) -> StaffUser:
    """「绑定 <code>」 sent from WeChat by ``openid``: the staff account whose live code it is
    gets ``openid`` (群发 previews go there) and the code is used up. Another account bound to
    the same openid loses it (one WeChat, one account). Returns the account. Raises
    :class:`BindCodeInvalid` (unknown or used code) or :class:`BindCodeExpired`."""
    now = now or utcnow()
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == BIND_CODE_DIGITS) or not openid:
        raise BindCodeInvalid("绑定码不对")
    row = session.scalar(select(StaffUser).where(StaffUser.bind_code_hash == _code_hash(code))
                         .order_by(StaffUser.bind_code_expires_at.desc()).limit(1))
    if row is None or not row.active:
        raise BindCodeInvalid("绑定码不对")
    if row.bind_code_expires_at is None or row.bind_code_expires_at <= now:
        row.bind_code_hash = row.bind_code_expires_at = None
        session.flush()
        raise BindCodeExpired("绑定码已过期")
    for other in session.scalars(select(StaffUser).where(StaffUser.openid == openid,
                                                         StaffUser.id != row.id)):
        other.openid = None
    row.openid = openid
    row.bind_code_hash = row.bind_code_expires_at = None
    session.flush()
    return row
