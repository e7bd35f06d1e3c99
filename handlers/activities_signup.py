"""The signup conversation (报名): 「报名 3」 → confirm → name → mobile → consent → signup number.

States (conversation ``signup``; data: number, role, name, phone)::

    报名 N ──► confirm ──是──► name ──► phone ──► consent ──同意──► done (confirmed / waiting)
                       │      (skipped when known)  ▲
                       │                 phone_known ┘ (「是」keeps the number she gave before;
                       │                                  「否」「换一个」asks for a new one)
                       └── volunteer role (「志愿报名 N」): straight to done, details from her
                           volunteer registration

Declared as data in :data:`SIGNUP` (handlers/conversation.py). 「取消」/「退出」 and phrases
such as 「我不想去了」「不报了」 leave at any step (the router: :data:`CANCELLED`, nothing was
saved); an unexpected answer re-asks the same step with an example, unless it is clearly
something else (「妇联电话多少」, 「人工」, 「我报了哪些」): that is answered and she is told how to
go on with the signup; after 10 minutes of silence the Redis state expires and her next message
is fresh.
The seat is decided only at the end, by :func:`models.activities.sign_up` under the activity's lock.
「报名」 alone, 「我要报名」, 「怎么报名」 get the how-to and the list; private mediation times
(预约调解) are not found by 「报名 N」. A spoken name (「17号的义剪」「那个十七号的剪头发」) is
found by :func:`find_named` (date words and particles dropped, the classifier's category and
date); her name and mobile may come in one message, also in the signup sentence itself
(「…我叫陈美玲电话13905951234」), and a mobile in Chinese numerals (voice) is taken. Her own text is quoted at most 12 characters (``clip``);
the 报名号 reads ``B0012`` so it is not taken for an activity number.
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta

from handlers.activities import (CANCEL_RE, CN_NUMERALS, PICK_NAME, PICK_STEP, SIGNUP_NAME,
                                 activity_block, activity_number, clip, list_activities,
                                 locked_session, number_digits)
from handlers.conversation import (SIGNUP_AGREE_WORDS, SIGNUP_NO_WORDS, SIGNUP_YES_WORDS,
                                   Conversation, ConversationState, ConversationUnavailable,
                                   Invalid, Step)
from handlers.router import Context, Router
from models import activities as acts
from models import followers
from models import reminders
from models.intents import extract_slots, find_town
from models.privacy import mask_phone, name_and_mobile, normalize_mobile, normalize_name
from models.volunteers import get_volunteer, parse_town

log = logging.getLogger(__name__)

NAME = SIGNUP_NAME
YES = SIGNUP_YES_WORDS
NO = SIGNUP_NO_WORDS
#: 「还用 138****5678 吗？」 answered with these: ask for the new number.
OTHER_PHONE = NO | {"换一个", "换个", "换号", "换号码", "换手机号", "换了", "不用这个", "新号码", "新的",
                    "不对", "错了", "改", "修改", "更换"}
#: Questions about how to sign up: the activity list with the how-to.
HOW_WORDS = ["怎么报名", "如何报名", "怎样报名", "报名方法", "报名方式", "报名流程", "怎么报名活动",
             "在哪报名", "在哪里报名", "怎么参加活动", "如何参加活动"]
HOW_TO = "报名方法：在「报名」后面加上活动编号回复，例如「报名 3」，再按提示回复姓名和手机号即可。"
AGREE = SIGNUP_AGREE_WORDS
_START_RE = re.compile(r"^(?:我要|我想)?(志愿者?)?报名(?:参加)?(.*)$")
_NUMBERED = re.compile(rf"^第?(\d{{1,6}}|[{CN_NUMERALS}]{{1,6}})(?:号|个|号活动)?$")
PHONE_HELP = "手机号应为 11 位数字、以 13-19 开头，例如：13812345678。请重新发送，或回复「取消」退出。"
PHONE_PROMPT = "请发送您的手机号（11 位，例如：13812345678）。"
NAME_PROMPT = "请告诉我您的姓名（例如：王秀英）。"
#: She left the signup (a cancel word or 「不想去了」): nothing of it was saved.
CANCELLED = "好的，已取消这次报名，没有保存您的信息。想报别的活动，回复「活动」看看。"
CONSENT_TEXT = ("最后一步：您的姓名和手机号只用于本次活动的联系、提醒和签到，不会用于其他用途；"
                "回复「删除我的信息」可随时删除。\n同意请回复「同意」，不同意请回复「取消」。")


def _answer(ctx: Context) -> str:
    answer = ctx.compact_text.lower().rstrip("!。.!~")
    return answer.rstrip("的啊呀呢吧嘛哦") or answer  # 「对的」「好的呀」「是啊」


def start(ctx: Context) -> str:
    """「报名 3」「报名３」「我要报名义剪」「志愿报名 3」 (the rule's ``ctx.match``: a
    :data:`_START_RE` match) → begin, or say why not."""
    return _start(ctx, ctx.match)


def _start(ctx: Context, m: re.Match | None) -> str:
    """Begin signing up for what :data:`_START_RE` match ``m`` names, or say why not."""
    role = acts.VOLUNTEER if m and m.group(1) else acts.PARTICIPANT
    rest = (m.group(2) if m else "").strip("：:，,。 ")
    rest, given = _given_contact(rest)
    if not given:  # 「报名1 王秀英 13812341234」「报名 2 13905951234」: the number, then her details
        spaced = _START_RE.match(ctx.text.strip())
        spaced_rest = spaced.group(2).strip("：:，,。 ") if spaced else ""
        if spaced_rest.replace(" ", "") == rest:
            rest, given = _number_then_contact(spaced_rest, rest)
    if not rest:
        return how_to(ctx)
    if rest in ("志愿者", "志愿", "志愿服务"):
        return "登记志愿者请回复「志愿者」；已登记的志愿者回复「志愿报名 编号」报名活动的志愿服务。"
    numbered = _NUMBERED.match(rest)
    if numbered:  # 「3」「3号」「第3个」「三」
        rest = number_digits(numbered.group(1)) or rest
    if rest.isdigit():  # any length: out of the database's range is simply not found
        activity = acts.get_activity(ctx.session, activity_number(rest))
        if activity is None or not acts.is_public(ctx.session, activity):  # 预约调解 times
            return f"没有找到编号为 {_quote(rest)} 的活动。\n\n" + list_activities(ctx)
    else:
        activity = find_named(ctx, rest)
        if activity is None and any(w in rest for w in ("调解", "评理")):  # private: 预约调解
            return "调解不用报名：回复「预约调解」，选一个时间、留下手机号即可预约。"
        if activity is None:
            return f"近期没有找到「{_quote(rest)}」相关的活动。\n\n" + list_activities(ctx)
    return _begin(ctx, activity, role, **given)


#: Where her own details start in a signup sentence: 「我叫」「姓名」「电话」.
_CONTACT_START = re.compile(r"[,，。 ]*(?:我叫|我是|我的名字|名字|姓名|本人|电话|手机|联系方式)")


def _given_contact(rest: str) -> tuple[str, dict]:
    """「电商直播培训我叫陈美玲电话13905951234」 -> (「电商直播培训」, her name and phone as
    ``given_name``/``given_phone``); without a mobile number: ``rest`` unchanged, no details."""
    start = _CONTACT_START.search(rest)
    if start is None or start.start() == 0:
        return rest, {}
    name, phone = name_and_mobile(rest[start.start():].lstrip(",，。 "))
    if phone is None:
        return rest, {}
    given = {"given_phone": phone}
    if name:
        given["given_name"] = name
    return rest[:start.start()], given


#: 「1 王秀英 13812341234」「2 13905951234」「三，王秀英13812341234」: an activity number, then more.
_NUMBER_THEN = re.compile(rf"^第?(\d{{1,6}}|[{CN_NUMERALS}]{{1,6}})(?:号活动|号|个)?"
                          rf"(?=[^\d{CN_NUMERALS}])[\s,，。:：]*(\S.*)$")
#: A run of digits that may be a phone number: never quoted back as it is.
_LONG_DIGITS = re.compile(r"[0-9零〇洞一幺二两三四五六七八九]{7,}")


def _number_then_contact(spaced: str, rest: str) -> tuple[str, dict]:
    """``spaced`` (the words after 「报名」, spaces kept) as an activity number followed by her
    name and mobile (or the mobile alone): (the number, ``given_name``/``given_phone``);
    otherwise (``rest``, no details)."""
    m = _NUMBER_THEN.match(spaced)
    if m is None:
        return rest, {}
    name, phone = name_and_mobile(m.group(2))
    if phone is None:
        return rest, {}
    given = {"given_phone": phone}
    if name:
        given["given_name"] = name
    return m.group(1), given


def _quote(rest: str) -> str:
    """Her words for a "not found" line: clipped, and a phone number in them masked."""
    return clip(_LONG_DIGITS.sub(lambda d: mask_phone(d.group()), rest))


#: Words around an activity's name in a signup sentence: 「那个」「的」「活动」 and the like.
_FILLER_RE = re.compile(r"^(?:一下|下|那个|这个|个|那|这)+|(?:的|那个|这个|活动|吧|呀|啊|哦)+$")
#: Date words inside a name (「17号」「十七号」「这周六」「明天」): the slots carry the date.
_DATE_WORDS_RE = re.compile(
    rf"(?:(?:\d{{1,2}}|[{CN_NUMERALS}]{{1,3}})月)?(?:\d{{1,2}}|[{CN_NUMERALS}]{{1,3}})[号日]"
    r"|(?:这|本|下)?(?:周|星期|礼拜)[一二三四五六日天末]|今天|明天|后天|这几天|近期|最近")


def signup_name(words: str) -> str:
    """The activity's name in 「17号的义剪」「那个十七号的剪头发」: date words and particles
    dropped (「义剪」「剪头发」); may be empty (「17号的」)."""
    name = _DATE_WORDS_RE.sub("", words)
    previous = None
    while previous != name:
        previous, name = name, _FILLER_RE.sub("", name)
    return name


def find_named(ctx: Context, words: str) -> acts.Activity | None:
    """The public upcoming activity a signup sentence names (「17号的义剪」「我想报名剪头发」):
    its title or category words, else the classifier's slots (``extract_slots``: category —
    剪头发/理发 mean 爱心义剪 — and date). Both slots: the one matching both, else the nearest
    of that category, else the nearest on that date. None only when nothing matches."""
    activity = acts.find_activity(ctx.session, words, ctx.now)
    name = signup_name(words)
    if activity is None and name and name != words:
        activity = acts.find_activity(ctx.session, name, ctx.now)
    if activity is not None:
        return activity
    tz = ctx.services.tz
    slots = extract_slots(words, today=ctx.now.astimezone(tz).date())
    if not slots.category and not slots.date_from:
        return None
    upcoming = acts.upcoming_activities(ctx.session, ctx.now, limit=200)

    def of_category(act: acts.Activity) -> bool:
        return bool(slots.category) and (act.category == slots.category
                                         or slots.category in act.title)

    def on_date(act: acts.Activity) -> bool:
        day = act.starts_at.astimezone(tz).date()
        return bool(slots.date_from) and slots.date_from <= day <= (slots.date_to or slots.date_from)

    for fits in ((lambda a: of_category(a) and on_date(a)), of_category, on_date):
        found = next((a for a in upcoming if fits(a)), None)
        if found is not None:
            return found
    return None


def start_named(ctx: Context, words: str) -> str:
    """Begin signing up for the next activity whose category or title contains ``words``
    (「爱心义剪」, 「家政培训」), as 「我想报名义剪」 does; the how-to without words."""
    return _start(ctx, _START_RE.match("报名" + (words or "")))


def how_to(ctx: Context) -> str:
    """「报名」「我要报名」「怎么报名」 → how to sign up, then the activity list."""
    return HOW_TO + "\n\n" + list_activities(ctx)


def _begin(ctx: Context, activity: acts.Activity, role: str, **given) -> str:
    tz = ctx.services.tz
    if not activity.accepting(ctx.now):
        return closed_text(activity)
    if role == acts.VOLUNTEER:
        if not activity.volunteers_needed:
            return f"活动 {activity.number} 不需要志愿者。回复「报名 {activity.number}」以参加者身份报名。"
        if get_volunteer(ctx.session, ctx.openid) is None:
            return "志愿报名需要先登记成为志愿者：回复「志愿者」开始登记，登记后再回复「志愿报名 编号」。"
    existing = acts.existing_signup(ctx.session, activity, ctx.openid, role)
    if existing is not None and existing.status != acts.SIGNUP_CANCELLED:
        return _already(ctx.session, activity, existing)
    left = acts.seats_left(ctx.session, activity, role)
    what = "志愿服务" if role == acts.VOLUNTEER else "报名"
    block = activity_block(ctx.session, activity, tz)
    if left == 0:
        ask = f"{'志愿者岗位' if role == acts.VOLUNTEER else '名额'}已满。回复「是」加入候补名单，有人取消时按顺序递补并通知您；回复「取消」退出。"
    else:
        ask = f"确认{what}这个活动吗？回复「是」继续，回复「取消」退出。"
    SIGNUP.begin(ctx, "confirm", number=activity.number, role=role, **given)
    return f"{block}\n\n{ask}"


def closed_text(activity: acts.Activity) -> str:
    """Why 「报名 N」 is refused: the activity was called off, or signups have stopped."""
    if activity.status == acts.CANCELLED:
        return (f"很抱歉，活动「{activity.title}」（编号 {activity.number}）已取消，不再报名。"
                "回复「活动」看看其他活动。")
    return f"活动「{activity.title}」（编号 {activity.number}）已停止报名。回复「活动」看看其他活动。"


def _already(session, activity: acts.Activity, signup: acts.Signup) -> str:
    if signup.status == acts.WAITING:
        pos = acts.waiting_position(session, signup)
        return (f"您已经在「{activity.title}」（活动编号 {activity.number}）的候补名单上"
                f"（第 {pos} 位），报名号 {signup.ref}，不用重复报名。有空位时会通知您。")
    if signup.status == acts.ATTENDED:
        return f"您已经参加并签到了「{activity.title}」，谢谢！"
    return (f"您已经报名了「{activity.title}」（活动编号 {activity.number}，报名号 {signup.ref}），"
            f"不用重复报名。\n回复「我的报名」查看，不能参加请回复{cancel_hint(activity.number)}。")


def cancel_hint(number: int) -> str:
    """「取消报名 3」（3 是活动编号）: the activity number said explicitly, never the 报名号."""
    return f"「取消报名 {number}」（{number} 是活动编号）"


def _jump(ctx: Context, state: ConversationState) -> str | None:
    """Before every step: 「取消报名 3」 or 「报名 5」 mid-conversation leave it and do that."""
    cancelling = CANCEL_RE.match(ctx.compact_text)
    if cancelling and (cancelling.group("n") or cancelling.group("ref")):
        ctx.conversation.end()  # 「取消报名 3」「取消报名 B0006」 mid-conversation: leave and do it
        from handlers.activities import cancel_matched

        return cancel_matched(ctx, cancelling)
    restart = _START_RE.match(ctx.compact_text)
    if restart and _NUMBERED.match(restart.group(2).strip()):  # 「报名 5」「报名五」: start over
        ctx.conversation.end()
        return _start(ctx, restart)
    return None


def _yes_no(yes: frozenset[str], no: frozenset[str], reask: str):
    """A parser: True for a word in ``yes``, False for one in ``no``, else :class:`Invalid`."""
    def parse(ctx: Context, state: ConversationState):
        answer = _answer(ctx)
        if answer in no:
            return False
        return True if answer in yes else Invalid(reask)
    return parse


def _confirm(ctx: Context, state: ConversationState, yes: bool) -> str:
    if not yes:
        ctx.conversation.end()
        return "好的，没有报名。回复「活动」看看其他活动。"
    if state.data.get("role") == acts.VOLUNTEER:
        vol = get_volunteer(ctx.session, ctx.openid)
        if vol is None:
            ctx.conversation.end()
            return "请先回复「志愿者」登记成为志愿者。"
        return _finish(ctx, state, vol.name, vol.phone)
    if state.data.get("given_name") and state.data.get("given_phone"):  # told in the sentence
        return SIGNUP.goto(ctx, state, "consent", name=state.data["given_name"],
                           phone=state.data["given_phone"])
    name, phone = acts.known_contact(ctx.session, ctx.openid)
    if state.data.get("given_name"):
        name, phone = state.data["given_name"], None
    if not name:
        vol = get_volunteer(ctx.session, ctx.openid)
        if vol is not None:
            name, phone = vol.name, vol.phone
    if not name:
        return SIGNUP.goto(ctx, state, "name")
    if state.data.get("given_phone"):  # 「报名 2 电话13905951234」: the phone she just gave
        return SIGNUP.goto(ctx, state, "consent", name=name, phone=state.data["given_phone"])
    if phone:
        ctx.conversation.update(state, step="phone_known", name=name, known_phone=phone)
        return (f"{name}，您好！联系手机还用 {mask_phone(phone)} 吗？"
                "回复「是」，或直接发送新的手机号。")
    return f"{name}，您好！" + SIGNUP.goto(ctx, state, "phone", name=name)


def _parse_name(ctx: Context, state: ConversationState):
    both = name_and_mobile(ctx.text)
    if all(both):  # 「我叫陈美玲电话13905951234」: both steps at once
        return both
    name = normalize_name(ctx.text)
    if name is None or name.lower() in YES | NO:
        return Invalid("请发送您的姓名，只要文字，例如：王秀英。回复「取消」可退出。")
    return name


def _named(ctx: Context, state: ConversationState, answer) -> str:
    """Her name (ask for the phone), or name and phone together (on to the consent)."""
    if isinstance(answer, tuple):
        return SIGNUP.goto(ctx, state, "consent", name=answer[0], phone=answer[1])
    if state.data.get("given_phone"):  # given with 「报名 2 电话…」: not asked again
        return SIGNUP.goto(ctx, state, "consent", name=answer, phone=state.data["given_phone"])
    return SIGNUP.goto(ctx, state, "phone", name=answer)


def _parse_phone(ctx: Context, state: ConversationState):
    phone = normalize_mobile(ctx.compact_text) or name_and_mobile(ctx.text)[1]
    return Invalid(PHONE_HELP) if phone is None else phone


#: 「还用 138****5678 吗？」: keep it, or give another one.
KEEP_PHONE, OTHER = "keep", "other"


def _parse_phone_known(ctx: Context, state: ConversationState):
    answer = _answer(ctx)
    if answer in YES:
        return KEEP_PHONE
    if answer in OTHER_PHONE:
        return OTHER
    return _parse_phone(ctx, state)  # a new number straight away


def _phone_known(ctx: Context, state: ConversationState, answer: str) -> str:
    if answer == OTHER:
        ctx.conversation.update(state, step="phone")
        return "好的，请发送新的手机号（11 位，例如：13812345678）。"
    phone = state.data.get("known_phone") if answer == KEEP_PHONE else answer
    return SIGNUP.goto(ctx, state, "consent", phone=phone)


def _consent(ctx: Context, state: ConversationState, agreed: bool) -> str:
    if not agreed:
        ctx.conversation.end()
        return "好的，没有报名，您的信息没有保存。需要时随时再来。"
    return _finish(ctx, state, state.data.get("name"), state.data.get("phone"))


def _finish(ctx: Context, state: ConversationState, name: str | None, phone: str | None) -> str:
    """Take the seat (or a waiting place) under the activity's lock; end the conversation."""
    number, role = int(state.data["number"]), state.data.get("role", acts.PARTICIPANT)
    ctx.conversation.end()
    try:
        with locked_session(ctx) as s:
            try:
                result = acts.sign_up(s, number, ctx.openid, role=role, name=name, phone=phone,
                                      public_only=True, now=ctx.now)
            except acts.AlreadySignedUp as exc:
                return _already(s, exc.activity, exc.signup)
            activity, ref, status, position = (result.activity, result.signup.ref,
                                               result.status, result.position)
    except acts.ActivityNotFound:
        return f"活动 {number} 已不存在。回复「活动」看看其他活动。"
    except (acts.SignupClosed, acts.NoVolunteersNeeded) as exc:
        if exc.activity is not None and exc.activity.status == acts.CANCELLED:
            return closed_text(exc.activity)
        return f"抱歉，活动 {number} 刚刚停止报名。回复「活动」看看其他活动。"
    tz = ctx.services.tz
    from handlers.activities import fmt_time, place_of

    when = fmt_time(activity.starts_at, tz)
    where = place_of(ctx.session, activity)
    label = "志愿者报名" if role == acts.VOLUNTEER else "报名"
    if status == acts.WAITING:
        text = (f"已加入「{activity.title}」（活动编号 {number}）的候补名单，您是第 {position} 位，"
                f"报名号 {ref}。\n时间：{when}\n有人取消时会按顺序递补并通知您。"
                f"不需要了请回复{cancel_hint(number)}。")
    else:
        text = (f"{label}成功！报名号 {ref}\n活动：{activity.title}（活动编号 {number}）\n时间：{when}\n"
                f"地点：{where}\n{reminder_line(ctx, activity.starts_at)}不能参加请回复{cancel_hint(number)}。")
    return text + _ask_town(ctx)


#: Within this of the start, a signup hears 「活动快开始了」 rather than 「请记好时间」.
SOON = timedelta(hours=3)


def reminder_line(ctx: Context, starts_at) -> str:
    """「活动前一天会提醒您。」 only when the day-before reminder will really be sent for an
    activity starting at ``starts_at`` (enabled and not yet past); otherwise 「活动快开始了，请
    准时到场。」 (within :data:`SOON`) or 「请记好时间，准时到场。」."""
    try:
        with ctx.session.begin_nested():
            at = reminders.activity_reminder_at(ctx.session, starts_at, ctx.services.tz)
    except Exception:  # noqa: BLE001 - wording only: never cost her the confirmation
        log.exception("signup: could not tell whether the activity reminder will be sent")
        at = None
    if at is not None and at > ctx.now:
        return "活动前一天会提醒您。"
    if starts_at - ctx.now <= SOON:
        return "活动快开始了，请准时到场。"
    return "请记好时间，准时到场。"


def _ask_town(ctx: Context) -> str:
    """After a signup, ask once (optional) which town she lives in when we don't know it from
    her: her answer fills the figures per town as a town she stated."""
    follower = ctx.session.get(followers.Follower, ctx.openid)
    if follower is not None and follower.town and follower.town_source != followers.TOWN_INFERRED:
        return ""
    try:
        TOWN_QUESTION.begin(ctx)
    except ConversationUnavailable:  # Redis down: the question is optional, leave it out
        return ""
    return "\n" + TOWN_ASK


#: The optional question after a signup (a passive one-step conversation).
TOWN_ASK = "顺便问一句：您住在哪个乡镇？回复乡镇名（如「桃城」）即可，方便我们在您附近多办活动；不想说可以不回。"
_TOWN_LEAD = re.compile(r"^(?:我|阮)?(?:家)?(?:住在|住|在|是)?")


def _parse_signup_town(ctx: Context, state: ConversationState) -> str | None:
    """Her town from a short answer (「桃城」「我在蓬壶镇」「住石鼓」「我在達埔」「达铺」: the
    classifier's town names too, ``models.intents.find_town``); not list numbers, not a town
    mentioned inside a longer sentence (that is a new message)."""
    text = ctx.compact_text.rstrip("。.!！~～啊呀的")
    if len(text) > 8 or text.isdigit():
        return None
    return parse_town(_TOWN_LEAD.sub("", text, count=1)) or find_town(text)


def _town_told(ctx: Context, state: ConversationState, town: str | None):
    """Record the town she stated; anything else ends the question and is answered as a fresh
    message (None)."""
    ctx.conversation.end()
    if town is None:
        return None
    followers.set_follower_town(ctx.session, ctx.openid, town, source=followers.TOWN_STATED,
                                now=ctx.now)
    return f"好的，已记下您在{town}。回复「活动」看看近期活动。"


#: Seconds a bare number after the activity list still picks from it.
PICK_TIMEOUT = 600


#: 「第二个」「我要第2个」「第三个活动吧」: a position in the list shown, never a number in 【】.
_ORDINAL = re.compile(rf"^(?:我要|我选|选|要)?第(\d{{1,2}}|[{CN_NUMERALS}]{{1,3}})(?:个|项|条)?(?:活动)?吧?$")
#: 「最后一个」「最后那个」「倒数第一个」: the last one shown.
_LAST = re.compile(r"^(?:我要|我选|选|要)?(?:最后(?:一个|那个|1个|一项)?|倒数第[一1]个?)(?:活动)?吧?$")


#: 「第0个」「第九十九个」: a position the list shown does not have.
OUT_OF_LIST = -1


def _parse_pick(ctx: Context, state: ConversationState) -> int | None:
    """Her choice after the list, as she sees it: 「第二个」 the second one shown and
    「最后一个」 the last (positions); a bare 「2」「2号」 the activity shown as 【2】, else (no
    such number shown) the second one shown; None for anything else."""
    text = ctx.compact_text.rstrip("。.!！?？")
    listed = [int(x) for x in state.data.get("numbers") or ()]
    if _LAST.match(text):
        return listed[-1] if listed else None
    ordinal = _ORDINAL.match(text)
    if ordinal:
        digits = number_digits(ordinal.group(1))
        n = int(digits) if digits else 0
        return listed[n - 1] if 1 <= n <= len(listed) else OUT_OF_LIST
    m = _NUMBERED.match(text)
    digits = number_digits(m.group(1)) if m else None
    if not digits or len(digits) > 6:
        return None
    n = int(digits)
    if n in listed:
        return n
    return listed[n - 1] if 1 <= n <= len(listed) else None


def _picked(ctx: Context, state: ConversationState, number: int | None):
    """The picked activity's details and the signup's first question (as 「报名 N」); any
    other message ends the pick and goes on as a fresh message (None)."""
    ctx.conversation.end()
    if number is None:
        return None
    if number == OUT_OF_LIST:  # say how many there are; the list still answers a number
        listed = [int(x) for x in state.data.get("numbers") or ()]
        ctx.conversation.start(PICK_NAME, PICK_STEP, numbers=listed)
        return (f"刚才的列表里只有 {len(listed)} 个活动，请回复「第1个」到「第{len(listed)}个」，"
                "或回复「报名 活动编号」。")
    activity = acts.get_activity(ctx.session, number)
    if activity is None or not acts.is_public(ctx.session, activity):
        return None
    return _begin(ctx, activity, acts.PARTICIPANT)


PICK = Conversation(
    PICK_NAME,
    steps=(Step(PICK_STEP, parse=_parse_pick, then=_picked, passive=True),),
    label="选择活动",
    timeout=PICK_TIMEOUT,
    broken="",
)


TOWN_QUESTION = Conversation(
    "signup_town",
    steps=(Step("town", parse=_parse_signup_town, then=_town_told, passive=True),),
    label="乡镇",
    timeout=600,
    broken="",
)


SIGNUP = Conversation(
    name=NAME,
    label="报名",
    steps=(
        Step("confirm", parse=_yes_no(YES, NO, "请回复「是」确认报名，或回复「取消」退出。"),
             then=_confirm),
        Step("name", parse=_parse_name, then=_named, prompt=NAME_PROMPT,
             resume="请接着告诉我您的姓名（只要文字，例如：王秀英）；不报了回复「取消」。"),
        Step("phone", parse=_parse_phone, next="consent", prompt=PHONE_PROMPT,
             resume="请接着发送您的手机号（11 位，例如：13812345678）；不报了回复「取消」。"),
        Step("phone_known", parse=_parse_phone_known, then=_phone_known,
             resume="还用原来的手机号请回复「是」，或直接发送新的手机号；不报了回复「取消」。"),
        Step("consent", parse=_yes_no(AGREE, NO, "请回复「同意」完成报名，或回复「取消」退出。"),
             then=_consent, prompt=CONSENT_TEXT,
             resume="请回复「同意」完成报名；不报了回复「取消」。"),
    ),
    before=_jump,
    cancelled=CANCELLED,
    broken="抱歉，报名过程出了点问题，请重新回复「报名 编号」。",
)


def register(router: Router) -> None:
    """Rules of this module."""
    router.on_text(regex=_START_RE.pattern)(start)
    router.on_text(exact=HOW_WORDS)(how_to)
    router.conversation(SIGNUP)
    router.conversation(TOWN_QUESTION)
    router.conversation(PICK)
