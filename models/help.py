"""Help requests (求助/留言): what a woman asks the federation, and the staff's answer.

The 事务联商 and 纠纷化解 work of the seed article starts from what women say they need. A request
is made by the 「求助」 conversation (handlers/help.py) or, marked urgent, by a danger
word in any message (handlers/safety.py). Staff answer with
``handlers.help_messages.answer_and_deliver`` (console and ``taoyuan requests reply``): inside
WeChat's 48-hour window as a 客服消息, otherwise a 模板消息
says an answer is waiting and 「查看回复」 shows it.

Privacy: ``body``, ``media``, ``phone`` and ``answer`` are personal. They are never logged (log
lines carry the request id only), blanked with her openid by 「删除我的信息」
(:func:`erase_help_requests`), and by :func:`anonymise_finished` once a finished request is
older than ``retention_days``.

Staff notifications: urgent requests at once (``handlers.help_messages.notify_after_commit``,
run after the webhook's commit, in a background thread so the reply is never late), the others
in a digest (``scheduler.help.send_digest``, called by the scheduler and ``taoyuan requests
digest``). This module only decides and records what those did; it never sends. Mediation
booking is models/mediation.py, danger words staff add are models/safety.py.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Integer, String, Text, and_, case, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.core.config import ConfigError
from models.base import AwareDateTime, Base, utcnow
from models.privacy import name_and_mobile, normalize_mobile, register_eraser

log = logging.getLogger(__name__)

#: Categories: (code, label shown to her and to staff). The order is the menu numbering 1-6.
CATEGORIES: list[tuple[str, str]] = [
    ("law", "政策法律"),
    ("family", "婚姻家庭/矛盾调解"),
    ("education", "家庭教育指导"),
    ("care", "关爱帮扶"),
    ("jobs", "就业创业"),
    ("other", "其他"),
]
CATEGORY_LABELS = dict(CATEGORIES)
#: Category of a request made by a danger word before she chose one.
CATEGORY_URGENT = "urgent"
CATEGORY_LABELS[CATEGORY_URGENT] = "紧急求助"

STATUS_NEW = "new"
STATUS_ANSWERED = "answered"
STATUS_CLOSED = "closed"
#: Chinese labels of the statuses, for her 「我的留言」, ``taoyuan requests`` and the staff console.
STATUS_LABELS = {STATUS_NEW: "待答复", STATUS_ANSWERED: "已答复", STATUS_CLOSED: "已关闭"}
#: Label of the ``urgent`` flag (a danger word was seen), for staff lists.
URGENT_LABEL = "紧急"
#: Label of a draft (not submitted, not urgent: she left 「求助」 before finishing), for staff.
DRAFT_LABEL = "未填完（她中途离开，已写的内容已保存，联系方式按微信回复）"

CONTACT_WECHAT = "wechat"
CONTACT_PHONE = "phone"
CONTACT_NONE = "none"
CONTACT_LABELS = {CONTACT_WECHAT: "微信回复", CONTACT_PHONE: "电话", CONTACT_NONE: "不需要联系"}

#: How an answer reached her: 客服消息, a template message pointing at 「查看回复」, not sent yet
#: (``pending``), or neither could be sent (``waiting``: she reads it with 「查看回复」).
DELIVERY_CUSTOMER_SERVICE = "custom"
DELIVERY_TEMPLATE = "template"
DELIVERY_PENDING = "pending"
DELIVERY_WAITING = "waiting"
#: Chinese labels of ``answer_delivery`` for staff (console, ``taoyuan requests show``).
DELIVERY_LABELS = {DELIVERY_CUSTOMER_SERVICE: "客服消息", DELIVERY_TEMPLATE: "模板消息提醒",
                   DELIVERY_PENDING: "待发送", DELIVERY_WAITING: "未推送（她回复「查看回复」可看到）"}

#: A draft (:func:`save_draft`) untouched this long (seconds; the 「求助」 conversation's
#: Redis lifetime) was left unfinished: the digest reports it like a submitted request.
DRAFT_IDLE_SECONDS = 600

#: Limits on what is stored (characters).
MAX_BODY_CHARS = 4000
MAX_ANSWER_CHARS = 3000
MAX_MEDIA = 20


# -- errors ------------------------------------------------------------------------------
class HelpError(Exception):
    """Base of the named errors raised by help-request operations."""


class RequestNotFound(HelpError):
    """No help request with that id (or it was erased)."""


class EmptyMessage(HelpError):
    """A request with neither words nor media, or an empty answer."""


class InvalidCategory(HelpError):
    """A category code that is not one of :data:`CATEGORIES`."""


class InvalidPhone(HelpError):
    """Contact by phone without a valid mainland mobile or landline number."""


class RequestAnonymised(HelpError):
    """The request's content was removed by the retention period; it cannot be answered."""


# -- settings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class HelpSettings:
    """The ``[help]`` config section, validated.

    ``digest_times`` are local ``HH:MM`` strings (Asia/Shanghai); ``retention_days`` is in days;
    ``urgent_merge_hours`` is how long danger messages keep adding to one urgent request.
    ``template_url`` is opened from staff notifications; ``{id}`` in it becomes the request id
    (e.g. the console page of the request).
    """

    on_duty_openids: tuple[str, ...] = ()
    staff_template_id: str = ""
    answer_template_id: str = ""
    digest_times: tuple[str, ...] = ("09:00", "17:00")
    retention_days: int = 365
    answer_time: str = "工作人员一般会在2个工作日内答复（节假日顺延）。"
    urgent_merge_hours: int = 24
    notify_in_background: bool = True
    template_url: str = ""

    @property
    def staffed(self) -> bool:
        """True when urgent requests reach someone at once (``on_duty_openids`` not empty).
        When False a woman in danger must be told to call 110 / 12338 herself."""
        return bool(self.on_duty_openids)


def help_settings(config) -> HelpSettings:
    """Read and check ``config.section("help")``; raise ``ConfigError`` naming the bad key."""
    raw = dict(config.section("help") or {})
    defaults = HelpSettings()
    openids = raw.get("on_duty_openids", [])
    if not isinstance(openids, list) or not all(isinstance(o, str) and o for o in openids):
        raise ConfigError("help.on_duty_openids: must be a list of openid strings")
    for key in ("staff_template_id", "answer_template_id", "answer_time", "template_url"):
        if not isinstance(raw.get(key, ""), str):
            raise ConfigError(f"help.{key}: must be a string")
    times = raw.get("digest_times", list(defaults.digest_times))
    if not isinstance(times, list) or not all(_is_hhmm(t) for t in times):
        raise ConfigError("help.digest_times: must be a list of local times like \"09:00\"")
    for key, low in (("retention_days", 1), ("urgent_merge_hours", 0)):
        value = raw.get(key, getattr(defaults, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"help.{key}: must be a whole number >= {low}")
    background = raw.get("notify_in_background", True)
    if not isinstance(background, bool):
        raise ConfigError("help.notify_in_background: must be true or false")
    return HelpSettings(
        on_duty_openids=tuple(openids),
        staff_template_id=raw.get("staff_template_id", ""),
        answer_template_id=raw.get("answer_template_id", ""),
        digest_times=tuple(times),
        retention_days=raw.get("retention_days", defaults.retention_days),
        answer_time=raw.get("answer_time") or defaults.answer_time,
        urgent_merge_hours=raw.get("urgent_merge_hours", defaults.urgent_merge_hours),
        notify_in_background=background,
        template_url=raw.get("template_url", ""),
    )


def _is_hhmm(value) -> bool:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        return False
    hh, mm = value[:2], value[3:]
    return hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60


# -- tables ------------------------------------------------------------------------------
class HelpRequest(Base):
    """One help request.

    ``category`` is a code of :data:`CATEGORIES` (or ``urgent`` before she chose one);
    ``body`` her words, one message a line; ``media`` a JSON list of ``{"type": "image"|"voice"|
    "video", "media_id": ...}`` (WeChat MediaIds, kept 3 days by WeChat); ``contact`` one of
    ``wechat``/``phone``/``none`` with ``phone`` for ``phone``. ``urgent`` is set by a danger
    word, ``distress`` when the word was about self-harm. ``staff_notified_at`` is when on-duty
    staff were told (urgent: at once; others: by the digest); ``staff_notify_failed_at`` when the
    last attempt to tell them reached nobody (cleared once someone is reached). ``answer_delivery`` is
    ``custom``/``template``/``pending``. ``anonymised_at`` is set when the retention period
    removed the content (``openid`` is then None).
    """

    __tablename__ = "help_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str | None] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(16), default="other")
    status: Mapped[str] = mapped_column(String(16), default=STATUS_NEW, index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    distress: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[str] = mapped_column(Text, default="[]")
    contact: Mapped[str] = mapped_column(String(16), default=CONTACT_WECHAT)
    phone: Mapped[str | None] = mapped_column(String(20))
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    staff_notified_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    staff_notify_failed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    answer_delivery: Mapped[str | None] = mapped_column(String(16))
    answer_seen_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    anonymised_at: Mapped[datetime | None] = mapped_column(AwareDateTime())

    @property
    def ref(self) -> str:
        """The reference number she is given, e.g. ``"H00012"`` (staff may type 12 or H00012)."""
        return f"H{self.id:05d}"

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)

    @property
    def media_items(self) -> list[dict]:
        try:
            items = json.loads(self.media or "[]")
        except ValueError:
            return []
        return items if isinstance(items, list) else []


# -- helpers -----------------------------------------------------------------------------
def parse_ref(value: str | int) -> int | None:
    """``"H00012"``, ``"h12"``, ``"12"`` or ``12`` -> 12; anything else -> None."""
    text = str(value).strip().upper().lstrip("H#").lstrip("0") or "0"
    return int(text) if text.isdigit() and int(text) > 0 else None


def normalize_phone(text: str) -> str | None:
    """A contact number she typed, cleaned: a mainland mobile (11 digits, 1[3-9]...; also in
    Chinese numerals as voice input writes them, 「一三八…」, alone or within a sentence) or a
    landline with area code (0595-2xxxxxxx, 7-8 digit local part); None when neither."""
    mobile = normalize_mobile(text or "")
    if mobile:
        return mobile
    if not any(ch.isdigit() for ch in text or ""):
        return name_and_mobile(text)[1] if text else None
    digits = "".join(ch for ch in (text or "") if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return digits
    if digits.startswith("0") and 10 <= len(digits) <= 12 and digits[1] != "0":
        return digits
    return None


def _get(session: Session, request_id: int, *, lock: bool = False) -> HelpRequest:
    stmt = select(HelpRequest).where(HelpRequest.id == request_id)
    if lock and session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise RequestNotFound(request_id)
    return row


def _append(body: str, parts: list[str]) -> str:
    lines = [p.strip() for p in parts if p and p.strip()]
    text = "\n".join(([body] if body else []) + lines)
    return text[:MAX_BODY_CHARS]


def _only_number(text: str) -> bool:
    """True when ``text`` is a phone number and nothing else (digits, spaces, + - ( ) only)."""
    return all(ch.isdigit() or ch in " +-()（）\u3000" for ch in text)


def _merge_media(existing: str, extra: list[dict]) -> str:
    try:
        items = json.loads(existing or "[]")
    except ValueError:
        items = []
    for item in extra:
        if isinstance(item, dict) and item.get("media_id") and item not in items:
            items.append({"type": str(item.get("type", "image")), "media_id": str(item["media_id"])})
    return json.dumps(items[:MAX_MEDIA], ensure_ascii=False)


# -- operations: her side ----------------------------------------------------------------
@dataclass(frozen=True)
class UrgentFlag:
    """What :func:`flag_urgent` did: the request, whether it is new, and whether it just turned
    into a distress case (both mean: notify on-duty staff now)."""

    request: HelpRequest
    created: bool
    escalated: bool

    @property
    def notify(self) -> bool:
        return self.created or self.escalated


def open_urgent_request(session: Session, openid: str, *, merge_hours: int = 24,
                        now: datetime | None = None) -> HelpRequest | None:
    """Her newest urgent request still waiting (status ``new``) made in the last
    ``merge_hours`` hours, which new danger messages and a 「求助」 form add to; or None."""
    if merge_hours <= 0:
        return None
    since = (now or utcnow()) - timedelta(hours=merge_hours)
    return session.scalars(
        select(HelpRequest).where(HelpRequest.openid == openid, HelpRequest.urgent.is_(True),
                                  HelpRequest.status == STATUS_NEW,
                                  HelpRequest.anonymised_at.is_(None),
                                  HelpRequest.created_at >= since)
        .order_by(HelpRequest.id.desc())).first()


def flag_urgent(session: Session, openid: str, text: str, *, distress: bool,
                now: datetime | None = None, merge_hours: int = 24,
                draft_id: int | None = None, category: str | None = None) -> UrgentFlag:
    """Record a danger message: add it to her open urgent request of the last ``merge_hours``
    hours, or create a new urgent one. When ``flag.notify`` the caller tells on-duty staff
    (``handlers.help_messages.notify_after_commit``).

    ``draft_id``: the request she was writing in 「求助」 when the danger word came (see
    :func:`save_draft`). What she wrote there goes to the urgent request before ``text``: the
    draft itself becomes the urgent request (keeping her category), or, when an urgent request
    of hers is already open, its words and media move there and the draft row is deleted.
    ``category``: the one she chose in 「求助」, given to a request still filed as 紧急求助.
    """
    now = now or utcnow()
    row = open_urgent_request(session, openid, merge_hours=merge_hours, now=now)
    draft = _own_draft(session, draft_id, openid)
    if draft is not None and draft is not row:
        if row is None:  # her draft becomes the urgent request
            row = draft
            row.urgent, row.distress, row.submitted = True, distress, False
            row.created_at = now  # the merge window starts with the danger word
            row.staff_notified_at = row.staff_notify_failed_at = None
            row.body = _append(row.body, [text])
            row.updated_at = now
            session.flush()
            log.info("help request %s (draft) flagged urgent (distress=%s)", row.id, distress)
            return UrgentFlag(row, True, False)
        row.body = _append(row.body, [draft.body])
        row.media = _merge_media(row.media, draft.media_items)
        session.delete(draft)
    created = row is None
    if created:
        row = HelpRequest(openid=openid, category=category or CATEGORY_URGENT, status=STATUS_NEW, urgent=True,
                          distress=distress, body="", media="[]", contact=CONTACT_WECHAT,
                          submitted=False, created_at=now)
        session.add(row)
    if category in CATEGORY_LABELS and row.category == CATEGORY_URGENT:
        row.category = category
    escalated = not created and distress and not row.distress
    row.body = _append(row.body, [text])
    row.distress = row.distress or distress
    row.updated_at = now
    session.flush()
    log.info("help request %s flagged urgent (created=%s, distress=%s)", row.id, created, distress)
    return UrgentFlag(row, created, escalated)


def add_to_urgent(session: Session, request_id: int, openid: str, *, text: str | None = None,
                  media: dict | None = None, phone: str | None = None,
                  contact: str | None = None, now: datetime | None = None) -> HelpRequest:
    """Add what she sent after a danger word (words, a MediaId, her phone number, where she is)
    to urgent request ``request_id``. A ``phone`` sets contact by phone; ``text`` is kept too
    unless it is only that number. ``contact`` (without ``phone``) records another wish, e.g.
    ``none`` for 「不需要联系」. Raises :class:`RequestNotFound` when it is gone or not hers."""
    row = session.get(HelpRequest, request_id) if request_id else None
    if row is None or row.openid != openid or row.anonymised_at is not None:
        raise RequestNotFound(request_id)
    now = now or utcnow()
    if phone:
        row.contact, row.phone = CONTACT_PHONE, phone
    elif contact in CONTACT_LABELS:
        row.contact, row.phone = contact, None
    if text and not (phone and _only_number(text)):
        row.body = _append(row.body, [text])
    if media:
        row.media = _merge_media(row.media, [media])
    row.updated_at = now
    session.flush()
    return row


def _own_draft(session: Session, request_id: int | None, openid: str) -> HelpRequest | None:
    """Request ``request_id`` if it is hers, not erased and still waiting (status ``new``)."""
    row = session.get(HelpRequest, request_id) if request_id else None
    if row is None or row.openid != openid or row.anonymised_at is not None \
            or row.status != STATUS_NEW:
        return None
    return row


def save_draft(session: Session, openid: str, draft_id: int | None, *, category: str,
               text: str | None = None, media: dict | None = None,
               now: datetime | None = None) -> HelpRequest:
    """Save one message of the 「求助」 conversation as it arrives, so nothing she wrote is lost
    when she leaves the conversation (another command, 10 minutes of silence).

    Appends ``text`` (her words, a voice's recognition) and ``media`` (``{"type", "media_id"}``)
    to request ``draft_id`` when it is hers and still ``new`` (a draft, or the urgent request
    she is adding to), else creates a new request (status ``new``, ``submitted`` False, contact
    微信回复) that staff see at once and that the digest reports once she has been silent for
    :data:`DRAFT_IDLE_SECONDS`. :func:`submit_request` with ``draft_id`` finishes it.
    Raises :class:`InvalidCategory`, :class:`EmptyMessage` (neither words nor media).
    """
    if category not in CATEGORY_LABELS:
        raise InvalidCategory(category)
    if not (text and text.strip()) and not media:
        raise EmptyMessage("no words and no media")
    now = now or utcnow()
    row = _own_draft(session, draft_id, openid)
    if row is None:
        row = HelpRequest(openid=openid, category=category, status=STATUS_NEW, urgent=False,
                          distress=False, body="", media="[]", contact=CONTACT_WECHAT,
                          submitted=False, created_at=now)
        session.add(row)
    elif category != CATEGORY_URGENT:
        row.category = category
    if text and text.strip():
        row.body = _append(row.body, [text])
    if media:
        row.media = _merge_media(row.media, [media])
    row.updated_at = now
    session.flush()
    log.info("help request %s: draft saved (urgent=%s)", row.id, row.urgent)
    return row


def discard_draft(session: Session, openid: str, draft_id: int | None) -> bool:
    """「取消」 in 「求助」: delete her unfinished, non-urgent draft ``draft_id``. An urgent
    request is never deleted. Returns True when a row was deleted."""
    row = _own_draft(session, draft_id, openid)
    if row is None or row.urgent or row.submitted:
        return False
    session.delete(row)
    session.flush()
    log.info("help request %s: draft discarded by her", draft_id)
    return True


def latest_draft(session: Session, openid: str) -> HelpRequest | None:
    """Her newest unfinished (not submitted, not urgent, status ``new``) request, or None."""
    return session.scalars(select(HelpRequest).where(
        HelpRequest.openid == openid, HelpRequest.submitted.is_(False),
        HelpRequest.urgent.is_(False), HelpRequest.status == STATUS_NEW)
        .order_by(HelpRequest.id.desc()).limit(1)).first()


def submit_request(session: Session, openid: str, *, category: str, parts: list[str],
                   media: list[dict] | None = None, contact: str = CONTACT_WECHAT,
                   phone: str | None = None, urgent_id: int | None = None,
                   draft_id: int | None = None, now: datetime | None = None) -> HelpRequest:
    """Save what she said in the 「求助」 conversation as one request and return it.

    ``parts`` are her messages (text or voice recognition), ``media`` the MediaIds she sent.
    With ``urgent_id`` (a danger word was seen) or ``draft_id`` (her messages already saved by
    :func:`save_draft`) that request is finished instead of a new one being made. Raises
    :class:`InvalidCategory`, :class:`EmptyMessage` (no words and no media), :class:`InvalidPhone`.
    """
    now = now or utcnow()
    if category not in CATEGORY_LABELS or category == CATEGORY_URGENT:
        raise InvalidCategory(category)
    media = media or []
    draft = _own_draft(session, draft_id, openid)
    if draft is not None and urgent_id is None:
        urgent_id = draft.id
    if not any(p and p.strip() for p in parts) and not media and urgent_id is None:
        raise EmptyMessage("no words and no media")
    if contact not in CONTACT_LABELS:
        raise InvalidPhone(f"unknown contact preference {contact!r}")
    if contact == CONTACT_PHONE:
        phone = normalize_phone(phone or "")
        if phone is None:
            raise InvalidPhone("contact by phone needs a valid number")
    else:
        phone = None
    row = None
    if urgent_id is not None:
        row = session.get(HelpRequest, urgent_id)
        if row is not None and (row.openid != openid or row.anonymised_at is not None):
            row = None
    if row is None:
        row = HelpRequest(openid=openid, status=STATUS_NEW, urgent=False, distress=False, body="",
                          media="[]", created_at=now)
        session.add(row)
    row.category = category
    row.body = _append(row.body, parts)
    row.media = _merge_media(row.media, media)
    row.contact, row.phone = contact, phone
    row.submitted = True
    row.updated_at = now
    session.flush()
    log.info("help request %s submitted (category=%s, urgent=%s)", row.id, category, row.urgent)
    return row


def answers_for(session: Session, openid: str, *, limit: int = 5) -> list[HelpRequest]:
    """Her answered requests, unseen answers first then newest, at most ``limit``."""
    rows = session.scalars(
        select(HelpRequest).where(HelpRequest.openid == openid, HelpRequest.answer.is_not(None),
                                  HelpRequest.anonymised_at.is_(None))
        .order_by(HelpRequest.answered_at.desc())).all()
    rows = sorted(rows, key=lambda r: r.answer_seen_at is not None)  # stable: unseen first
    return rows[:limit]


def mark_seen(session: Session, rows: list[HelpRequest], now: datetime | None = None) -> None:
    """Record that she has read these answers (「查看回复」)."""
    now = now or utcnow()
    for row in rows:
        if row.answer_seen_at is None:
            row.answer_seen_at = now
    session.flush()


def requests_of(session: Session, openid: str) -> list[HelpRequest]:
    """All her requests, newest first (「我的留言」)."""
    return list(session.scalars(select(HelpRequest).where(HelpRequest.openid == openid)
                                .order_by(HelpRequest.id.desc())))


def open_requests_of(session: Session, openid: str) -> list[HelpRequest]:
    """Her requests still waiting for an answer, newest first."""
    return list(session.scalars(
        select(HelpRequest).where(HelpRequest.openid == openid, HelpRequest.status == STATUS_NEW)
        .order_by(HelpRequest.id.desc())))


# -- operations: staff side --------------------------------------------------------------
def list_requests(session: Session, *, status: str | None = None, urgent_only: bool = False,
                  limit: int = 50) -> list[HelpRequest]:
    """Requests for staff, urgent and new first, then newest. ``status`` filters by status."""
    stmt = select(HelpRequest)
    if status:
        stmt = stmt.where(HelpRequest.status == status)
    if urgent_only:
        stmt = stmt.where(HelpRequest.urgent.is_(True))
    stmt = stmt.order_by((HelpRequest.status == STATUS_NEW).desc(), HelpRequest.urgent.desc(),
                         HelpRequest.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def get_request(session: Session, request_id: int) -> HelpRequest:
    """The request ``request_id``; raises :class:`RequestNotFound`."""
    return _get(session, request_id)


def record_answer(session: Session, request_id: int, text: str, *, staff: str,
                  now: datetime | None = None) -> HelpRequest:
    """Save the staff answer (status ``answered``, delivery ``pending``) and return the request.

    Raises :class:`RequestNotFound`, :class:`EmptyMessage`, :class:`RequestAnonymised`.
    A second answer replaces the first and is delivered again.
    """
    text = (text or "").strip()
    if not text:
        raise EmptyMessage("empty answer")
    row = _get(session, request_id, lock=True)
    if row.anonymised_at is not None or not row.openid:
        raise RequestAnonymised(request_id)
    now = now or utcnow()
    row.answer = text[:MAX_ANSWER_CHARS]
    row.answered_by = (staff or "staff")[:64]
    row.answered_at = now
    row.answer_seen_at = None
    row.answer_delivery = DELIVERY_PENDING
    if row.status == STATUS_NEW:
        row.status = STATUS_ANSWERED
    row.updated_at = now
    session.flush()
    log.info("help request %s answered by %s", row.id, row.answered_by)
    return row


def close_request(session: Session, request_id: int, now: datetime | None = None) -> HelpRequest:
    """Mark a request closed (nothing more to do); the retention clock starts now."""
    row = _get(session, request_id, lock=True)
    now = now or utcnow()
    row.status = STATUS_CLOSED
    row.closed_at = row.closed_at or now
    row.updated_at = now
    session.flush()
    return row


def anonymise_finished(session: Session, *, retention_days: int,
                       now: datetime | None = None) -> int:
    """Blank the personal content of finished requests older than ``retention_days`` days.

    Finished = closed (by ``closed_at``) or answered (by ``answered_at``). Category, urgency,
    status and times stay for the monthly figures; openid, words, media, phone and answer go.
    Returns how many requests were anonymised.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    rows = session.scalars(select(HelpRequest).where(
        HelpRequest.anonymised_at.is_(None),
        or_(HelpRequest.closed_at < cutoff,
            (HelpRequest.status == STATUS_ANSWERED) & (HelpRequest.answered_at < cutoff)))).all()
    for row in rows:
        _blank(row)
        row.anonymised_at = now
    session.flush()
    if rows:
        log.info("help requests anonymised after %s days: %s", retention_days, len(rows))
    return len(rows)


def _blank(row: HelpRequest) -> None:
    row.openid = None
    row.body = ""
    row.media = "[]"
    row.phone = None
    row.answer = None if row.answer is None else ""


def open_request_count(session: Session) -> int:
    """How many requests wait for staff (status ``new``): submitted ones AND urgent ones made by
    a danger word (never "submitted"); requests erased by 「删除我的信息」 are not counted."""
    return session.scalar(select(func.count()).select_from(HelpRequest).where(
        HelpRequest.status == STATUS_NEW, HelpRequest.anonymised_at.is_(None))) or 0


def urgent_open_count(session: Session) -> int:
    """How many urgent requests (a danger word was seen) still wait for an answer (status
    ``new``, not erased by 「删除我的信息」): the dashboard's red figure."""
    return session.scalar(select(func.count()).select_from(HelpRequest).where(
        HelpRequest.status == STATUS_NEW, HelpRequest.urgent.is_(True),
        HelpRequest.anonymised_at.is_(None))) or 0


def staff_order():
    """``ORDER BY`` terms for staff lists: urgent unanswered requests first (oldest waiting
    first), then the other unanswered ones, then the rest, newest first."""
    urgent_open = case((and_(HelpRequest.status == STATUS_NEW, HelpRequest.urgent.is_(True)), 0),
                       else_=1)
    is_open = case((HelpRequest.status == STATUS_NEW, 0), else_=1)
    oldest_first = case((HelpRequest.status == STATUS_NEW, HelpRequest.id), else_=-HelpRequest.id)
    return urgent_open, is_open, oldest_first


def urgency_text(row: HelpRequest) -> str:
    """How urgent ``row`` is, in the words the webhook's safety check recorded: ``distress``
    (self-harm words) or ``urgent`` (danger words such as 「他打我」), else 一般. One wording
    for the staff list, the detail page and the answer page, so they never disagree."""
    if row.distress:
        return "紧急：有危险信号（流露轻生念头）"
    if row.urgent:
        return "紧急：有危险信号（可能正遭受暴力或威胁）"
    return "一般"


def waited_text(row: HelpRequest, now: datetime | None = None) -> str:
    """How long she has waited for an answer (「已等 2 小时 5 分」), or "" when the request
    is not waiting (status not ``new``)."""
    if row.status != STATUS_NEW or row.created_at is None:
        return ""
    minutes = max(0, int(((now or utcnow()) - row.created_at).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"已等 {days} 天 {hours} 小时"
    if hours:
        return f"已等 {hours} 小时 {mins} 分"
    return f"已等 {mins} 分钟"


def count_by_status(session: Session) -> dict[str, int]:
    """``{"new": n, "answered": n, "closed": n, "urgent_new": n}`` for staff summaries."""
    out = {s: 0 for s in STATUS_LABELS}
    for status, n in session.execute(select(HelpRequest.status, func.count()).group_by(HelpRequest.status)):
        out[status] = n
    out["urgent_new"] = session.scalar(select(func.count()).select_from(HelpRequest).where(
        HelpRequest.urgent.is_(True), HelpRequest.status == STATUS_NEW)) or 0
    return out


# -- what became of notifying staff and delivering her answer (decided here, sent elsewhere) --
#: What became of telling on-duty staff about an urgent request (:func:`urgent_notice`).
NOTICE_UNSTAFFED = "unstaffed"  # ``[help] on_duty_openids`` is empty: nobody is told
NOTICE_DRY_RUN = "dry_run"      # no app_secret: the notice only went to the outbox table
NOTICE_PENDING = "pending"      # being sent (after the commit, in the background)
NOTICE_SENT = "sent"            # WeChat accepted it for at least one on-duty staff member
NOTICE_FAILED = "failed"        # tried, and nobody was reached


def urgent_notice(row: HelpRequest, *, staffed: bool, dry_run: bool) -> str:
    """Which ``NOTICE_*`` is true for urgent request ``row`` now, so what she is told about who
    will see her message is never untrue. ``staffed``: :attr:`HelpSettings.staffed`;
    ``dry_run``: ``config.dry_run`` (an outbox row reaches nobody, even though
    ``staff_notified_at`` is set for it). Checked in that order, then the row's
    ``staff_notified_at`` / ``staff_notify_failed_at``; neither means still being sent."""
    if not staffed:
        return NOTICE_UNSTAFFED
    if dry_run:
        return NOTICE_DRY_RUN
    if row.staff_notified_at is not None:
        return NOTICE_SENT
    if row.staff_notify_failed_at is not None:
        return NOTICE_FAILED
    return NOTICE_PENDING


def record_staff_notice(session: Session, request_id: int, now: datetime, *,
                        reached: bool) -> None:
    """Keep what the attempt to tell on-duty staff about ``request_id`` did, so her next replies
    say it (:func:`urgent_notice`): ``staff_notified_at`` when someone was reached, else
    ``staff_notify_failed_at`` (an earlier success stays: staff know of the request). A request
    that is gone is ignored."""
    row = session.get(HelpRequest, request_id)
    if row is None:
        return
    if reached:
        row.staff_notified_at, row.staff_notify_failed_at = now, None
    else:
        row.staff_notify_failed_at = now


def digest_pending(session: Session, now: datetime) -> list[HelpRequest]:
    """The requests on-duty staff have not been told about yet: submitted ones, urgent ones
    whose immediate notification failed, and drafts she left unfinished (no message for
    :data:`DRAFT_IDLE_SECONDS`); erased and anonymised ones excluded."""
    return list(session.scalars(select(HelpRequest).where(
        HelpRequest.staff_notified_at.is_(None), HelpRequest.status == STATUS_NEW,
        HelpRequest.anonymised_at.is_(None),
        or_(HelpRequest.submitted.is_(True), HelpRequest.urgent.is_(True),
            HelpRequest.updated_at < now - timedelta(seconds=DRAFT_IDLE_SECONDS)))))


def mark_staff_notified(session: Session, ids: list[int], now: datetime) -> None:
    """Set ``staff_notified_at`` on requests ``ids`` (the digest reached someone)."""
    for row in session.scalars(select(HelpRequest).where(HelpRequest.id.in_(ids))):
        row.staff_notified_at = now


def record_delivery(session: Session, request_id: int, delivery: str, *, complete: bool,
                    now: datetime) -> None:
    """Keep how the answer of ``request_id`` went out (``DELIVERY_*``); a complete answer sent
    as a 客服消息 counts as seen. A request that is gone is ignored."""
    row = session.get(HelpRequest, request_id)
    if row is not None:
        row.answer_delivery = delivery
        if delivery == DELIVERY_CUSTOMER_SERVICE and complete:
            row.answer_seen_at = now


def pending_answer_ids(session: Session, *, older_than: int, now: datetime) -> list[int]:
    """Requests whose answer was saved but never sent (``answer_delivery = pending`` for more
    than ``older_than`` seconds: a crash between saving and sending)."""
    return list(session.scalars(select(HelpRequest.id).where(
        HelpRequest.answer_delivery == DELIVERY_PENDING, HelpRequest.openid.is_not(None),
        HelpRequest.answered_at < now - timedelta(seconds=older_than))))


def digest_cron_fields(config) -> list[dict[str, int]]:
    """``[{"hour": 9, "minute": 0}, ...]`` from ``[help] digest_times`` (local time, for an
    APScheduler ``CronTrigger(timezone=services.tz, **fields)`` calling
    ``scheduler.help.send_digest``)."""
    return [{"hour": int(t[:2]), "minute": int(t[3:])} for t in help_settings(config).digest_times]


# -- 「删除我的信息」 -----------------------------------------------------------------------
def erase_help_requests(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: remove her openid, words, media, phone and answers from every request.

    Like the other erasers (models/privacy.py) the rows stay, anonymous (category, status and
    times only), so the monthly figures do not change. Returns ``{"help_requests": n}``.
    """
    rows = session.scalars(select(HelpRequest).where(HelpRequest.openid == openid)).all()
    now = utcnow()
    for row in rows:
        _blank(row)
        row.anonymised_at = now
    session.flush()
    return {"help_requests": len(rows)}


register_eraser(erase_help_requests)
