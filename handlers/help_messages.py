"""Help (求助): the messages about a request that the bot sends on its own, and their sending.

Wording lives here, not in models/help.py: the 客服消息 carrying a staff answer to her,
the 模板消息 saying an answer is waiting, and the notice telling on-duty staff about an urgent
request. Sending goes through the one notifier (:mod:`bot.wechat.notifier`) after the commit
that recorded the change; the model operations only decide and record what the sending did
(``record_staff_notice``, ``record_delivery``). The staff digest is a scheduler job
(``scheduler.help.send_digest``).

WeChat doc sections: 客服消息 - 发送消息 (48-hour window, errcode 45015 outside it) and
模板消息接口 - 发送模板消息.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.wechat.replies import cut_utf8
from bot.wechat.notifier import notifier_for, short_field
from bot.wechat.errors import OutsideServiceWindow, WeChatAPIError
from models import help as hr
from models.base import utcnow
from models.followers import Follower

log = logging.getLogger(__name__)

#: A 客服消息 text is cut to this many bytes of UTF-8; longer answers are read with 「查看回复」.
CUSTOM_TEXT_LIMIT = 1800


@dataclass(frozen=True)
class AnswerResult:
    """What :func:`answer_and_deliver` did: the request and how the answer went out
    (``custom`` 客服消息, ``template`` 模板消息, ``waiting`` = she sees it with 「查看回复」)."""

    request_id: int
    ref: str
    delivery: str


# -- wording -------------------------------------------------------------------------------
def answer_message(row: hr.HelpRequest) -> tuple[str, bool]:
    """The 客服消息 text that carries the answer to her, and whether it is complete."""
    text = (f"【桃源姐妹】您的留言（编号 {row.ref}）有了答复：\n\n{row.answer}\n\n"
            "如还有问题，回复「求助」继续留言。")
    if len(text.encode("utf-8")) <= CUSTOM_TEXT_LIMIT:
        return text, True
    tail = "……\n（内容较长，回复「查看回复」查看全文）"
    return cut_utf8(text, CUSTOM_TEXT_LIMIT - len(tail.encode("utf-8"))) + tail, False


def answer_template_data(ref: str, local_time: str) -> dict[str, str]:
    """The 模板消息 fields telling her an answer is waiting (her words are not in it)."""
    return {"first": "您的留言有答复了", "keyword1": ref, "keyword2": local_time,
            "remark": "请回复「查看回复」查看"}


def urgent_staff_message(ref: str, request_id: int, local_time: str, *,
                         distress: bool) -> tuple[dict[str, str], str]:
    """The notice to on-duty staff about an urgent request: (模板消息 fields, 客服消息 text).
    Her words are not sent, only the reference, category and time."""
    title = "【紧急】有妇女可能有轻生念头" if distress else "【紧急】有妇女可能正遭受暴力"
    data = {"first": title, "keyword1": ref, "keyword2": "紧急求助", "keyword3": local_time,
            "remark": "请立即登录后台查看并联系她"}
    text = (f"{title}\n编号：{ref}\n时间：{local_time}\n"
            f"请立即登录后台（或 taoyuan requests show {request_id}）查看并联系她。")
    return data, text


# -- on-duty staff: urgent requests ----------------------------------------------------------
def notify_urgent(services, request_id: int, now: datetime | None = None) -> int:
    """Tell the on-duty staff at once about urgent request ``request_id`` (模板消息, or the
    outbox in dry run). Records ``staff_notified_at`` when someone was reached, else
    ``staff_notify_failed_at``; returns how many staff were reached (0 without
    ``on_duty_openids``: nothing is tried)."""
    settings = hr.help_settings(services.config)
    now = now or utcnow()
    with services.db.session() as s:
        row = s.get(hr.HelpRequest, request_id)
        if row is None:
            return 0
        ref, distress, created = row.ref, row.distress, row.created_at
    if not settings.staffed:
        log.error("urgent help request %s: nobody was notified because the config key "
                  "[help] on_duty_openids is empty; set the on-duty staff openids", request_id)
        return 0
    local = created.astimezone(services.tz).strftime("%m-%d %H:%M")
    data, text = urgent_staff_message(ref, request_id, local, distress=distress)
    # client_msg_id: a repeat of the same notice is dropped by WeChat; a distress escalation is new
    reached = notifier_for(services).send_to_staff(
        settings.on_duty_openids, template_id=settings.staff_template_id,
        data={k: short_field(v) for k, v in data.items()}, text=text,
        msg_key=f"help-{request_id}-urgent{'-distress' if distress else ''}",
        url=settings.template_url.replace("{id}", str(request_id)))
    with services.db.session() as s:
        hr.record_staff_notice(s, request_id, now, reached=bool(reached))
    log.info("urgent help request %s: %s staff notified", request_id, reached)
    return reached


def _safe_notify(services, request_id: int) -> None:
    try:
        notify_urgent(services, request_id)
    except Exception:  # noqa: BLE001 - a background notification must never crash a worker
        log.exception("urgent help request %s: notification failed", request_id)
        try:
            with services.db.session() as s:
                hr.record_staff_notice(s, request_id, utcnow(), reached=False)
        except Exception:  # noqa: BLE001 - the database may be what failed
            log.exception("urgent help request %s: could not record the failed notification",
                          request_id)


def notify_after_commit(services, session: Session, request_id: int) -> None:
    """Notify on-duty staff about urgent ``request_id`` once ``session`` commits.

    With ``[help] notify_in_background = true`` (the default) the sending runs in a thread, so
    WeChat's 5-second reply budget is never spent on it; :func:`wait_for_notifications` joins
    those threads (tests, CLI). Nothing is sent if the transaction rolls back.
    """
    background = hr.help_settings(services.config).notify_in_background
    notifier_for(services).after_commit(session, lambda: _safe_notify(services, request_id),
                                        background=background, name=f"help-notify-{request_id}")


def wait_for_notifications(services, timeout: float = 10.0) -> None:
    """Join the background sends started by :func:`notify_after_commit` and
    :func:`deliver_after_commit` (the notifier's threads)."""
    notifier_for(services).wait(timeout)


# -- her answer ------------------------------------------------------------------------------
def deliver_answer(services, request_id: int, now: datetime | None = None) -> str:
    """Send her the answer of ``request_id``: a 客服消息 inside WeChat's 48-hour window
    (客服消息 doc), else a template message (模板消息 doc) saying an answer is waiting and that
    「查看回复」 shows it. Returns the delivery (``custom``, ``template`` or ``waiting`` when
    neither worked) and records it on the request. Raises ``RequestNotFound``.
    """
    settings = hr.help_settings(services.config)
    now = now or utcnow()
    with services.db.session() as s:
        row = hr.get_request(s, request_id)
        if not row.openid or row.answer is None:
            return row.answer_delivery or hr.DELIVERY_WAITING
        openid, ref, answered_at = row.openid, row.ref, row.answered_at
        text, complete = answer_message(row)
        follower = s.get(Follower, openid)
        in_window = follower is not None and follower.in_service_window(now)
    notifier = notifier_for(services)
    delivery = hr.DELIVERY_WAITING
    if in_window:
        try:
            notifier.send_text(openid, text)
            delivery = hr.DELIVERY_CUSTOMER_SERVICE
        except OutsideServiceWindow:
            log.info("help request %s: outside the 48-hour window, trying a template", request_id)
        except WeChatAPIError as exc:
            log.warning("help request %s: answer by 客服消息 failed: %s", request_id, exc)
    if delivery == hr.DELIVERY_WAITING and settings.answer_template_id:
        local = (answered_at or now).astimezone(services.tz).strftime("%Y-%m-%d %H:%M")
        try:
            notifier.send_template(openid, settings.answer_template_id,
                                   answer_template_data(ref, local), url=None,
                                   client_msg_id=f"help-{request_id}-answer-{int((answered_at or now).timestamp())}")
            delivery = hr.DELIVERY_TEMPLATE
        except WeChatAPIError as exc:
            log.warning("help request %s: answer template failed: %s", request_id, exc)
    with services.db.session() as s:
        hr.record_delivery(s, request_id, delivery, complete=complete, now=now)
    log.info("help request %s: answer delivery %s", request_id, delivery)
    return delivery


def deliver_after_commit(services, session: Session, request_id: int, *,
                         background: bool = False) -> None:
    """Deliver the answer of ``request_id`` (:func:`deliver_answer`) once ``session`` commits
    (nothing is sent if it rolls back). For callers that save the answer with
    ``models.help.record_answer`` in their own transaction (the staff console). Staff
    can wait the second a send takes, so it runs in the committing thread unless
    ``background``."""
    def deliver() -> None:
        try:
            deliver_answer(services, request_id)
        except Exception:  # noqa: BLE001 - logged; the sweep (deliver_pending_answers) retries
            log.exception("help request %s: answer delivery failed", request_id)

    notifier_for(services).after_commit(session, deliver, background=background,
                                        name=f"help-answer-{request_id}")


def deliver_pending_answers(services, *, older_than: int = 60, now: datetime | None = None) -> int:
    """Deliver answers saved but never sent (``answer_delivery = pending`` for more than
    ``older_than`` seconds: a crash between saving and sending). Returns how many were tried."""
    now = now or utcnow()
    with services.db.session() as s:
        ids = hr.pending_answer_ids(s, older_than=older_than, now=now)
    for request_id in ids:
        deliver_answer(services, request_id, now=now)
    return len(ids)


def answer_and_deliver(services, request_id: int, text: str, *, staff: str,
                       now: datetime | None = None) -> AnswerResult:
    """Staff answer a request (console and ``taoyuan requests reply``): save it in one transaction
    (``record_answer``, which raises ``RequestNotFound``, ``EmptyMessage``,
    ``RequestAnonymised``), then deliver it (:func:`deliver_answer`)."""
    with services.db.session() as s:
        row = hr.record_answer(s, request_id, text, staff=staff, now=now)
        ref = row.ref
    delivery = deliver_answer(services, request_id, now=now)
    return AnswerResult(request_id, ref, delivery)
