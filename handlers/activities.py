"""Activities: the list, 「我的报名」, 「取消报名 N」 (or by 报名号 「取消报名 B0006」; N may be a
Chinese numeral, 「取消报名三」), 爱心义剪 day and 「义剪几点开始」, and QR check-in.

Menu keys (contract with bot/wechat/menu.py): ACTIVITIES, MY_SIGNUPS, HAIRCUT_DAY. Check-in QR
scene ``checkin:<activity number>`` arrives as SCAN (EventKey = scene) or as subscribe
(EventKey ``qrscene_checkin:<n>``), WeChat doc 生成带参数的二维码 / 扫描带参数二维码事件.
The signup conversation itself is in handlers/activities_signup.py.
"""
from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from datetime import date, datetime
from typing import Iterator

import redis
from sqlalchemy.orm import Session

from bot.core.logging import mask_openid
from bot.wechat.errors import WeChatAPIError, WeChatNetworkError
from bot.wechat.menu import ACTIVITIES, HAIRCUT_DAY, MY_SIGNUPS
from bot.wechat.notifier import notifier_for
from handlers.conversation import YES_WORDS, Conversation, ConversationState, Step
from handlers.router import Context, Router, Stage
from models import activities as acts
from models import notice as notices
from models.notice import KIND_PROMOTED

log = logging.getLogger(__name__)

LIST_WORDS = ["活动", "近期活动", "活动报名", "活动列表", "看活动", "有什么活动", "最近有什么活动",
              "查看活动", "报名活动"]
MY_WORDS = ["我的报名", "我的活动", "查看报名", "报名记录"]
HAIRCUT_WORDS = ["义剪", "爱心义剪", "义剪日", "免费理发", "义务理发", "理发"]
HAIRCUT_CATEGORY = "爱心义剪"
HAIRCUT_DAY_OF_MONTH = 17
MAX_LISTED = 15
_WEEKDAYS = "一二三四五六日"
#: A question about when (or where) the next 爱心义剪 is: 「义剪几点开始」「下次义剪」「理发几点」.
HAIRCUT_WHEN_RE = re.compile(
    r"^(?=.*(?:下一?次|下一场|几点|什么时候|啥时候|哪天|哪一天|几号|时间|何时|日期|在哪|哪里|地点))"
    r"(?:请问)?(?:下一?次|下一场|最近|这个月|本月)?的?(?:爱心)?(?:义剪|义务理发|免费理发|理发)"
    r"(?:日|活动)?(?:是|在)?(?:几点钟?(?:开始)?|什么时候(?:开始)?|啥时候|哪天|哪一天|几号|时间|何时|"
    r"日期|在哪(?:里|儿)?|哪里|地点)?(?:开始)?(?:呢|啊|呀)?$")
#: Chinese numerals she may type for an activity number (「报名三」「取消报名十二」).
CN_NUMERALS = "零〇一二两三四五六七八九十百"
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
#: 「取消报名 3」「取消报名三」「取消志愿报名 3」, or by 报名号 「取消报名 B0006」「取消 B0006」.
CANCEL_RE = re.compile(rf"^(?:我要)?取消(?:(?:志愿者?)?报名(?:活动)?(?P<n>\d+|[{CN_NUMERALS}]+)?"
                       r"|(?:报名号?)?(?P<ref>[Bb]\d{1,10}))$")
#: The WeChat API path of a 客服消息 (a network error on it: the message may have arrived).
CUSTOM_SEND = "message/custom/send"
#: Seconds before the outbox worker takes again a message WeChat could not be reached for.
OUTBOX_RETRY_SECONDS = 20.0
#: At most this many characters of her own text are quoted back.
CLIP_CHARS = 12
#: After a list, a bare number (「2」「第二个」) picks one of its activities for a while: the
#: conversation of this name (declared in handlers/activities_signup.py, which answers it),
#: state ``numbers``: the listed activity numbers in order.
PICK_NAME = "activity_pick"
PICK_STEP = "pick"


def activity_number(digits: str) -> int:
    """The activity number she typed; 0 (no such activity) when it is too long to be one.

    Raises ``ValueError`` for text that is not digits."""
    digits = digits.strip()
    if not digits.isdigit():
        raise ValueError(f"not a number: {clip(digits)!r}")
    return int(digits) if len(digits) <= 12 else 0


def number_digits(text: str) -> str | None:
    """Digits of a number she typed in digits (「12」) or Chinese numerals (「十二」「一百零五」
    -> ``"105"``, 「一二」 -> ``"12"``); None for anything else."""
    t = (text or "").strip()
    if t.isdigit():
        return t
    if not t or len(t) > 6 or any(c not in CN_NUMERALS for c in t):
        return None
    if "十" not in t and "百" not in t:
        return "".join(str(_CN_DIGITS[c]) for c in t)
    total = current = 0
    for c in t:
        if c in _CN_DIGITS:
            current = _CN_DIGITS[c]
        else:
            total += (current or 1) * (10 if c == "十" else 100)
            current = 0
    return str(total + current)


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """Her text for quoting in a reply: at most ``limit`` characters, cut with 「…」."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


# -- formatting (shared with handlers/activities_signup.py and handlers/volunteers.py) -----------------------
def fmt_time(when: datetime, tz) -> str:
    """``12月17日（周四）09:00`` in local time (Asia/Shanghai)."""
    d = when.astimezone(tz)
    return f"{d.month}月{d.day}日（周{_WEEKDAYS[d.weekday()]}）{d:%H:%M}"


def place_of(session: Session, activity: acts.Activity) -> str:
    """Where: the activity's place, else its host service point's name and address."""
    if activity.place:
        return activity.place
    if activity.point_id is not None:
        from models.directory import ServicePoint

        point = session.get(ServicePoint, activity.point_id)
        if point is not None:
            return " ".join(x for x in (point.name, point.address) if x)
    return "待定（请留意通知）"


def seats_text(session: Session, activity: acts.Activity, role: str = acts.PARTICIPANT) -> str:
    """``剩余名额 5`` / ``名额不限`` / ``名额已满，可排候补``."""
    left = acts.seats_left(session, activity, role)
    if left is None:
        return "名额不限"
    return f"剩余名额 {left}" if left > 0 else "名额已满，可排候补"


def activity_block(session: Session, activity: acts.Activity, tz, *, volunteers: bool = False) -> str:
    """A few lines describing one activity, headed by its number."""
    lines = [f"【{activity.number}】{activity.title}",
             f"  时间：{fmt_time(activity.starts_at, tz)}",
             f"  地点：{place_of(session, activity)}",
             f"  {seats_text(session, activity)}"]
    if volunteers or activity.volunteers_needed:
        lines.append(f"  志愿者：{seats_text(session, activity, acts.VOLUNTEER).replace('名额', '岗位')}")
    return "\n".join(lines)


@contextmanager
def locked_session(ctx: Context) -> Iterator[Session]:
    """The session for seat-changing operations: the webhook's own, in which the model locks
    the activity row (``FOR UPDATE`` on PostgreSQL; the webhook's ``write_session()`` holds
    SQLite's write lock). A second connection is deliberately not opened: with every worker
    thread holding one connection and waiting for another, the pool would run dry.
    Commits on success, so the seat is decided and the lock released before anything slow
    (a 客服消息 to a promoted woman) happens.
    """
    yield ctx.session
    ctx.session.commit()


def promotion_text(session: Session, activity: acts.Activity, signup: acts.Signup, tz) -> str:
    """The message telling a woman her waiting-list place became a seat."""
    role = "志愿者岗位" if signup.role == acts.VOLUNTEER else "名额"
    return (f"好消息！您候补的活动「{activity.title}」（编号 {activity.number}）有{role}空出，"
            f"已为您确认报名。\n时间：{fmt_time(activity.starts_at, tz)}\n"
            f"地点：{place_of(session, activity)}\n"
            f"不能参加请回复「取消报名 {activity.number}」（{activity.number} 是活动编号）。")


def notify(services, session: Session, openid: str, kind: str, text: str,
           now: datetime | None = None) -> str:
    """Tell ``openid`` something now if WeChat allows it, else keep it as a Notice.

    Inside the 48-hour window (``models.notice.delivery_route``) sends a 客服消息 through the
    notifier (dry run: the outbox). On any ``WeChatAPIError`` (OutsideServiceWindow 45015,
    NotFollower 43004 ...) or outside the window, queues a notice (``kind``:
    ``models.notice.KIND_*``). Returns ``"sent"`` or ``"queued"``, or ``"skipped"`` for an
    erased openid (nothing sent or stored). Call it *after* committing the change it reports,
    so a slow WeChat call never holds a database lock.
    """
    route = notices.delivery_route(session, openid, now)
    if route == notices.ROUTE_SKIP:  # left by 「删除我的信息」: there is nobody to tell
        log.info("notice for an erased signup skipped, kind=%s", kind)
        return "skipped"
    if route == notices.ROUTE_SEND:
        try:
            # session=: in dry run the outbox row joins this transaction (no second writer).
            notifier_for(services).send_text(openid, text, session=session)
            return "sent"
        except WeChatAPIError as exc:
            log.info("customer-service message refused (%s); notice queued, kind=%s",
                     getattr(exc, "errcode", type(exc).__name__), kind)
    notices.queue_notice(session, openid, kind, text, now)
    return "queued"


def promotion_key(signup: acts.Signup) -> str:
    """The idempotency key of telling ``signup`` it was promoted: one per waiting stint (a
    reused signup gets a new ``created_at``), so a retried or taken-over message, or two
    workers, never tell her twice."""
    return f"{KIND_PROMOTED}:{signup.id}:{signup.created_at.timestamp():.6f}"


def tell_promoted(ctx: Context, activity: acts.Activity, promoted: list[acts.Signup],
                  session: Session | None = None) -> None:
    """Queue the message telling each promoted woman she has a seat now, in ``session`` (the
    transaction that promoted her; default ``ctx.session``); sent after the commit by the
    outbox worker (:func:`deliver_outbox`), never inside the request."""
    tell_promoted_after_commit(ctx.services, session or ctx.session, activity, promoted)


def tell_promoted_after_commit(services, session: Session, activity: acts.Activity,
                               promoted: list[acts.Signup]) -> None:
    """Queue the messages for the women ``promoted`` (by 「取消报名」 or a staff change of
    seats: ``models.activities.set_capacity``, ``withdraw_upcoming``) in ``session``'s
    transaction, under each one's :func:`promotion_key`, and wake the outbox worker once it
    commits; nothing is queued or sent if it rolls back."""
    if not promoted:
        return
    from models import outbox

    for signup in promoted:
        text = promotion_text(session, activity, signup, services.tz)
        outbox.enqueue(session, promotion_key(signup), signup.openid, KIND_PROMOTED, text)
    notifier_for(services).deliver_after_commit(session, lambda: deliver_outbox(services))


def deliver_outbox(services, *, limit: int = 20, now: datetime | None = None,
                   retry_seconds: float = OUTBOX_RETRY_SECONDS) -> dict[str, int]:
    """The outbox worker's work: send every pending ``models.outbox.OutboundMessage`` (a
    woman's promotion ...) — a 客服消息 inside her 48-hour window, else a Notice for later
    (``models.notice``); an erased openid is skipped. Each row is taken (committed as
    ``sending``) before its send, so it is sent at most once even with several processes; a
    send that timed out may have arrived and is not repeated or stored (told once, not twice);
    WeChat unreachable before the send (the access token) puts it back, taken again every
    ``retry_seconds``, and kept as a Notice after ``models.outbox.MAX_ATTEMPTS`` takes.
    Returns counts by outcome. Failures are logged, never raised."""
    from models import outbox

    counts: dict[str, int] = {}
    again: set[int] = set()  # WeChat unreachable before the send: taken again later
    while True:
        with services.db.write_session() as s:
            rows = [(r.id, r.openid, r.kind, r.text, r.attempts)
                    for r in outbox.take_pending(s, limit, skip=again)]
        if not rows:
            if again:  # until each is sent or kept (MAX_ATTEMPTS takes at most)
                time.sleep(retry_seconds)
                again.clear()
                continue
            return counts
        for message_id, openid, kind, text, attempts in rows:
            state = _deliver_one(services, openid, kind, text, now,
                                 last=attempts >= outbox.MAX_ATTEMPTS)
            counts[state] = counts.get(state, 0) + 1
            if state == outbox.PENDING:
                again.add(message_id)
            try:
                with services.db.write_session() as s:
                    outbox.finish(s, message_id, state, now)
            except Exception:  # noqa: BLE001 - it stays "sending": never sent again
                log.exception("outbound message %s: outcome %s not recorded", message_id, state)


def _deliver_one(services, openid: str, kind: str, text: str, now: datetime | None, *,
                 last: bool = False) -> str:
    """Send one queued message; its ``models.outbox`` state (``PENDING``: try again later,
    unless ``last``)."""
    from models import outbox

    try:
        with services.db.session() as s:
            route = notices.delivery_route(s, openid, now)
        if route == notices.ROUTE_SKIP:
            log.info("queued message for an erased openid skipped, kind=%s", kind)
            return outbox.SKIPPED
        if route == notices.ROUTE_SEND:
            try:
                notifier_for(services).send_text(openid, text)
                return outbox.SENT
            except WeChatNetworkError as exc:
                if exc.path != CUSTOM_SEND and not last:  # not sent (the token): again later
                    log.warning("message %s to %s not sent yet (%s); tried again later", kind,
                                mask_openid(openid), exc)
                    return outbox.PENDING
                if exc.path != CUSTOM_SEND:
                    raise
                # it may have arrived: never a second copy
                log.warning("message %s to %s: send uncertain (%s); not repeated", kind,
                            mask_openid(openid), exc)
                return outbox.UNCERTAIN
            except WeChatAPIError as exc:
                log.info("customer-service message refused (%s); notice queued, kind=%s",
                         getattr(exc, "errcode", type(exc).__name__), kind)
        with services.db.write_session() as s:
            notices.queue_notice(s, openid, kind, text, now)
        return outbox.NOTICE
    except WeChatAPIError:  # WeChat unreachable every time: keep it for later, as a Notice
        pass
    except Exception:  # noqa: BLE001 - logged; the row is not sent again
        log.exception("queued message %s to %s failed", kind, mask_openid(openid))
        return outbox.UNCERTAIN
    with services.db.write_session() as s:
        notices.queue_notice(s, openid, kind, text, now)
    return outbox.NOTICE


# -- handlers ---------------------------------------------------------------------------------
def in_town(session: Session, activity: acts.Activity, town: str) -> bool:
    """Whether ``activity`` is held in ``town`` (a canonical town, 蓬壶镇): its host point's
    town, or the town's name (with or without 镇/乡) in its place or title."""
    if activity.point_id is not None:
        from models.directory import ServicePoint

        point = session.get(ServicePoint, activity.point_id)
        if point is not None and point.town:
            return point.town == town
    short = town[:-1] if len(town) > 2 and town[-1] in "镇乡" else town
    return any(short in (text or "") for text in (activity.place, activity.title))


def list_activities(ctx: Context, *, category: str | None = None, date_from: date | None = None,
                    date_to: date | None = None, town: str | None = None) -> str:
    """「活动」 / menu ACTIVITIES → upcoming activities, nearest first.

    ``category`` (「爱心义剪」) and the local dates ``date_from`` .. ``date_to`` (inclusive; from
    the intent stage's slots, 「这周末有什么活动」) narrow the list; when nothing matches she is
    told so and gets the whole list. ``town`` (「我是蓬壶的有没有什么活动」): the activities
    held there (:func:`in_town`); none there: said first, then the county's list."""
    if town:
        return _in_town_list(ctx, town, category, date_from, date_to)
    if category or date_from or date_to:
        return _narrowed(ctx, category, date_from, date_to)
    upcoming = acts.upcoming_activities(ctx.session, ctx.now, limit=MAX_LISTED)
    if not upcoming:
        return ("近期暂无可报名的活动，新活动发布后会在这里显示。\n"
                f"每月{HAIRCUT_DAY_OF_MONTH}日是爱心义剪日，回复「义剪」了解。")
    tz = ctx.services.tz
    blocks = [activity_block(ctx.session, a, tz) for a in upcoming]
    offer_pick(ctx, upcoming)
    return ("近期活动（回复「报名 活动编号」报名，如「报名 " + str(upcoming[0].number) + "」）：\n\n"
            + "\n\n".join(blocks))


def _in_town_list(ctx: Context, town: str, category: str | None, date_from: date | None,
                  date_to: date | None) -> str:
    """The upcoming activities held in ``town``; none: 「蓬壶暂时没有活动，以下是全县近期活动」
    in front of the list without the town."""
    short = town[:-1] if len(town) > 2 and town[-1] in "镇乡" else town
    tz = ctx.services.tz
    found = [a for a in acts.upcoming_activities(ctx.session, ctx.now, category=category, limit=200)
             if in_town(ctx.session, a, town)
             and (date_from is None or a.starts_at.astimezone(tz).date() >= date_from)
             and (date_to is None or a.starts_at.astimezone(tz).date() <= date_to)][:MAX_LISTED]
    if not found:
        rest = list_activities(ctx, category=category, date_from=date_from, date_to=date_to)
        if rest.startswith("近期暂无"):
            return f"{short}暂时没有活动" + rest.removeprefix("近期暂无可报名的活动")
        return f"{short}暂时没有活动，以下是全县近期活动：\n\n{rest}"
    blocks = [activity_block(ctx.session, a, tz) for a in found]
    offer_pick(ctx, found)
    return (f"{short}的活动（回复「报名 活动编号」报名，如「报名 {found[0].number}」）：\n\n"
            + "\n\n".join(blocks))


def has_upcoming(ctx: Context, category: str) -> bool:
    """Whether an activity of ``category`` is planned (upcoming and public)."""
    return bool(acts.upcoming_activities(ctx.session, ctx.now, category=category, limit=1))


def offer_pick(ctx: Context, listed: list[acts.Activity]) -> bool:
    """Let a bare number she sends next pick one of ``listed`` (conversation :data:`PICK_NAME`),
    unless another conversation is active (it keeps its place) or Redis is down. Returns
    whether the numbers will work."""
    if not listed:
        return False
    try:
        if ctx.conversation.get() is not None:
            return False
        ctx.conversation.start(PICK_NAME, PICK_STEP, numbers=[a.number for a in listed])
        return True
    except redis.RedisError:
        log.warning("activities: the listed numbers are not kept (Redis unavailable)")
        return False


def _narrowed(ctx: Context, category: str | None, date_from: date | None,
              date_to: date | None) -> str:
    """The list for a category and/or local date range (inclusive); when the filters find
    nothing, saying so in front of the whole list."""
    tz = ctx.services.tz
    found = [a for a in acts.upcoming_activities(ctx.session, ctx.now, category=category, limit=200)
             if (date_from is None or a.starts_at.astimezone(tz).date() >= date_from)
             and (date_to is None or a.starts_at.astimezone(tz).date() <= date_to)][:MAX_LISTED]
    when = ""
    if date_from or date_to:
        first, last = date_from or date_to, date_to or date_from
        when = (f"{first.month}月{first.day}日" if first == last
                else f"{first.month}月{first.day}日至{last.month}月{last.day}日")
    what = (f"{when}的" if when else "") + (f"「{category}」活动" if category else "活动")
    if not found:
        return f"{what}暂时没有。\n\n{list_activities(ctx)}"
    blocks = [activity_block(ctx.session, a, tz) for a in found]
    offer_pick(ctx, found)
    return (f"{what}（回复「报名 活动编号」报名，如「报名 {found[0].number}」）：\n\n"
            + "\n\n".join(blocks))


#: The signup conversation's name (declared in handlers/activities_signup.py).
SIGNUP_NAME = "signup"
#: What a signup at each step still needs (「我报了哪些」 in the middle of it).
SIGNUP_MISSING = {"confirm": "确认、姓名、手机号和同意授权", "name": "姓名、手机号和同意授权",
                  "phone": "手机号和同意授权", "phone_known": "手机号和同意授权",
                  "consent": "回复「同意」授权"}


def _signing_up(ctx: Context) -> str:
    """「您正在报名「…」，还差…。」 while she is in the middle of a signup, else ""."""
    try:
        state = ctx.conversation.get()
    except redis.RedisError:
        return ""
    if state is None or state.name != SIGNUP_NAME or state.step not in SIGNUP_MISSING:
        return ""
    activity = acts.get_activity(ctx.session, int(state.data.get("number") or 0))
    if activity is None:
        return ""
    return (f"您正在报名「{activity.title}」（编号 {activity.number}），"
            f"还差{SIGNUP_MISSING[state.step]}。")


def my_signups(ctx: Context) -> str:
    """「我的报名」 / menu MY_SIGNUPS → her signups, with how to cancel; in the middle of a
    signup, first the activity she is signing up for and what it still needs."""
    rows = acts.my_signups(ctx.session, ctx.openid, ctx.now)
    pending = _signing_up(ctx)
    if not rows:
        if pending:
            return f"{pending}\n其他近期活动您还没有报名。"
        return "您还没有报名近期的活动。回复「活动」看看有哪些活动。"
    tz = ctx.services.tz
    lines = ([pending] if pending else []) + ["您的报名："]
    for signup, activity in rows:
        role = "（志愿者）" if signup.role == acts.VOLUNTEER else ""
        if signup.status == acts.ATTENDED:
            state = "已签到"
        elif activity.status == acts.CANCELLED:  # also a waiting place: there is nothing to wait for
            state = "活动已取消"
        elif signup.status == acts.WAITING:
            state = f"候补第 {acts.waiting_position(ctx.session, signup)} 位"
        else:
            state = "已确认"
        lines.append(f"【{activity.number}】{activity.title}{role}\n  {fmt_time(activity.starts_at, tz)}"
                     f"　{state}　报名号 {signup.ref}")
    first = rows[0][1].number
    lines.append(f"取消请回复「取消报名 活动编号」，例如「取消报名 {first}」（{first} 是活动编号，不是报名号）。")
    return "\n".join(lines)


def _which_to_cancel(ctx: Context) -> str:
    """「取消报名」 without a number: nothing to cancel, the one signup she has (named, with the
    exact reply that cancels it), or her list."""
    rows = [(s, a) for s, a in acts.my_signups(ctx.session, ctx.openid, ctx.now)
            if s.status != acts.ATTENDED and a.status != acts.CANCELLED]
    if not rows:
        return "您现在没有可以取消的报名。回复「活动」看看有哪些活动。"
    if len(rows) == 1:
        signup, activity = rows[0]
        if getattr(ctx, ASKED_FLAG, False):  # this message just declined the same question: no loop
            return (f"要取消【{activity.number}】{activity.title}的报名，请回复"
                    f"「取消报名 {activity.number}」；不取消就不用回复。")
        CANCEL_CONFIRM.begin(ctx, number=activity.number, role=signup.role)
        return (f"您报名了【{activity.number}】{activity.title}（{fmt_time(activity.starts_at, ctx.services.tz)}）。"
                "确定不去了，请回复「是」；不取消就不用回复。")
    return (f"请告诉我要取消哪个活动，例如回复「取消报名 {rows[0][1].number}」。\n\n"
            + my_signups(ctx))


#: Yes to 「确定不去了吗？」 (a single signup to cancel).
CANCEL_YES_WORDS = YES_WORDS | {"确定", "嗯", "1", "要", "是的，取消", "确定取消", "确认取消", "取消吧",
                                "不去了", "去不了", "ok", "yes"}
#: No to it: the signup stays.
CANCEL_NO_WORDS = frozenset({"不", "不是", "否", "不用", "不要", "2", "不取消", "不了", "保留", "no"})
#: Yes in her words: 「我不想去了」「确定不去了」「去不了了」「不参加了」「取消报名」.
CANCEL_YES_RE = re.compile(
    r"^(?:我|那|那我)?(?:确定|确认|真的|还是|就)?(?:不想|不打算|不能|不|没空|没时间)(?:再)?"
    r"(?:去|参加|报|报名|来)(?:了|吧|啦|哦)*$"
    r"|^(?:我|那|那我)?(?:确定|确认|真的|还是)?(?:去不了|参加不了|来不了|去不成)(?:了|吧|啦|哦)*$"
    r"|^(?:我要|我想|帮我)?取消(?:报名|这个报名|我的报名)(?:吧|了)?$")
#: Set on the context when a message did not answer 「确定不去了吗？」: if it leads back to
#: 「取消报名」, the question is not asked again (no loop).
ASKED_FLAG = "cancel_confirm_declined"
#: Her answer to 「确定不去了吗？」 is kept this many seconds.
CANCEL_CONFIRM_TIMEOUT = 300
KEPT = "好的，报名保留着，没有取消。"


def _parse_cancel_answer(ctx: Context, state: ConversationState) -> bool | None:
    """True (cancel), False (keep), or None: not an answer to the question."""
    t = ctx.command_text.rstrip("。.!！~～")
    if t in CANCEL_YES_WORDS or CANCEL_YES_RE.match(t):
        return True
    return False if t in CANCEL_NO_WORDS else None


def _cancel_answered(ctx: Context, state: ConversationState, yes: bool | None):
    """Cancel the signup she was asked about, keep it, or (anything else) decline: the
    message goes on as a fresh one."""
    ctx.conversation.end()
    if yes is None:
        setattr(ctx, ASKED_FLAG, True)
        return None
    if not yes:
        return KEPT
    return cancel_number(ctx, int(state.data["number"]), role=state.data.get("role"))


#: 「取消报名」 with one signup: 「确定不去了，请回复「是」」 (a passive step: anything else
#: is a fresh message). A cancel word keeps the signup, and she is told so.
CANCEL_CONFIRM = Conversation(
    "signup_cancel",
    steps=(Step("confirm", parse=_parse_cancel_answer, then=_cancel_answered, passive=True),),
    label="取消报名",
    timeout=CANCEL_CONFIRM_TIMEOUT,
    cancelled=KEPT,
)


def cancel(ctx: Context) -> str:
    """「取消报名 3」 (the rule's ``ctx.match``: a :data:`CANCEL_RE` match) → :func:`cancel_matched`."""
    return cancel_matched(ctx, ctx.match)


def cancel_matched(ctx: Context, m: re.Match | None) -> str:
    """Cancel what :data:`CANCEL_RE` match ``m`` names (an activity number or a 报名号); the
    first on the waiting list gets the seat and is told."""
    if m and m.group("ref"):
        return cancel_ref(ctx, m.group("ref").upper())
    if not m or not m.group("n"):
        return _which_to_cancel(ctx)
    number = activity_number(number_digits(m.group("n")) or "0")
    role = acts.VOLUNTEER if "志愿" in ctx.compact_text else None
    return cancel_number(ctx, number, role=role, typed=m.group("n"))


def cancel_number(ctx: Context, number: int, *, role: str | None = None,
                  typed: str | None = None) -> str:
    """Cancel her signup for activity ``number`` (``role`` None: participant first); the first
    on the waiting list gets the seat and is told. ``typed``: the number as she wrote it."""
    try:
        with locked_session(ctx) as s:
            result = acts.cancel_signup(s, number, ctx.openid, role=role, now=ctx.now)
            activity, promoted = result.activity, result.promoted
            tell_promoted(ctx, activity, promoted, s)  # queued with the seat change itself
    except acts.ActivityNotFound:
        return f"没有找到编号为 {clip(typed or str(number))} 的活动。回复「我的报名」查看您的报名。"
    except acts.NotSignedUp:
        return f"您没有报名活动 {number}，不需要取消。回复「我的报名」查看您的报名。"
    except acts.SignupClosed:
        return f"活动 {number} 已经开始，无法在线取消，如有需要请联系活动负责人。"
    return f"已取消您在「{activity.title}」（编号 {number}）的报名。欢迎下次参加！"


def cancel_ref(ctx: Context, ref: str) -> str:
    """「取消报名 B0006」 → cancel the signup with that 报名号 (hers only)."""
    try:
        with locked_session(ctx) as s:
            result = acts.cancel_signup_ref(s, ref, ctx.openid, now=ctx.now)
            activity, promoted = result.activity, result.promoted
            tell_promoted(ctx, activity, promoted, s)
    except acts.NotSignedUp as exc:
        if exc.activity is not None:
            return f"报名号 {clip(ref)} 已经取消或已签到，不需要再取消。回复「我的报名」查看您的报名。"
        return f"没有找到您的报名号 {clip(ref)}。回复「我的报名」查看您的报名和报名号。"
    except acts.SignupClosed as exc:
        return f"活动 {exc.activity.number} 已经开始，无法在线取消，如有需要请联系活动负责人。"
    return (f"已取消报名号 {ref}：「{activity.title}」（活动编号 {activity.number}）。"
            "欢迎下次参加！")


def address_unknown_line(ctx: Context) -> str:
    """What she can do when we know a place's name but not its address: call the federation
    (``[app] federation_phone``) or leave a 「求助」 message. Never an invented address."""
    phone = str(ctx.services.config.app.get("federation_phone") or "").strip()
    if phone:
        return f"具体地址还没有登记在这里，可致电县妇联{phone}问清楚。"
    return "具体地址还没有登记在这里，回复「求助」留言，工作人员会告诉您怎么走。"


def address_of(session: Session, activity: acts.Activity) -> str:
    """The address (or town and village) of the activity's host point: its ``point_id``, else
    the directory point named by its place (「助困公益协会妇联（…）」 → 助困公益协会妇联); ""
    when the directory does not know one."""
    from models.directory import ServicePoint, get_by_name

    point = session.get(ServicePoint, activity.point_id) if activity.point_id is not None else None
    if point is None and activity.place:
        point = get_by_name(session, re.split(r"[（(]", activity.place, maxsplit=1)[0].strip())
    if point is None:
        return ""
    return point.address or "".join(x for x in (point.town, point.village) if x)


def _where_line(ctx: Context, activity: acts.Activity) -> str:
    address = address_of(ctx.session, activity)
    return f"地址：{address}" if address else address_unknown_line(ctx)


def haircut_day(ctx: Context) -> str:
    """Menu HAIRCUT_DAY / 「义剪」 → the next 爱心义剪 activity, or the monthly rule; the
    address when the directory knows it, else how to find out."""
    upcoming = acts.upcoming_activities(ctx.session, ctx.now, category=HAIRCUT_CATEGORY, limit=3)
    intro = (f"爱心义剪：助困公益协会妇联巾帼义务理发服务队每月{HAIRCUT_DAY_OF_MONTH}日为固定义剪日，"
             "免费为群众理发。")
    if not upcoming:
        return intro + "\n下一场的时间地点发布后，回复「活动」即可查看和报名。"
    tz = ctx.services.tz
    blocks = "\n\n".join(activity_block(ctx.session, a, tz) for a in upcoming)
    return (f"{intro}\n\n{blocks}\n{_where_line(ctx, upcoming[0])}\n\n"
            f"回复「报名 {upcoming[0].number}」报名。")


def haircut_when(ctx: Context, date_from: date | None = None, date_to: date | None = None) -> str:
    """「义剪几点开始」「义剪要钱吗」「17号义剪在哪里」 → the next 爱心义剪 (free) with its date,
    time and place first, and its address or how to find out. ``date_from`` .. ``date_to``
    (local dates, inclusive; from the date words she used: 「下个月的义剪」) narrow it to the
    first one in that range, when there is one."""
    tz = ctx.services.tz
    upcoming = acts.upcoming_activities(ctx.session, ctx.now, category=HAIRCUT_CATEGORY, limit=12)
    soonest = upcoming[0] if upcoming else None
    if date_from is not None:
        within = [a for a in upcoming if a.starts_at.astimezone(tz).date() >= date_from
                  and (date_to is None or a.starts_at.astimezone(tz).date() <= date_to)]
        upcoming = within or upcoming
    if not upcoming:
        return haircut_day(ctx)
    a = upcoming[0]
    which = "下一场爱心义剪" if a is soonest else "那一场爱心义剪"
    return (f"{which}（免费理发）：{fmt_time(a.starts_at, tz)} 开始，到 {a.ends_at.astimezone(tz):%H:%M}。\n"
            f"地点：{place_of(ctx.session, a)}\n{_where_line(ctx, a)}\n{seats_text(ctx.session, a)}。"
            f"回复「报名 {a.number}」报名（活动编号 {a.number}）。")


def _checkin_number(ctx: Context) -> int | None:
    scene = ctx.update.scene
    if not scene.startswith("checkin:"):
        return None
    try:
        return activity_number(scene.split(":", 1)[1])
    except ValueError:
        return None


def check_in(ctx: Context) -> str:
    """SCAN / subscribe with scene ``checkin:<n>`` → attendance, volunteer hours."""
    number = _checkin_number(ctx)
    prefix = ""
    if ctx.update.event == "subscribe":
        from handlers.welcome import WELCOME

        prefix = WELCOME + "\n\n"
    if number is None:
        return prefix + "这个签到二维码无法识别，请联系现场工作人员。"
    try:
        with locked_session(ctx) as s:
            result = acts.check_in(s, number, ctx.openid, now=ctx.now)
            title, hours, walk_in, already = (result.activity.title, result.hours, result.walk_in,
                                              result.already)
            total = acts.volunteer_hours(s, ctx.openid)[0] if hours else 0.0
    except acts.ActivityNotFound:
        return prefix + "没有找到这个活动，请联系现场工作人员。"
    except acts.CheckInNotOpen:
        return prefix + f"活动 {number} 现在不在签到时间（活动开始前2小时到结束后2小时）。"
    if already:
        return prefix + f"您已经签到过「{title}」了，祝活动愉快！"
    text = f"签到成功！欢迎参加「{title}」。"
    if walk_in:
        text += "\n（您没有提前报名，已为您现场登记。）"
    if hours:
        text += f"\n感谢您的志愿服务！本次计入志愿时长 {hours:g} 小时，累计 {total:g} 小时。"
    return prefix + text


def register(router: Router) -> None:
    """Rules of this module."""
    router.on_text(exact=LIST_WORDS, escape=True, keeps_form=True)(list_activities)
    router.on_click(ACTIVITIES)(list_activities)
    router.on_text(exact=MY_WORDS, escape=True, keeps_form=True)(my_signups)
    router.on_click(MY_SIGNUPS)(my_signups)
    router.on_text(regex=CANCEL_RE.pattern)(cancel)
    router.conversation(CANCEL_CONFIRM)
    router.on_text(exact=HAIRCUT_WORDS)(haircut_day)
    router.on_text(regex=HAIRCUT_WHEN_RE.pattern)(haircut_when)
    router.on_click(HAIRCUT_DAY)(haircut_day)
    router.on_event("scan", key_prefix="checkin:", stage=Stage.QR_SCENE)(check_in)
    router.on_event("subscribe", key_prefix="qrscene_checkin:", stage=Stage.QR_SCENE)(check_in)
