"""Console pages for columns (专栏) and their articles (专栏文章)."""
from __future__ import annotations

from wtforms import DateField, TextAreaField
from wtforms.widgets import TextInput

from bot.console.base import AuditedModelView, link_formatter, local_today
from models.columns import Article, ArticleColumn, check_column, validate_article


class ColumnView(AuditedModelView):
    """专栏: columns such as 【改革破难】; name without brackets."""

    column_list = ("name", "menu_key", "description", "active")
    column_labels = {"name": "栏目名称（不带【】）", "menu_key": "菜单按钮代码（可选）",
                     "description": "说明", "active": "启用", "articles": "文章"}
    form_excluded_columns = ("articles",)

    form_args = {"menu_key": {"label": "菜单按钮代码（可选，≤128 字节，不能有空格，如 COLUMN_REFORM）"}}

    def on_model_change(self, form, model, is_created):
        model.name, model.menu_key = check_column(self.session, model.name or "", model.menu_key,
                                                  column_id=None if is_created else model.id)
        super().on_model_change(form, model, is_created)


class ArticleView(AuditedModelView):
    """专栏文章: title, digest, cover, link, date."""

    column_list = ("published_on", "column", "title", "digest", "url")
    column_default_sort = ("published_on", True)
    column_searchable_list = ("title", "digest")
    column_filters = ("published_on",)
    column_labels = {"published_on": "日期", "column": "栏目", "title": "标题", "digest": "摘要",
                     "cover_url": "封面图片链接", "url": "文章链接",
                     "media_id": "图文素材 media_id（可选，群发用）", "created_at": "录入时间"}
    form_excluded_columns = ("created_at",)
    # A plain text box taking YYYY-MM-DD (also 2026/11/20, 2026.11.20): Flask-Admin's
    # JavaScript date picker turned a typed "2026-11-20" into "0002-01-01026-11-20", and a
    # browser date control orders its parts by the computer's locale.
    form_overrides = {"digest": TextAreaField, "published_on": DateField}
    form_args = {"published_on": {"format": ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"],
                                  "label": "日期（如 2026-11-20）", "widget": TextInput(),
                                  "default": lambda: local_today()}}
    form_widget_args = {"published_on": {"placeholder": "2026-11-20"}}

    def on_model_change(self, form, model, is_created):
        validate_article(model.title or "", model.url or "", model.cover_url or "")
        model.digest, model.cover_url = model.digest or "", model.cover_url or ""
        model.media_id = (model.media_id or "").strip() or None
        super().on_model_change(form, model, is_created)


ArticleView.column_formatters = {"url": link_formatter("打开")}


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"article_columns": "专栏", "articles": "专栏文章"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(ColumnView(ArticleColumn, session, name="专栏", category="专栏与群发",
                              endpoint="columns"))
    admin.add_view(ArticleView(Article, session, name="专栏文章", category="专栏与群发",
                               endpoint="articles"))
