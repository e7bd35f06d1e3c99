"""``taoyuan staff add|list|passwd|unlock``: console accounts (管理员 admin / 工作人员 staff)."""
from __future__ import annotations

import click
from sqlalchemy import select


def register(main: click.Group) -> None:
    """Add the ``staff`` group to ``main``."""
    main.add_command(staff)


#: Help of ``--password`` (``add`` and ``passwd``).
PASSWORD_HELP = "脚本用；不填时隐藏输入两次 / For scripts; omitted = asked twice, hidden."


@click.group()
def staff() -> None:
    """后台账号 / Staff console accounts."""


@staff.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "staff"]), default="staff", show_default=True,
              help="admin 管理员（全部页面），staff 工作人员（没有账号和操作记录页面）/ "
                   "Admin: all pages; staff: no accounts or audit pages.")
@click.option("--password", default=None, help=PASSWORD_HELP)
@click.option("--name", "display_name", default="", help="显示名称 / Display name.")
@click.option("--openid", default=None, help="本人的 openid（群发预览用）/ Her own WeChat openid, for previews.")
@click.pass_obj
def add(state, username: str, role: str, password: str | None, display_name: str,
        openid: str | None) -> None:
    """新建后台账号 USERNAME / Create a console account USERNAME."""
    from models import audit
    from models.staff import StaffError, add_staff

    if password is None:
        password = click.prompt("密码 / password", hide_input=True, confirmation_prompt=True)
    try:
        with state.services.db.session() as s:
            user = add_staff(s, username, password, role, display_name=display_name, openid=openid)
            audit.record(s, "cli", "create", "staff_users", user.id, f"创建账号 {username}（{'管理员' if role == 'admin' else '工作人员'}）")
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已创建账号 {username}（{'管理员' if role == 'admin' else '工作人员'}）")


@staff.command("passwd")
@click.argument("username")
@click.option("--password", default=None, help=PASSWORD_HELP)
@click.pass_obj
def passwd(state, username: str, password: str | None) -> None:
    """重设 USERNAME 的密码（她已登录的浏览器都会退出）/ Set a new password for USERNAME (logs out her sessions)."""
    from models import audit
    from models.staff import StaffError, StaffUser

    if password is None:
        password = click.prompt("新密码 / new password", hide_input=True, confirmation_prompt=True)
    with state.services.db.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.username == username))
        if user is None:
            raise click.ClickException(f"没有账号 {username}")
        try:
            user.set_password(password)
        except StaffError as exc:
            raise click.ClickException(str(exc)) from None
        audit.record(s, "cli", "update", "staff_users", user.id, f"重设 {username} 的密码")
    click.echo(f"已重设 {username} 的密码")


@staff.command("list")
@click.pass_obj
def list_staff(state) -> None:
    """列出后台账号 / List console accounts."""
    from models.staff import StaffUser

    with state.services.db.session() as s:
        for u in s.scalars(select(StaffUser).order_by(StaffUser.username)):
            click.echo(f"{u.username}\t{u.role_name}\t{'启用' if u.active else '停用'}\t{u.display_name}")


@staff.command("unlock")
@click.argument("username")
@click.pass_obj
def unlock(state, username: str) -> None:
    """解除 USERNAME 的登录锁定 / Clear USERNAME's console login lockout (all IPs)."""
    from bot.console.lockout import unlock as clear_lock
    from models import audit
    from models.staff import StaffUser

    services = state.services
    with services.db.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.username == username.strip()))
        removed = clear_lock(services, username)
        audit.record(s, "cli", "unlock", "staff_users", user.id if user else "",
                     f"解除 {username} 的登录锁定")
    if user is None:
        click.echo(f"注意：没有账号 {username}（已清除该用户名的失败记录）")
    click.echo(f"已解除 {username} 的登录锁定" if removed else f"{username} 没有被锁定")
