"""Console page for volunteers (志愿者)."""
from __future__ import annotations

from sqlalchemy import select

from bot.console.base import AuditedModelView, local_time, masked
from models.volunteers import Volunteer
from models.activities import Signup


class VolunteerView(AuditedModelView):
    """志愿者: masked phones; hours are on the signups (签到时记入)."""

    can_create = False
    column_list = ("name", "phone", "town", "skills", "hours", "created_at")
    column_searchable_list = ("name", "skills")
    column_filters = ("town",)
    column_labels = {"name": "姓名", "phone": "电话", "town": "乡镇", "skills": "特长",
                     "available": "可服务时间", "created_at": "登记时间", "updated_at": "更新时间",
                     "hours": "累计服务时长（小时）"}
    column_formatters = {"phone": masked, "created_at": local_time,
                         "hours": lambda v, c, m, n: _volunteer_hours(v.session, m.openid)}
    form_excluded_columns = ("openid", "created_at", "updated_at")
    column_details_exclude_list = ("openid",)


def _volunteer_hours(session, openid: str) -> str:
    from sqlalchemy import func

    total = session.scalar(select(func.coalesce(func.sum(Signup.hours), 0)).where(
        Signup.openid == openid, Signup.role == "volunteer", Signup.attended_at.is_not(None)))
    return f"{float(total or 0):g}"


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"volunteers": "志愿者"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(VolunteerView(Volunteer, session, name="志愿者", category="活动",
                                 endpoint="volunteers"))
