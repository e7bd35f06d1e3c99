"""What a woman types, mapped to the service directory: towns, platforms, kinds and needs.

The words live in ``models/data/synonyms.json`` (staff extend it from the unmatched-query list);
this module only loads them and parses a text into a :class:`Query`. Matching is exact, after
stripping wrapper words (附近 / 哪里有 / 在哪里 / 我想找 ...), so the directory never swallows
other features' words (活动, 报名, 志愿者, 求助 ...: listed under ``others`` in the JSON).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
SYNONYMS_FILE = DATA_DIR / "synonyms.json"

#: The four platforms of the seed article (“334”近邻工作法: 四类平台).
PLATFORMS = ("邻里守望", "纠纷化解", "志愿服务", "女性成长")

#: Wrapper words around the real query, each group tried longest first. ``near`` ones ask for
#: distance; ``asking`` ones show the text was a where-is question (so an unknown core is
#: logged); ``weak`` ones (电话, 地址) only do so when the core is a place name (医院电话).
_NEAR_PREFIXES = ("离我最近的", "离我近的", "我附近的", "我附近", "附近的", "附近有", "附近",
                  "最近的", "就近的", "周边的", "周边")
_ASK_PREFIXES = ("在哪里可以", "哪个地方有", "哪里可以", "哪里能", "哪里有", "哪儿有", "去哪里",
                 "哪有", "去哪")
_PLAIN_PREFIXES = ("请问一下", "请问", "我想要", "我想找", "我要找", "帮我找", "找一下", "查一下",
                   "有没有", "我需要", "想找", "我想", "我要", "需要", "找", "查")
_ASK_SUFFIXES = ("在什么地方", "在哪里", "在哪儿", "哪里有", "怎么走", "在哪")
_WEAK_ASK_SUFFIXES = ("的电话", "的地址", "的位置", "地址", "位置", "电话")
_PLAIN_SUFFIXES = ("是什么时候", "什么时候", "啥时候", "几点开始", "几点钟", "开放时间", "有什么服务",
                   "是哪天", "是几号", "几号", "哪天", "几点", "怎么办", "有什么", "有哪些",
                   "有没有", "的服务点", "服务点", "服务站", "的地方", "的服务", "服务", "的", "吗",
                   "呢", "呀", "啊")
#: An unknown where-is core that holds one of these characters is a sentence about her
#: (有事请打我电话), not a place: never guessed as an unknown place.
_NOT_PLACE_CHARS = frozenset("我你您他她咱俺请打叫让给告诉说吧了过")
#: Endings of place names (医院, 派出所, 图书馆 ...): a weak where-is question needs one.
_PLACE_ENDINGS = ("院", "所", "室", "站", "局", "中心", "馆", "家", "队", "会", "联", "处", "店",
                  "点", "村", "镇", "乡", "街", "路", "园", "校", "厅", "城", "小区", "社区", "部",
                  "厂", "场", "公司", "银行")
#: Wrapper words stripped at most (请问一下 附近 哪里有 X 的服务点 在哪里 呢: 6).
_ROUNDS = 8
#: Longest unknown core (characters) guessed as a place.
_MAX_PLACE_CHARS = 12

_PUNCT = re.compile(r"^[\s\W_]+|[\s\W_]+$")
#: Punctuation inside a text: a sentence of several clauses is tried clause by clause.
_CLAUSE_BREAK = re.compile(r"[\s\W_]+")


@dataclass(frozen=True)
class Query:
    """A parsed directory question. All fields optional; ``near`` asks for the nearest points.

    ``everything``: she asked for the directory itself (附近 / 近邻娘家 / 服务点).
    ``unknown``: a where-is question about something the directory does not know (logged).
    """

    town: str | None = None
    platform: str | None = None
    kind: str | None = None
    need: str | None = None
    near: bool = False
    everything: bool = False
    unknown: str | None = None
    core: str = ""

    @property
    def filtered(self) -> bool:
        return bool(self.town or self.platform or self.kind or self.need)


@dataclass
class Synonyms:
    """Lookup tables built from the JSON: word -> canonical town/platform/kind/need."""

    towns: dict[str, str] = field(default_factory=dict)
    platforms: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    needs: dict[str, str] = field(default_factory=dict)
    need_tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    need_notes: dict[str, str] = field(default_factory=dict)
    everything: frozenset[str] = frozenset()
    others: tuple[str, ...] = ()

    def town_for(self, word: str) -> str | None:
        """The canonical town for ``word`` (桃城 → 桃城镇), or None."""
        return self.towns.get(word.replace(" ", ""))

    def short_town(self, town: str) -> str:
        """The shortest word for ``town`` (桃城镇 → 桃城); ``""`` for an unknown town."""
        canonical = self.town_for(town)
        if canonical is None:
            return ""
        return min((w for w, t in self.towns.items() if t == canonical), key=len)

    def _lookup(self, word: str) -> Query | None:
        if not word:
            return None
        if word in self.everything:
            return Query(everything=True, core=word)
        if word in self.towns:
            return Query(town=self.towns[word], core=word)
        if word in self.platforms:
            return Query(platform=self.platforms[word], core=word)
        if word in self.kinds:
            return Query(kind=self.kinds[word], core=word)
        if word in self.needs:
            return Query(need=self.needs[word], core=word)
        # A town and what she wants there: 坑仔口调解, 桃城镇有没有早教, 调解 桃城 (spaces gone).
        for alias in sorted(self.towns, key=len, reverse=True):
            if len(word) <= len(alias):
                continue
            if word.startswith(alias):
                rest = word[len(alias):].lstrip("的")
            elif word.endswith(alias):
                rest = word[: -len(alias)].rstrip("在去到的")
            else:
                continue
            found = self._resolve(rest)
            if found is not None and not found.town and not found.everything:
                return Query(town=self.towns[alias], platform=found.platform, kind=found.kind,
                             need=found.need, core=word)
        return None

    def _resolve(self, text: str) -> Query | None:
        """A known word inside wrapper words (有没有早教 → 早教), or None; no unknown guess."""
        found, _ = self._search(text)
        return found

    def _search(self, text: str) -> tuple[Query | None, tuple[str, bool] | None]:
        """Strip wrapper words breadth-first (:data:`_ROUNDS` rounds). Returns (known query, None) or
        (None, best unknown place guess as (core, near) or None)."""
        seen: set[str] = set()
        frontier = [(text, False, 0)]
        best_unknown: tuple[str, bool] | None = None
        for _ in range(_ROUNDS):
            nxt = []
            for word, near, asking in frontier:
                if word in seen:
                    continue
                seen.add(word)
                hit = self._lookup(word)
                if hit is not None:
                    return _with(hit, near=near), None
                if not word and (near or asking == _STRONG):
                    return Query(everything=True, near=True, core=text), None
                if (_is_place_guess(word, near, asking)
                        and (best_unknown is None or len(word) < len(best_unknown[0]))):
                    best_unknown = (word, near)
                nxt.extend(_strip_once(word, near, asking))
            frontier = nxt
        return None, best_unknown

    def is_other_feature(self, text: str) -> bool:
        """True when ``text`` contains a word another feature answers (活动, 报名 ...)."""
        return any(w in text for w in self.others)

    def parse(self, compact_text: str) -> Query | None:
        """Parse a compact normalised text (no spaces, simplified) into a :class:`Query`.

        Returns None when the text is not a directory question; a Query with ``unknown`` when
        it is a where-is question about something unknown. Never raises.
        """
        text = _PUNCT.sub("", compact_text or "")
        if not text or len(text) > 30 or self.is_other_feature(text):
            return None
        found, unknown = self._search(text)
        if found is None and _CLAUSE_BREAK.search(text):  # 我想找调解室，请问在哪里？
            found = next((q for q in (self._search(c)[0] for c in _CLAUSE_BREAK.split(text) if c)
                          if q is not None), None)
        if found is not None:
            return found
        if unknown is not None:
            word, near = unknown
            return Query(unknown=word, near=near, core=text)
        return None


_WEAK, _STRONG = 1, 2


def _is_place_guess(word: str, near: bool, asking: int) -> bool:
    """Whether ``word`` (wrappers stripped) may be logged as an unknown place: only for a clear
    where-is question (附近X, X在哪里; X电话 only when X ends like a place name), and never
    for a sentence about her or us (有事请打我 → no)."""
    if not 2 <= len(word) <= _MAX_PLACE_CHARS or _NOT_PLACE_CHARS.intersection(word):
        return False
    if near or asking == _STRONG:
        return True
    return asking == _WEAK and word.endswith(_PLACE_ENDINGS)


def _with(q: Query, *, near: bool) -> Query:
    return Query(town=q.town, platform=q.platform, kind=q.kind, need=q.need, near=near,
                 everything=q.everything, core=q.core)


def _strip_once(word: str, near: bool, asking: int) -> list[tuple[str, bool, int]]:
    """Every way to strip one wrapper word off ``word`` (我想找工作 → 工作 and 找工作)."""
    out = []
    for group, is_near, level in ((_NEAR_PREFIXES, True, 0), (_ASK_PREFIXES, False, _STRONG),
                                  (_PLAIN_PREFIXES, False, 0)):
        for p in group:
            if word.startswith(p):
                out.append((word[len(p):], near or is_near, max(asking, level)))
    for group, level in ((_ASK_SUFFIXES, _STRONG), (_WEAK_ASK_SUFFIXES, _WEAK), (_PLAIN_SUFFIXES, 0)):
        for s in group:
            if word.endswith(s):
                out.append((word[: -len(s)], near, max(asking, level)))
    return out


def _build(data: dict) -> Synonyms:
    syn = Synonyms()
    for town, aliases in data.get("towns", {}).items():
        for word in [town, *aliases]:
            syn.towns[word] = town
    for platform, aliases in data.get("platforms", {}).items():
        for word in [platform, *aliases]:
            syn.platforms[word] = platform
    for kind, aliases in data.get("kinds", {}).items():
        for word in [kind, *aliases]:
            syn.kinds[word] = kind
    for need, spec in data.get("needs", {}).items():
        syn.need_tags[need] = tuple(spec.get("tags") or [need])
        if spec.get("note"):
            syn.need_notes[need] = spec["note"]
        for word in [need, *spec.get("words", [])]:
            syn.needs.setdefault(word, need)
    syn.everything = frozenset(data.get("everything", []))
    syn.others = tuple(data.get("others", []))
    return syn


def load_synonyms(path: str | Path = SYNONYMS_FILE) -> Synonyms:
    """Read a synonyms JSON file (see ``models/data/synonyms.json`` for the shape)."""
    with open(path, encoding="utf-8") as fh:
        return _build(json.load(fh))


@lru_cache(maxsize=1)
def synonyms() -> Synonyms:
    """The shipped synonyms (cached for the process)."""
    return load_synonyms()
