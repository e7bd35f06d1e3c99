"""Console page for followers (关注者): read-only, openids shortened."""
from __future__ import annotations

from bot.console.base import ReadOnlyModelView, local_time, short_openid
from models.followers import Follower


class FollowerView(ReadOnlyModelView):
    """关注者: read-only; openids shortened."""

    column_list = ("openid", "subscribed", "town", "subscribed_at", "unsubscribed_at",
                   "last_interaction_at", "scene")
    column_default_sort = ("first_seen_at", True)
    column_filters = ("subscribed", "town")
    column_labels = {"openid": "openid", "subscribed": "关注中", "town": "乡镇",
                     "subscribed_at": "关注时间", "unsubscribed_at": "取消关注时间",
                     "last_interaction_at": "最近互动", "scene": "来源二维码"}
    column_formatters = {"openid": short_openid, "subscribed_at": local_time,
                         "unsubscribed_at": local_time, "last_interaction_at": local_time}
    can_view_details = False


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(FollowerView(Follower, session, name="关注者", category="公众号",
                                endpoint="followers"))
