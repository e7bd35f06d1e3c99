"""The custom menu (自定义菜单): the default menu, reading ``[[menu.button]]`` and local validation.

WeChat doc: 自定义菜单 - 创建接口. At most 3 buttons, each with at most 5 sub-buttons; a button
name is at most 16 bytes of UTF-8 (5 Chinese characters), a sub-button name at most 60 bytes;
``key`` at most 128 bytes; ``url`` at most 1024 bytes. Validating here gives staff a Chinese
message naming the button instead of WeChat's bare errcode (40016-40027).

The CLICK / location_select keys below are a contract: handlers import them from here and use
them with ``router.on_click(KEY)`` (never typed as literals). Don't rename them.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from bot.core.config import Config

# Menu keys (EventKey of the CLICK / location_select events) used by the handlers.
SERVICES_LOCATION = "SERVICES_LOCATION"   # location_select: she sends her position
SERVICES_NEARBY = "SERVICES_NEARBY"       # nearest 近邻娘家 / 妇女微家 service points
ACTIVITIES = "ACTIVITIES"                 # upcoming activities to 报名
MY_SIGNUPS = "MY_SIGNUPS"                 # her signups
HAIRCUT_DAY = "HAIRCUT_DAY"               # 爱心义剪 days
VOLUNTEER = "VOLUNTEER"                   # become a 志愿者
HELP = "HELP"                             # 求助留言
COLUMN_LATEST = "COLUMN_LATEST"           # latest 专栏 articles
HELP_USAGE = "HELP_USAGE"                 # how to use the account

MENU_KEYS = (SERVICES_LOCATION, SERVICES_NEARBY, ACTIVITIES, MY_SIGNUPS, HAIRCUT_DAY, VOLUNTEER,
             HELP, COLUMN_LATEST, HELP_USAGE)

# Keys the handlers answer that the default menu does not show (staff may add them in
# ``[[menu.button]]``).
MEDIATION = "MEDIATION"                   # 预约调解: bookable mediation times
COLUMN_PREFIX = "COLUMN_"                 # a column's own ``menu_key`` (COLUMN_<...>): its newest article

#: What each key does, in the words staff choose from in the menu editor (every key a handler
#: answers has one: ``tests/test_menu.py`` checks it against the router's registrations).
KEY_LABELS: dict[str, str] = {
    SERVICES_LOCATION: "发送我的位置，找附近服务点",
    SERVICES_NEARBY: "找服务点（按乡镇或附近）",
    ACTIVITIES: "近期活动（可报名）",
    MY_SIGNUPS: "我的报名",
    HAIRCUT_DAY: "爱心义剪日",
    VOLUNTEER: "登记成为志愿者",
    HELP: "我要求助（留言给工作人员）",
    COLUMN_LATEST: "专栏最新文章",
    HELP_USAGE: "使用帮助",
    MEDIATION: "预约调解",
}
#: The button type a key needs when it is not ``click`` (``location_select`` opens the map).
KEY_TYPES: dict[str, str] = {SERVICES_LOCATION: "location_select"}
#: Types whose ``key`` is an EventKey the bot must answer (CLICK and the other event buttons).
EVENT_TYPES = frozenset({"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                         "pic_photo_or_album", "pic_weixin", "location_select"})

#: The menu used when the configuration has no ``[[menu.button]]``.
DEFAULT_MENU: dict[str, Any] = {"button": [
    {"name": "附近服务", "sub_button": [
        {"type": "location_select", "name": "发送我的位置", "key": SERVICES_LOCATION},
        {"type": "click", "name": "找服务点", "key": SERVICES_NEARBY},
    ]},
    {"name": "活动报名", "sub_button": [
        {"type": "click", "name": "近期活动", "key": ACTIVITIES},
        {"type": "click", "name": "我的报名", "key": MY_SIGNUPS},
        {"type": "click", "name": "爱心义剪", "key": HAIRCUT_DAY},
        {"type": "click", "name": "志愿者", "key": VOLUNTEER},
    ]},
    {"name": "求助留言", "sub_button": [
        {"type": "click", "name": "我要求助", "key": HELP},
        {"type": "click", "name": "专栏文章", "key": COLUMN_LATEST},
        {"type": "click", "name": "使用帮助", "key": HELP_USAGE},
    ]},
]}

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024

_KEY_TYPES = {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
              "pic_weixin", "location_select"}
#: Fields each button type needs (WeChat doc: 自定义菜单 - 创建接口, 参数说明).
REQUIRED: dict[str, tuple[str, ...]] = {
    **{t: ("key",) for t in _KEY_TYPES},
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),
    "media_id": ("media_id",),
    "view_limited": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
_OPTIONAL = {"key"}  # a key may accompany any type (WeChat ignores it where unused)
_TYPE_NAMES = "、".join(sorted(REQUIRED))


class MenuError(ValueError):
    """The menu breaks WeChat's rules. ``errors`` is a list of Chinese sentences, one per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("；".join(errors))
        self.errors = errors


def menu_from_config(config: Config) -> dict[str, Any]:
    """The menu to push: ``{"button": [...]}`` from ``[[menu.button]]``, or :data:`DEFAULT_MENU`
    when the configuration has none. Not validated: call :func:`check_menu`."""
    buttons = config.menu.get("button") or []
    if not buttons:
        return copy.deepcopy(DEFAULT_MENU)
    return {"button": copy.deepcopy(buttons)}


def _bytes(value: Any) -> int:
    return len(str(value).encode("utf-8"))


def _label(button: Any, where: str) -> str:
    name = button.get("name") if isinstance(button, dict) else None
    return f"{where}「{name}」" if isinstance(name, str) and name else where


def validate_menu(menu: Any, answers: Callable[[str], bool] | None = None) -> list[str]:
    """Every problem with ``menu`` as a Chinese sentence naming the button; [] when it is valid.
    ``answers(key)``: whether a handler answers a button's EventKey (the router's
    ``answers_click``); when given, a CLICK (or other event) button whose key no handler
    answers is a problem too (she would tap it and get nothing)."""
    if not isinstance(menu, dict) or not isinstance(menu.get("button"), list):
        return ["菜单格式不对：需要 {\"button\": [...]}（配置里写 [[menu.button]]）"]
    buttons = menu["button"]
    errors: list[str] = []
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        errors.append(f"一级菜单需要 1 到 {MAX_BUTTONS} 个，现在有 {len(buttons)} 个")
    seen_keys: dict[str, str] = {}
    for i, button in enumerate(buttons, 1):
        where = _label(button, f"第 {i} 个一级菜单")
        if not isinstance(button, dict):
            errors.append(f"{where}格式不对：应是一个表（[[menu.button]]）")
            continue
        errors += _check_name(button, where, MAX_NAME_BYTES, "一级菜单")
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list):
                errors.append(f"{where}的 sub_button 应是列表（[[menu.button.sub_button]]）")
                continue
            extra = sorted(set(button) - {"name", "sub_button"})
            if extra:
                errors.append(f"{where}有子菜单，不应再写 {', '.join(extra)}")
            if len(subs) > MAX_SUB_BUTTONS:
                errors.append(f"{where}的子菜单最多 {MAX_SUB_BUTTONS} 个，现在有 {len(subs)} 个")
            for j, sub in enumerate(subs, 1):
                sub_where = f"{where} > " + _label(sub, f"第 {j} 个子菜单")
                if not isinstance(sub, dict):
                    errors.append(f"{sub_where}格式不对：应是一个表")
                    continue
                if "sub_button" in sub:
                    errors.append(f"{sub_where}不能再有子菜单（微信只支持两级）")
                errors += _check_name(sub, sub_where, MAX_SUB_NAME_BYTES, "子菜单")
                errors += _check_action(sub, sub_where, seen_keys, answers)
        else:
            errors += _check_action(button, where, seen_keys, answers)
    return errors


def check_menu(menu: Any, answers: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Return ``menu`` if valid (:func:`validate_menu`); else raise :class:`MenuError` listing
    every problem."""
    errors = validate_menu(menu, answers)
    if errors:
        raise MenuError(errors)
    return menu


def _check_name(button: dict, where: str, limit: int, kind: str) -> list[str]:
    name = button.get("name")
    if not isinstance(name, str) or not name.strip():
        return [f"{where}缺少名称（name）"]
    size = _bytes(name)
    if size > limit:
        return [f"{where}名称太长：{size} 字节，{kind}最多 {limit} 字节（约 {limit // 3} 个汉字）"]
    return []


def _check_action(button: dict, where: str, seen_keys: dict[str, str],
                  answers: Callable[[str], bool] | None = None) -> list[str]:
    kind = button.get("type")
    if kind is None:
        return [f"{where}缺少类型（type），或者应有子菜单（sub_button）"]
    if kind not in REQUIRED:
        return [f"{where}的类型 “{kind}” 不认识，可用：{_TYPE_NAMES}"]
    errors = []
    allowed = {"name", "type", *REQUIRED[kind], *_OPTIONAL}
    if button.get("sub_button") == []:
        allowed.add("sub_button")
    extra = sorted(set(button) - allowed)
    if extra:
        errors.append(f"{where}（{kind}）不认识的字段：{', '.join(extra)}")
    for field in REQUIRED[kind]:
        value = button.get(field)
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{where}（{kind}）缺少 {field}")
    key = button.get("key")
    if isinstance(key, str) and key:
        if _bytes(key) > MAX_KEY_BYTES:
            errors.append(f"{where}的 key 太长：{_bytes(key)} 字节，最多 {MAX_KEY_BYTES} 字节")
        if key in seen_keys:
            errors.append(f"{where}的 key “{key}” 与{seen_keys[key]}重复")
        seen_keys.setdefault(key, where)
        if answers is not None and kind in EVENT_TYPES and not answers(key):
            errors.append(f"{where}的 key “{key}” 没有任何功能响应（点了没有回复），"
                          "请改用后台列出的功能")
    url = button.get("url")
    if "url" in REQUIRED[kind] and isinstance(url, str) and url:
        if _bytes(url) > MAX_URL_BYTES:
            errors.append(f"{where}的网址太长：{_bytes(url)} 字节，最多 {MAX_URL_BYTES} 字节")
        if not url.startswith(("http://", "https://")):
            errors.append(f"{where}的网址要以 http:// 或 https:// 开头")
    return errors


def describe_menu(menu: dict[str, Any]) -> str:
    """A readable tree of the menu for staff (one line per button)."""
    lines = []
    for button in menu.get("button", []):
        if not isinstance(button, dict):
            continue
        lines.append(f"■ {button.get('name', '?')}{_action_text(button)}")
        for sub in button.get("sub_button") or []:
            if isinstance(sub, dict):
                lines.append(f"    · {sub.get('name', '?')}{_action_text(sub)}")
    return "\n".join(lines)


def _action_text(button: dict) -> str:
    kind = button.get("type")
    if not kind:
        return ""
    target = button.get("key") or button.get("url") or button.get("media_id") or button.get("article_id") or ""
    return f"  [{kind}] {target}".rstrip()
