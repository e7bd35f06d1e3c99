"""Console pages for the core and console tables: keyword replies (with 试一试), outbox,
followers, columns and articles, staff accounts and the audit log."""
from __future__ import annotations

import dataclasses
import json

from flask import current_app, flash, request
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import DateField, PasswordField, SelectField, TextAreaField
from wtforms.validators import Optional
from wtforms.widgets import TextInput

from bot.console.base import AuditedModelView, ReadOnlyModelView
from bot.core.kv import Keys
from bot.wechat.replies import NewsReply, TextReply
from models.audit import mask_phone
from models.base import is_http_url
from models.staff import ROLES, StaffError, add_staff

KEYWORD_MATCH = [("exact", "完全一致"), ("contains", "包含关键词")]


def masked(_view, _context, model, name) -> str:
    """Column formatter: phone numbers masked (138****1234)."""
    return mask_phone(str(getattr(model, name) or ""))


def short_openid(_view, _context, model, name) -> str:
    """Column formatter: an openid shortened to its first 6 and last 4 characters."""
    value = str(getattr(model, name) or "")
    return value if len(value) <= 12 else f"{value[:6]}…{value[-4:]}"


def local_time(_view, _context, model, name) -> str:
    value = getattr(model, name)
    if value is None:
        return ""
    tz = current_app.extensions["taoyuan"].tz
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def local_today():
    """Today's date in local time (Asia/Shanghai)."""
    from models.base import utcnow

    return utcnow().astimezone(current_app.extensions["taoyuan"].tz).date()


class _TryServices:
    """A WeChat client stand-in for 试一试: handlers' outbound calls are dropped."""

    def __getattr__(self, name):
        def _drop(*args, **kwargs):
            return "try-0"
        return _drop


def try_message(services, text: str, username: str) -> dict:
    """What the bot would answer to ``text``: dispatched in a session that is rolled back,
    with a sandbox Redis prefix and no outbound WeChat calls. Returns ``{"kind": "text" |
    "news" | "none", ...}``."""
    import handlers
    from bot.wechat.updates import Update
    from handlers.router import Context

    sandbox = dataclasses.replace(services, keys=Keys(services.keys("console-try") + ":"),
                                  _wechat=_TryServices())
    update = Update(msg_type="text", openid=f"console-try-{username}"[:64], content=text,
                    msg_id="0", account=services.config.wechat.get("account", ""))
    with services.db.Session() as s:
        try:
            ctx = Context(update=update, services=sandbox, session=s)
            reply = handlers.build_router().dispatch(ctx)
            ctx.conversation.end()
            ctx.set_more([])
        finally:
            s.rollback()
    if isinstance(reply, TextReply):
        return {"kind": "text", "content": reply.content}
    if isinstance(reply, NewsReply):  # ``link``: the url only when it may be a live link
        return {"kind": "news", "title": reply.title, "description": reply.description,
                "url": reply.url, "pic_url": reply.pic_url,
                "link": reply.url if is_http_url(reply.url) else ""}
    return {"kind": "none"}


class KeywordReplyView(AuditedModelView):
    """关键词回复: edit staff-defined answers; 试一试 shows what the bot would answer."""

    list_template = "console/keyword_list.html"
    column_list = ("keyword", "match", "reply_text", "article_title", "priority", "active")
    column_searchable_list = ("keyword", "reply_text")
    column_labels = {"keyword": "关键词", "match": "匹配方式", "reply_text": "回复文字",
                     "article_title": "图文标题", "article_description": "图文摘要",
                     "article_pic_url": "图文封面链接", "article_url": "图文链接",
                     "priority": "优先级", "active": "启用"}
    column_formatters = {"match": lambda v, c, m, n: dict(KEYWORD_MATCH).get(m.match, m.match)}
    form_overrides = {"match": SelectField, "reply_text": TextAreaField}
    form_args = {"match": {"choices": KEYWORD_MATCH}}

    def on_model_change(self, form, model, is_created):
        from models.keywords import check_reply_links

        check_reply_links(model.article_url, model.article_pic_url)  # KeywordError: form error
        super().on_model_change(form, model, is_created)

    @expose("/try", methods=("GET", "POST"))
    def try_view(self):
        text = (request.form.get("text") or request.args.get("text") or "").strip()[:500]
        result = None
        if text:
            services = current_app.extensions["taoyuan"]
            result = try_message(services, text, current_user.username)
        return self.render("console/try.html", text=text, result=result)


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


class ColumnView(AuditedModelView):
    """专栏: columns such as 【改革破难】; name without brackets."""

    column_list = ("name", "menu_key", "description", "active")
    column_labels = {"name": "栏目名称（不带【】）", "menu_key": "菜单 key（可选）",
                     "description": "说明", "active": "启用", "articles": "文章"}
    form_excluded_columns = ("articles",)

    form_args = {"menu_key": {"label": "菜单 key（可选，≤128 字节，不能有空格，如 COLUMN_REFORM）"}}

    def on_model_change(self, form, model, is_created):
        from models.columns import check_column

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
        from models.columns import validate_article

        validate_article(model.title or "", model.url or "", model.cover_url or "")
        model.digest, model.cover_url = model.digest or "", model.cover_url or ""
        model.media_id = (model.media_id or "").strip() or None
        super().on_model_change(form, model, is_created)


class StaffView(AuditedModelView):
    """工作人员账号 (管理员 only). Passwords are set here or with ``taoyuan staff add``."""

    admin_only = True
    column_list = ("username", "display_name", "role", "active", "openid", "last_login_at")
    column_labels = {"username": "用户名", "display_name": "显示名称", "role": "角色",
                     "active": "启用", "openid": "本人微信 openid", "last_login_at": "最近登录",
                     "new_password": "新密码（不改请留空）"}
    column_formatters = {"role": lambda v, c, m, n: ROLES.get(m.role, m.role),
                         "openid": short_openid, "last_login_at": local_time}
    form_columns = ("username", "display_name", "role", "active", "openid", "new_password")
    form_overrides = {"role": SelectField}
    form_args = {"role": {"choices": list(ROLES.items())}}
    form_extra_fields = {"new_password": PasswordField("新密码", validators=[Optional()])}
    can_view_details = False

    def create_model(self, form):
        try:
            user = add_staff(self.session, form.username.data or "", form.new_password.data or "",
                             form.role.data, display_name=form.display_name.data or "",
                             openid=form.openid.data or None)
            user.active = bool(form.active.data)
            self.on_model_change(form, user, True)
            self.session.commit()
        except StaffError as exc:
            flash(str(exc), "error")
            self.session.rollback()
            return False
        return user

    def on_model_change(self, form, model, is_created):
        if not is_created and form.new_password.data:
            if model.id == current_user.id:  # her own: only with the current one, 我的账号
                raise StaffError("修改自己的密码请到右上角「我的账号」（需要填写当前密码）")
            model.set_password(form.new_password.data)
        if model.id == current_user.id and (model.role != "admin" or not model.active):
            raise StaffError("不能取消自己的管理员权限或停用自己的账号")
        model.openid = (model.openid or "").strip() or None
        super().on_model_change(form, model, is_created)

    def on_model_delete(self, model):
        if model.id == current_user.id:
            raise StaffError("不能删除自己的账号")
        super().on_model_delete(model)


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


def link_formatter(label: str):
    def fmt(_v, _c, model, name):
        url = getattr(model, name) or ""
        if not is_http_url(url):
            return url
        return Markup(f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(label)}</a>')
    return fmt


ArticleView.column_formatters = {"url": link_formatter("打开")}
