"""Console page for followers (关注者): openids shortened; staff may set her 乡镇 only."""
from __future__ import annotations

from wtforms import SelectField
from wtforms.validators import Optional

from flask_login import current_user

from bot.console.auth import client_ip
from bot.console.base import ReadOnlyModelView, local_time, short_openid
from bot.core.geo import TOWNS
from models import audit
from models.followers import TOWN_SOURCE_LABELS, TOWN_STAFF, Follower, set_follower_town


class FollowerView(ReadOnlyModelView):
    """关注者: openids shortened; 「编辑」 changes only her 乡镇 (for the figures per town),
    through ``models.followers.set_follower_town`` (source 工作人员设置, audited)."""

    can_edit = True
    form_columns = ("town",)
    form_overrides = {"town": SelectField}
    form_args = {"town": {"label": "乡镇（用于按乡镇统计；她之后本人填写的乡镇会替换这里的设置）",
                          "choices": [("", "（未填乡镇）")] + [(t, t) for t in TOWNS],
                          "validators": [Optional()]}}
    form_widget_args = {"town": {"required": False}}
    column_list = ("openid", "subscribed", "town", "town_source", "subscribed_at", "unsubscribed_at",
                   "last_interaction_at", "scene")
    column_default_sort = ("first_seen_at", True)
    column_filters = ("subscribed", "town")
    column_labels = {"openid": "openid", "subscribed": "关注中", "town": "乡镇", "town_source": "乡镇来源",
                     "subscribed_at": "关注时间", "unsubscribed_at": "取消关注时间",
                     "last_interaction_at": "最近互动", "scene": "来源二维码"}
    column_formatters = {"openid": short_openid, "subscribed_at": local_time,
                         "town_source": lambda v, c, m, n: TOWN_SOURCE_LABELS.get(m.town_source or "", "")
                         if m.town else "",
                         "unsubscribed_at": local_time, "last_interaction_at": local_time}
    can_view_details = False

    def update_model(self, form, model):
        """Her town as staff set it (``set_follower_town``, source staff), audited."""
        old, new = model.town, form.town.data or None
        try:
            set_follower_town(self.session, model.openid, new, source=TOWN_STAFF)
            audit.record(self.session, current_user.username, "update", "followers",
                         model.openid, f"乡镇：{old or '未填'} → {new or '未填'}", ip=client_ip())
            self.session.commit()
        except Exception as exc:  # noqa: BLE001 - model and database errors become form errors
            return self.refuse(exc)
        return True


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"followers": "关注者"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(FollowerView(Follower, session, name="关注者", category="公众号",
                                endpoint="followers"))
