"""Unit rules of models/privacy.py found by the attacker (issue 14): a longer run of digits is
never cut to a mobile, a name has a letter."""
from __future__ import annotations

import pytest

from models.privacy import name_and_mobile, normalize_name


@pytest.mark.parametrize("text", ["138123412345", "王秀英 138123412345", "1381234123",
                                  "一三八一二三四一二三四五六七八九零一二三四", "王秀英 2138123412345",
                                  "一三八一二三四一二三四五"])
def test_a_longer_or_shorter_run_is_no_mobile(text):
    assert name_and_mobile(text) == (None, None)


@pytest.mark.parametrize("text, expected", [
    ("王秀英 +86 138 1234 1234", ("王秀英", "13812341234")),
    ("王秀英 86 138 1234 1234", ("王秀英", "13812341234")),
    ("王秀英13812341234", ("王秀英", "13812341234")),
    ("我叫王五 一三九零五九五一二三四", ("王五", "13905951234")),
    ("我叫陈美玲电话13905951234", ("陈美玲", "13905951234")),
    ("一三九 零五九五 一二三四", (None, "13905951234")),
    ("王一一13812341234", ("王一一", "13812341234")),
    ("张三 13812341234", ("张三", "13812341234")),
])
def test_name_and_mobile(text, expected):
    assert name_and_mobile(text) == expected


@pytest.mark.parametrize("text", [".", "·", "...", "·.·", "。"])
def test_punctuation_is_no_name(text):
    assert normalize_name(text) is None


def test_names_with_a_dot_still_work():
    assert normalize_name("阿依古丽·买买提") == "阿依古丽·买买提"
    assert normalize_name("Mary") == "Mary"
