"""Follower lifecycle and the first words: welcome, help, and the default answer.

Also records, before any other handler runs, what every update says about the follower:
subscribe/unsubscribe, the QR scene, her last position, her last message (48-hour window).
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict

from bot.core.geo import BadCoordinates
from bot.wechat.menu import HELP_USAGE
from handlers.router import DATABASE_DOWN, Context, Router, Stage
from models import followers

log = logging.getLogger(__name__)

WELCOME = (
    "欢迎关注「桃源姐妹」！这里是永春县妇联的“近邻娘家”，服务妇女零距离。\n"
    "· 附近服务：点菜单「附近服务」或发送位置，找最近的妇女微家、调解室、志愿服务队\n"
    "· 活动报名：回复「活动」看近期活动，回复「报名 编号」报名\n"
    "· 志愿者：回复「志愿者」登记成为巾帼志愿者\n"
    "· 求助留言：回复「求助」，工作人员会尽快回复您\n"
    "· 爱心义剪：每月17日是免费理发日，回复「义剪」了解\n"
    "遇到危险请立即拨打110，妇女维权热线12338。"
)

HELP = (
    "您可以这样用「桃源姐妹」：\n"
    "· 发送位置或回复「附近」：找最近的服务点\n"
    "· 回复乡镇名（如「桃城」）或需要（如「调解」「早教」「义剪」）\n"
    "· 回复「活动」看活动，「报名 编号」报名，「我的报名」查看\n"
    "· 回复「志愿者」登记志愿者，「求助」留言咨询\n"
    "也可以点下方菜单。遇到危险请拨打110或12338。"
)

NOT_UNDERSTOOD = "抱歉，没太明白您的意思。\n" + HELP

#: These also leave any conversation (the others might be an answer to a question she was asked).
ESCAPE_HELP_WORDS = ["帮助", "使用帮助", "菜单", "help"]
#: 「你好」「在吗」 are greetings: the intent stage (handlers/intents.py) answers them warmly.
HELP_WORDS = ["帮助", "?", "help", "菜单", "使用帮助", "hi", "hello", "hey"]  # English greetings: the classifier reads Chinese only


#: Events that are WeChat's reports on our sends (FromUserName is her openid all the same).
REPORT_EVENTS = frozenset({"templatesendjobfinish", "masssendjobfinish"})


def record_update(ctx: Context):
    """Interceptor that never answers: keep the follower table in step with what she did.

    With the database down or hung it records nothing and lets the answer go out (the
    welcome, the directory, help need no database); a subscribe or unsubscribe is parked in
    Redis (:func:`models.followers.park_event`) and recorded when the database is back: by
    this process's next update that reaches it, or by the scheduler within a minute."""
    try:
        _record(ctx)
    except DATABASE_DOWN as exc:
        u = ctx.update
        if u.event in ("subscribe", "unsubscribe") and followers.park_event(
                ctx.services, u.openid, u.event, u.scene, ctx.now):
            ctx.services.followers_parked = True
        log.warning("follower bookkeeping skipped: database unavailable (%s)", type(exc).__name__)
        ctx.forget_session()
    return None


def _record(ctx: Context) -> None:
    u = ctx.update  # ctx.session only where it is needed: it may be made on demand
    if ctx.services.followers_parked and not ctx.services.db.gate.quiet:
        if followers.record_parked(ctx.services) is not None:
            ctx.services.followers_parked = False
    if u.event == "subscribe":
        followers.subscribe(ctx.session, u.openid, u.scene or None, now=ctx.now)
    elif u.event == "unsubscribe":
        followers.unsubscribe(ctx.session, u.openid, now=ctx.now)
    elif u.event in REPORT_EVENTS:
        pass  # WeChat reporting on a send, not something she did (and not "seen" for touch)
    elif _first_in_a_while(ctx):
        followers.touch(ctx.session, u.openid, user_message=u.is_message, now=ctx.now)
    if u.location is not None and u.msg_type in ("location", "event"):
        try:
            followers.record_location(ctx.session, u.openid, u.location.lat, u.location.lng,
                                      now=ctx.now, infer_town=u.msg_type == "location")
        except BadCoordinates:
            pass  # not stored; a location message is told why by the directory's answer


THANKS_WORDS = ["谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "辛苦了", "好的谢谢", "谢谢啦", "thanks",
                "thankyou", "👍"]
THANKS = "不客气！有需要随时找「桃源姐妹」，回复「帮助」看看还能做什么。"
#: Acknowledgements (she did not thank us): a neutral answer, not 「不客气」.
ACK_WORDS = ["好的", "好", "好吧", "好滴", "好嘞", "嗯", "嗯嗯", "嗯呢", "哦", "哦哦", "噢", "知道了",
             "哦哦知道了", "哦知道了", "好的知道了", "明白了", "明白", "了解", "收到", "ok", "okay"]
ACK = "好的。还有需要随时说，回复「帮助」看能做什么。"


def ack(ctx: Context) -> str:
    """好的 / 嗯 / 收到 → a neutral acknowledgement (she did not thank us: no 「不客气」)."""
    return ACK


def thanks(ctx: Context) -> str:
    """谢谢 / 好的 / 收到 → a short, warm acknowledgement instead of "没太明白"."""
    return THANKS


def no_more(ctx: Context) -> str:
    """「更多」 with no pages waiting: say so instead of "没太明白"."""
    return "已经是全部内容了。回复「帮助」看看还能做什么。"


class RecentOpenids:
    """Openids this process touched lately (at most ``size``, oldest dropped).

    Kept per process, not in Redis, to save a round trip on every message: with N workers a
    woman's follower row is read at most N times a minute instead of once.

    Each openid is remembered for ``seconds`` times a random factor between 1 and
    ``1 + jitter``, so women who all wrote in the same few seconds (a broadcast they answer, a
    class that scans a check-in code) are not all touched again in the same second a minute
    later. The follower row's ``last_interaction_at`` is then at most ``(1 + jitter) *
    seconds`` old, which only ever shortens the 48-hour 客服消息 window we assume.
    """

    def __init__(self, seconds: float, size: int = 20000, jitter: float = 1.0):
        self.seconds, self.size, self.jitter = seconds, size, jitter
        self._until: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_in_a_while(self, openid: str) -> bool:
        """True (and remembered) unless ``openid`` is still remembered from an earlier call."""
        now = time.monotonic()
        with self._lock:
            until = self._until.get(openid)
            if until is not None and now < until:
                return False
            self._until[openid] = now + self.seconds * (1 + self.jitter * random.random())
            self._until.move_to_end(openid)
            while len(self._until) > self.size:
                self._until.popitem(last=False)
            return True


def _first_in_a_while(ctx: Context) -> bool:
    """True for her first update in a while (:data:`models.followers.TOUCH_RESOLUTION`, up to
    twice that) in this process: later ones would change nothing in the follower row, so they
    skip the database."""
    recent = ctx.services.recent_openids
    if recent is None:
        recent = ctx.services.recent_openids = RecentOpenids(
            followers.TOUCH_RESOLUTION.total_seconds())
    return recent.first_in_a_while(ctx.openid)


def welcome(ctx: Context) -> str:
    """subscribe → what the account offers and how to use the menu."""
    return WELCOME


def usage(ctx: Context) -> str:
    """帮助 / ? / the menu's 使用帮助 → a short help."""
    return HELP


def not_understood(ctx: Context) -> str:
    """Any message no rule answered: a short help, never silence."""
    if ctx.update.msg_type in ("text", "voice") and ctx.compact_text:
        return NOT_UNDERSTOOD
    if ctx.update.msg_type == "voice":
        return "抱歉，这条语音没能识别成文字，麻烦您打字告诉我们。\n" + HELP
    return "收到啦！" + HELP


def register(router: Router) -> None:
    """Rules of this module (see handlers.router.Stage for the dispatch order)."""
    router.intercept(lambda ctx: True, stage=Stage.RECORD)(record_update)
    router.on_event("subscribe")(welcome)
    router.on_text(exact=ESCAPE_HELP_WORDS, escape=True, keeps_form=True)(usage)
    router.on_text(exact=[w for w in HELP_WORDS if w not in ESCAPE_HELP_WORDS])(usage)
    router.on_click(HELP_USAGE)(usage)
    router.on_text(exact=THANKS_WORDS, stage=Stage.SMALL_TALK)(thanks)
    router.on_text(exact=ACK_WORDS, stage=Stage.SMALL_TALK)(ack)
    router.on_text(exact=["更多", "下一页", "继续"], stage=Stage.SMALL_TALK)(no_more)
    router.default_message = not_understood
