"""Console page for the outbox (发件箱): what would have been sent to WeChat in dry run."""
from __future__ import annotations

import json

from flask_admin.contrib.sqla.filters import FilterEqual

from bot.console.base import ReadOnlyModelView, local_time, short_openid
from models.audit import mask_phone
from models.outbox import OutboxMessage


class OutboxView(ReadOnlyModelView):
    """发件箱: what would have been sent to WeChat in dry run."""

    column_list = ("created_at", "api", "openid", "payload")
    column_filters = (FilterEqual(OutboxMessage.api, "什么消息", options=lambda: list(API_LABELS.items())),)
    column_default_sort = ("id", True)
    column_labels = {"created_at": "时间", "api": "什么消息", "openid": "接收者", "payload": "内容"}
    column_formatters = {
        "created_at": local_time, "openid": short_openid,
        "api": lambda v, c, m, n: api_label(m.api),
        "payload": lambda v, c, m, n: mask_phone(outbox_summary(m.api, m.payload))[:300]}


#: WeChat API paths of the outbox as staff read them.
API_LABELS = {"message/custom/send": "客服消息", "message/template/send": "模板消息",
              "message/subscribe/bizsend": "订阅通知", "message/mass/sendall": "群发",
              "message/mass/send": "群发（按名单）", "message/mass/preview": "群发预览",
              "message/mass/get": "查询群发结果", "menu/create": "发布自定义菜单",
              "menu/delete": "删除自定义菜单", "tags/create": "新建乡镇标签",
              "tags/members/batchtagging": "给关注者打乡镇标签",
              "tags/members/batchuntagging": "移除关注者的乡镇标签", "qrcode/create": "生成二维码",
              "media/uploadimg": "上传图片", "user/info/updateremark": "修改备注名"}


def api_label(api: str) -> str:
    """``message/custom/send`` -> 客服消息; an unknown path -> 其他接口调用."""
    return API_LABELS.get(api or "", "其他接口调用")


def outbox_summary(api: str, payload: str) -> str:
    """What the call would have said, in words: the text of a message, the fields of a
    template message, the buttons of a menu, the count of a tag change; never raw JSON."""
    try:
        data = json.loads(payload or "{}")
    except (TypeError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    for key in ("text", "mpnews", "news", "image", "voice"):
        part = data.get(key)
        if isinstance(part, dict) and part.get("content"):
            return str(part["content"])
        if isinstance(part, dict) and part.get("media_id"):
            return "图文消息（素材）"
    if isinstance(data.get("data"), dict):
        values = [str(v.get("value", "")) if isinstance(v, dict) else str(v)
                  for v in data["data"].values()]
        return "；".join(v for v in values if v)
    if isinstance(data.get("button"), list):
        return "菜单：" + "、".join(str(b.get("name", "")) for b in data["button"] if isinstance(b, dict))
    if isinstance(data.get("openid_list"), list):
        return f"{len(data['openid_list'])} 位关注者"
    if isinstance(data.get("tag"), dict) and data["tag"].get("name"):
        return f"标签「{data['tag']['name']}」"
    if data.get("action_name"):
        return "二维码"
    return ""


