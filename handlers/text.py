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


def normalize(text: str) -> str:
    """NFKC, simplified Chinese, runs of white space folded to one space, trimmed.

    Punctuation is kept (so 「？」 becomes 「?」 by NFKC and rules can match it).
    """
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text)
    folded = _SPACES.sub(" ", folded).strip()
    return to_simplified(folded)


def compact(text: str) -> str:
    """``normalize`` and drop all spaces: 「报名 3」→「报名3」 for keyword matching."""
    return normalize(text).replace(" ", "")
