"""The console pages of the features, each added only when its model module exists."""
from __future__ import annotations

from bot.console.activities import ActivityView, SignupView
from bot.console.base import _module
from bot.console.directory import PointView
from bot.console.help import HelpRequestView
from bot.console.reminders import DeliveryLogView, ReminderView
from bot.console.volunteers import VolunteerView


def add_feature_views(admin, session) -> None:
    """Add the pages of every installed feature."""
    sp = _module("models.directory")
    if sp is not None:
        admin.add_view(PointView(sp.ServicePoint, session, name="服务点", category="近邻娘家",
                                 endpoint="points"))
    act = _module("models.activities")
    if act is not None:
        admin.add_view(ActivityView(act.Activity, session, name="活动", category="活动",
                                    endpoint="activities"))
        from flask_admin.contrib.sqla.filters import FilterEqual

        SignupView.column_filters = (
            "activity_id",
            FilterEqual(act.Signup.status, "状态", options=[
                ("confirmed", "已报名"), ("waiting", "候补"), ("attended", "已签到"),
                ("cancelled", "已取消")]),
            FilterEqual(act.Signup.role, "身份", options=[("participant", "参加"),
                                                        ("volunteer", "志愿者")]))
        admin.add_view(SignupView(act.Signup, session, name="报名名单", category="活动",
                                  endpoint="signups"))
    vol = _module("models.volunteers")
    if vol is not None:
        admin.add_view(VolunteerView(vol.Volunteer, session, name="志愿者", category="活动",
                                     endpoint="volunteers"))
    rem = _module("models.reminders")
    if rem is not None:
        admin.add_view(ReminderView(rem.Reminder, session, name="定时提醒", category="提醒",
                                    endpoint="reminders"))
        admin.add_view(DeliveryLogView(rem.DeliveryLog, session, name="推送记录", category="提醒",
                                       endpoint="deliveries"))
    hr = _module("models.help")
    if hr is not None:
        admin.add_view(HelpRequestView(hr.HelpRequest, session, name="求助留言", category="求助",
                                       endpoint="help"))
