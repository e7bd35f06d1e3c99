"""The custom menu (自定义菜单) as staff edit it: stored in the database, published to WeChat.

The first time, the menu is the configuration's ``[[menu.button]]`` (or the built-in default,
:func:`bot.wechat.menu.menu_from_config`); once staff save one in the console (公众号 →
自定义菜单) the stored one is the menu. ``taoyuan menu push`` and the console's 「发布到微信」
both call :func:`publish_menu` (dry run: the outbox). WeChat doc: 自定义菜单 - 创建接口.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.wechat.menu import check_menu, menu_from_config
from models.base import AwareDateTime, Base, utcnow

log = logging.getLogger(__name__)

#: The one row's id.
MENU_ID = 1


class CustomMenu(Base):
    """The menu staff saved: ``data`` is WeChat's ``{"button": [...]}`` as JSON; who saved it
    when, and who last published it to WeChat when."""

    __tablename__ = "custom_menu"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    published_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    published_by: Mapped[str | None] = mapped_column(String(64))


def stored_menu(session: Session) -> CustomMenu | None:
    """The saved menu row, or None before staff saved one."""
    return session.get(CustomMenu, MENU_ID)


def current_menu(session: Session, config) -> tuple[dict[str, Any], str]:
    """The menu and where it comes from (Chinese: 后台保存的菜单 / 配置文件 [[menu.button]] /
    内置默认菜单). Not validated."""
    row = stored_menu(session)
    if row is not None:
        return json.loads(row.data), "后台保存的菜单"
    source = "配置文件 [[menu.button]]" if config.menu.get("button") else "内置默认菜单"
    return menu_from_config(config), source


def save_menu(session: Session, menu: dict[str, Any], *, actor: str,
              answers: Callable[[str], bool] | None = None,
              now: datetime | None = None) -> CustomMenu:
    """Validate ``menu`` (:func:`bot.wechat.menu.check_menu` with ``answers``: keys no handler
    answers are refused) and store it as the menu. Raises ``MenuError`` (nothing stored)."""
    check_menu(menu, answers)
    row = stored_menu(session)
    if row is None:
        row = CustomMenu(id=MENU_ID)
        session.add(row)
    row.data = json.dumps(menu, ensure_ascii=False)
    row.updated_at, row.updated_by = now or utcnow(), (actor or "")[:64]
    session.flush()
    return row


def publish_menu(session: Session, wechat, config, *, actor: str,
                 answers: Callable[[str], bool] | None = None,
                 now: datetime | None = None) -> tuple[dict[str, Any], str]:
    """Replace the account's menu with :func:`current_menu` (validated first) through
    ``wechat.create_menu`` (dry run: an outbox row in ``session``). Returns the menu and its
    source. Raises ``MenuError``; WeChat errors (``WeChatAPIError``) propagate."""
    menu, source = current_menu(session, config)
    check_menu(menu, answers)
    wechat.create_menu(menu, session=session)
    row = stored_menu(session)
    if row is not None:
        row.published_at, row.published_by = now or utcnow(), (actor or "")[:64]
    session.flush()
    log.info("menu published by %s (source: %s)", actor, source)
    return menu, source
