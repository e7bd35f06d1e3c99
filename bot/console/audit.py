"""Console page for the audit log (操作记录, 管理员 only)."""
from __future__ import annotations

from bot.console.base import ReadOnlyModelView, local_time


#: Audit log actions and tables in Chinese (the stored values stay English).
AUDIT_ACTIONS = {"create": "新建", "update": "修改", "delete": "删除", "login": "登录",
                 "login_failed": "登录失败", "logout": "退出登录", "export": "导出", "import": "导入",
                 "preview": "预览", "send": "群发", "sync": "同步", "answer": "答复",
                 "unlock": "解除锁定"}


AUDIT_TARGETS = {"staff_users": "工作人员账号", "keyword_replies": "关键词回复",
                 "article_columns": "专栏", "articles": "专栏文章", "broadcasts": "群发",
                 "town_tags": "乡镇标签", "service_points": "服务点", "activities": "活动",
                 "signups": "报名", "volunteers": "志愿者", "reminders": "定时提醒",
                 "help_requests": "求助留言"}


class AuditView(ReadOnlyModelView):
    """操作记录 (管理员 only): who changed what, when."""

    admin_only = True
    column_list = ("at", "actor", "action", "target", "target_id", "summary", "ip")
    column_default_sort = ("id", True)
    column_searchable_list = ("actor", "summary")
    column_filters = ("actor", "action", "target")
    column_labels = {"at": "时间", "actor": "操作人", "action": "操作", "target": "数据表",
                     "target_id": "编号", "summary": "内容", "ip": "IP"}
    column_formatters = {"at": local_time,
                         "action": lambda v, c, m, n: AUDIT_ACTIONS.get(m.action, m.action),
                         "target": lambda v, c, m, n: AUDIT_TARGETS.get(m.target, m.target)}
    can_view_details = False
