"""Danger words: a woman who writes 家暴, 打我, 救命, 想不开 ... anywhere, at any time, is answered
at once with 110 and 12338 (and 12356 for distress), before any other rule or conversation.

The words are data: models/data/danger_words.txt plus staff additions in the database
(``taoyuan requests words add``). They are matched anywhere in the normalised message (NFKC,
traditional -> simplified, spaces and punctuation removed); a short list of harmless phrases
(``benign``: 打我电话 "call me") is blanked out first, so anything else in the message still counts.
The message is saved in an urgent help request and on-duty staff are notified at once
(models/help.py); any other conversation she was in (报名, 志愿者 ...) ends, and her
next messages go to the urgent request (handlers/help.py, step ``urgent_more``). The
reply says what became of telling on-duty staff (``models.help.urgent_notice``): being
notified by WeChat, or — no ``[help] on_duty_openids``, dry run, a failed notification, the
request not saved — that nobody sees it at once, and she is asked to call 110 / 12338 / the
federation herself instead of being promised a call. Registered with
``router.intercept(..., stage=Stage.SAFETY)``. Whether the reply says a form was stopped comes
from the conversation's declaration (``interruptible``, ``label``, passive steps), not from a
list kept here.
"""
from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import redis

from bot.core.text import compact
from handlers.router import Context, Router, Stage

log = logging.getLogger(__name__)

DATA_FILE = Path(__file__).resolve().parent.parent / "models" / "data" / "danger_words.txt"
KINDS = ("danger", "distress", "benign")
#: Seconds a matcher (file + database words) is reused before the database is read again.
CACHE_SECONDS = 60
#: Characters kept in the third matching form: CJK, letters and digits (so 救~命 still matches).
_NOT_WORD = re.compile(r"[^\w\u3400-\u9fff]+")
#: 「打我」 followed by a whole phone number is "call me on ..." (有事请打我13812345678); blanked
#: like a benign phrase. A short number (他打我10次) is not a phone number and still counts.
_CALL_ME_NUMBER = re.compile(r"[打拨]我(的)?(电话|手机|号码|手机号)?[:：]?(\+?86)?(1[3-9]\d{9}|0\d{9,11})")


@dataclass(frozen=True)
class DangerMatch:
    """A match: ``kind`` is ``distress`` when any distress word matched, else ``danger``;
    ``words`` the (normalised) words found."""

    kind: str
    words: tuple[str, ...]

    @property
    def distress(self) -> bool:
        return self.kind == "distress"


def load_words(path: Path = DATA_FILE) -> list[tuple[str, str]]:
    """``[(kind, word), ...]`` from the data file; ``#`` comments and blank lines skipped.

    Raises ``ValueError`` naming the line for an unknown kind (a broken file must fail loudly).
    """
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, word = line.partition(" ")
        if kind not in KINDS or not word.strip():
            raise ValueError(f"{path.name}:{n}: expected 'KIND WORD' with KIND in {KINDS}")
        entries.append((kind, word.strip()))
    return entries


def _pattern(word: str) -> str:
    """A word as a regex: ``*`` stands for up to 4 characters (``被*打`` matches 被老公打)."""
    return ".{0,4}?".join(re.escape(part) for part in word.split("*"))


def _alternation(words) -> re.Pattern | None:
    words = sorted(set(words), key=len, reverse=True)
    return re.compile("|".join(_pattern(w) for w in words)) if words else None


def _variants(word: str) -> set[str]:
    """The forms a word is matched in: simplified, as written, and in traditional characters."""
    plain = _plain(word)
    return {f for f in (compact(word), plain, _to_traditional(plain)) if f}


@lru_cache(maxsize=1)
def _s2t():
    from opencc import OpenCC

    return OpenCC("s2t")


def _to_traditional(text: str) -> str:
    return text if text.isascii() else _s2t().convert(text)


class DangerMatcher:
    """Matches danger and distress words in a message (see the module docstring).

    A word may contain ``*`` (up to 4 characters): ``被*打`` matches 被他打, 被老公打.
    """

    #: Short texts repeat (「你好」「帮助」「1」); their answers are kept per matcher (it is
    #: rebuilt every :data:`CACHE_SECONDS`, so a new word is never hidden by an old answer).
    REMEMBER_CHARS, REMEMBER_TEXTS = 32, 4096

    def __init__(self, entries: list[tuple[str, str]]):
        by_kind: dict[str, set[str]] = {k: set() for k in KINDS}
        for kind, word in entries:
            by_kind[kind] |= _variants(word)
        self.words = {k: frozenset(v) for k, v in by_kind.items()}
        self._benign = _alternation(by_kind["benign"])
        self._distress = _alternation(by_kind["distress"])
        self._danger = _alternation(by_kind["danger"])
        self._remembered = functools.lru_cache(maxsize=self.REMEMBER_TEXTS)(self._match)

    def match(self, text: str) -> DangerMatch | None:
        """The danger words found in ``text`` (raw or normalised), or None."""
        if not text:
            return None
        if len(text) <= self.REMEMBER_CHARS:
            return self._remembered(text)
        return self._match(text)

    def _match(self, text: str) -> DangerMatch | None:
        danger: set[str] = set()
        distress: set[str] = set()
        for form in _forms(text):
            form = _CALL_ME_NUMBER.sub("□", form)
            if self._benign is not None:
                form = self._benign.sub("□", form)
            if self._distress is not None:
                distress.update(compact(m) for m in self._distress.findall(form))
            if self._danger is not None:
                danger.update(compact(m) for m in self._danger.findall(form))
        if not danger and not distress:
            return None
        return DangerMatch("distress" if distress else "danger", tuple(sorted(danger | distress)))


def _plain(text: str) -> str:
    """NFKC without the traditional -> simplified step, spaces removed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def _forms(text: str) -> list[str]:
    simplified = compact(text)
    forms = [simplified, _plain(text), _NOT_WORD.sub("", simplified)]
    return list(dict.fromkeys(f for f in forms if f))


def matcher_for(ctx: Context) -> DangerMatcher:
    """The matcher for this deployment: file words + active database words, cached
    :data:`CACHE_SECONDS` seconds per process. A database error falls back to the file alone."""
    from models.safety import active_danger_words

    cached = ctx.services.danger_matcher.get()
    if cached is not None:
        return cached
    entries = list(_file_words())
    try:
        with ctx.session.begin_nested():
            entries += active_danger_words(ctx.session)
    except Exception:  # noqa: BLE001 - never let a table problem silence the file words
        log.exception("danger words: database additions unavailable, using the file only")
    return ctx.services.danger_matcher.set(DangerMatcher(entries), CACHE_SECONDS)


_FILE_CACHE: list[tuple[str, str]] | None = None


def _file_words() -> list[tuple[str, str]]:
    global _FILE_CACHE
    if _FILE_CACHE is None:
        _FILE_CACHE = load_words()
    return _FILE_CACHE


def danger_reply_text(match: DangerMatch, *, ref: str | None, federation_phone: str = "",
                      in_help: bool = False, notice: str = "pending", interrupted: str = "") -> str:
    """The immediate Chinese reply to a danger message (hotlines first); ``ref`` None when the
    request could not be saved (nobody will see it: she is told so); ``in_help``: what she wrote
    in 「求助」 joined the urgent request. ``notice`` is what became of telling on-duty staff
    (``models.help.NOTICE_*``, see ``urgent_notice``): only ``pending`` (being sent
    now) and ``sent`` say they are told; ``unstaffed`` (no ``[help] on_duty_openids``),
    ``dry_run`` (outbox only) and ``failed`` say nobody can see it at once and ask her to call
    110 / 12338 / the federation herself. ``interrupted``: the Chinese name of the form that
    was stopped."""
    from models import help as hr

    lines = ["您的安全最要紧！"]
    if match.distress:
        lines.append("如果您很难受、有轻生的念头，请马上拨打心理援助热线 12356，有人愿意听您说。")
    lines.append("如果正在遭受暴力或有危险，请立即拨打 110 报警。")
    lines.append("全国妇联妇女维权热线：12338")
    if federation_phone:
        lines.append(f"永春县妇联电话：{federation_phone}")
    reaches = notice in (hr.NOTICE_PENDING, hr.NOTICE_SENT)
    if not ref:
        lines.append("系统出了故障，您的消息没能保存，工作人员看不到。请您直接拨打上面的电话，"
                     "会有人马上帮您。")
    elif not reaches:
        why = {hr.NOTICE_DRY_RUN: "但系统现在是演练模式，不会真正通知值班人员",
               hr.NOTICE_FAILED: "但通知值班人员没有成功"}.get(notice, "但现在没有值班人员能马上看到")
        lines.append(f"您的消息已保存（编号 {ref}），{why}，工作人员上班时在后台能看到。"
                     "请您直接拨打上面的电话，会有人马上帮您。")
    elif notice == hr.NOTICE_SENT:
        lines.append(f"我们已把您的消息标为紧急（编号 {ref}），已通过微信通知值班人员，"
                     "他们会尽快联系您。")
    else:
        lines.append(f"我们已把您的消息标为紧急（编号 {ref}），正在通过微信通知值班人员，"
                     "他们收到后会尽快联系您。")
    if interrupted:
        lines.append(f"（刚才的{interrupted}已先停下，之后可以重新开始。）")
    if in_help and ref:
        lines.append("您刚才在「求助」里写的内容已一并记入这条紧急求助。")
    if ref and not reaches:
        lines.append("您也可以发手机号码和所在乡镇，记入这条紧急求助，工作人员看到后会联系您。")
    elif ref:
        lines.append("方便的话，请直接发您的手机号码和所在乡镇；还想说的也可以继续发，"
                     "都会记入这条紧急求助，值班人员在后台能看到。")
    return "\n".join(lines)


def register(router: Router) -> None:
    """Add the danger-word interceptor (stage SAFETY: before conversations and every rule)."""
    DangerMatcher(_file_words())  # load the word file and OpenCC now, not on her first message

    def check(ctx: Context) -> DangerMatch | None:
        if ctx.update.msg_type not in ("text", "voice") or not ctx.compact_text:
            return None
        try:
            return matcher_for(ctx).match(ctx.update.text)
        except Exception:  # noqa: BLE001 - a broken data file must not break every message
            log.exception("danger word matching failed")
            return None

    @router.intercept(check, stage=Stage.SAFETY)
    def danger_words(ctx: Context):
        from handlers.help import federation_phone

        match: DangerMatch = ctx.match
        phone = federation_phone(ctx)
        try:
            ref, notice, in_help, interrupted = _record(ctx, match)
        except Exception:  # noqa: BLE001 - she gets the hotlines even if the database fails
            log.exception("danger words: the urgent request could not be saved")
            return danger_reply_text(match, ref=None, federation_phone=phone)
        return danger_reply_text(match, ref=ref, federation_phone=phone, in_help=in_help,
                                 notice=notice, interrupted=interrupted)


def _record(ctx: Context, match: DangerMatch) -> tuple[str, str, bool, str]:
    """Save the message in an urgent request (savepoint), notify staff after the commit, and
    keep her next messages for it. Returns (reference, what became of telling on-duty staff
    (``NOTICE_*``), whether a 求助 conversation goes on, the Chinese name of another
    conversation that was ended, or "").

    Any conversation (报名, 志愿者 ..., and 「求助」 too, whose draft joined the urgent request)
    ends here: what she sends next (her phone, where she is) belongs to the urgent request at
    once, not to a form's name, phone or message step.
    """
    from models.help import NOTICE_FAILED, NOTICE_PENDING, flag_urgent, help_settings

    from handlers.help_messages import notify_after_commit

    from handlers.help import CONVERSATION, notice_of

    settings = help_settings(ctx.services.config)
    try:
        state = ctx.conversation.get()
    except redis.RedisError:
        state = None
    in_help = state is not None and state.name == CONVERSATION
    draft_id = state.data.get("draft_id") if in_help else None
    category = state.data.get("category") if in_help else None
    with ctx.session.begin_nested():
        flag = flag_urgent(ctx.session, ctx.openid, ctx.update.text, distress=match.distress,
                           now=ctx.now, merge_hours=settings.urgent_merge_hours,
                           draft_id=draft_id, category=category)
    row = flag.request
    notice = notice_of(ctx, row)
    if flag.notify:
        notify_after_commit(ctx.services, ctx.session, row.id)
        if notice == NOTICE_FAILED:
            notice = NOTICE_PENDING  # a new attempt starts after the commit
    log.warning("danger words in a message: help request %s (%s)", row.id, match.kind)
    try:
        return (row.ref, notice, *_follow_up(ctx, row.id))
    except redis.RedisError as exc:  # saved and staff told; only her next messages are not kept
        log.warning("danger words: no urgent follow-up for request %s (%s)", row.id,
                    type(exc).__name__)
        return row.ref, notice, False, ""


def _follow_up(ctx: Context, request_id: int) -> tuple[bool, str]:
    """Point her next messages at urgent request ``request_id``; see :func:`_record`."""
    from handlers.help import CONVERSATION, STEP_URGENT_MORE

    state = ctx.conversation.get()
    in_help = (state is not None and state.name == CONVERSATION and state.step != STEP_URGENT_MORE
               and bool(state.data.get("draft_id")))
    interrupted = ""
    if state is not None and state.name != CONVERSATION:
        spec = ctx.router.conversations.get(state.name) if ctx.router is not None else None
        if spec is not None and spec.interruptible and not spec.passive(state.step):
            interrupted = spec.label
        log.info("danger words: conversation %s ended for the urgent follow-up", state.name)
    ctx.conversation.start(CONVERSATION, STEP_URGENT_MORE, urgent_id=request_id)
    return in_help, interrupted
