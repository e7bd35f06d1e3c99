"""自定义菜单 page (公众号 → 自定义菜单, ``/admin/menu/``): edit the menu with a phone-shaped
preview, drag to order, byte limits checked as she types, each button's action chosen from
what the bot can do; 「发布到微信」 goes the way of ``taoyuan menu push``
(``models.menu.publish_menu``; dry run: the outbox).

The actions offered are built from the router's own ``on_click`` registrations
(``Router.click_keys`` / ``click_prefixes``) with the Chinese words of
``bot.wechat.menu.KEY_LABELS`` and the columns that have a menu key, plus 「打开网页」: staff
never see or type a raw key, and a key no handler answers cannot be chosen (the server checks
again: WeChat doc 自定义菜单 - 创建接口 for the limits).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from functools import cache

from flask import current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select

from bot.console.auth import client_ip
from bot.console.base import SecureView
from bot.wechat import menu as wm
from bot.wechat.errors import WeChatAPIError
from handlers import build_router
from models import audit
from models.columns import ArticleColumn
from models.menu import current_menu, publish_menu, save_menu, stored_menu

log = logging.getLogger(__name__)

#: The action id of 「打开网页」 (a ``view`` button with a URL).
VIEW = "view"


@dataclass(frozen=True)
class MenuAction:
    """One thing a button can do: ``id`` (what the editor posts), the Chinese ``label`` staff
    choose from, and the WeChat button ``type`` and ``key`` it becomes."""

    id: str
    label: str
    type: str
    key: str = ""


@cache
def _router():
    return build_router()


def answers(key: str) -> bool:
    """Whether a handler answers menu EventKey ``key`` (the router's registrations)."""
    return _router().answers_click(key)


def menu_actions(session) -> list[MenuAction]:
    """The actions a button may have, in the editor's order: every key a handler answers
    that has Chinese words (:data:`bot.wechat.menu.KEY_LABELS`), each active column with a
    menu key under a prefix a handler answers, then 「打开网页」."""
    router = _router()
    keys = [k for k in wm.KEY_LABELS if router.answers_click(k)]
    unlabelled = sorted(k for k in router.click_keys if k not in wm.KEY_LABELS)
    if unlabelled:
        log.warning("menu keys without Chinese words are not offered: %s", unlabelled)
    out = [MenuAction(f"{wm.KEY_TYPES.get(k, 'click')}:{k}", wm.KEY_LABELS[k],
                      wm.KEY_TYPES.get(k, "click"), k) for k in keys]
    for col in session.scalars(select(ArticleColumn).where(ArticleColumn.active.is_(True),
                                                           ArticleColumn.menu_key.is_not(None))
                               .order_by(ArticleColumn.id)):
        if col.menu_key not in keys and router.answers_click(col.menu_key):
            out.append(MenuAction(f"click:{col.menu_key}", f"专栏「{col.name}」最新文章", "click",
                                  col.menu_key))
    out.append(MenuAction(VIEW, "打开网页（填写网址）", "view"))
    return out


def editor_items(menu: dict, actions: list[MenuAction]) -> list[dict]:
    """WeChat's ``{"button": [...]}`` as the editor's items: ``{"name", "action", "url",
    "sub": [...]}``; a button whose type and key match no action gets ``action = ""`` (she
    must choose one before saving)."""
    by_key = {(a.type, a.key): a.id for a in actions if a.id != VIEW}

    def item(button: dict) -> dict:
        kind = button.get("type")
        action = VIEW if kind == "view" else by_key.get((kind, button.get("key")), "")
        return {"name": button.get("name", ""), "action": action,
                "url": button.get("url", "") if kind == "view" else "",
                "sub": [item(b) for b in button.get("sub_button") or [] if isinstance(b, dict)]}
    return [item(b) for b in menu.get("button", []) if isinstance(b, dict)]


def menu_from_editor(items, actions: list[MenuAction]) -> dict:
    """The editor's items as WeChat's ``{"button": [...]}``. Raises ``MenuError`` (Chinese)
    for an action that is not offered or a missing address; limits are checked after."""
    by_id = {a.id: a for a in actions}
    errors: list[str] = []

    def button(raw, where: str) -> dict:
        name = str(raw.get("name", "")).strip() if isinstance(raw, dict) else ""
        where = f"{where}「{name}」" if name else where
        subs = raw.get("sub") if isinstance(raw, dict) else None
        if subs:
            return {"name": name, "sub_button": [button(s, f"{where} > 第 {j} 个子菜单")
                                                 for j, s in enumerate(subs, 1)]}
        action = by_id.get(str(raw.get("action", "")) if isinstance(raw, dict) else "")
        if action is None:
            errors.append(f"{where}还没有选择功能（或所选功能已不存在），请在列表里选择")
            return {"name": name}
        if action.id == VIEW:
            url = str(raw.get("url", "")).strip()
            if not url:
                errors.append(f"{where}选择了「打开网页」，请填写网址")
            return {"type": "view", "name": name, "url": url}
        return {"type": action.type, "name": name, "key": action.key}

    if not isinstance(items, list):
        raise wm.MenuError(["菜单内容无效，请刷新页面后重试"])
    menu = {"button": [button(b, f"第 {i} 个一级菜单") for i, b in enumerate(items, 1)]}
    if errors:
        raise wm.MenuError(errors)
    return menu


class MenuView(SecureView):
    """The menu editor and its 「保存」 / 「发布到微信」."""

    @expose("/", methods=("GET",))
    def index(self):
        svc = current_app.extensions["taoyuan"]
        with svc.db.session() as s:
            menu, source = current_menu(s, svc.config)
            actions = menu_actions(s)
            row = stored_menu(s)
            published = (row.published_at.astimezone(svc.tz).strftime("%Y-%m-%d %H:%M")
                         if row is not None and row.published_at else "")
        return self.render("console/menu.html", items=editor_items(menu, actions),
                           actions=[asdict(a) for a in actions], source=source,
                           published=published, dry_run=svc.config.dry_run,
                           limits={"top": wm.MAX_NAME_BYTES, "sub": wm.MAX_SUB_NAME_BYTES,
                                   "buttons": wm.MAX_BUTTONS, "subs": wm.MAX_SUB_BUTTONS,
                                   "url": wm.MAX_URL_BYTES})

    @expose("/", methods=("POST",))
    def save(self):
        """Save the posted menu (``menu``: the editor's items as JSON); with ``do=publish``
        also publish it (:func:`models.menu.publish_menu`)."""
        svc = current_app.extensions["taoyuan"]
        publish = request.form.get("do") == "publish"
        try:
            items = json.loads(request.form.get("menu") or "null")
        except ValueError:
            items = None
        try:
            with svc.db.session() as s:
                menu = menu_from_editor(items, menu_actions(s))
                save_menu(s, menu, actor=current_user.username, answers=answers)
                audit.record(s, current_user.username, "update", "custom_menu", 1,
                             wm.describe_menu(menu), ip=client_ip())
        except wm.MenuError as exc:
            flash("菜单没有保存：" + "；".join(exc.errors), "error")
            return redirect(url_for(".index"))
        if publish:
            try:
                with svc.db.session() as s:
                    publish_menu(s, svc.wechat, svc.config, actor=current_user.username,
                                 answers=answers)
                    audit.record(s, current_user.username, "publish", "custom_menu", 1,
                                 "发布到微信", ip=client_ip())
            except wm.MenuError as exc:
                flash("菜单已保存，但没有发布：" + "；".join(exc.errors), "error")
                return redirect(url_for(".index"))
            except WeChatAPIError as exc:
                flash(f"菜单已保存，但微信没有接受（错误码 {exc.errcode}），请稍后再试或联系技术人员。",
                      "error")
                return redirect(url_for(".index"))
        if not publish:
            flash("菜单已保存（还没有发布到微信）。", "success")
        elif svc.config.dry_run:
            flash("演练：未真正发送。菜单已保存，并写进了发件箱（演练模式不连接微信）。", "success")
        else:
            flash("菜单已发布到微信，手机上约 5 分钟内生效（重新关注可立即看到）。", "success")
        return redirect(url_for(".index"))


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"custom_menu": "自定义菜单"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console: 公众号 → 自定义菜单."""
    admin.add_view(MenuView(name="自定义菜单", category="公众号", endpoint="menu", url="/admin/menu"))
