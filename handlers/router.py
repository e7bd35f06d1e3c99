"""The dispatcher: which handler answers an :class:`~bot.wechat.updates.Update`. No Flask, no XML.

Order of a dispatch (first answer wins):

1. interceptors (``router.intercept``), e.g. danger words that must be answered before anything;
2. 「更多」 when earlier pages are waiting (see :meth:`Context.set_more`);
3. the active conversation, for messages she sends (cancel words end it; an *escape* rule —
   a global command such as 「求助」 or 「帮助」, registered with ``escape=True`` — ends it and
   answers instead; a conversation
   handler that returns ``None`` declines the message, which then goes on down this list);
4. database keyword replies with ``match = exact`` (staff's deliberate choice wins);
5. code rules by priority (higher first), then registration order;
6. database keyword replies with ``match = contains``;
7. the default: a short help for messages, ``None`` (``success``) for events.

A rule "decides" (``check``) before it "does" (``handler``), as in python-telegram-bot.
A handler gets a :class:`Context` and returns a reply, a ``str`` (text) or ``None``.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

import redis
from sqlalchemy.orm import Session

from bot.core.db import OnDemandSession
from bot.wechat.replies import NewsReply, Reply, TextReply
from bot.core.services import Services
from bot.wechat.updates import Update
from handlers.conversation import CANCEL_WORDS, UNREAD, ConversationState, ConversationStore
from bot.core.text import compact, normalize
from models.base import utcnow

log = logging.getLogger(__name__)

Handler = Callable[["Context"], "Reply | str | None"]
ConversationHandler = Callable[["Context", ConversationState], "Reply | str | None"]

#: How long 「更多」 pages wait in Redis (seconds).
MORE_TTL = 900
MORE_WORDS = frozenset({"更多", "more", "下一页", "继续"})
#: The MsgTypes that carry text: a text message, or a voice message's Recognition.
TEXT_TYPES = frozenset({"text", "voice"})


class Context:
    """Everything a handler may use for one update.

    ``text`` is the normalised text (NFKC, simplified, spaces folded); ``compact_text`` the same
    without spaces. ``session`` is a SQLAlchemy session whose transaction the webhook commits
    after the handler returns; given as a :class:`bot.core.db.OnDemandSession` it is only made when a
    handler first uses ``ctx.session`` (``session_source`` hands the per-process table caches
    what they need without making it). ``now`` is aware UTC (default: now).
    ``prefetched_conversation``: the raw conversation value if the webhook already read it
    (saves a Redis round trip).
    """

    def __init__(self, update: Update, services: Services,
                 session: "Session | OnDemandSession | None" = None, now: datetime | None = None,
                 prefetched_conversation: object = UNREAD):
        self.update, self.services = update, services
        self.session_source = session
        self.now = now or utcnow()
        self.text = normalize(update.text)
        self.compact_text = self.text.replace(" ", "")
        self.conversation = ConversationStore(services.redis, services.keys, update.openid,
                                              prefetched=prefetched_conversation)
        self._follower = None

    @property
    def session(self) -> Session:
        """The database session (made now if it was given on demand)."""
        source = self.session_source
        if isinstance(source, OnDemandSession):
            return source.get()
        if source is None:
            raise RuntimeError("this Context was made without a database session")
        return source

    @property
    def openid(self) -> str:
        return self.update.openid

    @property
    def follower(self):
        """Her :class:`models.followers.Follower` row (created on first use)."""
        if self._follower is None:
            from models.followers import get_or_create

            self._follower = get_or_create(self.session, self.openid)
        return self._follower

    def local_now(self) -> datetime:
        """``now`` in the account's time zone (Asia/Shanghai by default)."""
        return self.now.astimezone(self.services.tz)

    # -- 「更多」 pages -------------------------------------------------------------
    def set_more(self, pages: list[str]) -> None:
        """Keep ``pages`` (texts) for her next 「更多」; an empty list forgets them."""
        key = self.services.keys("more", self.openid)
        if pages:
            self.services.redis.set(key, json.dumps(pages, ensure_ascii=False), ex=MORE_TTL)
        else:
            self.services.redis.delete(key)

    def pop_more(self) -> str | None:
        """The next waiting page, or None."""
        key = self.services.keys("more", self.openid)
        raw = self.services.redis.get(key)
        if not raw:
            return None
        try:
            pages = json.loads(raw)
        except ValueError:
            pages = []
        if not pages:
            self.services.redis.delete(key)
            return None
        page, rest = pages[0], pages[1:]
        self.set_more(rest)
        return page


@dataclass
class Rule:
    """A check (``Context -> bool``) and the handler to run when it holds."""

    check: Callable[[Context], bool]
    handler: Handler
    priority: int = 0
    name: str = ""
    order: int = 0
    #: The MsgTypes the check can hold for (``None``: any). Dispatch skips the rest unasked.
    msg_types: frozenset[str] | None = None


def _as_set(values: str | Iterable[str] | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    return frozenset(compact(v) for v in values)


class Router:
    """Rules on message type, event, menu EventKey (exact/prefix) and text (exact, prefix,
    contains, regex), with priorities. See the module docstring for the dispatch order."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.interceptors: list[Rule] = []
        self.escapes: list[Rule] = []
        self.conversations: dict[str, ConversationHandler] = {}
        self.default_message: Handler | None = None
        self.cancel_reply: str = "好的，已退出。需要时随时再来，回复「帮助」查看能做什么。"
        self._by_type: dict[str, list[Rule]] = {}  # MsgType -> the rules that may hold for it

    # -- registration --------------------------------------------------------------------
    def add(self, check: Callable[[Context], bool], handler: Handler, *, priority: int = 0,
            name: str = "", msg_types: Iterable[str] | None = None) -> Handler:
        """Register ``handler`` for updates where ``check(ctx)`` is true. ``msg_types``: the
        MsgTypes (``text``, ``event`` ...) outside which ``check`` never holds, if known."""
        self._add_rule(check, handler, priority, name, msg_types)
        return handler

    def _add_rule(self, check, handler, priority: int, name: str = "",
                  msg_types: Iterable[str] | None = None) -> Rule:
        rule = Rule(check, handler, priority, name or handler.__name__, len(self.rules),
                    None if msg_types is None else frozenset(msg_types))
        self.rules.append(rule)
        self.rules.sort(key=_rank)  # kept in dispatch order, not sorted on every message
        self._by_type.clear()
        return rule

    def rules_for(self, msg_type: str) -> list[Rule]:
        """The rules, in dispatch order, whose check may hold for ``msg_type``."""
        rules = self._by_type.get(msg_type)
        if rules is None:
            rules = [r for r in self.rules if r.msg_types is None or msg_type in r.msg_types]
            self._by_type[msg_type] = rules
        return rules

    def intercept(self, check: Callable[[Context], bool], *, priority: int = 0):
        """Decorator: run before everything else (conversations included) when ``check`` holds."""
        def deco(fn: Handler) -> Handler:
            self.interceptors.append(Rule(check, fn, priority, fn.__name__, len(self.interceptors)))
            self.interceptors.sort(key=_rank)
            return fn
        return deco

    def on(self, check: Callable[[Context], bool], *, priority: int = 0,
           msg_types: Iterable[str] | None = None):
        """Decorator form of :meth:`add`."""
        def deco(fn: Handler) -> Handler:
            return self.add(check, fn, priority=priority, msg_types=msg_types)
        return deco

    def on_text(self, *, exact=None, prefix=None, contains=None, regex: str | None = None,
                priority: int = 0, escape: bool = False):
        """Decorator: text (or voice recognition) that equals / starts with / contains one of
        the given words after normalising (spaces ignored), or matches ``regex`` (searched in
        the compact text).

        ``escape=True`` (only with ``exact`` alone) makes it a global command: it also ends any
        active conversation and answers instead of the conversation's step.
        """
        ex, pre, con = _as_set(exact), _as_set(prefix), _as_set(contains)
        if escape and (pre or con or regex or not ex):
            raise ValueError("escape rules match exact words only")
        pattern = re.compile(regex) if regex else None

        def check(ctx: Context) -> bool:
            t = ctx.compact_text
            if not t or ctx.update.msg_type not in TEXT_TYPES:
                return False
            return (t in ex or any(t.startswith(p) for p in pre) or any(c in t for c in con)
                    or bool(pattern and pattern.search(t)))
        if not escape:
            return self.on(check, priority=priority, msg_types=TEXT_TYPES)

        def deco(fn: Handler) -> Handler:
            self.escapes.append(self._add_rule(check, fn, priority, msg_types=TEXT_TYPES))
            return fn
        return deco

    def on_message(self, *msg_types: str, priority: int = 0):
        """Decorator: messages of these MsgTypes (``location``, ``image`` ...)."""
        types = frozenset(msg_types)
        return self.on(lambda ctx: ctx.update.msg_type in types, priority=priority,
                       msg_types=types)

    def on_event(self, *events: str, key: str | None = None, key_prefix: str | None = None,
                 priority: int = 0):
        """Decorator: events by name (lower case: ``subscribe``, ``scan``, ``click`` ...),
        optionally with EventKey equal to ``key`` or starting with ``key_prefix``."""
        names = frozenset(e.lower() for e in events)

        def check(ctx: Context) -> bool:
            u = ctx.update
            if not u.is_event or (names and u.event not in names):
                return False
            if key is not None and u.event_key != key:
                return False
            return key_prefix is None or u.event_key.startswith(key_prefix)
        return self.on(check, priority=priority, msg_types=("event",))

    def on_click(self, key: str | None = None, *, prefix: str | None = None, priority: int = 0):
        """Decorator: a menu button (CLICK, or a scancode/pic/location_select button) by EventKey."""
        return self.on_event("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                             "pic_photo_or_album", "pic_weixin", "location_select",
                             key=key, key_prefix=prefix, priority=priority)

    def on_conversation(self, name: str):
        """Decorator: the step handler of conversation ``name``."""
        def deco(fn: ConversationHandler) -> ConversationHandler:
            self.conversations[name] = fn
            return fn
        return deco

    # -- dispatch --------------------------------------------------------------------------
    def dispatch(self, ctx: Context) -> Reply | None:
        """Find and run the handler for ``ctx.update``; return its reply (None = ``success``)."""
        for rule in self.interceptors:
            if rule.check(ctx):
                reply = _as_reply(rule.handler(ctx))
                if reply is not None:
                    return reply
        if ctx.update.is_message and ctx.compact_text.lower() in MORE_WORDS:
            try:
                page = ctx.pop_more()
            except redis.RedisError:
                page = None
            if page is not None:
                return TextReply(page)
        if ctx.update.is_message:
            state = _active_conversation(ctx)
            if state is not None and state.name in self.conversations:
                if ctx.compact_text in CANCEL_WORDS:
                    ctx.conversation.end()
                    return TextReply(self.cancel_reply)
                for rule in self.escapes:
                    if rule.check(ctx):
                        ctx.conversation.end()
                        return _as_reply(rule.handler(ctx))
                reply = _as_reply(self.conversations[state.name](ctx, state))
                if reply is not None:
                    return reply
                # None: the conversation declined this message (and ended itself); it goes
                # through the normal rules as a fresh message.
        if ctx.update.msg_type in ("text", "voice") and ctx.compact_text:
            reply = _keyword_reply(ctx, exact=True)
            if reply is not None:
                return reply
        for rule in self.rules_for(ctx.update.msg_type):
            if rule.check(ctx):
                return _as_reply(rule.handler(ctx))
        if ctx.update.msg_type in ("text", "voice") and ctx.compact_text:
            reply = _keyword_reply(ctx, exact=False)
            if reply is not None:
                return reply
        if ctx.update.is_message and self.default_message is not None:
            return _as_reply(self.default_message(ctx))
        return None


def _rank(rule: Rule) -> tuple[int, int]:
    """Dispatch order: higher priority first, then registration order."""
    return (-rule.priority, rule.order)


def _active_conversation(ctx: Context) -> ConversationState | None:
    """Her conversation, or None — also when Redis is down (she gets a fresh answer instead)."""
    try:
        return ctx.conversation.get()
    except redis.RedisError as exc:
        log.warning("conversation state unavailable (%s)", type(exc).__name__)
        return None


def _as_reply(value) -> Reply | None:
    if value is None or isinstance(value, (TextReply, NewsReply)):
        return value
    if isinstance(value, str):
        return TextReply(value) if value else None
    raise TypeError(f"handler returned {type(value).__name__}, not a reply")


def _keyword_reply(ctx: Context, *, exact: bool) -> Reply | None:
    from models.keywords import MATCH_CONTAINS, MATCH_EXACT, find_keyword_reply

    if not hasattr(ctx, "_keyword_row"):  # one lookup per update, shared by both stages
        ctx._keyword_row = find_keyword_reply(ctx.session_source, ctx.compact_text)
    row = ctx._keyword_row
    if row is None or row.match != (MATCH_EXACT if exact else MATCH_CONTAINS):
        return None
    if row.article_url:
        return NewsReply(title=row.article_title or row.keyword,
                         description=row.article_description or "",
                         pic_url=row.article_pic_url or "", url=row.article_url)
    return TextReply(row.reply_text) if row.reply_text else None
