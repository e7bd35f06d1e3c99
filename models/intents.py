"""Understanding what she means: free-form Chinese messages -> an intent, slots and a danger score.

The classifier is built from reviewable examples (``models/data/intents/<intent>.txt``, one
phrasing a line) plus the sentences staff taught in the console (table ``intent_examples``):
jieba words (with a user dictionary of towns, villages and service words) and character
1-3-grams, TF-IDF weighted (sublinear tf, l2), and a multinomial logistic regression
(scikit-learn) whose probabilities are the confidences. Nothing is downloaded: the model is
built from the shipped files at first use (about a second) and kept per process and database.

Every teach (:func:`teach`) and :func:`retrain` bumps a model version, stored in the database
(``intent_model_version``) and mirrored in Redis (``<prefix>intents:version``) for a cheap check;
each process looks at most every :data:`VERSION_CHECK_SECONDS` and rebuilds (in a background
thread, answering with the previous model meanwhile) when it changed, so every worker uses a
taught sentence within a minute.

The class ``none`` (``none.txt``: chit-chat, off-topic, and harmless sentences with 打/杀/死/锁/跳)
is learned but never returned: its probability only lowers every real intent's confidence.

Given the Services (``kv=services``), a build is also kept under ``<instance>/cache/`` as plain
arrays (``intents-<hash>.npz``, no pickles), the hash covering the examples, the taught
sentences and this code: the next process loads it in milliseconds without importing
scikit-learn (about 100 MB less per worker).

Classification (after the build) never touches scikit-learn: the TF-IDF weights and the
coefficients are copied into plain arrays, so one message costs a jieba cut, a few dictionary
look-ups and a small dot product (well under a millisecond, bench/understanding.py).
"""
from __future__ import annotations

import calendar
import hashlib
import json
import logging
import math
import re
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from sqlalchemy import Float, Integer, String, Text, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.core.db import OnDemandSession
from bot.core.geo import TOWNS
from bot.core.logging import mask_personal
from bot.core.text import normalize
from models.activities import CATEGORIES
from models.base import AwareDateTime, Base, utcnow
from models.directory_synonyms import synonyms

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data" / "intents"

#: intent -> short Chinese label (clarifying questions, suggestions, the console).
INTENTS: dict[str, str] = {
    "directory_need": "找服务点",
    "directory_town": "查乡镇服务点",
    "directory_nearby": "找附近服务点",
    "mediation": "家庭矛盾调解",
    "activities": "近期活动",
    "signup": "活动报名",
    "my_signups": "我的报名",
    "signup_cancel": "取消报名",
    "haircut": "爱心义剪",
    "volunteer": "当志愿者",
    "volunteer_hours": "志愿时长",
    "help": "留言求助",
    "my_requests": "查看回复",
    "subscribe": "订阅提醒",
    "unsubscribe": "取消提醒",
    "columns": "栏目文章",
    "privacy_delete": "删除我的信息",
    "human": "转人工",
    "contact": "妇联联系方式",
    "usage": "使用说明",
    "greeting": "打招呼",
    "thanks": "道谢",
    "goodbye": "再见",
    "bot_identity": "问我是谁",
    "danger": "紧急求助",
}

#: The learned "not for us" class (``none.txt``); never returned as an intent.
NONE = "none"

#: Answer directly when the best intent's probability is at least this.
CONFIDENT = 0.5
#: Ask a clarifying question when the second intent is within this of the first (and the first
#: is not confident, or both are close above :data:`CLOSE_FLOOR`).
CLOSE_MARGIN = 0.15
#: Below CONFIDENT, a second intent this likely is worth offering as a choice.
CLOSE_FLOOR = 0.2
#: The safety net: a danger probability at or above this gets the hotlines. Chosen on the
#: engine's own cross-validation split (bench/understanding.py --dev): 100 % recall on the
#: danger paraphrases, no alarm on none.txt's harmless 打/杀/死/锁/跳 sentences.
DANGER_THRESHOLD = 0.3

#: Seconds between two looks at the model version (per process and database).
VERSION_CHECK_SECONDS = 5.0
#: Weight of a staff-taught sentence against one shipped phrasing.
TAUGHT_WEIGHT = 3.0
#: Regularisation of the logistic regression (larger = fits the examples more closely).
C = 20.0

STATUS_OPEN, STATUS_ASSIGNED, STATUS_IGNORED = "open", "assigned", "ignored"
#: Longest unmatched text kept (characters, after masking).
MAX_TEXT = 200


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Slots:
    """What the sentence names besides the intent (all optional).

    ``town``: a canonical town of :data:`bot.core.geo.TOWNS` (桃城 / 桃成 / 县城 -> 桃城镇; a
    known village gives its town). ``need``: a word the directory understands
    (``models.directory_synonyms.synonyms().parse(need)``), the canonical need or kind name
    (调解 -> 矛盾调解, 微家 -> 妇女微家). ``category``: one of
    :data:`models.activities.CATEGORIES` (义剪 -> 爱心义剪). ``date_from``/``date_to``: the
    inclusive day range a date word names, resolved against ``today`` (明天; 这周末 -> Sat..Sun;
    下个月 -> its first..last day; 17号 -> the next 17th, this month's if not past).
    """

    town: str | None = None
    need: str | None = None
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class Prediction:
    """One message understood.

    ``intent``: the best intent of :data:`INTENTS` (None only for an empty or unusable text,
    e.g. punctuation alone); ``confidence``: its probability (0..1); ``ranked``: every intent of
    :data:`INTENTS` with its probability, best first (they sum to at most 1: the learned
    ``none`` class takes the rest); ``danger``: the probability of ``danger`` (compare with
    :data:`DANGER_THRESHOLD`); ``slots``: :func:`extract_slots`.
    """

    intent: str | None
    confidence: float
    ranked: tuple[tuple[str, float], ...]
    slots: Slots
    danger: float

    @property
    def confident(self) -> bool:
        """True when the stage should answer the best intent without asking."""
        return self.intent is not None and self.confidence >= CONFIDENT

    @property
    def close(self) -> tuple[str, ...]:
        """The intents worth offering in a clarifying question (two or three), or ``()`` when
        the best is clear or nothing is likely enough."""
        if self.intent is None or len(self.ranked) < 2:
            return ()
        best = self.ranked[0][1]
        picks = [i for i, p in self.ranked[:3] if p >= CLOSE_FLOOR and best - p <= CLOSE_MARGIN]
        return tuple(picks) if len(picks) >= 2 else ()

    @property
    def alarming(self) -> bool:
        """True when the safety net should answer with the hotlines."""
        return self.danger >= DANGER_THRESHOLD


# --------------------------------------------------------------------------------------------
# Text and slots

_NOISE = re.compile(r"[\W_]+")


def prepare(text: str) -> str:
    """The form the classifier sees: :func:`bot.core.text.normalize` (NFKC, simplified), lower
    case, and every space, punctuation mark and emoji dropped (voice input puts them anywhere)."""
    return _NOISE.sub("", normalize(text or "").lower())


#: Typos and other names of towns beside ``synonyms.json`` (its aliases are used too).
_TOWN_EXTRA = {
    "坑子口": "坑仔口镇", "坑子口镇": "坑仔口镇", "坑仔口乡": "坑仔口镇", "坑口": "坑仔口镇",
    "桃成": "桃城镇", "桃成镇": "桃城镇", "陶城": "桃城镇", "城里": "桃城镇",
    "五里接": "五里街镇", "五里街道": "五里街镇", "五里": "五里街镇",
    "古山": "岵山镇", "户山": "岵山镇", "湖山": "岵山镇",
    "仙峡": "仙夹镇", "仙甲": "仙夹镇",
    "达铺": "达埔镇", "大埔": "达埔镇",
    "蓬湖": "蓬壶镇", "朋壶": "蓬壶镇",
    "玉豆": "玉斗镇", "苏坑乡": "苏坑镇",
    "介福镇": "介福乡", "吾峰乡": "吾峰镇", "五峰": "吾峰镇",
    "东平乡": "东平镇", "东关乡": "东关镇", "湖阳": "湖洋镇",
    "外山镇": "外山乡", "锦斗乡": "锦斗镇", "金斗": "锦斗镇",
    "桂阳": "桂洋镇", "呈祥镇": "呈祥乡", "成祥": "呈祥乡",
    "下洋乡": "下洋镇", "横口镇": "横口乡", "一都乡": "一都镇", "依都": "一都镇",
}
#: Villages and communities named in the seed data whose town is known.
_VILLAGES = {"诗元村": "坑仔口镇", "诗元": "坑仔口镇"}

#: Activity words -> a category of models.activities.CATEGORIES (longest word wins).
_CATEGORY_WORDS = {
    "爱心义剪": ("义剪", "议剪", "义煎", "理发", "剪头", "剪发", "剃头", "理髮"),
    "家政培训": ("家政", "月嫂", "育婴", "育儿嫂", "保洁"),
    "电商直播培训": ("电商", "直播", "带货", "网店", "短视频"),
    "近邻课堂": ("近邻课堂", "近邻学堂", "学堂"),
    "亲子早教": ("早教", "亲子"),
    "巾帼宣讲": ("宣讲",),
    "普法宣传": ("普法", "法律讲座", "法治讲座"),
    "徒步": ("徒步", "爬山", "健步走"),
}
#: Directory kinds too generic to be a need (县妇联's aliases: 你们, 妇联).
_GENERIC_KINDS = frozenset({"县妇联", "乡镇妇联"})


@dataclass(frozen=True)
class _Lexicon:
    towns: tuple[tuple[str, str], ...]       # (word, canonical town), longest first
    needs: tuple[tuple[str, str], ...]       # (word, need or kind), longest first
    categories: tuple[tuple[str, str], ...]  # (word, category), longest first
    words: tuple[str, ...]                   # jieba user dictionary


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    syn = synonyms()
    towns = {t: t for t in TOWNS}
    towns.update({w: t for w, t in syn.towns.items() if len(w) >= 2})
    towns.update(_TOWN_EXTRA)
    towns.update(_VILLAGES)
    needs = {w: n for w, n in syn.needs.items() if len(w) >= 2}
    for word, kind in syn.kinds.items():
        if kind not in _GENERIC_KINDS and len(word) >= 2:
            needs.setdefault(word, kind)
    needs.update({"心理疏导": "心理疏导", "心理咨询": "心理疏导", "心理辅导": "心理疏导",
                  "心里疏导": "心理疏导", "调节室": "调解室", "掉解室": "调解室",
                  "法律咨寻": "政策法律"})
    needs = {w: n for w, n in needs.items() if w not in ("志愿", "志愿服务")}
    cats = {w: c for c, ws in _CATEGORY_WORDS.items() for w in ws}
    cats.update({c: c for c in CATEGORIES})
    service = ("义剪", "志愿者", "志愿时长", "转人工", "人工客服", "调解室", "评理室", "妇女微家",
               "服务点", "近邻娘家", "订阅", "退订", "往期", "改革破难", "报名", "取消报名",
               "妇联", "留言", "求助", "回复", "家暴", "不想活", "婆媳", "机器人", "联系方式")
    words = tuple(sorted(set(towns) | set(needs) | set(cats) | set(service)))

    def longest(d: dict[str, str]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(d.items(), key=lambda kv: (-len(kv[0]), kv[0])))

    return _Lexicon(longest(towns), longest(needs), longest(cats), words)


def _find(pairs: tuple[tuple[str, str], ...], text: str) -> str | None:
    for word, value in pairs:
        if word in text:
            return value
    return None


_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9, "十": 10, "日": 7, "天": 7, "末": 6}
_NUM = r"(\d{1,2}|[一二三四五六七八九十]{1,3})"
_MONTH_DAY = re.compile(_NUM + r"月" + _NUM + r"[日号號]?")
_DAY = re.compile(r"(?<![\d月])" + _NUM + r"[日号號]")
_WEEKDAY = re.compile(r"(这|本|下下|下|上)?(?:个)?(?:周|星期|礼拜|禮拜)([一二三四五六日天末1-7])")


def _cn_number(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    if s == "十":
        return 10
    if s.startswith("十"):
        return 10 + _CN_DIGITS.get(s[1:], 0)
    if s.endswith("十"):
        return _CN_DIGITS.get(s[:-1], 0) * 10
    if "十" in s:
        a, b = s.split("十", 1)
        return _CN_DIGITS.get(a, 0) * 10 + _CN_DIGITS.get(b, 0)
    return _CN_DIGITS.get(s) if len(s) == 1 else None


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _next_month(d: date) -> date:
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1)


def _day_in_month(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dates(text: str, today: date) -> tuple[date | None, date | None]:
    """The day range a date word in ``text`` names (see :class:`Slots`)."""
    monday = today - timedelta(days=today.weekday())
    m = _MONTH_DAY.search(text)
    if m:
        month, day = _cn_number(m.group(1)), _cn_number(m.group(2))
        if month and day and 1 <= month <= 12:
            found = _day_in_month(today.year, month, day)
            if found and found < today - timedelta(days=31):
                found = _day_in_month(today.year + 1, month, day)
            if found:
                return found, found
    m = _DAY.search(text)
    if m:
        day = _cn_number(m.group(1))
        if day and 1 <= day <= 31:
            month_start = today.replace(day=1)
            if "下个月" in text or "下月" in text or day < today.day:
                month_start = _next_month(month_start)
            for _ in range(3):  # 30号 on 28 February: the next month that has a 30th
                found = _day_in_month(month_start.year, month_start.month, day)
                if found:
                    return found, found
                month_start = _next_month(month_start)
    for word, offset in (("大后天", 3), ("后天", 2), ("明天", 1), ("明日", 1), ("今天", 0),
                         ("今日", 0), ("今晚", 0), ("今早", 0)):
        if word in text:
            d = today + timedelta(days=offset)
            return d, d
    m = _WEEKDAY.search(text)
    if m:
        which, day = m.group(1) or "", m.group(2)
        weeks = {"下下": 2, "下": 1, "上": -1}.get(which, 0)
        start = monday + timedelta(weeks=weeks)
        if day == "末":
            sat = start + timedelta(days=5)
            if not which and sat + timedelta(days=1) < today:
                sat += timedelta(weeks=1)
            return max(sat, today) if weeks == 0 else sat, sat + timedelta(days=1)
        n = int(day) if day.isdigit() else _CN_DIGITS[day]
        d = start + timedelta(days=n - 1)
        if which in ("", "这", "本") and d < today:  # 「这周六」 said on Sunday: the coming one
            d += timedelta(weeks=1)
        return d, d
    for words, weeks in ((("下下周", "下下个星期", "下下礼拜"), 2),
                         (("下周", "下个星期", "下星期", "下礼拜", "下个礼拜", "下一周"), 1),
                         (("这周", "本周", "这个星期", "这星期", "这礼拜", "这个礼拜", "这一周"), 0)):
        if any(w in text for w in words):
            start = monday + timedelta(weeks=weeks)
            return max(start, today), start + timedelta(days=6)
    if "周末" in text or "礼拜六礼拜日" in text:
        sat = monday + timedelta(days=5)
        return max(sat, today), sat + timedelta(days=1)
    if "下个月" in text or "下月" in text:
        first = _next_month(today)
        return first, _month_end(first)
    if "这个月" in text or "本月" in text or "这月" in text:
        return today, _month_end(today)
    return None, None


def extract_slots(text: str, *, today: date) -> Slots:
    """Town, need, activity category and date range named in ``text`` (see :class:`Slots`).

    ``today``: her local date (Asia/Shanghai), which date words are resolved against. Never
    raises; unknown words leave a slot None.
    """
    p = prepare(text)
    if not p:
        return Slots()
    lex = _lexicon()
    date_from, date_to = _dates(p, today)
    return Slots(town=_find(lex.towns, p), need=_find(lex.needs, p),
                 category=_find(lex.categories, p), date_from=date_from, date_to=date_to)


def find_town(text: str) -> str | None:
    """The town of :data:`bot.core.geo.TOWNS` that ``text`` names, found as :func:`extract_slots`
    finds its ``town``: full and short names, traditional forms, typos, the known villages
    (「我在達埔」「达铺」「住在蓬壶」 -> 达埔镇 / 蓬壶镇); None when it names none."""
    p = prepare(text)
    return _find(_lexicon().towns, p) if p else None


#: The safety word list (handlers/safety.py answers its matches first); the classifier uses it
#: only as a feature, so paraphrases near a listed word lean to danger.
DANGER_WORDS_FILE = Path(__file__).resolve().parent / "data" / "danger_words.txt"


@lru_cache(maxsize=1)
def _danger_cues() -> tuple[re.Pattern | None, re.Pattern | None]:
    """(danger-or-distress pattern, benign pattern) from :data:`DANGER_WORDS_FILE`; ``*`` in a
    word stands for up to 4 characters, as in the safety matcher."""
    words: dict[str, list[str]] = {"danger": [], "benign": []}
    for line in DANGER_WORDS_FILE.read_text(encoding="utf-8").splitlines():
        kind, _, word = line.strip().partition(" ")
        parts = [prepare(part) for part in word.strip().split("*")]
        if line.startswith("#") or kind not in ("danger", "distress", "benign") or not any(parts):
            continue
        pattern = ".{0,4}".join(re.escape(part) for part in parts)
        words["benign" if kind == "benign" else "danger"].append(pattern)

    def alternation(items: list[str]) -> re.Pattern | None:
        return re.compile("|".join(sorted(set(items), key=len, reverse=True))) if items else None

    return alternation(words["danger"]), alternation(words["benign"])


def _markers(p: str) -> list[str]:
    """Slot-type markers added to the features (a town named, a need, a date word ...), so one
    phrasing with 桃城 teaches the model about every town; ``#dw``/``#bw`` when a word of the
    safety list (danger or distress / benign) is in the text."""
    lex = _lexicon()
    out = []
    danger, benign = _danger_cues()
    if benign is not None and benign.search(p):
        out.append("#bw")
        p_cut = benign.sub("|", p)
    else:
        p_cut = p
    if danger is not None and danger.search(p_cut):
        out.append("#dw")
    if _find(lex.towns, p):
        out.append("#town")
    if _find(lex.needs, p):
        out.append("#need")
    if _find(lex.categories, p):
        out.append("#cat")
    if any(ch.isdigit() for ch in p):
        out.append("#num")
    return out


# --------------------------------------------------------------------------------------------
# Features and the model

_jieba_lock = threading.Lock()


#: jieba's own dictionary words kept (frequency at least this: the ~50 000 commonest of its
#: 349 000), so the tokenizer costs a few MB and a tenth of a second instead of 70 MB and 1 s.
JIEBA_MIN_FREQ = 50


@lru_cache(maxsize=1)
def _tokenizer():
    """A jieba tokenizer on the commonest words of jieba's shipped dictionary plus the user
    dictionary (towns, villages, need and service words); built once per process, quiet."""
    import io

    import jieba

    with _jieba_lock:
        jieba.setLogLevel(logging.WARNING)
        kept = []
        with open(Path(jieba.__file__).resolve().parent / "dict.txt", "rb") as fh:
            for line in fh:
                parts = line.split(b" ")
                if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= JIEBA_MIN_FREQ:
                    kept.append(line)
        tk = jieba.Tokenizer()
        # jieba 0.42 reads its whole dictionary (and caches it in the temp folder) on
        # initialize(); a smaller one is given through the same parser instead.
        tk.FREQ, tk.total = tk.gen_pfdict(io.BytesIO(b"".join(kept)))
        tk.initialized = True
        for word in _lexicon().words:
            tk.add_word(word, freq=20000)
    return tk


def _features(p: str) -> list[str]:
    """Features of a prepared text: character 1-3-grams, jieba words (``w:``) and slot markers."""
    grams = [p[i:i + n] for n in (1, 2, 3) for i in range(len(p) - n + 1)]
    words = ["w:" + w for w in _tokenizer().lcut(p, HMM=False) if w.strip()]
    return grams + words + _markers(p)


def _read_examples(directory: Path = DATA_DIR) -> list[tuple[str, str]]:
    """``(text, intent)`` for every line of ``<intent>.txt`` in ``directory`` (``#`` lines and
    blank lines skipped). Raises ValueError for a file whose name is not an intent or ``none``."""
    out = []
    for path in sorted(directory.glob("*.txt")):
        intent = path.stem
        if intent not in INTENTS and intent != NONE:
            raise ValueError(f"{path.name}: unknown intent {intent!r}")
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append((line, intent))
    return out


@lru_cache(maxsize=1)
def shipped_examples() -> tuple[tuple[str, str], ...]:
    """The shipped examples ``(text, intent)`` (cached for the process)."""
    return tuple(_read_examples())


class Model:
    """A trained classifier in plain arrays: ``proba(prepared_text)`` -> probabilities over
    :attr:`labels` (every intent plus ``none``).

    ``version``: the model version it was built for; ``taught``: prepared taught text -> the
    intent staff gave it (answered as is, confidence 1); ``build_seconds``: how long it took.
    """

    def __init__(self, labels: tuple[str, ...], vocab: dict[str, int], idf: np.ndarray,
                 coef: np.ndarray, intercept: np.ndarray, *, version: int = 0,
                 taught: dict[str, str] | None = None, build_seconds: float = 0.0,
                 examples: int = 0):
        self.labels = labels
        self.vocab = vocab
        self.idf = idf
        self.coef = coef            # (n_features, n_labels), float64
        self.intercept = intercept  # (n_labels,)
        self.version = version
        self.taught = taught or {}
        self.build_seconds = build_seconds
        self.examples = examples
        self.index = {label: i for i, label in enumerate(labels)}

    def proba(self, p: str) -> np.ndarray:
        """Probabilities (sum 1) over :attr:`labels` for prepared text ``p``."""
        counts = Counter(f for f in _features(p) if f in self.vocab)
        if not counts:
            scores = self.intercept
        else:
            idx = np.fromiter((self.vocab[f] for f in counts), dtype=np.intp, count=len(counts))
            tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64,
                             count=len(counts))
            w = tf * self.idf[idx]
            w /= math.sqrt(float(w @ w))
            scores = w @ self.coef[idx] + self.intercept
        e = np.exp(scores - scores.max())
        return e / e.sum()


def build_model(extra: Iterable[tuple[str, str]] = (), *, version: int = 0,
                examples: Iterable[tuple[str, str]] | None = None) -> Model:
    """Train a :class:`Model` on the shipped examples (or ``examples``) plus ``extra``
    (staff-taught ``(text, intent)``, weighted :data:`TAUGHT_WEIGHT`). About a second; nothing
    is downloaded. Raises ValueError when fewer than two classes have examples."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    base = list(shipped_examples() if examples is None else examples)
    extra = [(t, i) for t, i in extra if i in INTENTS]
    rows = [(prepare(t), i, 1.0) for t, i in base] + [(prepare(t), i, TAUGHT_WEIGHT) for t, i in extra]
    rows = [r for r in rows if r[0]]
    texts, labels, weights = zip(*rows)
    if len(set(labels)) < 2:
        raise ValueError("need examples of at least two intents")
    vec = TfidfVectorizer(analyzer=_features, sublinear_tf=True, norm="l2")
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=C, solver="saga", max_iter=5000, tol=1e-4, class_weight="balanced", random_state=0)
    clf.fit(x, labels, sample_weight=np.asarray(weights))
    classes = tuple(str(c) for c in clf.classes_)
    model = Model(classes, {str(k): int(v) for k, v in vec.vocabulary_.items()},
                  np.asarray(vec.idf_, dtype=np.float64),
                  np.ascontiguousarray(clf.coef_.T, dtype=np.float64),
                  np.asarray(clf.intercept_, dtype=np.float64), version=version,
                  taught={prepare(t): i for t, i in extra}, examples=len(rows))
    model.build_seconds = time.perf_counter() - started
    return model


def predict(model: Model, text: str, *, today: date) -> Prediction:
    """Classify ``text`` with ``model`` (no database, no version check); see :func:`classify`."""
    slots = extract_slots(text, today=today)
    p = prepare(text)
    if not p or (len(p) == 1 and p not in model.taught):
        # 「我」「他」: a lone character says nothing yet (voice input often sends a first word
        # alone); the danger words still catch the one-character cries for help.
        return Prediction(None, 0.0, (), slots, 0.0)
    probs = model.proba(p)
    pairs = [(label, float(probs[i])) for i, label in enumerate(model.labels) if label in INTENTS]
    taught = model.taught.get(p)
    if taught is not None:
        pairs = [(label, 1.0 if label == taught else 0.0) for label, _ in pairs]
        if not any(label == taught for label, _ in pairs):
            pairs.append((taught, 1.0))
    missing = [i for i in INTENTS if i not in {label for label, _ in pairs}]
    pairs += [(i, 0.0) for i in missing]
    pairs.sort(key=lambda lp: (-lp[1], lp[0]))
    danger = dict(pairs).get("danger", 0.0)
    best, confidence = pairs[0]
    return Prediction(best, confidence, tuple(pairs), slots, danger)


# --------------------------------------------------------------------------------------------
# Tables


class UnmatchedMessage(Base):
    """A message the bot did not understand, masked (no openid), counted by its text.

    ``status``: ``open`` (waits for staff), ``assigned`` (taught as ``intent``) or
    ``ignored``. ``guess``/``confidence``: the model's best intent when it was last seen.
    """

    __tablename__ = "intent_unmatched"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(MAX_TEXT), unique=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(AwareDateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(AwareDateTime(timezone=True), default=utcnow,
                                                index=True)
    guess: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_OPEN, index=True)
    intent: Mapped[str | None] = mapped_column(String(32))


class TaughtExample(Base):
    """A sentence staff assigned to an intent (console 「没听懂的话」): trained on from then on."""

    __tablename__ = "intent_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(32))
    staff: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """One row (id 1): the model version, bumped by every teach and retrain."""

    __tablename__ = "intent_model_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(timezone=True), default=utcnow)


# --------------------------------------------------------------------------------------------
# The per-process model, kept per database


def _kv_parts(kv: Any) -> tuple[Any, str] | None:
    """(redis client, key) from ``kv``: a Services-like object (``.redis`` and ``.keys``) or a
    bare Redis client (key ``taoyuan:intents:version``); None without one."""
    if kv is None:
        return None
    if hasattr(kv, "redis") and hasattr(kv, "keys") and callable(kv.keys):
        return kv.redis, kv.keys("intents", "version")
    return kv, "taoyuan:intents:version"


def _kv_get(kv: Any) -> int | None:
    parts = _kv_parts(kv)
    if parts is None:
        return None
    client, key = parts
    try:
        value = client.get(key)
    except Exception:  # noqa: BLE001 - Redis down: the database answers
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _kv_set(kv: Any, version: int, *, only_if_absent: bool = False) -> None:
    parts = _kv_parts(kv)
    if parts is None:
        return
    client, key = parts
    try:
        client.set(key, int(version), nx=only_if_absent)
    except Exception:  # noqa: BLE001 - the database stays the truth; others see it there
        log.warning("intents: could not store the model version in Redis")


def model_version(session: Session) -> int:
    """The model version in the database (0 before anything was taught)."""
    return int(session.scalar(select(ModelVersion.version).where(ModelVersion.id == 1)) or 0)


def taught_examples(session: Session) -> list[tuple[str, str]]:
    """Every staff-taught ``(text, intent)``, oldest first."""
    return [(t, i) for t, i in session.execute(
        select(TaughtExample.text, TaughtExample.intent).order_by(TaughtExample.id))]


@dataclass
class _Slot:
    model: Model | None = None
    checked_at: float = 0.0
    kv_seen: int | None = None
    building: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_base_lock = threading.Lock()
_base: list[Model] = []
_slots: "weakref.WeakKeyDictionary[Any, _Slot]" = weakref.WeakKeyDictionary()
_slots_lock = threading.Lock()


def base_model(cache_dir: Path | None = None) -> Model:
    """The model of the shipped examples alone, made on first use and kept for the process.

    With ``cache_dir`` (``<instance>/cache``, see :func:`cache_dir_of`) the first use loads the
    cached arrays (tens of milliseconds) when they match this code and data, and otherwise
    builds (seconds of CPU) and writes them, so the next worker process to start loads them.
    """
    if not _base:
        with _base_lock:
            if not _base:
                model = load_cached(cache_dir, ()) if cache_dir is not None else None
                if model is None:
                    model = build_model()
                    if cache_dir is not None:
                        save_cached(model, cache_dir, ())
                _base.append(model)
    return _base[0]


def _engine_of(session: Any) -> Any:
    if isinstance(session, OnDemandSession):
        return session.engine
    return session.get_bind().engine


def _real(session: Any) -> Session:
    return session.get() if isinstance(session, OnDemandSession) else session


def _slot_for(engine: Any) -> _Slot:
    slot = _slots.get(engine)
    if slot is None:
        with _slots_lock:
            slot = _slots.setdefault(engine, _Slot())
    return slot


def _install(slot: _Slot, version: int, taught: list[tuple[str, str]],
             cache_dir: Path | None = None) -> Model:
    if not taught:  # the process's model of the shipped examples, made (or loaded) at most once
        model = _with_version(base_model(cache_dir), version)
    else:
        model = load_cached(cache_dir, taught, version=version) if cache_dir is not None else None
        if model is None:
            model = build_model(taught, version=version)
            if cache_dir is not None:
                save_cached(model, cache_dir, taught)
    slot.model = model
    return model


#: Bumped when the cached arrays' layout changes.
CACHE_FORMAT = 1


def _cache_path(cache_dir: Path, taught: Iterable[tuple[str, str]]) -> Path:
    """``<cache_dir>/intents-<hash>.npz``: the hash covers the shipped examples, the taught
    ones, this module's code, the safety word list and jieba's dictionary size."""
    digest = hashlib.sha256()
    digest.update(data_fingerprint(taught).encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(DANGER_WORDS_FILE.read_bytes())
    digest.update(json.dumps([CACHE_FORMAT, C, TAUGHT_WEIGHT, JIEBA_MIN_FREQ]).encode())
    return Path(cache_dir) / f"intents-{digest.hexdigest()[:20]}.npz"


def save_cached(model: Model, cache_dir: Path, taught: Iterable[tuple[str, str]]) -> Path | None:
    """Write ``model``'s arrays (no pickles) to the cache folder, atomically; returns the path,
    or None when the folder cannot be written (the model still works, only uncached)."""
    import os
    import tempfile

    path = _cache_path(cache_dir, taught)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(model.vocab, key=model.vocab.__getitem__)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, labels=np.array(model.labels), vocab=np.array(keys), idf=model.idf,
                     coef=model.coef, intercept=model.intercept,
                     taught_keys=np.array(list(model.taught), dtype=str),
                     taught_values=np.array(list(model.taught.values()), dtype=str),
                     meta=np.array([model.build_seconds, model.examples], dtype=np.float64))
        os.replace(tmp, path)
        return path
    except OSError:
        log.warning("intents: could not write the model cache in %s", cache_dir)
        return None


def load_cached(cache_dir: Path, taught: Iterable[tuple[str, str]], *, version: int = 0) -> Model | None:
    """The cached model for these examples (see :func:`save_cached`), or None when there is
    none or it cannot be read. Loading needs numpy only (no scikit-learn import)."""
    path = _cache_path(cache_dir, taught)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            labels = tuple(str(x) for x in data["labels"])
            vocab = {str(k): i for i, k in enumerate(data["vocab"])}
            taught_map = dict(zip((str(k) for k in data["taught_keys"]),
                                  (str(v) for v in data["taught_values"])))
            meta = data["meta"]
            return Model(labels, vocab, data["idf"].astype(np.float64),
                         np.ascontiguousarray(data["coef"], dtype=np.float64),
                         data["intercept"].astype(np.float64), version=version, taught=taught_map,
                         build_seconds=float(meta[0]), examples=int(meta[1]))
    except (OSError, ValueError, KeyError):
        log.warning("intents: ignoring an unreadable model cache %s", path.name)
        return None


def cache_dir_of(kv: Any) -> Path | None:
    """``<instance folder>/cache`` when ``kv`` is the Services (it has the config), else None."""
    config = getattr(kv, "config", None)
    instance = getattr(config, "instance_dir", None)
    return Path(instance) / "cache" if instance is not None else None


def _with_version(model: Model, version: int) -> Model:
    copy = Model(model.labels, model.vocab, model.idf, model.coef, model.intercept,
                 version=version, taught=model.taught, build_seconds=model.build_seconds,
                 examples=model.examples)
    return copy


def current_model(session: Any = None, kv: Any = None, *, wait: bool = False) -> Model:
    """The model for ``session``'s database (shipped examples plus what staff taught there),
    checking the version at most every :data:`VERSION_CHECK_SECONDS`: Redis first when ``kv``
    is given, the database when Redis has no answer or disagrees. A changed version is rebuilt
    in a background thread (the previous model answers meanwhile) unless ``wait``; the first
    build of a process is made at once. Without a session, :func:`base_model`."""
    if session is None:
        return base_model()
    slot = _slot_for(_engine_of(session))
    now = time.monotonic()
    if slot.model is not None and not wait and now - slot.checked_at < VERSION_CHECK_SECONDS:
        return slot.model
    slot.checked_at = now
    seen = _kv_get(kv)
    if slot.model is not None and seen is not None and seen == slot.kv_seen == slot.model.version:
        return slot.model
    try:
        real = _real(session)
        version = model_version(real)
    except Exception:  # noqa: BLE001 - database down or hung: answer with what this process has
        log.warning("intents: model version unreadable (database unavailable); "
                    "using the %s model", "current" if slot.model is not None else "shipped")
        return slot.model if slot.model is not None else base_model()
    if seen is not None and seen == version:
        slot.kv_seen = seen
    elif seen is None and kv is not None:
        # Nothing taught yet (or Redis was emptied): seed the key so that later looks need no
        # database; NX, so a teach that wrote a newer version first is never overwritten.
        _kv_set(kv, version, only_if_absent=True)
    if slot.model is not None and slot.model.version == version:
        return slot.model
    taught = taught_examples(real)
    if slot.model is None or wait:
        with slot.lock:
            if slot.model is None or slot.model.version != version:
                return _install(slot, version, taught, cache_dir_of(kv))
            return slot.model
    if not slot.building:
        slot.building = True
        cache_dir = cache_dir_of(kv)

        def rebuild() -> None:
            try:
                with slot.lock:
                    _install(slot, version, taught, cache_dir)
            except Exception:  # noqa: BLE001 - keep answering with the old model
                log.exception("intents: rebuilding the model failed")
            finally:
                slot.building = False

        threading.Thread(target=rebuild, name="intents-rebuild", daemon=True).start()
    return slot.model


def forget_models() -> None:
    """Drop every per-database model of this process (tests; the next use rebuilds)."""
    with _slots_lock:
        _slots.clear()


def classify(text: str, *, today: date, session: Any = None, kv: Any = None) -> Prediction:
    """Understand one message: intent, confidence, every intent ranked, slots and danger.

    ``today``: her local date (slots' date words). ``session``: a SQLAlchemy session or
    :class:`bot.core.db.OnDemandSession` of the database whose taught examples count (None: the
    shipped examples only); ``kv``: ``services`` (or a Redis client) for the cheap version
    check. Uses the per-process cached model (:func:`current_model`); never downloads anything.
    An empty text or punctuation alone gives ``intent=None``. Raises nothing for any text; a
    database error while checking the version propagates.
    """
    return predict(current_model(session, kv), text, today=today)


# --------------------------------------------------------------------------------------------
# Staff teach it


def mask_text(text: str) -> str:
    """The form an unmatched message is stored in: normalised, personal data masked
    (:func:`bot.core.logging.mask_personal`), at most :data:`MAX_TEXT` characters."""
    return mask_personal(normalize(text or ""))[:MAX_TEXT]


def record_unmatched(session: Session, text: str, prediction: Prediction, *,
                     now: datetime | None = None) -> UnmatchedMessage | None:
    """Count ``text`` as not understood: masked (no openid), one row per text with a count,
    first/last seen and the model's best guess. An ignored or assigned text keeps its status.
    Returns the row, or None for an empty text. Runs in the caller's transaction (a savepoint
    guards the insert against a concurrent twin)."""
    masked = mask_text(text)
    if not masked:
        return None
    when = now or utcnow()
    for _ in range(2):
        row = session.scalar(select(UnmatchedMessage).where(UnmatchedMessage.text == masked))
        if row is not None:
            row.count = (row.count or 0) + 1
            row.last_seen = when
            row.guess, row.confidence = prediction.intent, round(float(prediction.confidence), 4)
            return row
        try:
            with session.begin_nested():
                row = UnmatchedMessage(text=masked, count=1, first_seen=when, last_seen=when,
                                       guess=prediction.intent,
                                       confidence=round(float(prediction.confidence), 4),
                                       status=STATUS_OPEN)
                session.add(row)
            return row
        except IntegrityError:
            continue
    return None


def list_unmatched(session: Session, *, status: str | None = STATUS_OPEN,
                   limit: int = 100) -> list[UnmatchedMessage]:
    """Unmatched messages with ``status`` (None: all), most frequent first, then latest."""
    stmt = select(UnmatchedMessage)
    if status:
        stmt = stmt.where(UnmatchedMessage.status == status)
    stmt = stmt.order_by(UnmatchedMessage.count.desc(), UnmatchedMessage.last_seen.desc(),
                         UnmatchedMessage.id.desc()).limit(limit)
    return list(session.scalars(stmt))


class TeachError(ValueError):
    """A teach was refused; ``str(err)`` is a Chinese sentence for staff."""


def bump_version(session: Session, *, kv: Any = None, now: datetime | None = None) -> int:
    """Increase the model version (every process rebuilds within a minute) and mirror it in
    Redis when ``kv`` is given. Returns the new version."""
    row = session.get(ModelVersion, 1)
    if row is None:
        try:
            with session.begin_nested():
                row = ModelVersion(id=1, version=0, updated_at=now or utcnow())
                session.add(row)
        except IntegrityError:
            row = session.get(ModelVersion, 1)
    session.flush()
    session.execute(ModelVersion.__table__.update().where(ModelVersion.id == 1)
                    .values(version=ModelVersion.version + 1, updated_at=now or utcnow()))
    session.expire(row)
    version = model_version(session)
    _kv_set(kv, version)
    return version


def teach(session: Session, unmatched_id: int, intent: str | None, *, staff: str,
          kv: Any = None, now: datetime | None = None) -> UnmatchedMessage:
    """Assign unmatched message ``unmatched_id`` to ``intent`` (it becomes a training example;
    the version is bumped) or, with ``intent=None``, mark it ignored. ``staff``: who did it.

    Raises :class:`TeachError` for an unknown id or intent. Returns the updated row. The version
    goes to Redis at once; other processes also read it from the database, so one whose
    Redis copy ran ahead of the commit still rebuilds once the commit is visible."""
    row = session.get(UnmatchedMessage, unmatched_id)
    if row is None:
        raise TeachError("找不到这条消息，可能已被处理")
    if intent is None:
        row.status, row.intent = STATUS_IGNORED, None
        return row
    if intent not in INTENTS:
        raise TeachError(f"没有这个意图：{intent}")
    session.add(TaughtExample(text=row.text, intent=intent, staff=(staff or "")[:64],
                              created_at=now or utcnow()))
    row.status, row.intent = STATUS_ASSIGNED, intent
    bump_version(session, kv=kv, now=now)
    return row


def teach_text(session: Session, text: str, intent: str, *, staff: str, kv: Any = None,
               now: datetime | None = None) -> TaughtExample:
    """Add ``text`` as an example of ``intent`` directly (CLI, tests) and bump the version.
    Raises :class:`TeachError` for an unknown intent or an empty text."""
    if intent not in INTENTS:
        raise TeachError(f"没有这个意图：{intent}")
    masked = mask_text(text)
    if not prepare(masked):
        raise TeachError("句子不能为空")
    example = TaughtExample(text=masked, intent=intent, staff=(staff or "")[:64],
                            created_at=now or utcnow())
    session.add(example)
    bump_version(session, kv=kv, now=now)
    return example


def retrain(session: Session, *, kv: Any = None) -> Model:
    """Bump the version (every process rebuilds) and build this process's model now.
    Returns the new model (``build_seconds``, ``examples``)."""
    version = bump_version(session, kv=kv)
    slot = _slot_for(_engine_of(session))
    with slot.lock:
        return _install(slot, version, taught_examples(session), cache_dir_of(kv))


def data_fingerprint(extra: Iterable[tuple[str, str]] = ()) -> str:
    """A short hash of the shipped examples and ``extra`` (to name a cached build)."""
    digest = hashlib.sha256(json.dumps([list(shipped_examples()), list(extra)],
                                       ensure_ascii=False).encode())
    return digest.hexdigest()[:16]
