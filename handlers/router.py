"""The dispatcher: which handler answers an :class:`~bot.wechat.updates.Update`. No Flask, no XML.

The order of a dispatch is documented once, in :class:`Stage` (first answer wins): interceptors,
「更多」 pages, the active conversation, exact database keywords, code rules by stage, database
keywords that ``contain`` the text, the default.

A rule "decides" (``check``) before it "does" (``handler``), as in python-telegram-bot: the check
returns a falsy value when the rule does not apply, or what it found (the word, the ``re.Match``,
a parsed query ...), which the handler receives as ``ctx.match`` — handlers do not parse again.
A handler gets a :class:`Context` and returns a reply, a ``str`` (text) or ``None``.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Callable, Iterable

import redis
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from bot.core.db import DatabaseUnavailable, OnDemandSession
from bot.core.services import Services
from bot.core.text import command_form, fold_case, normalize
from bot.wechat.replies import MORE_HINT, NewsReply, Reply, TextReply, TransferReply
from bot.wechat.updates import Update
from handlers.conversation import (UNAVAILABLE_CALL, UNAVAILABLE_TEXT, UNREAD, Conversation,
                                   ConversationState, ConversationStore, ConversationUnavailable,
                                   Invalid)
from models.base import utcnow

log = logging.getLogger(__name__)

Handler = Callable[["Context"], "Reply | str | None"]
#: A rule's check: a falsy value, or what it found (given to the handler as ``ctx.match``).
Check = Callable[["Context"], Any]
ConversationHandler = Callable[["Context", ConversationState], "Reply | str | None"]

#: What a database that is down or hung raises (refused, timed out, the fail-fast window).
DATABASE_DOWN = (DatabaseUnavailable, OperationalError, InterfaceError)

#: How long 「更多」 pages wait in Redis (seconds).
MORE_TTL = 900
MORE_WORDS = frozenset({"更多", "more", "下一页", "继续"})
#: The MsgTypes that carry text: a text message, or a voice message's Recognition.
TEXT_TYPES = frozenset({"text", "voice"})


class Stage(IntEnum):
    """Where a rule answers in a dispatch. The whole order, first answer wins:

    1. interceptors (``router.intercept(check, stage=...)``), every update, higher stage first:
       :attr:`RECORD` (bookkeeping that never answers), then :attr:`SAFETY` (danger words),
       then :attr:`SAFETY_NET` (the classifier's danger paraphrases, when the words missed);
    2. 「更多」 when earlier pages are waiting (see :meth:`Context.set_more`);
    3. the active conversation, for messages she sends: its cancel words (and, at a form's
       step, quit phrases: 「我不想去了」) end it; an *escape* rule (a global command such as
       「求助」 or 「帮助」, registered with ``escape=True``) ends it and answers instead (a form
       it replaces is named: it stopped), unless the rule only reads (``keeps_form=True``:
       「我的志愿时长」「帮助」), which answers at a form's step with a line on how to go on; a step
       that refuses the message (:class:`~handlers.conversation.Invalid`) re-asks, unless the
       message is clearly something else (:meth:`Router.elsewhere`), which is answered with a
       line on how to go on with the form; a step that returns ``None`` declines the message,
       which then goes on down this list;
    4. database keyword replies with ``match = exact`` (staff's deliberate choice wins);
    5. code rules (``router.on_*``), by stage — :attr:`QR_SCENE`, :attr:`SPECIFIC`,
       :attr:`COMMAND` (the default: commands, menu clicks, messages by type), :attr:`LEFTOVER`,
       :attr:`LOOSE_PHRASE`, :attr:`KNOWN_QUESTION`, :attr:`INTENT` (what the classifier understood, confidently or as
       a numbered question; it leaves the directory's own towns and needs to
       :attr:`DIRECTORY`), :attr:`DIRECTORY`, :attr:`SMALL_TALK` — then registration order
       (the feature list in handlers/__init__.py);
    6. database keyword replies with ``match = contains``;
    7. the default: a short help for messages (handlers/intents.py: with the three closest
       suggestions, the text counted as not understood), ``None`` (``success``) for events.

    The values are the priorities (higher first); any int still sorts between them.
    """

    #: Interceptor: keep the follower table in step with every update; never answers.
    RECORD = 1000
    #: Interceptor: danger words, answered before any conversation or rule.
    SAFETY = 100
    #: Interceptor: the classifier's second net for danger paraphrases (handlers/intents.py).
    SAFETY_NET = 99
    #: Events of a QR scene (check-in), before the plain subscribe welcome.
    QR_SCENE = 10
    #: A feature's exact words that must win over other features' broader rules (column names,
    #: 订阅/退订, 删除我的信息).
    SPECIFIC = 5
    #: Commands, menu clicks and messages by type: the default stage.
    COMMAND = 0
    #: Words that only make sense after a conversation that has ended (「提交」 a left draft).
    LEFTOVER = -1
    #: Phrases found anywhere in her text (「有事请打我电话」), below every command.
    LOOSE_PHRASE = -5
    #: Everyday questions the classifier has no intent for (handlers/intents_questions.py:
    #: fees, what a category is, the hotlines, 签到 ...), just above the classifier.
    KNOWN_QUESTION = -7
    #: Free-form sentences by intent (handlers/intents.py): a confident answer, or one
    #: clarifying question with numbered choices. Texts the directory itself parses as a town,
    #: need, kind or platform are left to :attr:`DIRECTORY`.
    INTENT = -8
    #: The service directory's towns, needs and where-is questions: no catch-all.
    DIRECTORY = -10
    #: 「谢谢」「好的」, 「更多」 with nothing waiting: just above the default answer.
    SMALL_TALK = -20


class Context:
    """Everything a handler may use for one update.

    ``text`` is the normalised text (NFKC, simplified, spaces folded); ``compact_text`` the same
    without spaces; ``command_text`` that in lower case (「HELP」→「help」), which text rules and
    cancel words are matched against. ``session`` is a SQLAlchemy session whose transaction the webhook commits
    after the handler returns; given as a :class:`bot.core.db.OnDemandSession` it is only made when a
    handler first uses ``ctx.session`` (``session_source`` hands the per-process table caches
    what they need without making it). ``now`` is aware UTC (default: now).
    ``prefetched_conversation``: the raw conversation value if the webhook already read it
    (saves a Redis round trip). ``defer_conversation``: her conversation's changes wait for
    ``ctx.conversation.commit()``, which the caller runs after the database commit (the webhook).

    Set by :meth:`Router.dispatch`: ``match``, what the check of the rule being run found (the
    word, ``re.Match``, a parsed query ...; None for conversation steps and the default), and
    ``router``, the router dispatching this update (a conversation step may ask it which rules
    would answer a message).
    """

    def __init__(self, update: Update, services: Services,
                 session: "Session | OnDemandSession | None" = None, now: datetime | None = None,
                 prefetched_conversation: object = UNREAD, defer_conversation: bool = False):
        self.update, self.services = update, services
        self.session_source = session
        self.now = now or utcnow()
        self.text = normalize(update.text)
        self.compact_text = self.text.replace(" ", "")
        self.command_text = fold_case(self.compact_text)
        self.conversation = ConversationStore(services.redis, services.keys, update.openid,
                                              prefetched=prefetched_conversation,
                                              deferred=defer_conversation)
        self._follower = None
        self.match: Any = None
        self.router: Router | None = None
        #: The form whose step waits while the router answers another question of hers in
        #: the middle of it (:meth:`Router._aside`), else None.
        self.aside_of: Conversation | None = None

    @property
    def session(self) -> Session:
        """The database session (made now if it was given on demand)."""
        source = self.session_source
        if isinstance(source, OnDemandSession):
            return source.get()
        if source is None:
            raise RuntimeError("this Context was made without a database session")
        return source

    def forget_session(self) -> None:
        """Roll back what the session holds after the database failed (see
        handlers.welcome.record_update), so the answer can still go out without it: the
        webhook then commits nothing. A later use of :attr:`session` tries the database
        again (refused at once while ``bot.core.db.FailFastGate`` is quiet). Never raises."""
        source = self.session_source
        session = source._session if isinstance(source, OnDemandSession) else source
        self._follower = None
        if session is not None:
            try:
                session.rollback()
            except Exception:  # noqa: BLE001 - nothing more to undo
                pass

    @property
    def openid(self) -> str:
        return self.update.openid

    @property
    def writing_to_staff(self) -> bool:
        """Whether this answer is given in the middle of a form that already reaches staff
        (「求助」: :attr:`Conversation.writes_to_staff`): an answer then does not offer 「求助」."""
        return self.aside_of is not None and self.aside_of.writes_to_staff

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
    def set_more(self, pages: list[str]) -> bool:
        """Keep ``pages`` (texts) for her next 「更多」; an empty list forgets them. False when
        Redis could not take them (down or timing out: the answer still goes out, without its
        later pages); never raises for that."""
        key = self.services.keys("more", self.openid)
        try:
            if pages:
                self.services.redis.set(key, json.dumps(pages, ensure_ascii=False), ex=MORE_TTL)
            else:
                self.services.redis.delete(key)
        except redis.RedisError as exc:
            log.warning("「更多」 pages not saved (%s)", type(exc).__name__)
            return False
        return True

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


@dataclass(frozen=True)
class Elsewhere:
    """What a message sent in the middle of a form clearly is instead of an answer to its
    question (:meth:`Router.elsewhere`): ``what`` names it (an intent of models/intents.py, or
    ``"rule:<name>"`` for a code rule) and ``answer()`` answers it as a fresh message would be."""

    what: str
    answer: Callable[[], Any]
    #: The code rule that takes it (``what`` is ``"rule:<name>"``), else None.
    rule: "Rule | None" = None


#: The test behind :meth:`Router.elsewhere` (registered by handlers/intents.py).
ElsewhereCheck = Callable[["Context"], "Elsewhere | None"]


@dataclass
class Rule:
    """A check (``Context -> falsy | what it found``) and the handler to run when it holds."""

    check: Check
    handler: Handler
    stage: int = Stage.COMMAND
    name: str = ""
    order: int = 0
    #: The MsgTypes the check can hold for (``None``: any). Dispatch skips the rest unasked.
    msg_types: frozenset[str] | None = None
    #: An escape rule that only reads (「我的志愿时长」「帮助」): in the middle of a form it
    #: answers and the form keeps its place (see :meth:`Router.on_text`).
    keeps_form: bool = False


def _as_set(values: str | Iterable[str] | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    return frozenset(command_form(v) for v in values)


class Router:
    """Rules on message type, event, menu EventKey (exact/prefix) and text (exact, prefix,
    contains, regex), in stages, and declared conversations. See :class:`Stage` for the
    dispatch order."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.interceptors: list[Rule] = []
        self.escapes: list[Rule] = []
        #: Declared conversations by name (see handlers/conversation.py).
        self.conversations: dict[str, Conversation] = {}
        #: Their timeouts by name (seconds), given to every update's conversation store.
        self.timeouts: dict[str, int] = {}
        self._steps: dict[str, ConversationHandler] = {}
        self.default_message: Handler | None = None
        #: The one test of "this message is clearly something else" (:meth:`on_elsewhere`).
        self.elsewhere_check: ElsewhereCheck | None = None
        self.cancel_reply: str = "好的，已退出。需要时随时再来，回复「帮助」查看能做什么。"
        self._by_type: dict[str, list[Rule]] = {}  # MsgType -> the rules that may hold for it
        #: Menu EventKeys answered by :meth:`on_click` rules (exact keys, and key prefixes).
        self.click_keys: set[str] = set()
        self.click_prefixes: set[str] = set()
        #: Called once with the Services when a webhook starts on this router (:meth:`start`).
        self.start_hooks: list[Callable[[Services], None]] = []

    # -- registration --------------------------------------------------------------------
    def on_start(self, hook: Callable[[Services], None]) -> Callable[[Services], None]:
        """Run ``hook(services)`` when a webhook process starts on this router (for work a
        feature does once per process, such as loading a model in the background)."""
        self.start_hooks.append(hook)
        return hook

    def start(self, services: Services) -> None:
        """Run the :meth:`on_start` hooks; one that raises is logged and the others still run."""
        for hook in self.start_hooks:
            try:
                hook(services)
            except Exception:  # noqa: BLE001 - a feature's start-up never stops the webhook
                log.exception("router: start hook %s failed", getattr(hook, "__name__", hook))

    def add(self, check: Check, handler: Handler, *, stage: int = Stage.COMMAND,
            name: str = "", msg_types: Iterable[str] | None = None) -> Handler:
        """Register ``handler`` at ``stage`` for updates where ``check(ctx)`` is truthy (the
        handler gets that value as ``ctx.match``). ``msg_types``: the MsgTypes (``text``,
        ``event`` ...) outside which ``check`` never holds, if known."""
        self._add_rule(check, handler, stage, name, msg_types)
        return handler

    def _add_rule(self, check, handler, stage: int, name: str = "",
                  msg_types: Iterable[str] | None = None) -> Rule:
        rule = Rule(check, handler, stage, name or handler.__name__, len(self.rules),
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

    def intercept(self, check: Check, *, stage: int):
        """Decorator: run before everything else (conversations included) when ``check`` holds;
        ``stage`` orders interceptors (:attr:`Stage.RECORD`, :attr:`Stage.SAFETY`)."""
        def deco(fn: Handler) -> Handler:
            self.interceptors.append(Rule(check, fn, stage, fn.__name__, len(self.interceptors)))
            self.interceptors.sort(key=_rank)
            return fn
        return deco

    def on(self, check: Check, *, stage: int = Stage.COMMAND,
           msg_types: Iterable[str] | None = None):
        """Decorator form of :meth:`add`."""
        def deco(fn: Handler) -> Handler:
            return self.add(check, fn, stage=stage, msg_types=msg_types)
        return deco

    def on_text(self, *, exact=None, prefix=None, contains=None, regex: str | None = None,
                stage: int = Stage.COMMAND, escape: bool = False, keeps_form: bool = False):
        """Decorator: text (or voice recognition) that equals / starts with / contains one of
        the given words after normalising (spaces and letter case ignored: 「Help」「ＨＥＬＰ」 match
        ``help``), or matches ``regex`` (searched in the compact text, case kept). ``ctx.match``
        is the word found (compact, lower case), or the ``re.Match``.

        ``escape=True`` (only with ``exact`` alone) makes it a global command: it also ends any
        active conversation and answers instead of the conversation's step (a form so replaced
        is named in the answer: it stopped). ``keeps_form=True`` (with ``escape``) is for
        commands that only read (「我的志愿时长」「我的报名」「帮助」): at a form's step they answer
        and the form keeps its place, with a line on how to go on (:meth:`Router._aside`).
        """
        ex, pre, con = _as_set(exact), _as_set(prefix), _as_set(contains)
        if escape and (pre or con or regex or not ex):
            raise ValueError("escape rules match exact words only")
        if keeps_form and not escape:
            raise ValueError("keeps_form is for escape rules")
        pattern = re.compile(regex) if regex else None
        prefixes = tuple(pre)  # str.startswith takes a tuple: one call, no generator
        contained = tuple(con)

        def check(ctx: Context):
            t = ctx.command_text
            if not t or ctx.update.msg_type not in TEXT_TYPES:
                return None
            if t in ex:
                return t
            if prefixes and t.startswith(prefixes):
                return next(p for p in prefixes if t.startswith(p))
            if contained:
                found = next((c for c in contained if c in t), None)
                if found:
                    return found
            return pattern.search(ctx.compact_text) if pattern else None
        if not escape:
            return self.on(check, stage=stage, msg_types=TEXT_TYPES)

        def deco(fn: Handler) -> Handler:
            rule = self._add_rule(check, fn, stage, msg_types=TEXT_TYPES)
            rule.keeps_form = keeps_form
            self.escapes.append(rule)
            return fn
        return deco

    def on_message(self, *msg_types: str, stage: int = Stage.COMMAND):
        """Decorator: messages of these MsgTypes (``location``, ``image`` ...)."""
        types = frozenset(msg_types)
        return self.on(lambda ctx: ctx.update.msg_type in types, stage=stage, msg_types=types)

    def on_event(self, *events: str, key: str | None = None, key_prefix: str | None = None,
                 stage: int = Stage.COMMAND):
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
        return self.on(check, stage=stage, msg_types=("event",))

    def on_click(self, key: str | None = None, *, prefix: str | None = None,
                 stage: int = Stage.COMMAND):
        """Decorator: a menu button (CLICK, or a scancode/pic/location_select button) by EventKey
        (use the constants of bot/wechat/menu.py). The key (or prefix) is remembered in
        :attr:`click_keys` / :attr:`click_prefixes`: the menu editor and ``taoyuan menu check``
        offer and accept only keys some rule answers (:meth:`answers_click`)."""
        if key is not None:
            self.click_keys.add(key)
        if prefix is not None:
            self.click_prefixes.add(prefix)
        return self.on_event("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                             "pic_photo_or_album", "pic_weixin", "location_select",
                             key=key, key_prefix=prefix, stage=stage)

    def answers_click(self, key: str) -> bool:
        """True when a menu button with EventKey ``key`` reaches an :meth:`on_click` rule."""
        return key in self.click_keys or any(key.startswith(p) for p in self.click_prefixes)

    def conversation(self, spec: Conversation) -> Conversation:
        """Register the declared conversation ``spec`` (its steps answer her messages while it
        is active; see handlers/conversation.py)."""
        self.conversations[spec.name] = spec
        self.timeouts[spec.name] = spec.timeout
        self._steps[spec.name] = spec.handle
        return spec

    def on_elsewhere(self, check: ElsewhereCheck) -> ElsewhereCheck:
        """Register the test :meth:`elsewhere` runs (one per router; handlers/intents.py
        registers it: it knows the classifier)."""
        self.elsewhere_check = check
        return check

    def elsewhere(self, ctx: Context) -> Elsewhere | None:
        """What her text message clearly is instead of an answer to the question she was asked
        (a form's step refused it; 「求助」's urgent step asks too), or None: not a text, no
        test registered, nothing clear, or the test failed (logged: she gets the re-ask)."""
        if self.elsewhere_check is None or ctx.update.msg_type not in TEXT_TYPES \
                or not ctx.compact_text:
            return None
        try:
            return self.elsewhere_check(ctx)
        except Exception:  # noqa: BLE001 - the form's own re-ask still works
            log.exception("router: the 'clearly something else' test failed")
            return None

    def on_conversation(self, name: str):
        """Decorator: a plain step handler ``(ctx, state) -> reply`` for conversation ``name``
        (replacing the declared steps, if any; the declaration's other fields stay)."""
        def deco(fn: ConversationHandler) -> ConversationHandler:
            self.conversations.setdefault(name, Conversation(name, interruptible=False))
            self._steps[name] = fn
            return fn
        return deco

    # -- dispatch --------------------------------------------------------------------------
    def dispatch(self, ctx: Context) -> Reply | None:
        """Find and run the handler for ``ctx.update``; return its reply (None = ``success``).

        A handler whose conversation cannot be saved (Redis down:
        :class:`~handlers.conversation.ConversationUnavailable`) is answered with a plain
        sentence saying the multi-step flow cannot start now and what still works; what the
        handler wrote to the database stays (the transaction is committed as usual)."""
        try:
            return self._dispatch(ctx)
        except ConversationUnavailable as exc:
            log.warning("conversation %s unavailable: Redis cannot save it", exc.name)
            config = getattr(ctx.services, "config", None)
            app = getattr(config, "app", None) or {}
            return self.unavailable_reply(exc.name, str(app.get("federation_phone") or "").strip())

    def unavailable_reply(self, name: str, phone: str = "") -> TextReply:
        """What she is told when conversation ``name`` cannot be saved (Redis down): the
        multi-step flow cannot start now, what still works, and the federation's ``phone``
        for urgent matters when it is known (no call to an unknown number)."""
        spec = self.conversations.get(name)
        label = f"「{spec.label}」" if spec is not None and spec.label else ""
        call = UNAVAILABLE_CALL.format(phone=phone) if phone else ""
        return TextReply(UNAVAILABLE_TEXT.format(label=label, call=call))

    def _dispatch(self, ctx: Context) -> Reply | None:
        ctx.router, ctx.match = self, None
        ctx.conversation.timeouts = self.timeouts
        for rule in self.interceptors:
            found = rule.check(ctx)
            if found:
                ctx.match = found
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
            spec = self.conversations.get(state.name) if state is not None else None
            if spec is not None:
                if spec.leaves(ctx, state):
                    if spec.on_cancel is not None:
                        spec.on_cancel(ctx, state)
                    ctx.conversation.end()
                    return TextReply(spec.cancel_text(ctx, state) or self.cancel_reply)
                for rule in self.escapes:
                    found = rule.check(ctx)
                    if found:
                        ctx.match = found
                        if rule.keeps_form and not spec.passive(state.step):
                            return self._aside(ctx, spec, state, lambda: rule.handler(ctx))
                        ctx.conversation.end()
                        return self._replaced(ctx, spec, state, _as_reply(rule.handler(ctx)))
                ctx.match = None
                answer = self._steps[state.name](ctx, state)
                if isinstance(answer, Invalid):
                    return self._refused(ctx, spec, state, answer)
                reply = _as_reply(answer)
                if reply is not None:
                    return reply
                # None: the conversation declined this message (and ended itself); it goes
                # through the normal rules as a fresh message.
        keyword = None  # the database keyword row for her text: one lookup, used twice
        if ctx.update.msg_type in ("text", "voice") and ctx.compact_text:
            keyword = _keyword_row(ctx)
            reply = _keyword_reply(keyword, exact=True)
            if reply is not None:
                return reply
        for rule in self.rules_for(ctx.update.msg_type):
            found = rule.check(ctx)
            if found:
                ctx.match = found
                return _as_reply(rule.handler(ctx))
        ctx.match = None
        if keyword is not None:
            reply = _keyword_reply(keyword, exact=False)
            if reply is not None:
                return reply
        if ctx.update.is_message and self.default_message is not None:
            return _as_reply(self.default_message(ctx))
        return None

    def _refused(self, ctx: Context, spec: Conversation, state: ConversationState,
                 refused: Invalid) -> Reply:
        """A form's step refused her message: when it is clearly something else
        (:meth:`elsewhere`), answer that and — the form still waiting at the same step — add
        how to go on with it (:meth:`Conversation.reminder`); else the step's re-ask. An
        answer that started another conversation (「求助」, another signup) has replaced the
        form: nothing is added."""
        found = None if spec.passive(state.step) else self.elsewhere(ctx)
        if found is None:
            return TextReply(refused.reply)
        ctx.match = None
        return self._aside(ctx, spec, state, found.answer, refused)

    def _aside(self, ctx: Context, spec: Conversation, state: ConversationState,
               answer: Callable[[], Any], refused: Invalid | None = None) -> Reply:
        """Answer another question of hers in the middle of form ``spec`` (``answer()``: a
        :meth:`elsewhere` answer, or a read-only escape rule's handler) and — the form still
        waiting at the same step — add how to go on with it (:meth:`Conversation.reminder`);
        an answer that started another conversation replaced the form: it says so
        (:meth:`_replaced`). No answer: the step's re-ask (``refused``)."""
        ctx.aside_of = spec
        try:
            reply = _as_reply(answer())
        finally:
            ctx.aside_of = None
        if reply is None:
            return TextReply(refused.reply if refused is not None else spec.reminder(state))
        now = _active_conversation(ctx)
        if now is None or (now.name, now.step) != (state.name, state.step):
            return self._replaced(ctx, spec, state, reply)
        if not isinstance(reply, TextReply):
            return reply
        return TextReply(with_note(reply.content, spec.reminder(state, refused)))

    def _replaced(self, ctx: Context, spec: Conversation, state: ConversationState,
                  reply: Reply | None) -> Reply | None:
        """``reply``, telling her that form ``spec`` (at ``state``) stopped when the answer
        started another conversation in its place (「求助」 in the middle of 志愿者登记)."""
        now = _active_conversation(ctx)
        if not isinstance(reply, TextReply) or now is None or now.name == state.name \
                or spec.passive(state.step) or not spec.label:
            return reply
        return TextReply(with_note(reply.content, STOPPED_NOTE.format(label=spec.label)))


#: Below an answer that started another form in place of the one she was filling in.
STOPPED_NOTE = "（刚才的「{label}」没有填完，已先停下，需要时可以重新开始。）"


def with_note(text: str, note: str) -> str:
    """``text`` with ``note`` below it, before a closing 「回复更多」 hint (which stays last)."""
    if text.endswith(MORE_HINT):
        return f"{text[: -len(MORE_HINT)]}\n\n{note}{MORE_HINT}"
    return f"{text}\n\n{note}"


def _rank(rule: Rule) -> tuple[int, int]:
    """Dispatch order: higher stage first, then registration order."""
    return (-rule.stage, rule.order)


def _active_conversation(ctx: Context) -> ConversationState | None:
    """Her conversation, or None — also when Redis is down (she gets a fresh answer instead)."""
    try:
        return ctx.conversation.get()
    except redis.RedisError as exc:
        log.warning("conversation state unavailable (%s)", type(exc).__name__)
        return None


def _as_reply(value) -> Reply | None:
    if value is None or isinstance(value, (TextReply, NewsReply, TransferReply)):
        return value
    if isinstance(value, str):
        return TextReply(value) if value else None
    raise TypeError(f"handler returned {type(value).__name__}, not a reply")


def _keyword_row(ctx: Context):
    """The active database keyword reply for her text (exact or contains), or None."""
    from models.keywords import find_keyword_reply

    return find_keyword_reply(ctx.session_source, ctx.command_text)


def _keyword_reply(row, *, exact: bool) -> Reply | None:
    """The reply of keyword ``row`` if its ``match`` is the one of this stage."""
    from models.keywords import MATCH_CONTAINS, MATCH_EXACT

    if row is None or row.match != (MATCH_EXACT if exact else MATCH_CONTAINS):
        return None
    if row.article_url:
        return NewsReply(title=row.article_title or row.keyword,
                         description=row.article_description or "",
                         pic_url=row.article_pic_url or "", url=row.article_url)
    return TextReply(row.reply_text) if row.reply_text else None
