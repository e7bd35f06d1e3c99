"""Console page for the outbox (发件箱): what would have been sent to WeChat in dry run."""
from __future__ import annotations

import json

from bot.console.base import ReadOnlyModelView, local_time, short_openid
from models.audit import mask_phone


class OutboxView(ReadOnlyModelView):
    """发件箱: what would have been sent to WeChat in dry run."""

    column_list = ("created_at", "api", "openid", "payload")
    column_default_sort = ("id", True)
    column_searchable_list = ("api",)
    column_filters = ("api",)
    column_labels = {"created_at": "时间", "api": "接口", "openid": "接收者", "payload": "内容"}
    column_formatters = {
        "created_at": local_time, "openid": short_openid,
        "payload": lambda v, c, m, n: mask_phone(_pretty(m.payload))[:300]}


def _pretty(payload: str) -> str:
    try:
        return json.dumps(json.loads(payload), ensure_ascii=False)
    except (TypeError, ValueError):
        return payload or ""
