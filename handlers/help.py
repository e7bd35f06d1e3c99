"""求助/留言: the conversation that turns what a woman needs into a help request.

States (conversation ``help``, Redis, 10 minutes; 「取消」 leaves at any step)::

    求助 / 留言 / 我要咨询 / menu HELP
        -> category  (1-6 or words: 政策法律, 婚姻家庭/矛盾调解, 家庭教育指导, 关爱帮扶, 就业创业, 其他)
        -> message   (any number of texts, voices, images, videos; 「提交」/「好了」 ends it;
                      each is saved at once in a draft request, models/help.py
                      ``save_draft``: if she leaves — another command, 10 minutes of silence —
                      staff still see it (the digest reports it) and so does she (「我的留言」);
                      「提交」 later finishes it; 「取消」 deletes it)
        -> contact   (1 微信回复 / 2 电话 -> phone / 3 不需要联系; a phone number is taken directly)
        -> phone     (mainland mobile or landline with area code)
        => request saved: reference number + expected answer time

    a danger word (handlers/safety.py) anywhere, also during this conversation (what she wrote
    in it moves to the urgent request; any other conversation, 报名 or 志愿者, is ended)
        -> urgent_more (what she adds, a phone number, her town, 「不用联系」 go to the urgent
           request — anything not clearly another question, despair above all; 「好了」 ends
           it; other features' short commands and clear questions are answered, not filed)
    every reply about an urgent request says what became of telling on-duty staff (notified by
    WeChat, being notified, or — no ``[help] on_duty_openids``, dry run, failed — nobody can see
    it at once: staff see it in the console, she is given the numbers to call herself)

Also 「提交」 outside the conversation (it timed out, or she went elsewhere) finishes the draft she
left (contact 微信回复); 「取消」 inside it deletes her draft (never an urgent request).

Also 「有事请打我电话」 (she wants a call) -> how to ask for one with 「求助」.

Also 「查看回复」 (her answers), 「我的留言」 (her requests and their status) and 「预约调解」:
a time at a 纠纷化解 point (秀丽个人调解室, 陈秀美个人评理室 ...), booked as a signup of a staff-made
activity there (models/activities.py ``sign_up``; conversation ``mediation``: slot -> phone).

Both conversations are declared as data: :data:`HELP` and :data:`MEDIATION_CONVERSATION`
(handlers/conversation.py).
"""
from __future__ import annotations

import logging
import re

from bot.core.text import compact
from bot.wechat.menu import HELP as HELP_KEY
from bot.wechat.menu import MEDIATION as MEDIATION_KEY
from handlers.conversation import YES_WORDS as PLAIN_YES_WORDS
from handlers.conversation import Conversation, ConversationState, Invalid, Step
from handlers.router import Context, Router, Stage, with_note
from models import followers
from models import help as hr
from models import intents as intents_engine
from models import mediation
from models.privacy import mask_phone

log = logging.getLogger(__name__)

CONVERSATION = "help"
STEP_CATEGORY = "category"
STEP_MESSAGE = "message"
STEP_CONTACT = "contact"
STEP_PHONE = "phone"
STEP_URGENT_MORE = "urgent_more"

START_WORDS = ["求助", "留言", "我要咨询", "我要求助", "我要留言", "求助留言", "咨询", "我想咨询",
               "我要反映", "反映问题"]
DONE_WORDS = frozenset({"提交", "好了", "好", "完成", "说完了", "没有了", "没了", "就这些", "发送",
                        "确定", "确认", "ok", "OK"})
ANSWER_WORDS = ["查看回复", "查看答复", "看回复", "回复", "我的回复", "查回复"]
MY_WORDS = ["我的留言", "我的求助", "留言进度", "求助进度"]
#: After this many messages the message step ends on its own.
MAX_PARTS = 20

SAFETY_LINE = "如遇危险请立即拨打110，妇女维权热线12338。"


def federation_phone(ctx: Context) -> str:
    """``[app] federation_phone`` (the county federation's number), or ""."""
    return str(ctx.services.config.app.get("federation_phone", "") or "")


def staffed(ctx: Context) -> bool:
    """Whether on-duty staff are told of urgent requests at once (``[help] on_duty_openids``);
    a broken ``[help]`` section counts as not staffed (she is then told to call herself)."""
    try:
        return hr.help_settings(ctx.services.config).staffed
    except Exception:  # noqa: BLE001 - never fail a woman in danger over a config error
        log.exception("help settings unreadable")
        return False


def notice_of(ctx: Context, row: hr.HelpRequest) -> str:
    """What became of telling on-duty staff about urgent request ``row`` (``hr.NOTICE_*``,
    see ``hr.urgent_notice``), read now: the background notification may have finished."""
    return hr.urgent_notice(row, staffed=staffed(ctx), dry_run=ctx.services.config.dry_run)


def urgent_line(ctx: Context, row: hr.HelpRequest | None, *, contact: bool = True) -> str:
    """What happens next with urgent request ``row``, saying exactly who will see it and never
    promising what cannot happen (``contact`` False: she asked not to be contacted).

    On-duty staff notified by WeChat (``sent``) or being notified (``pending``) -> they will
    contact her; no ``[help] on_duty_openids``, dry run (outbox only) or a failed notification
    -> saved, staff see it in the console when at work, call 12338 / the federation / 110
    herself. ``row`` None (it was erased meanwhile): nothing is kept, she is told so.
    """
    if row is None:
        return f"这条紧急求助已不存在，您的消息没有保存。需要帮助请回复「求助」。{SAFETY_LINE}"
    notice = notice_of(ctx, row)
    then = "会尽快联系您" if contact else "会尽快处理"
    if notice == hr.NOTICE_SENT:
        return (f"您的紧急求助（编号 {row.ref}）已通过微信通知值班人员，他们{then}；"
                "危险时请立即拨打110，妇女维权热线12338。")
    phone = federation_phone(ctx)
    county = f"，或永春县妇联电话 {phone}" if phone else ""
    if notice == hr.NOTICE_PENDING:
        return (f"正在通过微信通知值班人员您的紧急求助（编号 {row.ref}），还没有确认他们收到，"
                f"收到后{then}。危险时请立即拨打110，也可以直接拨打妇女维权热线12338{county}。")
    why = {hr.NOTICE_DRY_RUN: "但系统现在是演练模式，不会真正通知值班人员",
           hr.NOTICE_FAILED: "但通知值班人员没有成功"}.get(notice, "但现在没有值班人员能马上看到")
    return (f"您的消息已保存（编号 {row.ref}），{why}，工作人员上班时在后台能看到。"
            f"危险时请立即拨打110；也可以直接拨打妇女维权热线12338{county}。")


#: Words that pick a category, checked in order (家庭教育 before 家庭).
_CATEGORY_WORDS = [
    ("家庭教育", "education"), ("教育", "education"), ("孩子", "education"), ("亲子", "education"),
    ("政策", "law"), ("法律", "law"), ("法规", "law"), ("维权", "law"), ("律师", "law"),
    ("婚姻", "family"), ("家庭", "family"), ("矛盾", "family"), ("调解", "family"),
    ("离婚", "family"), ("纠纷", "family"), ("夫妻", "family"), ("婆媳", "family"),
    ("关爱", "care"), ("帮扶", "care"), ("困难", "care"), ("救助", "care"), ("慰问", "care"),
    ("就业", "jobs"), ("创业", "jobs"), ("工作", "jobs"), ("培训", "jobs"), ("找活", "jobs"),
    ("其他", "other"), ("其它", "other"), ("别的", "other"),
]
_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6}


def parse_category(text: str) -> str | None:
    """Category code from what she answered: a number 1-6 (一..六, ①..⑥ after NFKC) or words."""
    t = compact(text).strip("。.!!??、,,")
    if not t:
        return None
    first = t[0]
    number = int(first) if first in "0123456789" else _NUMERALS.get(first)
    if number and 1 <= number <= len(hr.CATEGORIES) and (len(t) == 1 or t[1] not in "0123456789"):
        return hr.CATEGORIES[number - 1][0]
    for word, code in _CATEGORY_WORDS:
        if word in t:
            return code
    return None


def category_prompt() -> str:
    lines = ["请问是哪方面的事？回复数字即可："]
    lines += [f"{i}. {label}" for i, (_code, label) in enumerate(hr.CATEGORIES, 1)]
    return "\n".join(lines)


CONTACT_PROMPT = ("希望我们怎样联系您？回复数字：\n1. 微信回复（答复发到公众号里）\n"
                  "2. 电话（也可以直接发手机号码）\n3. 不需要联系")
MESSAGE_PROMPT = ("请说说具体情况：文字、语音、图片都可以，可以分几条发。\n"
                  "说完请回复「提交」。")


def _text(ctx: Context, state: ConversationState) -> str:
    """A step's parser that takes her (compact) text as it is; the step itself reads it."""
    return ctx.compact_text


#: At the message step, a short text the router's test finds is one of these is no part of her
#: story: answered (「人工」 → how to reach staff), not stored.
NOT_STORY_INTENTS = frozenset({"human"})


def _parse_message(ctx: Context, state: ConversationState):
    """The message step's parser: her text, unless it is short and clearly a request for a
    person (「人工」「转人工」): then :class:`Invalid`, so the router answers it and she is told
    how to go on (nothing is stored)."""
    t = ctx.compact_text
    if t and len(t) <= COMMAND_CHARS and ctx.router is not None \
            and ctx.update.msg_type in ("text", "voice"):
        found = ctx.router.elsewhere(ctx)
        if found is not None and found.what in NOT_STORY_INTENTS:
            return Invalid("请接着说说情况，说完回复「提交」。")
    return t


def start(ctx: Context):
    """Begin the conversation at the category step. With an urgent request of hers still open
    (a danger word in the last ``[help] urgent_merge_hours``), what she writes goes into it."""
    try:
        hours = hr.help_settings(ctx.services.config).urgent_merge_hours
    except Exception:  # noqa: BLE001 - a config error must not stop her asking for help
        hours = hr.HelpSettings().urgent_merge_hours
    urgent = hr.open_urgent_request(ctx.session, ctx.openid, merge_hours=hours, now=ctx.now)
    linked = {"urgent_id": urgent.id, "draft_id": urgent.id} if urgent else {}
    HELP.begin(ctx, STEP_CATEGORY, count=0, **linked)
    return ("您好，这里是「桃源姐妹」求助留言，您说的内容只有县妇联工作人员能看到。\n"
            f"{category_prompt()}\n（随时回复「取消」退出。{SAFETY_LINE}）")


def _part_from(ctx: Context) -> tuple[str | None, dict | None]:
    """What one message adds: (text, media item); both None for what cannot be kept."""
    u = ctx.update
    if u.msg_type == "text":
        return (u.content.strip() or None), None
    if u.msg_type == "voice":
        media = {"type": "voice", "media_id": u.media_id} if u.media_id else None
        return (u.recognition.strip() or None), media
    if u.msg_type in ("image", "video", "shortvideo"):
        kind = "image" if u.msg_type == "image" else "video"
        return None, ({"type": kind, "media_id": u.media_id} if u.media_id else None)
    if u.msg_type == "location" and u.location is not None:
        loc = u.location
        return f"[位置] {loc.label or ''} ({loc.lat:.5f},{loc.lng:.5f})".strip(), None
    if u.msg_type == "link":
        return f"[链接] {u.title} {u.url}".strip(), None
    return None, None


#: An answer this long at the category step is her story, not a choice: it is kept.
STORY_CHARS = 10


#: Told with her first saved message: what happens to it if she does not finish.
SAVED_NOTE = "已保存，中途离开也不会丢，工作人员能看到。"


def _save(ctx: Context, state, category: str, text: str | None, media: dict | None):
    """Save one message in her draft request at once (``hr.save_draft``); returns the row."""
    draft_id = state.data.get("draft_id") or state.data.get("urgent_id")
    return hr.save_draft(ctx.session, ctx.openid, draft_id, category=category, text=text,
                         media=media, now=ctx.now)


def _step_category(ctx: Context, state, code: str | None):
    text, media = _part_from(ctx)
    if (text and len(ctx.compact_text) >= STORY_CHARS) or media:
        # She started telling her story: keep it, file it under the category it names or 其他.
        code = code or "other"
        row = _save(ctx, state, code, text, media)
        ctx.conversation.update(state, step=STEP_MESSAGE, category=code, count=1, draft_id=row.id)
        return (f"已记下您的话（归入「{hr.CATEGORY_LABELS[code]}」），{SAVED_NOTE}\n"
                "还有要补充的请继续发送；说完请回复「提交」。")
    if code is None:  # the router first sees whether it is clearly something else (「人工」)
        return Invalid(f"没看懂您选的是哪一项。\n{category_prompt()}")
    ctx.conversation.update(state, step=STEP_MESSAGE, category=code)
    return f"好的，「{hr.CATEGORY_LABELS[code]}」。\n{MESSAGE_PROMPT}"


def _step_message(ctx: Context, state, t: str):
    if t in DONE_WORDS:
        if not state.data.get("draft_id") and state.data.get("urgent_id") is None:
            return "您还没有说具体情况哦。请把想说的发给我们，说完再回复「提交」。"
        ctx.conversation.update(state, step=STEP_CONTACT)
        return CONTACT_PROMPT
    text, item = _part_from(ctx)
    if text is None and item is None:
        return "这种消息暂时记不下来，请用文字、语音或图片发送。说完请回复「提交」。"
    first = not state.data.get("draft_id")
    row = _save(ctx, state, state.data.get("category", "other"), text, item)
    count = state.data.get("count", 0) + 1
    if count >= MAX_PARTS or len(row.body) >= hr.MAX_BODY_CHARS:
        ctx.conversation.update(state, step=STEP_CONTACT, count=count, draft_id=row.id)
        return f"已记下您说的内容。\n{CONTACT_PROMPT}"
    ctx.conversation.update(state, count=count, draft_id=row.id)
    what = {"voice": "语音", "image": "图片", "video": "视频", "shortvideo": "视频"}.get(
        ctx.update.msg_type, "内容")
    note = SAVED_NOTE if first else ""
    return f"{what}已收到（共{count}条），{note}还有补充请继续发送；说完请回复「提交」。"


#: A menu number with the words after it: 「3不需要联系」, 「2.电话」, 「1、微信」.
_NUMBERED = re.compile(r"([123])[.、。:：)）]?(.+)")


def _contact_choice(t: str) -> str | None:
    """The contact wish in her answer (1/2/3, words, or both), or None."""
    t = t.strip("。.!！?？、,，~～")
    numbered = _NUMBERED.fullmatch(t)
    if numbered:
        choice = _contact_choice(numbered.group(1))
        return choice if _contact_choice(numbered.group(2)) == choice else None
    if t in ("1", "微信", "微信回复", "微信联系", "公众号"):
        return hr.CONTACT_WECHAT
    if t in ("2", "电话", "打电话", "电话联系", "手机"):
        return hr.CONTACT_PHONE
    if t in ("3", "不需要", "不用", "不需要联系", "不用联系", "不要联系", "不用了", "不需要了"):
        return hr.CONTACT_NONE
    return None


def _parse_contact(ctx: Context, state):
    """(contact wish, phone or None): a phone number given directly, or 1/2/3 (or words)."""
    t = ctx.compact_text
    phone = hr.normalize_phone(t) if len(t) >= 7 and _has_digits(t) else None
    if phone:
        return hr.CONTACT_PHONE, phone
    choice = _contact_choice(t)
    if choice is None:
        return Invalid(f"请回复 1、2 或 3。\n{CONTACT_PROMPT}")
    return choice, None


def _step_contact(ctx: Context, state, answer: tuple[str, str | None]):
    choice, phone = answer
    if choice == hr.CONTACT_PHONE and phone is None:
        ctx.conversation.update(state, step=STEP_PHONE)
        return "请发您的手机号码（或带区号的座机号码，如 0595-23881234）："
    return _finish(ctx, state, choice, phone)


def _parse_phone(ctx: Context, state):
    """(contact wish, phone or None): 微信/不需要 (1/3 of the menu she just saw) or a number."""
    t = ctx.compact_text
    choice = _contact_choice(t)
    if choice in (hr.CONTACT_WECHAT, hr.CONTACT_NONE):  # 1/3 of the menu she just saw, or words
        return choice, None
    phone = hr.normalize_phone(t)
    if phone is None:
        return Invalid("这个号码好像不对。请发11位手机号码，或带区号的座机号码（如 0595-23881234）。\n"
                       "不方便留电话的话，回复「微信」改为微信回复。")
    return hr.CONTACT_PHONE, phone


def _step_phone(ctx: Context, state, answer: tuple[str, str | None]):
    choice, phone = answer
    return _finish(ctx, state, choice, phone)


def _finish(ctx: Context, state, contact: str, phone: str | None):
    data = state.data
    settings = hr.help_settings(ctx.services.config)
    try:
        row = hr.submit_request(ctx.session, ctx.openid, category=data.get("category", "other"),
                                parts=[], media=[], contact=contact, phone=phone,
                                urgent_id=data.get("urgent_id"), draft_id=data.get("draft_id"),
                                now=ctx.now)
    except hr.EmptyMessage:
        ctx.conversation.update(state, step=STEP_MESSAGE)
        return "您还没有说具体情况哦。请把想说的发给我们，说完再回复「提交」。"
    except hr.InvalidPhone:
        ctx.conversation.update(state, step=STEP_PHONE)
        return "这个号码好像不对，请再发一次手机号码，或回复「微信」改为微信回复。"
    ctx.conversation.end()
    if contact == hr.CONTACT_PHONE:
        how = f"工作人员会打电话 {mask_phone(phone)} 联系您，答复也会发到这里。"
    elif contact == hr.CONTACT_NONE:
        how = "您选择了不需要联系，答复会留在这里，回复「查看回复」即可查看。"
    else:
        how = "答复会发到公众号里，也可以随时回复「查看回复」查看。"
    if row.urgent:  # a danger word was seen: no "2 working days", no promise nobody can keep
        return (f"已收到您的留言，编号 {row.ref}（{row.category_label}），已标为紧急。\n"
                f"{urgent_line(ctx, row, contact=contact != hr.CONTACT_NONE)}\n{how}")
    return (f"已收到您的留言，编号 {row.ref}（{row.category_label}）。\n{settings.answer_time}\n"
            f"{how}\n{SAFETY_LINE}")


#: Intents that are clearly no more detail for her urgent request (a question about the
#: directory, activities, the account ...): answered, not filed (:func:`_not_a_detail`).
#: Not here, so filed with the request: 求助, 转人工, 调解, her own requests, danger, small talk
#: (「在吗」 after a danger word is for staff to read).
NOT_DETAIL_INTENTS = frozenset({
    "directory_need", "directory_town", "directory_nearby", "activities", "signup",
    "my_signups", "signup_cancel", "haircut", "volunteer", "volunteer_hours", "subscribe",
    "unsubscribe", "columns", "privacy_delete", "contact", "usage", "bot_identity"})


#: Her message asks something (「附近有妇女微家吗」), rather than saying where she is (「我在湖洋」).
_QUESTION = re.compile(r"[吗?？]|哪|有没有|什么|多少|怎么|几点|能不能|可不可以")


def _for_the_request(t: str) -> bool:
    """At the urgent step, what is always for the request, whatever the classifier thinks: the
    step's own words, a phone number, 「不用联系」, and a town she names without asking
    (where she is: 「我在湖洋」「蓬壶」)."""
    if t in DONE_WORDS or t in START_WORDS or t in ANSWER_WORDS or t in MY_WORDS:
        return True
    if len(t) >= 7 and _has_digits(t) and hr.normalize_phone(t):
        return True
    if _contact_choice(t) == hr.CONTACT_NONE:
        return True
    return bool(_town_in(t)) and not _QUESTION.search(t)


#: A command another feature's rule takes at the urgent step is at most this long (longer
#: texts are her story, even when they contain a command's words).
COMMAND_CHARS = 8


def _is_aside(found, t: str) -> bool:
    """Whether :meth:`Router.elsewhere`'s ``found`` is clearly no detail for her urgent request:
    a short command of another feature's rule (「活动」, 「报名 3」), or a question the classifier
    is sure of among :data:`NOT_DETAIL_INTENTS`. This module's own rules (「求助」, 「我的留言」,
    「有事请打我电话」) are no aside: the step reads those itself."""
    rule = getattr(found, "rule", None)
    if rule is not None:
        return rule.handler not in _OWN_HANDLERS and len(t) <= COMMAND_CHARS
    return found.what in NOT_DETAIL_INTENTS


def _not_a_detail(ctx: Context, state) -> str | None:
    """At the urgent step: a message the router's test (:meth:`Router.elsewhere`) finds is
    clearly something else (:func:`_is_aside`) is answered as usual and not filed, and she is
    told so truthfully (and how to add more); None for anything else (it is filed: while an
    urgent request is open, what is not clearly another question belongs to it)."""
    if _for_the_request(ctx.compact_text):
        return None
    found = ctx.router.elsewhere(ctx) if ctx.router is not None else None
    if found is None or not _is_aside(found, ctx.compact_text):
        return None
    answer = found.answer()
    text = answer if isinstance(answer, str) else getattr(answer, "content", None)
    if not text or not isinstance(text, str):
        return answer  # a transfer or an article: as it is
    urgent_id = state.data.get("urgent_id")
    row = ctx.session.get(hr.HelpRequest, urgent_id) if urgent_id else None
    ref = f"（编号 {row.ref}）" if row is not None and row.openid == ctx.openid else ""
    now = ctx.conversation.get()
    if now is not None and (now.name, now.step) == (CONVERSATION, STEP_URGENT_MORE):
        note = (f"——\n这条没有记入您的紧急求助{ref}。还想补充情况，请直接发送，"
                "说完回复「好了」。危险时请立即拨打110。")
    else:
        note = f"——\n这条没有记入您的紧急求助{ref}。还想补充，请回复「求助」。危险时请立即拨打110。"
    return with_note(text, note)


#: Added when what she files at the urgent step reads as despair (or the request is one).
DISTRESS_LINE = "心里很难受的话，请拨打心理援助热线 12356，有人愿意听您说。"


def _despair(ctx: Context, row: hr.HelpRequest) -> bool:
    """Whether to give her the 12356 line with what she filed: the request is a distress one,
    or the classifier reads this text as danger (``DANGER_THRESHOLD``)."""
    if row.distress:
        return True
    if ctx.update.msg_type not in ("text", "voice") or not ctx.compact_text:
        return False
    try:
        pred = intents_engine.classify(ctx.text, today=ctx.local_now().date(),
                                       session=ctx.session_source, kv=ctx.services)
    except Exception:  # noqa: BLE001 - the filing itself is what matters
        log.exception("help: the urgent step could not classify a message")
        return False
    return pred.danger >= intents_engine.DANGER_THRESHOLD


def _step_urgent_more(ctx: Context, state, t: str):
    """After a danger word: what she adds goes to the urgent request; a number is her phone.
    What is clearly something else — a short command of another feature (「活动」), a question
    the classifier is sure is about something else (「附近有妇女微家吗」) — is answered, not
    filed, and she is told so (:func:`_not_a_detail`); she can go on adding to the request.
    Anything else, despair above all (「活着真没意思」), is added and she is told so."""
    other = _not_a_detail(ctx, state)
    if other is not None:
        return other
    urgent_id = state.data.get("urgent_id")
    if t in START_WORDS:  # she wants the full request form: keep the urgent request
        reply = start(ctx)  # what she writes in it goes straight into the urgent request
        ctx.conversation.update(ctx.conversation.get(), urgent_id=urgent_id, draft_id=urgent_id)
        return reply
    if t in ANSWER_WORDS or t in MY_WORDS:
        ctx.conversation.end()
        return show_answers(ctx) if t in ANSWER_WORDS else show_mine(ctx)
    if t in DONE_WORDS:
        ctx.conversation.end()
        row = ctx.session.get(hr.HelpRequest, urgent_id) if urgent_id else None
        if row is None or row.openid != ctx.openid or row.anonymised_at is not None:
            return urgent_line(ctx, None)
        line = urgent_line(ctx, row, contact=row.contact != hr.CONTACT_NONE)
        return f"好的，您说的都已记入紧急求助。\n{line}"
    phone = hr.normalize_phone(t) if len(t) >= 7 and _has_digits(t) else None
    no_contact = phone is None and _contact_choice(t) == hr.CONTACT_NONE and not t.isdigit()
    text, item = _part_from(ctx)
    try:
        row = hr.add_to_urgent(ctx.session, urgent_id, ctx.openid,
                               text=None if no_contact else text, media=item, phone=phone,
                               contact=hr.CONTACT_NONE if no_contact else None, now=ctx.now)
    except hr.RequestNotFound:  # erased meanwhile (「删除我的信息」)
        ctx.conversation.end()
        return urgent_line(ctx, None)
    ctx.conversation.update(state)
    more = "还想说的请继续发送，说完回复「好了」。"
    if phone:
        return f"已记下您的电话 {mask_phone(phone)}。\n{urgent_line(ctx, row)}"
    if no_contact:
        return (f"好的，我们不打电话给您，有消息会发到这里。\n{urgent_line(ctx, row, contact=False)}"
                f"\n{more}")
    town = _town_in(t)
    if town:  # we asked for her town: what she says is stated (figures per town)
        followers.set_follower_town(ctx.session, ctx.openid, town, source=followers.TOWN_STATED,
                                    now=ctx.now)
    got = f"已收到，已补充到您的紧急求助（编号 {row.ref}）" + (f"，地点（{town}）已记下" if town else "")
    despair = f"\n{DISTRESS_LINE}" if _despair(ctx, row) else ""
    return f"{got}。\n{urgent_line(ctx, row)}{despair}\n{more}"


#: Digits as voice input writes them (a phone number said aloud: 「一三八…」).
_SPOKEN_DIGITS = frozenset("零〇洞一幺二两三四五六七八九")


def _has_digits(text: str) -> bool:
    """Whether ``text`` has digits, written or spoken (at least 7 spoken: a number, not 「一个」)."""
    return any(ch.isdigit() for ch in text) or sum(ch in _SPOKEN_DIGITS for ch in text) >= 7


def _town_in(text: str) -> str | None:
    """The Yongchun town she names (「桃城」, 「我在蓬壶」 -> 蓬壶镇), or None; not list numbers."""
    from models.volunteers import TOWNS, parse_town

    if not text or text.isdigit():
        return None
    found = parse_town(text)
    if found:
        return found
    return next((town for town in TOWNS if town[:-1] in text), None)


def discard_on_cancel(ctx: Context, state: ConversationState) -> None:
    """「取消」 during 「求助」 withdraws what she wrote: her unfinished draft is deleted (an urgent
    request never is). The router then ends the conversation and answers."""
    if state.data.get("draft_id") and state.data.get("draft_id") != state.data.get("urgent_id"):
        hr.discard_draft(ctx.session, ctx.openid, state.data["draft_id"])


def cancel_text(ctx: Context, state: ConversationState) -> str:
    """What 「取消」 inside 「求助」 tells her: with an urgent request open, that it stays filed
    and staff still see what she sent; else "" (the router's own 「已退出」)."""
    urgent_id = state.data.get("urgent_id")
    row = ctx.session.get(hr.HelpRequest, urgent_id) if urgent_id else None
    if row is None:
        return ""
    return (f"好的，已退出。您的紧急求助（编号 {row.ref}）仍然保留，不会删除，"
            f"您发来的内容工作人员都能看到。{SAFETY_LINE}")


HELP = Conversation(
    name=CONVERSATION,
    label="求助",
    # A danger word does not stop 「求助」: what she wrote joins the urgent request and the
    # conversation goes on at its urgent step (handlers/safety.py).
    interruptible=False,
    steps=(
        Step(STEP_CATEGORY, parse=lambda ctx, state: parse_category(ctx.compact_text),
             then=_step_category, prompt=lambda state: category_prompt(),
             resume="请接着回复数字 1-6，选是哪方面的事。"),
        Step(STEP_MESSAGE, parse=_parse_message, then=_step_message, prompt=MESSAGE_PROMPT,
             resume="请接着说说情况，说完回复「提交」。"),
        Step(STEP_CONTACT, parse=_parse_contact, then=_step_contact, prompt=CONTACT_PROMPT,
             resume="请接着回复 1（微信回复）、2（电话）或 3（不需要联系）。"),
        Step(STEP_PHONE, parse=_parse_phone, then=_step_phone,
             resume="请接着发手机号码，或回复「微信」改为微信回复。"),
        Step(STEP_URGENT_MORE, parse=_text, then=_step_urgent_more,
             resume="还想补充紧急求助的情况，请直接发送，说完回复「好了」。危险时请立即拨打110。"),
    ),
    on_cancel=discard_on_cancel,
    cancelled=cancel_text,  # an urgent request stays filed: she is told so
    broken=lambda ctx: start(ctx),
    quit_phrases=False,  # 「我不想去了」 here is part of her story, for staff: only 「取消」 leaves
    writes_to_staff=True,  # side answers (「人工」「联系方式」) do not offer 「求助」 again
)


def show_answers(ctx: Context):
    """「查看回复」: her answered requests, unread first; marks them read."""
    rows = hr.answers_for(ctx.session, ctx.openid)
    if not rows:
        waiting = hr.open_requests_of(ctx.session, ctx.openid)
        urgent = next((r for r in waiting if r.urgent), None)
        if urgent is not None:
            # Never the usual 「两个工作日」 promise for an urgent request: say who knows of it.
            return f"还没有答复。{urgent_line(ctx, urgent)}"
        if waiting:
            refs = "、".join(r.ref for r in waiting[:3])
            return f"您的留言（编号 {refs}）还在处理中。{hr.help_settings(ctx.services.config).answer_time}"
        return "您还没有收到答复。需要帮助请回复「求助」给我们留言。"
    blocks = []
    for row in rows:
        when = row.answered_at.astimezone(ctx.services.tz).strftime("%m月%d日") if row.answered_at else ""
        new = "【新】" if row.answer_seen_at is None else ""
        blocks.append(f"{new}编号 {row.ref}（{row.category_label}）{when}答复：\n{row.answer}")
    hr.mark_seen(ctx.session, rows, ctx.now)
    return "\n\n".join(blocks) + "\n\n还有问题请回复「求助」继续留言。"


def show_mine(ctx: Context):
    """「我的留言」: her requests and their status (no contents)."""
    rows = hr.requests_of(ctx.session, ctx.openid)
    if not rows:
        return "您还没有留言。需要帮助请回复「求助」。"
    lines = ["您的留言："]
    for row in rows[:10]:
        day = row.created_at.astimezone(ctx.services.tz).strftime("%m月%d日")
        status = hr.STATUS_LABELS.get(row.status, row.status)
        if row.status == hr.STATUS_NEW and not row.submitted and not row.urgent:
            status += "（未填完，已保存，工作人员能看到）"
        lines.append(f"{row.ref} {day} {row.category_label}：{status}")
    lines.append("回复「查看回复」查看答复。")
    return "\n".join(lines)


# -- 预约调解 ---------------------------------------------------------------------------------
MEDIATION = "mediation"
MEDIATION_WORDS = ["预约调解", "调解预约", "我要调解", "预约评理", "我要预约调解"]
YES_WORDS = PLAIN_YES_WORDS | {"用这个"}


def start_mediation(ctx: Context):
    """「预约调解」: list bookable times at 纠纷化解 points, or say where to go instead."""
    from handlers.activities import fmt_time, place_of

    slots = mediation.mediation_slots(ctx.session, ctx.now)
    if not slots:
        names = "、".join(p.name for p in mediation.mediation_points(ctx.session)[:4])
        where = f"也可以到纠纷化解点（{names}等）当面说。" if names else ""
        return ("暂时没有可在线预约的调解时间。\n回复「求助」留言并选「2 婚姻家庭/矛盾调解」，"
                f"工作人员会联系您安排；{where}\n{SAFETY_LINE}")
    lines = ["可预约的调解时间："]
    for i, act in enumerate(slots, 1):
        lines.append(f"{i}. {fmt_time(act.starts_at, ctx.services.tz)} {place_of(ctx.session, act)}")
    lines.append("回复序号预约（调解员会保护您的隐私），回复「取消」退出。")
    MEDIATION_CONVERSATION.begin(ctx, "slot", numbers=[a.number for a in slots])
    return "\n".join(lines)


def _parse_slot(ctx: Context, state):
    """The activity number of the time she picked (1..n of the list she was shown)."""
    numbers = state.data.get("numbers", [])
    t = ctx.compact_text
    if not (t.isdigit() and 1 <= int(t) <= len(numbers)):
        return Invalid(f"请回复 1 到 {len(numbers)} 之间的序号，或回复「取消」退出。")
    return numbers[int(t) - 1]


def _mediation_slot(ctx: Context, state, number: int):
    phone = mediation.known_phone(ctx.session, ctx.openid)
    if phone and phone.startswith("1"):
        ctx.conversation.update(state, step="phone_known", number=number, phone=phone)
        return f"调解员会打电话和您确认，用 {mask_phone(phone)} 联系您吗？回复「是」，或发新的手机号码。"
    return MEDIATION_CONVERSATION.goto(ctx, state, "phone", number=number)


def _parse_mobile(ctx: Context, state):
    """A mainland mobile number (the mediator calls to confirm)."""
    phone = hr.normalize_phone(ctx.compact_text)
    if phone is None or not phone.startswith("1"):
        return Invalid("请发11位手机号码（调解员需要打电话确认），或回复「取消」退出。")
    return phone


def _parse_known_mobile(ctx: Context, state):
    """「是」 keeps the number she gave before; else a new mobile number."""
    if ctx.compact_text in YES_WORDS:
        return state.data["phone"]
    return _parse_mobile(ctx, state)


def _book_mediation(ctx: Context, state, phone: str):
    """Take the time with models.activities.sign_up (no waiting list: a time is one meeting)."""
    from handlers.activities import fmt_time, locked_session, place_of
    from models import activities as acts

    number = int(state.data["number"])
    ctx.conversation.end()
    try:
        with locked_session(ctx) as s:
            name, _phone = acts.known_contact(s, ctx.openid)
            result = acts.sign_up(s, number, ctx.openid, name=name, phone=phone,
                                  allow_waiting=False, now=ctx.now)
            activity = result.activity
            when, where = fmt_time(activity.starts_at, ctx.services.tz), place_of(s, activity)
    except acts.ActivityFull:
        return "抱歉，这个时间刚刚被约满了。回复「预约调解」看看其他时间。"
    except acts.AlreadySignedUp:
        return "您已经预约过这个时间了，回复「我的报名」查看。"
    except (acts.ActivityNotFound, acts.SignupClosed):
        return "抱歉，这个时间已停止预约。回复「预约调解」看看其他时间。"
    log.info("mediation booked: activity %s", number)
    return (f"预约成功！\n时间：{when}\n地点：{where}\n调解员会打电话 {mask_phone(phone)} 和您确认。"
            f"\n去不了请回复「取消报名 {number}」。{SAFETY_LINE}")


#: 预约调解: slot -> phone (or phone_known, 「是」 keeps her number) -> booked.
MEDIATION_CONVERSATION = Conversation(
    name=MEDIATION,
    label="调解预约",
    steps=(
        Step("slot", parse=_parse_slot, then=_mediation_slot),
        Step("phone", parse=_parse_mobile, then=_book_mediation,
             prompt="请发您的手机号码，调解员会打电话和您确认时间。号码只用于这次调解联系。"),
        Step("phone_known", parse=_parse_known_mobile, then=_book_mediation),
    ),
    broken="抱歉，预约过程出了点问题，请重新回复「预约调解」。",
    cancelled="好的，已取消这次调解预约，没有保存您的信息。需要时再回复「预约调解」。",
)


#: 「有事请打我电话」, 「给我回个电话」...: she wants a call. Matched in the compact text, below
#: every feature's own words (stage LOOSE_PHRASE) but above the service directory (DIRECTORY),
#: which would otherwise look for service points called 「有事请打我」.
CALL_ME = r"[打回]我(的)?(电话|手机)|给我[打回](个|一个)?电话|打给我|联系我(?!们)"


def call_me(ctx: Context):
    """「有事请打我电话」: she wants staff to call her; the 求助 form is how to ask for that."""
    return ("想请县妇联工作人员打电话给您吗？请回复「求助」，说说是什么事，"
            "最后选「2 电话」并留下号码，工作人员会联系您。\n" + SAFETY_LINE)


#: 「提交」 when no 「求助」 conversation is going on (it timed out, or she went elsewhere).
SUBMIT_WORDS = ["提交", "提交留言", "提交求助"]


def submit_left_draft(ctx: Context):
    """「提交」 outside the conversation: finish the draft she left (contact 微信回复), or say
    there is nothing being written."""
    row = hr.latest_draft(ctx.session, ctx.openid)
    if row is None:
        return "您现在没有正在填写的留言。需要帮助请回复「求助」给我们留言。"
    row = hr.submit_request(ctx.session, ctx.openid, category=row.category, parts=[],
                            draft_id=row.id, contact=hr.CONTACT_WECHAT, now=ctx.now)
    settings = hr.help_settings(ctx.services.config)
    return (f"已提交您之前的留言，编号 {row.ref}（{row.category_label}）。\n{settings.answer_time}\n"
            "答复会发到公众号里，回复「查看回复」即可查看；想留电话请回复「求助」再说一次。\n"
            f"{SAFETY_LINE}")


def register(router: Router) -> None:
    """Add the 求助 conversation, 「查看回复」, 「我的留言」 and 「预约调解」."""
    router.on_text(exact=SUBMIT_WORDS, stage=Stage.LEFTOVER)(submit_left_draft)
    router.on_text(exact=START_WORDS, escape=True)(start)
    router.on_click(HELP_KEY)(start)
    # read-only: any time, also in the middle of a form, which keeps its place
    router.on_text(exact=ANSWER_WORDS, escape=True, keeps_form=True)(show_answers)
    router.on_text(exact=MY_WORDS, escape=True, keeps_form=True)(show_mine)
    router.on_text(regex=CALL_ME, stage=Stage.LOOSE_PHRASE)(call_me)
    router.on_text(exact=MEDIATION_WORDS)(start_mediation)
    router.on_click(MEDIATION_KEY)(start_mediation)
    router.conversation(MEDIATION_CONVERSATION)
    router.conversation(HELP)



#: This module's own handlers: at the urgent step the step reads their words itself.
_OWN_HANDLERS = (start, show_answers, show_mine, call_me, submit_left_draft)
