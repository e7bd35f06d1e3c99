"""Console page for the audit log (操作记录, 管理员 only)."""
from __future__ import annotations

from functools import cache

from bot.console.base import ReadOnlyModelView, local_time, staff_name
from bot.core.features import feature_modules


#: Audit log actions and tables in Chinese (the stored values stay English).
AUDIT_ACTIONS = {"create": "新建", "update": "修改", "delete": "删除", "login": "登录",
                 "login_failed": "登录失败", "logout": "退出登录", "export": "导出", "import": "导入",
                 "preview": "预览", "send": "群发", "sync": "同步", "answer": "答复",
                 "unlock": "解除锁定", "bind": "绑定微信", "publish": "发布"}


@cache
def audit_targets() -> dict[str, str]:
    """``{table: Chinese name}`` for the audit log: the ``AUDIT_TARGETS`` each feature's console
    module declares (``bot/console/<feature>.py``, found from the feature manifest)."""
    out: dict[str, str] = {}
    for module in feature_modules("bot.console"):
        out.update(getattr(module, "AUDIT_TARGETS", {}))
    return out


class AuditView(ReadOnlyModelView):
    """操作记录 (管理员 only): who changed what, when."""

    admin_only = True
    column_list = ("at", "actor", "action", "target", "target_id", "summary", "ip")
    column_default_sort = ("id", True)
    column_searchable_list = ("actor", "summary")
    column_filters = ("actor", "action", "target")
    column_labels = {"at": "时间", "actor": "操作人", "action": "操作", "target": "数据表",
                     "target_id": "编号", "summary": "内容", "ip": "IP 地址"}
    column_formatters = {"at": local_time,
                         "actor": lambda v, c, m, n: staff_name(v.session, m.actor),
                         "action": lambda v, c, m, n: AUDIT_ACTIONS.get(m.action, m.action),
                         "target": lambda v, c, m, n: audit_targets().get(m.target, m.target)}
    can_view_details = False
