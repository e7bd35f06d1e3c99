"""Normalising what a woman types before any rule looks at it.

NFKC folds full-width letters and digits (「报名３」→「报名3」) and the ideographic space U+3000;
traditional characters become simplified (many readers are overseas relatives), so rules and
synonym lists are written once, in simplified Chinese.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # opencc-python-reimplemented: pure Python, no native build

    return OpenCC("t2s")


@lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (OpenCC t2s); other characters unchanged."""
    if text.isascii():
        return text
    return _t2s().convert(text)


def _is_edge_noise(ch: str) -> bool:
    """Punctuation, symbols (emoji), joiners and variation selectors: noise at a message's ends."""
    cat = unicodedata.category(ch)
    return ch.isspace() or cat[0] == "P" or cat in ("So", "Sk", "Mn", "Cf", "Me")


def strip_edges(text: str) -> str:
    """Drop punctuation and emoji at both ends (「活动？」→「活动」, 「13812345670。」→「13812345670」,
    「王秀英😊」→「王秀英」); a text that is nothing but such characters is kept as it is."""
    start, end = 0, len(text)
    while start < end and _is_edge_noise(text[start]):
        start += 1
    while end > start and _is_edge_noise(text[end - 1]):
        end -= 1
    return text[start:end] if start < end else text


#: Short texts repeat (「你好」「帮助」「报名3」): their normal forms are kept, at most this many.
REMEMBER_TEXTS, REMEMBER_CHARS = 4096, 32


def normalize(text: str) -> str:
    """NFKC, simplified Chinese, runs of white space folded to one space, trimmed, and
    punctuation/emoji at both ends dropped (voice recognition ends sentences with 「。」).

    Punctuation inside is kept; a message of punctuation only (「？」) stays as it is (NFKC: 「?」).
    """
    if not text:
        return ""
    if len(text) <= REMEMBER_CHARS:
        return _remembered_normal_form(text)
    return _normal_form(text)


def _normal_form(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text)
    folded = strip_edges(_SPACES.sub(" ", folded).strip())
    return to_simplified(folded)


_remembered_normal_form = lru_cache(maxsize=REMEMBER_TEXTS)(_normal_form)


def compact(text: str) -> str:
    """``normalize`` and drop all spaces: 「报名 3」→「报名3」 for keyword matching."""
    return normalize(text).replace(" ", "")


def fold_case(text: str) -> str:
    """Case-folded for matching words: 「Help」「HELP」→「help」 (Chinese is unchanged).

    Apply it to text already through :func:`normalize` (which turns full-width 「ＨＥＬＰ」 into
    「HELP」 first), and to both sides of a comparison.
    """
    return text.casefold() if not text.isascii() else text.lower()


def command_form(text: str) -> str:
    """:func:`compact` then :func:`fold_case`: the form commands are matched in (「Ｏｋ」→「ok」)."""
    return fold_case(compact(text))
