"""Console page for help requests (求助留言): masked list, answer page."""
from __future__ import annotations

from flask import current_app, flash
from flask_login import current_user
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


def _yes_no(_v, _c, model, name) -> str:
    return "是" if getattr(model, name) else "否"


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
    column_list = ("id", "created_at", "urgent", "category", "status", "body", "answered_by")
    column_default_sort = ("id", True)
    column_filters = ("status", "urgent", "category")
    column_labels = {"id": "编号", "created_at": "提交时间", "urgent": "紧急", "category": "类别",
                     "status": "状态", "body": "内容", "answer": "答复", "answered_by": "答复人",
                     "phone": "电话", "distress": "危险信号（求救）", "submitted": "已提交",
                     "updated_at": "更新时间", "contact": "联系方式", "media": "图片/语音",
                     "staff_notified_at": "通知工作人员时间", "answered_at": "答复时间",
                     "answer_delivery": "答复送达方式", "answer_seen_at": "她查看答复时间",
                     "closed_at": "关闭时间", "anonymised_at": "匿名化时间"}
    column_formatters = {"created_at": local_time,
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
        "urgent": _yes_no, "distress": _yes_no, "submitted": _yes_no,
        "answer_delivery": _label_formatter("DELIVERY_LABELS", "answer_delivery"),
        "body": lambda v, c, m, n: mask_phone(m.body or ""), "phone": masked})
    form_columns = ("answer",)
    form_overrides = {"answer": TextAreaField}
    # Required: a POST without ``answer`` kept the old answer in the form and sent it again.
    form_args = {"answer": {"label": "答复（保存后发给她）",
                            "validators": [InputRequired("请填写答复内容。")]}}
    column_details_exclude_list = ("openid", "media")

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if template == self.edit_template and model is not None:
            kwargs["her"] = help_summary(model)
        return super().render(template, **kwargs)

    def update_model(self, form, model):
        try:
            record_answer(self.session, model.id, form.answer.data or "",
                          staff=answerer_name(self.session, current_user.username))
            deliver_after_commit(current_app.extensions["taoyuan"], self.session, model.id)
            audit.record(self.session, current_user.username, "answer", "help_requests", model.id,
                         "答复求助", ip=client_ip())
            self.session.commit()
        except Exception as exc:  # noqa: BLE001 - named help errors are shown to staff
            self.session.rollback()
            message = HELP_ERRORS.get(type(exc).__name__) or form_error_message(exc)
            flash(f"答复未保存：{message}" if message else "答复未保存，请检查后重试。", "error")
            return False
        return True


def help_summary(row) -> list[tuple[str, str]]:
    """(Chinese label, text) rows shown read-only above the answer box: her message, category,
    urgency, how she wants to be contacted and her phone (in full: staff call her back)."""
    tz = _tz()
    when = lambda v: v.astimezone(tz).strftime("%Y-%m-%d %H:%M") if v else ""  # noqa: E731
    contact = _help_labels("CONTACT_LABELS").get(row.contact, row.contact or "")
    out = [("编号", str(row.id)), ("提交时间", when(row.created_at)),
           ("类别", _help_labels("CATEGORY_LABELS").get(row.category, row.category)),
           ("状态", _help_labels("STATUS_LABELS").get(row.status, row.status))]
    if row.urgent or row.distress:
        out.append(("紧急", "是（含危险信号，请尽快处理）" if row.distress else "是"))
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
