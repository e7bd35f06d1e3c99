"""Conversations: multi-step dialogues declared as data, and their state in Redis.

A conversation (signup 报名, volunteer registration 志愿者登记, help request 求助, mediation booking
预约调解, 删除我的信息) is a :class:`Conversation`: a name, ordered :class:`Step` s — each with its
prompt, a parser/validator that returns the value or :class:`Invalid` (the Chinese re-ask), and
what to do with the value — plus its cancel words, timeout, and whether a danger word stops it
(``interruptible``; handlers/safety.py reads that flag and ``label`` instead of keeping a list).
A feature registers it with ``router.conversation(SPEC)``::

    NAME_STEP = Step("name", parse=parse_name, save_as="name", next="phone",
                     prompt="请告诉我您的姓名（例如：王秀英）。")

State lives in Redis keyed by openid, so it survives a restart and works when her next message
lands on another worker process. In the webhook the store is *deferred*: a step's changes are
kept in memory and written by :meth:`ConversationStore.commit` only after the message's
database transaction committed, so a failed write (a lock timeout, a lost connection) leaves her
at the same step and her next 「同意」 is understood. It expires after the conversation's ``timeout`` (default
:data:`CONVERSATION_TTL`) seconds of silence, after which her next message is treated fresh.
The router handles the cancel words (「取消」/「退出」 ...) for every conversation before a step
sees them, and at a form's step (not a passive one) also the phrases that say she wants to stop
(「我不想去了」「不报了」「算了吧」: :func:`quits`). The yes/no/cancel word sets live here, in one place.

A step whose parser refused her message (:class:`Invalid`) does not simply re-ask: the router
first asks whether the message is clearly something else (a command, or what the classifier
is confident about: 「妇联电话多少」, 「人工」); if so, that is answered and
:meth:`Conversation.reminder` tells her how to go on with the form.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import redis

from bot.core.kv import UNREAD  # a store whose value has not been read from Redis yet
from bot.core.kv import Keys

log = logging.getLogger(__name__)

#: Ten minutes of silence end a conversation (seconds).
CONVERSATION_TTL = 600


#: Words that leave any conversation at any step (normalised text, exact match).
CANCEL_WORDS = frozenset({"取消", "退出", "不要了", "算了", "结束"})

# -- yes / no words -------------------------------------------------------------------------
# One place for every yes/no set. They differ on purpose: a seat is taken with 「报名」 or
# 「候补」, a consent needs 同意 (or a plain yes), deleting her data never takes a bare 「好」.
# Each conversation uses the set named for its question; the text is normalised (compact,
# lower case) before it is looked up.

#: Whole messages that say she wants to stop the form she is filling in, beside the exact
#: cancel words: 「我不想去了」「不报了」「不想登记了」「算了吧」「那就退出吧」 (see :func:`quits`).
QUIT_RE = re.compile(
    r"^(?:我|那|那我)?(?:还是|就|先)?(?:不想|不要|不用|不打算|不|没空|没时间)(?:再)?"
    r"(?:(?:去|报|报名|参加|登记|填|写|弄|办|约|预约|删|删除)了?|了)(?:吧|啦|哦|呢)?$"
    r"|^(?:那|那就|还是)?(?:算了|退出|取消|不要了|结束)(?:吧|啦|了)?$")


def quits(text: str) -> bool:
    """Whether ``text`` (normalised, compact) is a whole message saying she wants to stop:
    a cancel word (:data:`CANCEL_WORDS`) or a phrase of :data:`QUIT_RE`; trailing 「。！~」
    ignored. 「不」「不要」 alone are not (they answer a yes/no question)."""
    t = (text or "").lower().rstrip("。.!！~～")
    return t in CANCEL_WORDS or bool(QUIT_RE.match(t))


#: A plain yes (预约调解's 「用这个号码吗？」 adds 「用这个」).
YES_WORDS = frozenset({"是", "是的", "对", "好", "好的", "可以", "确认"})
#: Yes to 「确认报名这个活动吗？」 and 「还用这个号码吗？」 (报名).
SIGNUP_YES_WORDS = YES_WORDS | {"确定", "嗯", "要", "报名", "yes", "y", "ok", "1", "确认报名", "候补",
                                "排候补", "加入候补", "同意"}
#: Yes to a consent text (志愿者登记); 报名 also takes 「同意授权」.
AGREE_WORDS = frozenset({"同意", "我同意", "是", "好", "好的", "确认", "可以", "yes", "ok", "1", "嗯"})
SIGNUP_AGREE_WORDS = AGREE_WORDS | {"同意授权"}
#: A plain no to a consent text (志愿者登记).
NO_WORDS = frozenset({"不同意", "否", "不", "no"})
#: No to 「确认报名吗？」 and to the consent (报名).
SIGNUP_NO_WORDS = NO_WORDS | {"不是", "不要", "不用", "n", "2", "不报了"}
#: Deleting cannot be undone: plain 「嗯」「好」 re-ask; these confirm (删除我的信息).
#: Deleting cannot be undone, and a 「是」 meant for another question must never delete: only
#: answers that say 删除 confirm.
CONFIRM_DELETE_WORDS = frozenset({"确认删除", "确定删除", "删除", "删除吧", "要删除", "确认删除我的信息",
                                  "我要删除", "是的删除", "对删除"})
#: No to deleting her data.
KEEP_DATA_WORDS = frozenset({"不删", "不删除", "保留", "否", "不", "不是", "不要", "算了", "不用"})


#: How to go on with a form whose step has no ``resume`` (:meth:`Conversation.reminder`).
GO_ON = "请接着回答上面的问题；不想继续了回复「取消」。"


class ConversationUnavailable(redis.RedisError):
    """Her conversation state could not be saved (Redis down or timing out): a multi-step
    dialogue cannot start or go on. ``name`` is the conversation's name. The router answers it
    with :data:`UNAVAILABLE_TEXT` (a plain Chinese sentence), never the generic fallback; code
    that already catches ``redis.RedisError`` around a start still does."""

    def __init__(self, name: str, cause: BaseException | None = None):
        why = type(cause).__name__ if cause is not None else "Redis unavailable"
        super().__init__(f"conversation {name!r} cannot be saved ({why})")
        self.name = name


#: What she is told when a multi-step dialogue cannot start (``{label}``: its name, e.g. 报名;
#: ``{call}``: :data:`UNAVAILABLE_CALL` with the federation's phone, or "" when unknown).
UNAVAILABLE_TEXT = ("抱歉，系统现在暂时记不住对话，{label}这类要分几步办理的事现在开始不了，请过几分钟再试一次。"
                    "查服务点（回复乡镇名或「调解」等需要）、看「活动」不受影响；"
                    "{call}遇到危险请立即拨打110。")
#: ``{call}`` of :data:`UNAVAILABLE_TEXT` when the federation's phone is configured (else "").
UNAVAILABLE_CALL = "急事请拨打县妇联电话{phone}，"


@dataclass
class ConversationState:
    """``name`` is the conversation (``"signup"``), ``step`` the state inside it, ``data`` what
    has been collected so far (JSON-serialisable values only)."""

    name: str
    step: str
    data: dict = field(default_factory=dict)


class ConversationStore:
    """The current conversation of one openid, in Redis (``<prefix>conv:<openid>``).

    One store lives for one update: it reads Redis at most once (or takes ``prefetched``, the raw
    value the webhook fetched together with its de-dup claim) and keeps its own writes.

    ``timeouts`` maps a conversation's name to its own timeout (seconds; the router that
    dispatches the update gives the declared ones); any other conversation gets ``ttl``.
    """

    def __init__(self, client: redis.Redis, keys: Keys, openid: str, ttl: int = CONVERSATION_TTL,
                 prefetched=UNREAD, timeouts: Mapping[str, int] | None = None,
                 deferred: bool = False):
        self._redis = client
        self._key = keys("conv", openid)
        self.ttl = ttl
        self.timeouts: Mapping[str, int] = timeouts or {}
        self._raw = prefetched
        #: ``deferred``: writes wait for :meth:`commit`; the last one wins (("set", payload,
        #: seconds) or ("delete",)), None when nothing changed.
        self._deferred = deferred
        self._pending: tuple | None = None
        #: Redis failed this store's read: a deferred start or step is refused at once
        #: (:class:`ConversationUnavailable`) rather than lost at :meth:`commit`.
        self._unreachable = False

    @property
    def key(self) -> str:
        """The Redis key of this conversation."""
        return self._key

    def get(self) -> ConversationState | None:
        """The active conversation, or None (none, expired, or unreadable)."""
        if self._raw is UNREAD:
            try:
                self._raw = self._redis.get(self._key)
            except redis.RedisError:
                self._unreachable = True  # a start or step cannot be saved either
                raise
        raw = self._raw
        if not raw:
            return None
        try:
            obj = json.loads(raw)
            return ConversationState(obj["name"], obj["step"], obj.get("data") or {})
        except (ValueError, KeyError, TypeError):
            self.end()
            return None

    def start(self, name: str, step: str, **data) -> ConversationState:
        """Begin conversation ``name`` at ``step`` (replacing any other). Raises
        :class:`ConversationUnavailable` when Redis cannot save it (as :meth:`update`)."""
        state = ConversationState(name, step, dict(data))
        self._save(state)
        return state

    def update(self, state: ConversationState, *, step: str | None = None, **data) -> ConversationState:
        """Move ``state`` to ``step`` (if given), merge ``data``, save, and restart the timeout."""
        if step is not None:
            state.step = step
        state.data.update(data)
        self._save(state)
        return state

    def end(self) -> None:
        """Forget the conversation (deferred: at :meth:`commit`). With Redis unavailable it
        is forgotten here only (the saved state, if any, expires with its timeout); never
        raises for that."""
        self._raw = None
        if self._deferred:
            self._pending = ("delete",)
            return
        try:
            self._redis.delete(self._key)
        except redis.RedisError as exc:
            log.warning("conversation end not saved (%s)", type(exc).__name__)

    def commit(self) -> None:
        """Write the deferred changes (call once the database transaction committed); a
        store that is not deferred has none. Redis down: logged, she starts over later (a
        store that already found Redis down refused the start or step in :meth:`_save`)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            if pending[0] == "delete":
                self._redis.delete(self._key)
            else:
                self._redis.set(self._key, pending[1], ex=pending[2])
        except redis.RedisError as exc:
            log.warning("conversation state not saved (%s)", type(exc).__name__)

    def _save(self, state: ConversationState) -> None:
        """Raises :class:`ConversationUnavailable` when Redis cannot take it (deferred: when
        this store's read already failed)."""
        payload = json.dumps({"name": state.name, "step": state.step, "data": state.data},
                             ensure_ascii=False)
        seconds = self.timeouts.get(state.name, self.ttl)
        if self._deferred:
            if self._unreachable:
                raise ConversationUnavailable(state.name)
            self._pending = ("set", payload, seconds)
        else:
            try:
                self._redis.set(self._key, payload, ex=seconds)
            except redis.RedisError as exc:
                raise ConversationUnavailable(state.name, exc) from exc
        self._raw = payload


# -- declared conversations ------------------------------------------------------------------
#: A handler's context (handlers.router.Context; not imported: the router imports this module).
Ctx = Any
#: What a step answers: a reply, a text, or None (the conversation declines the message, which
#: then goes on through the router's rules as a fresh message).
Answer = Any


@dataclass(frozen=True)
class Invalid:
    """A parser's refusal: ``reply`` is the Chinese re-ask; the conversation stays at the step.
    :meth:`Conversation.handle` returns it as it is, so the router can first see whether the
    message is clearly something else (and answer that) before re-asking."""

    reply: str


@dataclass(frozen=True)
class Step:
    """One step of a :class:`Conversation`.

    ``parse(ctx, state)`` reads her message and returns the value, or :class:`Invalid` with the
    re-ask. Then ``then(ctx, state, value)`` answers; without ``then`` the value is saved in
    ``state.data[save_as]`` (default: the step's name) and the conversation moves to ``next``,
    answering that step's prompt. ``prompt`` (a text, or ``state -> text``) is what asks for
    this step. ``passive``: not a form she is filling in (a danger word stopping it is not
    worth telling her about; quit phrases and other intents are not looked for there).
    ``resume``: how to go on with this step, told after another question of hers was answered
    in the middle of it (default: the parser's re-ask).
    """

    name: str
    parse: Callable[[Ctx, ConversationState], Any]
    then: Callable[[Ctx, ConversationState, Any], Answer] | None = None
    prompt: str | Callable[[ConversationState], str] = ""
    save_as: str | None = None
    next: str | None = None
    passive: bool = False
    resume: str = ""

    def ask(self, state: ConversationState) -> str:
        """The prompt of this step for ``state``."""
        return self.prompt(state) if callable(self.prompt) else self.prompt


@dataclass(frozen=True)
class Conversation:
    """A multi-step dialogue declared as data (see the module docstring).

    ``label``: her words for it (「报名」), told when a danger word stops it; ``interruptible``:
    whether a danger word stops it (every conversation but 「求助」, which goes on at its urgent
    step with what she wrote); ``cancel_words``: what leaves it at any step (the router answers
    them); ``timeout``: seconds of silence that end it. ``before(ctx, state)`` runs before every
    step and may answer instead (a reply) or return None to go on to the step; ``on_cancel(ctx,
    state)`` runs when she cancels, before the state is forgotten. ``broken``: the answer (or
    ``ctx -> answer``) when the saved step is unknown; the conversation is ended first.
    ``quit_phrases``: whether a quit phrase (:func:`quits`: 「我不想去了」「不报了」) at a form
    step leaves it like a cancel word (「求助」 says no: her words there are for staff).
    ``cancelled``: what she is told when she leaves with a cancel word or a quit phrase (a
    text, or ``(ctx, state) -> text``; empty: the router's general sentence) — truthful about
    what was and was not saved. ``writes_to_staff``: what she writes in it reaches staff
    (「求助」), so answers given in the middle of it do not offer 「求助」.
    """

    name: str
    steps: tuple[Step, ...] = ()
    label: str = ""
    interruptible: bool = True
    cancel_words: frozenset[str] = CANCEL_WORDS
    timeout: int = CONVERSATION_TTL
    before: Callable[[Ctx, ConversationState], Answer] | None = None
    on_cancel: Callable[[Ctx, ConversationState], None] | None = None
    broken: str | Callable[[Ctx], Answer] = ""
    quit_phrases: bool = True
    cancelled: str | Callable[[Ctx, ConversationState], str] = ""
    writes_to_staff: bool = False

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"conversation {self.name}: two steps share a name")
        for s in self.steps:
            if s.then is None and s.next not in names:
                raise ValueError(f"conversation {self.name}: step {s.name} needs then= or a "
                                 f"next= naming one of its steps")

    def step(self, name: str) -> Step | None:
        """The step called ``name``, or None."""
        return next((s for s in self.steps if s.name == name), None)

    def passive(self, step: str) -> bool:
        """Whether ``step`` is not a form she is filling in (see :attr:`Step.passive`)."""
        found = self.step(step)
        return found is not None and found.passive

    def leaves(self, ctx: Ctx, state: ConversationState) -> bool:
        """Whether her message leaves this conversation: one of its cancel words at any step,
        or a quit phrase (:func:`quits`) at a form step when :attr:`quit_phrases` (quit phrases
        go with the standard cancel words: a conversation that narrowed them has only its own)."""
        if ctx.command_text in self.cancel_words:
            return True
        return (self.quit_phrases and self.cancel_words >= CANCEL_WORDS
                and not self.passive(state.step) and quits(ctx.command_text))

    def cancel_text(self, ctx: Ctx, state: ConversationState) -> str:
        """What she is told when she leaves (:attr:`cancelled`), or "" for the router's own."""
        return self.cancelled(ctx, state) if callable(self.cancelled) else self.cancelled

    def reminder(self, state: ConversationState, refused: Invalid | None = None) -> str:
        """How to go on with the form at ``state``'s step, told below the answer to another
        question of hers: the step's ``resume``, else ``refused`` (the step's re-ask), else
        :data:`GO_ON`."""
        found = self.step(state.step)
        how = (found.resume if found is not None and found.resume else "") \
            or (refused.reply if refused is not None else "") or GO_ON
        if not self.label:  # 「您的还没填完」 reads wrong: just how to go on
            return f"——\n{how}"
        return f"——\n您的「{self.label}」还没填完，{how}"

    def begin(self, ctx: Ctx, step: str | None = None, **data) -> ConversationState:
        """Start this conversation for her at ``step`` (default: the first) with ``data``."""
        return ctx.conversation.start(self.name, step or self.steps[0].name, **data)

    def goto(self, ctx: Ctx, state: ConversationState, step: str, **data) -> str:
        """Move ``state`` to ``step`` (merging ``data``) and return that step's prompt."""
        ctx.conversation.update(state, step=step, **data)
        found = self.step(step)
        return found.ask(state) if found is not None else ""

    def handle(self, ctx: Ctx, state: ConversationState) -> Answer:
        """Answer one message of hers in this conversation (the router calls this); a refused
        answer comes back as the step's :class:`Invalid`."""
        if self.before is not None:
            answer = self.before(ctx, state)
            if answer is not None:
                return answer
        step = self.step(state.step)
        if step is None:
            ctx.conversation.end()
            return self.broken(ctx) if callable(self.broken) else self.broken
        value = step.parse(ctx, state)
        if isinstance(value, Invalid):
            return value  # the router re-asks, unless the message is clearly something else
        if step.then is not None:
            return step.then(ctx, state, value)
        return self.goto(ctx, state, step.next or "", **{step.save_as or step.name: value})
