"""``taoyuan menu check|push|show``: the custom menu (自定义菜单)."""
from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the ``menu`` group to ``main``."""
    main.add_command(menu)


@click.group()
def menu() -> None:
    """自定义菜单：检查、推送、查看 / The custom menu: check, push, show."""


def _load(state) -> tuple[dict, str]:
    """The menu to check or push (the one saved in the console, else the configuration's,
    else the built-in one) and where it comes from."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.wechat.menu import menu_from_config
    from models.menu import current_menu

    config = state.config
    try:
        with state.services.db.session() as s:
            return current_menu(s, config)
    except SQLAlchemyError:  # no tables yet: the configuration's menu
        source = "配置文件 [[menu.button]]" if config.menu.get("button") else "内置默认菜单"
        return menu_from_config(config), source


def answered_keys():
    """``answers(key)``: whether a handler answers a menu EventKey, from the router's own
    registrations (``router.on_click``), never from a hand-kept list."""
    from handlers import build_router

    return build_router().answers_click


@menu.command("check")
@click.pass_obj
def menu_check(state) -> None:
    """检查菜单，不发送 / Validate the menu from the configuration (or the default), send nothing."""
    from bot.wechat.menu import describe_menu, validate_menu

    data, source = _load(state)
    click.echo(f"菜单来源：{source}")
    errors = validate_menu(data, answered_keys())
    if errors:
        raise click.ClickException("菜单有问题：\n" + "\n".join(f"  - {e}" for e in errors))
    click.echo(describe_menu(data))
    click.echo("菜单检查通过 / menu is valid")


@menu.command("push")
@click.pass_obj
def menu_push(state) -> None:
    """检查后发布菜单 / Validate, then replace the account's menu.

    演练模式（没填 app_secret）只写进 outbox / Dry run (no app_secret): written to the outbox only.
    """
    from sqlalchemy.exc import OperationalError

    from bot.wechat.menu import MenuError, describe_menu
    from bot.wechat.errors import WeChatAPIError
    from models.menu import publish_menu

    services = state.services
    try:
        with services.db.session() as s:
            data, source = publish_menu(s, services.wechat, state.config, actor="命令行",
                                        answers=answered_keys())
    except MenuError as exc:
        raise click.ClickException("菜单有问题，未推送：\n" + "\n".join(f"  - {e}" for e in exc.errors)) from None
    except WeChatAPIError as exc:
        raise click.ClickException(f"微信拒绝了菜单（errcode {exc.errcode}：{exc.errmsg}）") from None
    except OperationalError:
        raise click.ClickException("数据库还没有建表，请先运行 taoyuan db upgrade") from None
    click.echo(describe_menu(data))
    if services.wechat.dry_run:
        click.echo(f"试运行（未配置 app_secret）：菜单已写入 outbox，没有发给微信。来源：{source}")
    else:
        click.echo(f"菜单已推送到微信（来源：{source}），手机上约 5 分钟内生效，重新关注可立即看到。")


@menu.command("show")
@click.pass_obj
def menu_show(state) -> None:
    """查看微信上现在的菜单 / Show the menu WeChat currently has.

    演练模式显示最近写进 outbox 的菜单 / Dry run: the last one pushed to the outbox.
    """
    from bot.wechat.menu import describe_menu
    from bot.wechat.errors import WeChatAPIError

    try:
        current = state.services.wechat.get_menu()
    except WeChatAPIError as exc:
        raise click.ClickException(f"读取菜单失败（errcode {exc.errcode}：{exc.errmsg}）") from None
    if not current:
        click.echo("公众号目前没有自定义菜单。")
        return
    click.echo(describe_menu(current.get("menu", {})))
