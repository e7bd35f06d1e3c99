"""Conversation state for multi-step dialogues (signup, volunteer registration, help requests).

State lives in Redis keyed by openid, so it survives a restart and works when her next message
lands on another worker process. It expires after :data:`CONVERSATION_TTL` seconds of silence,
after which her next message is treated fresh. A conversation handler is a small state machine:

    @router.on_conversation("signup")
    def signup_step(ctx, state):          # state: ConversationState
        if state.step == "phone": ...
            ctx.conversation.update(state, step="consent", phone=...)
            return "请回复「同意」..."
        ctx.conversation.end()

The router handles 「取消」/「退出」 for every conversation before the handler sees them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import redis

from bot.wechat.dedup import UNREAD  # a store whose value has not been read from Redis yet
from bot.core.kv import Keys

#: Ten minutes of silence end a conversation (seconds).
CONVERSATION_TTL = 600


#: Words that leave any conversation at any step (normalised text, exact match).
CANCEL_WORDS = frozenset({"取消", "退出", "不要了", "算了", "结束"})


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
    """

    def __init__(self, client: redis.Redis, keys: Keys, openid: str, ttl: int = CONVERSATION_TTL,
                 prefetched=UNREAD):
        self._redis = client
        self._key = keys("conv", openid)
        self.ttl = ttl
        self._raw = prefetched

    @property
    def key(self) -> str:
        """The Redis key of this conversation."""
        return self._key

    def get(self) -> ConversationState | None:
        """The active conversation, or None (none, expired, or unreadable)."""
        if self._raw is UNREAD:
            self._raw = self._redis.get(self._key)
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
        """Begin conversation ``name`` at ``step`` (replacing any other)."""
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
        """Forget the conversation."""
        self._redis.delete(self._key)
        self._raw = None

    def _save(self, state: ConversationState) -> None:
        payload = json.dumps({"name": state.name, "step": state.step, "data": state.data},
                             ensure_ascii=False)
        self._redis.set(self._key, payload, ex=self.ttl)
        self._raw = payload
