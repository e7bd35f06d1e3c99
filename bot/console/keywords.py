"""Console page for keyword replies (关键词回复), with 试一试: what the bot would answer."""
from __future__ import annotations

import dataclasses

from flask import current_app, request
from flask_admin import expose
from flask_login import current_user
from wtforms import SelectField, TextAreaField

from bot.console.base import AuditedModelView
from bot.core.kv import Keys
from bot.wechat.replies import NewsReply, TextReply
from handlers.router import Context
from models.base import is_http_url
from models.keywords import KeywordReply, check_reply_links


KEYWORD_MATCH = [("exact", "完全一致"), ("contains", "包含关键词")]


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


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"keyword_replies": "关键词回复"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(KeywordReplyView(KeywordReply, session, name="关键词回复", category="公众号",
                                    endpoint="keywords"))
