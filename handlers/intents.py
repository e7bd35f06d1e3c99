"""The intent stage: free-form sentences answered by what she means, not by exact keywords.

Everything the bot can do has an intent (models/intents.py ``INTENTS``); this module routes each
one to the feature's own entry point (the directory, activities, signup, 求助 ...) and words the
few answers that belong to no feature (转人工, greetings, thanks, goodbyes, "are you a robot").

Where it sits in a dispatch (handlers/router.py ``Stage``):

- :attr:`Stage.SAFETY_NET` (interceptor, after the danger words of handlers/safety.py): when the
  words missed but the classifier's ``danger`` probability is at least ``DANGER_THRESHOLD``,
  she gets the hotlines (110 / 12338 / 12356). Nothing is saved and nobody is paged for a
  guess, and the reply says so: it is an automatic answer that no staff member sees, and
  「求助」 reaches them. Not for texts under 4 characters, nor while she fills in a form (a
  name, a phone, 同意) or writes a 「求助」 (staff read every word of it): the word list
  guards those.
- :attr:`Stage.INTENT` (a rule, after every command and phrase rule, before the directory's
  own towns and needs, which it leaves alone): *confident* (``confidence >= CONFIDENT``) →
  the intent's answer; *two close* (the best two within ``CLOSE_MARGIN`` and together
  confident) → one short question with numbered choices, the tiny conversation
  :data:`CHOICE` («您是想：1. 找调解室 2. 留言求助？回复数字即可»).
- in the middle of a form (a step refused her message; 「求助」's urgent step asks too):
  :func:`something_else`, registered as the router's :meth:`~handlers.router.Router.elsewhere`
  test — a command, or an intent the classifier is confident about (「妇联电话多少」 → 联系方式,
  「人工」, 「我报了哪些」), is answered instead of the re-ask, and the form says how to go on.
- the default answer (low confidence; also after staff's 包含 keyword rules): 「没太明白」 with
  the three closest intents as numbered suggestions (same conversation) and the commands to
  type; the text is recorded for staff, masked and without her openid
  (``record_unmatched``).

Staff's exact keyword rules are looked up before every code rule (router), so they beat the
classifier; their 包含 rules come after it and after the directory.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import asdict, replace
from datetime import date
from typing import Any, Callable

import redis

from bot.core.services import Services
from bot.core.text import compact
from bot.wechat.replies import TEXT_LIMIT_BYTES, TransferReply
from handlers import activities, activities_signup, columns, contact, directory, help as help_
from handlers import privacy, reminders, volunteers, welcome
from handlers.conversation import Conversation, ConversationState, Step
from handlers.router import Context, Elsewhere, Router, Stage
from models import intents as engine
from models.directory_synonyms import Query, synonyms
from models.reminders import TOPIC_ACTIVITIES, TOPIC_HAIRCUT

log = logging.getLogger(__name__)

#: The clarifying question's conversation (state: ``choices`` and the ``slots`` of her text).
CHOICE_NAME = "intent_choice"
#: Seconds a numbered question waits for her digit.
CHOICE_TIMEOUT = 300
#: Intents that are small talk: never offered as a choice or a suggestion.
SMALL_TALK = frozenset({"greeting", "thanks", "goodbye", "bot_identity", "danger"})
#: Suggested when the classifier has no better idea (its three closest are small talk).
DEFAULT_SUGGESTIONS = ("directory_nearby", "activities", "help")
#: What she can type for an intent (shown in the fallback's suggestions).
COMMANDS: dict[str, str] = {
    "directory_need": "附近", "directory_town": "桃城", "directory_nearby": "附近",
    "mediation": "预约调解", "activities": "活动", "signup": "怎么报名", "my_signups": "我的报名",
    "signup_cancel": "我的报名", "haircut": "义剪", "volunteer": "志愿者",
    "volunteer_hours": "志愿时长", "help": "求助", "my_requests": "查看回复",
    "subscribe": "订阅", "unsubscribe": "退订", "columns": "往期文章",
    "privacy_delete": "删除我的信息", "human": "转人工", "contact": "联系方式", "usage": "帮助",
}

GREETING = ("您好！我是「桃源姐妹」，永春县妇联的公众号。找服务点、看活动、报名、留言求助，"
            "直接跟我说就行，比如「附近有没有调解室」「这周末有什么活动」。")
GOODBYE = "好的，再见！有需要随时来找「桃源姐妹」。遇到危险请拨打110或妇女维权热线12338。"
BOT_IDENTITY = ("我是「桃源姐妹」的自动回复助手，由永春县妇联开设。我能帮您找服务点、看活动和报名、"
                "登记志愿者、留言求助。想找工作人员，回复「转人工」。")
NOT_UNDERSTOOD = "抱歉，没太明白您的意思。"
CHOICE_HINT = "回复数字即可"
HOTLINES = ("您的安全最要紧！\n如果正在遭受暴力或有危险，请立即拨打 110 报警。\n"
            "全国妇联妇女维权热线：12338\n心里很难受、有轻生的念头，请拨打心理援助热线 12356。")
#: The net's answer is a guess: nothing is saved, nobody is told. Say so.
NOT_FORWARDED = ("这是自动回复，这条消息不会转给工作人员。想让工作人员知道、联系您，请回复「求助」留言，"
                 "只有县妇联工作人员能看到。")


# -- the prediction, once per message ------------------------------------------------------
_UNSET = object()
#: Short texts repeat (「你好」「谢谢」「在吗」「1」): their predictions are kept per model, like
#: the danger matcher's answers (handlers/safety.py), and forgotten when the model changes.
REMEMBER_CHARS, REMEMBER_TEXTS = 32, 4096


class _Remembered:
    """Predictions of short texts for one model object (per process; a new model — staff
    taught it, a retrain — starts afresh). Keyed by (text, her local date: date words)."""

    def __init__(self) -> None:
        self.model: object = None
        self.entries: OrderedDict[tuple[str, date], engine.Prediction] = OrderedDict()
        self.lock = threading.Lock()

    def predict(self, model, text: str, today: date) -> engine.Prediction:
        if len(text) > REMEMBER_CHARS:
            return engine.predict(model, text, today=today)
        key = (text, today)
        with self.lock:
            if self.model is not model:
                self.model, self.entries = model, OrderedDict()
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                return found
        found = engine.predict(model, text, today=today)
        with self.lock:
            if self.model is model:
                self.entries[key] = found
                while len(self.entries) > REMEMBER_TEXTS:
                    self.entries.popitem(last=False)
        return found


_REMEMBERED = _Remembered()


def forget_remembered() -> None:
    """Forget every remembered prediction of this process (tests)."""
    global _REMEMBERED
    _REMEMBERED = _Remembered()


def prediction(ctx: Context) -> engine.Prediction | None:
    """The classifier's :class:`models.intents.Prediction` for her text (the engine's
    ``classify``: the current model of this database, then ``predict``; short texts remembered
    per model, see :data:`REMEMBER_CHARS`), computed once per update and kept on ``ctx``.
    None for a non-text update, an empty text, or an engine failure (logged: the old keyword
    behaviour goes on)."""
    found = getattr(ctx, "_intent_prediction", _UNSET)
    if found is not _UNSET:
        return found
    found = None
    if ctx.update.msg_type in ("text", "voice") and ctx.compact_text:
        try:
            model = engine.current_model(ctx.session_source, ctx.services)
            found = _REMEMBERED.predict(model, ctx.text, ctx.local_now().date())
        except Exception:  # noqa: BLE001 - a broken model must not break her message
            log.exception("intent classification failed")
    ctx._intent_prediction = found
    return found


# -- the danger net ------------------------------------------------------------------------
#: Shorter texts are left to the word list (救命, 救我 ...): 「同意」「我是」 are not sentences.
NET_MIN_CHARS = 4
#: ... with at least this many different characters (a held key or a stuck voice input is not one).
NET_MIN_DISTINCT = 3


def _filling_in_a_form(ctx: Context) -> bool:
    """True while she answers a form's question (a name, a phone, 同意 ...: not sentences the
    classifier knows) or writes a 「求助」 (staff read every word of it); passive steps (a
    profile shown, a numbered question) do not count."""
    try:
        state = ctx.conversation.get()
    except redis.RedisError:
        return False
    if state is None:
        return False
    if state.name == help_.CONVERSATION:
        return True
    spec = ctx.router.conversations.get(state.name) if ctx.router is not None else None
    return spec is not None and not spec.passive(state.step)


def danger_net(ctx: Context) -> bool:
    """Interceptor check: the classifier's danger probability reaches ``DANGER_THRESHOLD``
    for a Chinese text of at least :data:`NET_MIN_CHARS` characters that the danger words
    missed (they run first), unless she is filling in a form (:func:`_filling_in_a_form`:
    the word list still guards her there)."""
    if ctx.update.msg_type not in ("text", "voice") or len(ctx.compact_text) < NET_MIN_CHARS \
            or not _chinese(ctx.compact_text) or _repeated(ctx.compact_text):
        return False
    pred = prediction(ctx)
    if pred is None or pred.danger < engine.DANGER_THRESHOLD:
        return False
    return not _filling_in_a_form(ctx)


def _repeated(text: str) -> bool:
    """「我我我我…」: fewer than :data:`NET_MIN_DISTINCT` different characters is no sentence."""
    return len(set(text)) < NET_MIN_DISTINCT


def hotlines(ctx: Context) -> str:
    """The hotlines for a danger paraphrase, truthfully: no request is saved, no staff member
    is told (see the module docstring); the federation's phone when configured."""
    phone = help_.federation_phone(ctx)
    log.warning("intents: danger paraphrase answered with the hotlines (nothing saved)")
    return HOTLINES + (f"\n永春县妇联电话：{phone}" if phone else "") + "\n" + NOT_FORWARDED


# -- answers by intent ---------------------------------------------------------------------
Answer = Callable[[Context, engine.Slots], object]


def _directory(ctx: Context, slots: engine.Slots, *, near: bool = False) -> object:
    """The directory for the town and need she named; ``near`` (or 附近/离我近 ... in her text,
    :data:`handlers.directory.NEAR_WORDS`) asks for the nearest points offering the need."""
    words = (slots.town or "") + (slots.need or "")
    query = synonyms().parse(compact(words)) if words else None
    if query is not None and not query.unknown and not query.everything and (
            near or directory.wants_nearest(query, ctx.compact_text)):
        query = replace(query, near=True)
    ctx.match = query or Query(everything=True, near=near, core=ctx.compact_text)
    return directory.on_directory_text(ctx)


def _nearby(ctx: Context, slots: engine.Slots) -> object:
    """附近 + a need (「我家附近有没有调解室」): the nearest points offering it (her recent
    position, else she is asked for it and the need waits); a town she named: its points;
    neither: the nearest points."""
    if slots.need or slots.town:  # a town she named wins over 附近 (its points, her need)
        return _directory(ctx, slots, near=not slots.town)
    return directory.on_nearby(ctx)


#: Words of fear or distress (not yet danger): the answer adds the 心理援助热线 12356.
DISTRESS_WORDS = ("害怕", "怕", "难受", "难过", "伤心", "委屈", "想哭", "哭", "受不了", "睡不着",
                  "崩溃", "绝望", "心累", "不知道该找谁", "不知道怎么办", "没办法")
#: Words of possible harm (hitting, threats, fear): only then does the family answer give 110;
#: 「打麻将一晚上不回来」 is trouble, not an emergency.
DANGER_CUES = ("打我", "打人", "打了", "被打", "挨打", "打孩子", "打她", "动手", "动刀", "拿刀",
               "威胁", "害怕", "怕他", "摔东西", "砸东西", "掐", "推我", "踢", "暴力", "家暴", "吓人",
               "伤", "杀", "不敢回家", "跟踪", "逼我", "锁在")
#: How many mediation points the family-trouble answer lists (a phone screen, not a directory).
MEDIATION_POINTS = 2


def _mediation(ctx: Context, slots: engine.Slots) -> object:
    """Family trouble (「婆婆天天骂我」「老公摔东西我很害怕」): one warm line, the hotlines
    (110 only with a word of harm, :data:`DANGER_CUES`; 12356 too when she says she is afraid or hurting), the 「求助」 offer, and the nearest
    mediation points only when her town or position is known (else: which town?).
    「预约调解」 starts the booking."""
    if "预约" in ctx.compact_text:
        return help_.start_mediation(ctx)
    ctx.set_more([])
    text = ctx.compact_text
    distressed = any(w in text for w in DISTRESS_WORDS)
    lines = ["听起来您最近很不容易，别一个人扛着，我们帮您想办法。" if distressed
             else "家里有矛盾，别一个人闷着，我们帮您想办法。"]
    hotlines = ("如有危险请立即拨打110；妇女维权热线12338" if any(w in text for w in DANGER_CUES)
                else "有委屈可拨妇女维权热线12338")
    lines.append(hotlines + ("；心里难受可拨心理援助热线12356。" if distressed else "。"))
    lines.append("回复「求助」留言，工作人员会联系您。")
    points_text = _mediation_points(ctx, slots)
    lines.append(points_text or "您在哪个乡镇？回复乡镇名（如「调解 桃城」）或发送位置，我帮您找最近的调解室。")
    lines.append("想约时间当面调解，回复「预约调解」。")
    return "\n".join(lines)


def _mediation_points(ctx: Context, slots: engine.Slots) -> str:
    """The :data:`MEDIATION_POINTS` mediation points nearest her (recent position), else in
    the town she named or her known town; "" when neither is known or none is found."""
    town = (synonyms().town_for(slots.town) or slots.town) if slots.town else None
    return directory.few_offering(ctx, "矛盾调解", town=town, limit=MEDIATION_POINTS,
                                  label="调解服务点")


def _signup(ctx: Context, slots: engine.Slots) -> object:
    return activities_signup.start_named(ctx, slots.category or "")


def _topic(ctx: Context, slots: engine.Slots) -> str | None:
    if slots.category == activities.HAIRCUT_CATEGORY or any(
            w in ctx.compact_text for w in ("义剪", "理发", "剪头")):
        return TOPIC_HAIRCUT
    return TOPIC_ACTIVITIES if "活动" in ctx.compact_text else None


def _subscribe(ctx: Context, slots: engine.Slots) -> object:
    topic = _topic(ctx, slots)
    return reminders.subscribe(ctx, topic) if topic else reminders.my_subscriptions(ctx)


def _human(ctx: Context, slots: engine.Slots) -> object:
    """转人工: WeChat 客服 when ``[wechat] kf_enabled``, else when and how staff are reached."""
    wechat = ctx.services.config.wechat
    if wechat.get("kf_enabled"):
        return TransferReply(kf_account=str(wechat.get("kf_account") or ""))
    return human_text(ctx.services.config.app, offer_help=not ctx.writing_to_staff)


def human_text(app: dict, *, offer_help: bool = True) -> str:
    """转人工 without WeChat 客服: nobody chats live here; office hours and phone from ``[app]``
    when known, and 「求助」 so her question still reaches staff (``offer_help`` False: she is
    writing one: what she writes there reaches them)."""
    lines = ["这里是自动回复，工作人员不在线聊天。"]
    hours, phone = str(app.get("office_hours") or "").strip(), str(app.get("federation_phone") or "").strip()
    if phone and hours:
        lines.append(f"工作人员上班时间：{hours}，电话：{phone}。")
    elif phone:
        lines.append(f"可以打县妇联电话：{phone}。")
    elif hours:
        lines.append(f"工作人员上班时间：{hours}。")
    if offer_help:
        lines.append("您也可以回复「求助」留言，工作人员会在后台看到并答复您。")
    else:
        lines.append("您正在写的留言工作人员会在后台看到并答复您。")
    lines.append(contact.EMERGENCY)
    return "\n".join(lines)


#: Words that ask to learn or when (「想学」「培训」「什么时候」): with an activity category and no
#: where-word, a question about the training activities, not about the directory's points.
TRAINING_CUES = ("学", "培训", "课", "班", "什么时候", "啥时候", "几时", "几号", "哪天", "时间")
#: Words that ask where (the directory answers those: 「电商培训点在哪」「哪里可以学电商」).
WHERE_CUES = ("哪里", "哪儿", "在哪", "去哪", "哪有", "地方", "地址", "附近", "最近的", "服务点",
              "培训点", "怎么走")


def wants_training(ctx: Context, pred: engine.Prediction) -> bool:
    """Whether a text the directory also knows (「有没有家政培训」「电商培训什么时候」) asks for
    the training activities: the classifier confidently says ``activities``, the text names a
    category and a learning or when word, and no where-word."""
    text = ctx.compact_text
    return (pred.intent == "activities" and pred.confident and bool(pred.slots.category)
            and any(w in text for w in TRAINING_CUES) and not any(w in text for w in WHERE_CUES))


#: She asks whether it costs money (「要钱吗」「收费吗」): the activity list does not say.
MONEY_WORDS = ("要钱", "收费", "收钱", "多少钱", "花钱", "免费", "费用", "学费")
#: What we can truthfully say about fees (the data holds none, except the free 义剪).
FEES_UNKNOWN = "费用以每场活动的通知为准；想先问清楚，回复「求助」留言，工作人员会答复您。"


def _activities(ctx: Context, slots: engine.Slots) -> object:
    """The activities for the category and dates she named; when she asked about a category
    with nothing planned and the directory knows the need (电商), the points offering it,
    under one line saying no session is planned."""
    if slots.category and not (slots.date_from or slots.date_to) and slots.need \
            and not activities.has_upcoming(ctx, slots.category):
        query = synonyms().parse(compact(slots.need))
        if query is not None and not query.unknown and not query.everything \
                and directory.offers(ctx, query):
            ctx.match = query
            listed = directory.on_directory_text(ctx)
            first = f"「{slots.category}」近期还没有排期，新的活动发布后回复「活动」就能看到。\n"
            if len((first + listed).encode()) <= TEXT_LIMIT_BYTES:
                return first + listed
            return listed
    listed = activities.list_activities(ctx, category=slots.category, date_from=slots.date_from,
                                        date_to=slots.date_to, town=slots.town)
    if any(w in ctx.compact_text for w in MONEY_WORDS) and slots.category != activities.HAIRCUT_CATEGORY:
        line = "\n\n" + FEES_UNKNOWN
        if len((listed + line).encode()) <= TEXT_LIMIT_BYTES:
            return listed + line
    return listed


ANSWERS: dict[str, Answer] = {
    "directory_need": _directory,
    "directory_town": _directory,
    "directory_nearby": _nearby,
    "mediation": _mediation,
    "activities": _activities,
    "signup": _signup,
    "my_signups": lambda ctx, s: activities.my_signups(ctx),
    "signup_cancel": lambda ctx, s: activities.cancel_matched(ctx, None),
    "haircut": lambda ctx, s: activities.haircut_when(ctx, s.date_from, s.date_to),
    "volunteer": lambda ctx, s: volunteers.entry(ctx),
    "volunteer_hours": lambda ctx, s: volunteers.hours(ctx),
    "help": lambda ctx, s: help_.start(ctx),
    "my_requests": lambda ctx, s: help_.show_answers(ctx),
    "subscribe": _subscribe,
    "unsubscribe": lambda ctx, s: reminders.unsubscribe(
        ctx, _topic(ctx, s) if (s.category or "活动" in ctx.compact_text
                                or "义剪" in ctx.compact_text) else None),
    "columns": lambda ctx, s: columns.past_articles(ctx, ""),
    "privacy_delete": lambda ctx, s: privacy.entry(ctx),
    "human": _human,
    "contact": lambda ctx, s: contact.contact(ctx),
    "usage": lambda ctx, s: welcome.usage(ctx),
    "greeting": lambda ctx, s: GREETING,
    "thanks": lambda ctx, s: welcome.THANKS,
    "goodbye": lambda ctx, s: GOODBYE,
    "bot_identity": lambda ctx, s: BOT_IDENTITY,
    "danger": lambda ctx, s: hotlines(ctx),
}


def answer(ctx: Context, intent: str, slots: engine.Slots) -> object:
    """The reply for ``intent`` with ``slots`` (the feature's own entry point); raises
    ``KeyError`` for an intent this module does not route."""
    return ANSWERS[intent](ctx, slots)


# -- the confidence policy -----------------------------------------------------------------
def _label(intent: str) -> str:
    return engine.INTENTS.get(intent, intent)


def close_pair(pred: engine.Prediction) -> tuple[str, str] | None:
    """The best two intents when they are close (within ``CLOSE_MARGIN``), together confident
    (≥ ``CONFIDENT``), both routable and neither small talk; else None."""
    if len(pred.ranked) < 2:
        return None
    (a, pa), (b, pb) = pred.ranked[0], pred.ranked[1]
    if pa - pb > engine.CLOSE_MARGIN or pa + pb < engine.CONFIDENT:
        return None
    if {a, b} & SMALL_TALK or a not in ANSWERS or b not in ANSWERS:
        return None
    return a, b


def understood(ctx: Context):
    """Check of the INTENT rule: ``("answer", prediction)`` when confident, ``("clarify",
    prediction, (a, b))`` when two are close, else None. Leaves the directory's own towns,
    needs, kinds and platforms to it (stage DIRECTORY)."""
    pred = prediction(ctx)
    if pred is None or pred.intent is None or not _chinese(ctx.compact_text):
        return None
    query = synonyms().parse(ctx.compact_text)
    if query is not None and not query.unknown and not wants_training(ctx, pred):
        return None
    if _answered_below(ctx):
        return None
    if pred.intent == "danger" and (len(ctx.compact_text) < NET_MIN_CHARS
                                    or _repeated(ctx.compact_text)):
        return None  # 「我」「他」「我在」: too short to tell; the danger words cover 救命, 打我 ...
    if pred.confidence >= engine.CONFIDENT and pred.intent in ANSWERS:
        return ("answer", pred)
    pair = close_pair(pred)
    return ("clarify", pred, pair) if pair else None


# -- in the middle of a form ----------------------------------------------------------------
#: Stages of the code rules :func:`something_else` asks: commands and phrases; not leftovers
#: (「提交」 a left draft), the intent rule itself, the directory's bare towns, small talk.
_ELSEWHERE_STAGES = frozenset({Stage.SPECIFIC, Stage.COMMAND, Stage.LOOSE_PHRASE})


def something_else(ctx: Context) -> Elsewhere | None:
    """What her text clearly is instead of an answer to a form's question, or None.

    Asked only after the form's step refused the message (a phone that is no phone, a name
    that is a question), so a real answer is never taken for something else. Clearly
    something else: a code rule of a command or phrase takes it (「活动」「我的报名」), or the
    classifier is confident (``CONFIDENT``) of a routable intent other than ``danger`` (the
    danger words answer those first, and the net leaves forms alone). A numbered question is
    never asked here: it would replace the form."""
    router = ctx.router
    if router is not None:
        for rule in _elsewhere_rules(router, ctx.update.msg_type):
            found = rule.check(ctx)
            if found:
                def run(rule=rule, found=found):
                    ctx.match = found
                    return rule.handler(ctx)
                return Elsewhere(f"rule:{rule.name}", run, rule)
    if len(ctx.compact_text) < 2 or not _chinese(ctx.compact_text):
        return None
    pred = prediction(ctx)
    if pred is None or not pred.confident or pred.intent == "danger" or pred.intent not in ANSWERS:
        return None
    return Elsewhere(pred.intent, lambda: answer(ctx, pred.intent, pred.slots))


def _elsewhere_rules(router: Router, msg_type: str) -> tuple:
    """The rules :func:`something_else` asks for ``msg_type``."""
    return _rules_kept(router, "_intents_elsewhere", msg_type,
                       lambda r: r.stage in _ELSEWHERE_STAGES)


def _rules_kept(router: Router, attribute: str, msg_type: str,
                keep: Callable[[Any], bool]) -> tuple:
    """``router``'s rules for ``msg_type`` that ``keep`` accepts, in dispatch order, kept on the
    router under ``attribute`` per MsgType (made again when its rules change)."""
    kept = getattr(router, attribute, None)
    if kept is None or kept[0] is not router.rules or kept[1] != len(router.rules):
        kept = (router.rules, len(router.rules), {})
        setattr(router, attribute, kept)
    rules = kept[2].get(msg_type)
    if rules is None:
        rules = kept[2][msg_type] = tuple(r for r in router.rules_for(msg_type) if keep(r))
    return rules


def _chinese(text: str) -> bool:
    """Whether ``text`` has a Chinese character (the classifier knows no other sentences)."""
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def _answered_below(ctx: Context) -> bool:
    """Whether a rule below this stage, other than the directory's (already asked through its
    word lists, without its database lookups), takes the text: 「更多」「好的」 keep their
    small-talk answers."""
    router = ctx.router
    if router is None:
        return False
    return any(rule.check(ctx) for rule in _rules_below(router, ctx.update.msg_type))


def _rules_below(router: Router, msg_type: str) -> tuple:
    """The rules of :func:`_answered_below` for ``msg_type``."""
    return _rules_kept(router, "_intents_below", msg_type,
                       lambda r: r.stage < Stage.INTENT and r.stage != Stage.DIRECTORY)


def on_intent(ctx: Context):
    """Answer what :func:`understood` found: the intent's answer or a numbered question."""
    found = ctx.match
    pred: engine.Prediction = found[1]
    if found[0] == "answer":
        return answer(ctx, pred.intent, pred.slots)
    a, b = found[2]
    return ask(ctx, (a, b), pred.slots, f"您是想：1. {_label(a)} 2. {_label(b)}？{CHOICE_HINT}。")


def _slots_data(slots: engine.Slots) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(slots).items()}


def _slots_from(data: dict) -> engine.Slots:
    values = dict(data or {})
    for key in ("date_from", "date_to"):
        if values.get(key):
            values[key] = date.fromisoformat(values[key])
    known = engine.Slots.__dataclass_fields__
    return engine.Slots(**{k: v for k, v in values.items() if k in known})


def ask(ctx: Context, choices: tuple[str, ...], slots: engine.Slots, question: str) -> str:
    """Start :data:`CHOICE` with ``choices`` (intents, numbered from 1) and return ``question``."""
    CHOICE.begin(ctx, choices=list(choices), slots=_slots_data(slots))
    return question


def _parse_choice(ctx: Context, state: ConversationState) -> int | None:
    """Her digit (「1」「2」「第一个」...) as an index into the choices, else None."""
    text = ctx.compact_text.rstrip("。.!！?？")
    for prefix in ("第", "选"):
        text = text.removeprefix(prefix)
    text = text.removesuffix("个").removesuffix("号")
    digits = {"一": "1", "二": "2", "两": "2", "三": "3"}.get(text, text)
    if digits.isdigit() and 1 <= int(digits) <= len(state.data.get("choices") or ()):
        return int(digits) - 1
    return None


def _chosen(ctx: Context, state: ConversationState, index: int | None):
    """Answer the chosen intent; anything else ends the question and goes on as a fresh
    message (None)."""
    ctx.conversation.end()
    if index is None:
        return None
    intent = state.data["choices"][index]
    return answer(ctx, intent, _slots_from(state.data.get("slots")))


CHOICE = Conversation(
    CHOICE_NAME,
    steps=(Step("choice", parse=_parse_choice, then=_chosen, passive=True),),
    label="选择",
    timeout=CHOICE_TIMEOUT,
    broken="",
)


def suggestions(pred: engine.Prediction | None) -> tuple[str, ...]:
    """The three closest routable intents that are not small talk (best first), filled up from
    :data:`DEFAULT_SUGGESTIONS`."""
    ranked = [name for name, _ in (pred.ranked if pred else ())
              if name in COMMANDS and name not in SMALL_TALK]
    out: list[str] = []
    for name in ranked + list(DEFAULT_SUGGESTIONS):
        if name not in out and COMMANDS.get(name) not in {COMMANDS[o] for o in out}:
            out.append(name)
    return tuple(out[:3])


#: A short text the classifier is this sure is for none of us (「笑死我了」「手机死机了」) is
#: chit-chat: one friendly line, no suggestions, no hotlines.
CHIT_CHAT_NONE = 0.7
CHIT_CHAT_CHARS = 12
CHIT_CHAT = "我在呢。有需要随时说，回复「帮助」看看我能做什么。"
TIRED_WORDS = ("累", "困", "忙")


def chit_chat(ctx: Context, pred: engine.Prediction | None) -> bool:
    """Whether her text is short chit-chat: at most :data:`CHIT_CHAT_CHARS` characters, the
    learned ``none`` class at least :data:`CHIT_CHAT_NONE` and the danger probability far
    below the net's threshold."""
    if pred is None or len(ctx.compact_text) > CHIT_CHAT_CHARS:
        return False
    none = 1.0 - sum(p for _, p in pred.ranked)
    return none >= CHIT_CHAT_NONE and pred.danger < engine.DANGER_THRESHOLD / 2


def not_understood(ctx: Context):
    """The default answer: for a text, 「没太明白」 with three numbered suggestions (also typed
    commands) and the text recorded for staff (masked, no openid); else welcome's answer."""
    if ctx.update.msg_type not in ("text", "voice") or not _chinese(ctx.compact_text):
        return welcome.not_understood(ctx)  # emoji, letters: the short help as before
    pred = prediction(ctx)
    if pred is not None:
        try:
            with ctx.session.begin_nested():
                engine.record_unmatched(ctx.session, ctx.text, pred)
        except Exception:  # noqa: BLE001 - counting must not cost her the answer
            log.exception("intents: could not record a message that was not understood")
    if chit_chat(ctx, pred):
        return ("辛苦啦，记得歇一歇。" if any(w in ctx.compact_text for w in TIRED_WORDS) else "") + CHIT_CHAT
    picks = suggestions(pred)
    numbered = _offer(ctx, picks, pred)
    lines = [NOT_UNDERSTOOD + "您是想："]
    lines += [f"{i}. {_label(name)}（回复「{COMMANDS[name]}」）" for i, name in enumerate(picks, 1)]
    lines.append((f"{CHOICE_HINT}；" if numbered else "") + "回复「帮助」看看能做什么。"
                  "遇到危险请拨打110或12338。")
    return "\n".join(lines)


def _offer(ctx: Context, picks: tuple[str, ...], pred: engine.Prediction | None) -> bool:
    """Keep ``picks`` as numbered choices for her next message, unless another conversation
    is still active (a step that declined her message without ending: it keeps its place)
    or Redis is down. Returns whether the numbers will work."""
    try:
        if ctx.conversation.get() is not None:
            return False
        CHOICE.begin(ctx, choices=list(picks), slots=_slots_data(pred.slots if pred else engine.Slots()))
        return True
    except redis.RedisError:
        log.warning("intents: suggestions not kept (Redis unavailable)")
        return False


_warming: list[threading.Thread] = []


def _warm_up(services: Services) -> None:
    """Make :func:`models.intents.base_model` in a daemon thread, once per process: loaded
    from ``<instance>/cache`` when a process already built it, else built and cached there."""
    if _warming:
        return
    cache_dir = engine.cache_dir_of(services)

    def build() -> None:
        try:
            engine.base_model(cache_dir)
        except Exception:  # noqa: BLE001 - the stage answers as before the classifier
            log.exception("intents: the model could not be built at start-up")
    thread = threading.Thread(target=build, name="intents-warm-up", daemon=True)
    _warming.append(thread)
    thread.start()


def register(router: Router) -> None:
    """The danger net (interceptor), the INTENT rule, the numbered-choice conversation, the
    router's "clearly something else" test for forms (:func:`something_else`) and the default
    answer (replacing welcome's; registered after it in the feature list).

    When the webhook starts, the shipped model is loaded from the instance's cache or built in
    the background (once per process), so the worker starts at once and its first woman rarely
    waits for the model (WeChat gives up after 5 s); a message arriving mid-build waits for it;
    a failure is logged and retried on a message."""
    router.on_start(_warm_up)
    router.intercept(danger_net, stage=Stage.SAFETY_NET)(hotlines)
    router.add(understood, on_intent, stage=Stage.INTENT, name="intent",
               msg_types=("text", "voice"))
    router.conversation(CHOICE)
    router.on_elsewhere(something_else)
    router.default_message = not_understood
