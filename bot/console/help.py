"""Console page for help requests (求助留言): masked list, answer page."""
from __future__ import annotations

from flask import current_app, flash, g, request, session as flask_session
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import TextAreaField
from wtforms.validators import InputRequired

from bot.console.auth import client_ip
from bot.console.base import AuditedModelView, _tz, form_error_message, local_time, masked
from handlers.help_messages import deliver_after_commit
from models import audit
from models import help as hr
from models.audit import mask_phone
from models.help import record_answer
from models.staff import answerer_name


def _help_labels(name: str) -> dict[str, str]:
    return dict(getattr(hr, name))


def _label_formatter(labels_name: str, attr: str):
    return lambda v, c, m, n: _help_labels(labels_name).get(getattr(m, attr), getattr(m, attr))


def _ref(_v, _c, model, _n) -> Markup:
    """编号 as she was given it (H00003); urgent unanswered rows carry the ``urgent-open`` mark
    the stylesheet paints red (the whole row: ``tr:has(.urgent-open)``)."""
    ref = escape(model.ref)
    if model.urgent and model.status == hr.STATUS_NEW:
        return Markup(f'<span class="urgent-open">{ref}</span>')
    return Markup(f"<span>{ref}</span>")


def _urgency(_v, _c, model, _n) -> str:
    return hr.urgency_text(model)


def _waited(_v, _c, model, _n) -> str:
    return hr.waited_text(model)


#: ``answer_delivery`` -> the sentence flashed after 「答复并发送」 (how it reached her).
DELIVERY_FLASH = {
    hr.DELIVERY_CUSTOMER_SERVICE: "已答复{ref}，并通过客服消息发到了她的微信。",
    hr.DELIVERY_TEMPLATE: "已答复{ref}：她超过 48 小时没有发消息，已用模板消息提醒她回复「查看回复」查看。",
    hr.DELIVERY_WAITING: "已答复{ref}，但没能推送给她（超过 48 小时，也没有设置模板消息）：等她查看，"
                         "她回复「查看回复」或下次来留言时就能看到。",
    hr.DELIVERY_PENDING: "已答复{ref}，正在发送给她；如发送失败，系统会自动重试。",
}


def delivery_message(ref: str, delivery: str | None, *, dry_run: bool) -> str:
    """The Chinese sentence staff see after answering request ``ref``: how the answer went
    out (客服消息 / 模板消息 / 等她查看), and 「演练：未真正发送」 in dry-run mode."""
    text = DELIVERY_FLASH.get(delivery or hr.DELIVERY_PENDING, DELIVERY_FLASH[hr.DELIVERY_PENDING])
    text = text.format(ref=f" {ref} ")
    return text + "（演练：未真正发送）" if dry_run else text


#: Help answer errors -> the sentence shown to staff.
HELP_ERRORS = {"EmptyMessage": "请填写答复内容。", "RequestNotFound": "没有这条求助。",
               "RequestAnonymised": "这条求助已按保存期限匿名化，不能再答复。"}


class HelpRequestView(AuditedModelView):
    """求助留言: masked list; the answer page shows her message and contact details above the
    answer box; the answer is delivered by the help feature. 答复人 is the staff member's
    display name (her username when she has none), as shown in the console's top bar."""

    can_create = False
    can_delete = False
    edit_template = "console/help_edit.html"
    list_template = "console/help_list.html"
    column_list = ("id", "created_at", "waited", "urgent", "category", "status", "body", "answered_by")
    column_sortable_list = ("id", "created_at", "urgent", "category", "status")
    column_filters = ("status", "urgent", "category")
    column_labels = {"id": "编号", "created_at": "提交时间", "waited": "等待", "urgent": "紧急程度",
                     "category": "类别",
                     "status": "状态", "body": "内容", "answer": "答复", "answered_by": "答复人",
                     "phone": "电话", "submitted": "已提交",
                     "updated_at": "更新时间", "contact": "联系方式", "media": "图片/语音",
                     "staff_notified_at": "通知工作人员时间", "answered_at": "答复时间",
                     "answer_delivery": "答复送达方式", "answer_seen_at": "她查看答复时间",
                     "closed_at": "关闭时间", "anonymised_at": "匿名化时间"}
    column_formatters = {"id": _ref, "created_at": local_time, "urgent": _urgency, "waited": _waited,
                         "category": _label_formatter("CATEGORY_LABELS", "category"),
                         "status": _label_formatter("STATUS_LABELS", "status"),
                         "body": lambda v, c, m, n: mask_phone(m.body or "")[:40] + ("…" if len(m.body or "") > 40 else ""),
                         "phone": masked}
    column_formatters_detail = {
        name: local_time for name in ("created_at", "updated_at", "staff_notified_at",
                                      "answered_at", "answer_seen_at", "closed_at", "anonymised_at")}
    column_formatters_detail.update({
        "category": _label_formatter("CATEGORY_LABELS", "category"),
        "status": _label_formatter("STATUS_LABELS", "status"),
        "contact": _label_formatter("CONTACT_LABELS", "contact"),
        "id": _ref, "urgent": _urgency,
        "answer_delivery": _label_formatter("DELIVERY_LABELS", "answer_delivery"),
        "body": lambda v, c, m, n: mask_phone(m.body or ""), "phone": masked})
    form_columns = ("answer",)
    form_overrides = {"answer": TextAreaField}
    # Required: a POST without ``answer`` kept the old answer in the form and sent it again.
    form_args = {"answer": {"label": "答复（按「答复并发送」后发给她）",
                            "validators": [InputRequired("请填写答复内容。")]}}
    column_details_list = ("id", "created_at", "urgent", "category", "status", "body", "contact",
                           "phone", "submitted", "staff_notified_at", "answer", "answered_by",
                           "answered_at", "answer_delivery", "answer_seen_at", "updated_at",
                           "closed_at", "anonymised_at")

    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        """No column chosen: urgent unanswered requests on top (:func:`models.help.staff_order`)."""
        if sort_column is None:
            return query.order_by(*hr.staff_order()), joins
        return super()._apply_sorting(query, joins, sort_column, sort_desc)

    def _only_urgent_open(self, query):
        if request.args.get("urgent_open") == "1":
            query = query.filter(hr.HelpRequest.urgent.is_(True),
                                 hr.HelpRequest.status == hr.STATUS_NEW)
        return query

    def get_query(self):
        """``?urgent_open=1`` (the dashboard's link): urgent unanswered requests only."""
        return self._only_urgent_open(super().get_query())

    def get_count_query(self):
        return self._only_urgent_open(super().get_count_query())

    def render(self, template, **kwargs):
        kwargs.setdefault("urgent_open_only", request.args.get("urgent_open") == "1")
        return super().render(template, **kwargs) if template != self.edit_template else \
            self._render_edit(template, **kwargs)

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        """Flask-Admin's edit page; after 「答复并发送」 only our sentence on how she got the
        answer is shown (not the generic 「保存成功」 as well)."""
        response = super().edit_view()
        if g.get("help_answer_flashed"):
            flashes = flask_session.get("_flashes", [])
            flask_session["_flashes"] = [f for f in flashes
                                         if not (f[0] == "success" and f[1] != g.help_answer_flashed)]
        return response

    def _render_edit(self, template, **kwargs):
        model = kwargs.get("model")
        if model is not None:
            kwargs["her"] = help_summary(model)
        return super().render(template, **kwargs)

    def update_model(self, form, model):
        try:
            record_answer(self.session, model.id, form.answer.data or "",
                          staff=answerer_name(self.session, current_user.username))
            deliver_after_commit(current_app.extensions["taoyuan"], self.session, model.id)
            audit.record(self.session, current_user.username, "answer", "help_requests", model.id,
                         "答复求助", ip=client_ip())
            ref = model.ref
            self.session.commit()  # the answer is delivered now, in this thread
        except Exception as exc:  # noqa: BLE001 - named help errors are shown to staff
            self.session.rollback()
            message = HELP_ERRORS.get(type(exc).__name__) or form_error_message(exc)
            flash(f"答复未保存：{message}" if message else "答复未保存，请检查后重试。", "error")
            return False
        svc = current_app.extensions["taoyuan"]
        with svc.db.session() as s:
            delivery = s.get(hr.HelpRequest, model.id).answer_delivery
        g.help_answer_flashed = delivery_message(ref, delivery, dry_run=svc.config.dry_run)
        flash(g.help_answer_flashed, "success")
        return True


def help_summary(row) -> list[tuple[str, str]]:
    """(Chinese label, text) rows shown read-only above the answer box: her message, category,
    urgency, how she wants to be contacted and her phone (in full: staff call her back)."""
    tz = _tz()
    when = lambda v: v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if v else ""  # noqa: E731
    contact = _help_labels("CONTACT_LABELS").get(row.contact, row.contact or "")
    out = [("编号", row.ref), ("提交时间", when(row.created_at)),
           ("类别", _help_labels("CATEGORY_LABELS").get(row.category, row.category)),
           ("状态", _help_labels("STATUS_LABELS").get(row.status, row.status))]
    if row.urgent or row.distress:
        out.append(("紧急程度", hr.urgency_text(row) + "，请尽快处理"))
        if row.status == hr.STATUS_NEW:
            out.append(("等待", hr.waited_text(row)))
    out += [("她的留言", row.body or "（无文字）"), ("联系方式", contact)]
    if row.phone:
        out.append(("电话", row.phone))
    if row.answer:
        out.append(("上次答复", f"{row.answer}（{row.answered_by or ''} {when(row.answered_at)}）"))
    return out


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"help_requests": "求助留言"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(HelpRequestView(hr.HelpRequest, session, name="求助留言", category="求助",
                                   endpoint="help"))
