"""Round 3 (second tester): danger words missed and harmless words wrongly caught."""
from __future__ import annotations

import pytest

from handlers.safety import DangerMatcher, load_words


@pytest.fixture(scope="module")
def matcher():
    return DangerMatcher(load_words())


@pytest.mark.parametrize("text", [
    "他说要砍死我", "老公威胁要砍死我", "他动手了", "他又要杀我", "他拿刀追我", "他掐我脖子",
    "他威胁我", "他不让我走", "他把我关着不让出门", "他关着我", "他说要弄死我", "他拿着刀",
    "他又动手了", "老公扬言要杀了我全家", "他威胁说要打死我", "他要砍我", "我被他锁在家里",
    "他推我撞墙", "他用刀捅我", "我受到威胁", "他把我锁在屋里", "他拽我头发",
])
def test_round3_danger_words_are_caught(matcher, text):
    found = matcher.match(text)
    assert found is not None and found.kind == "danger", text


@pytest.mark.parametrize("text", [
    "被打击了", "我最近被打击了，心情不好", "我家暴躁的猫", "我家暴躁的狗又叫了",
    "孩子动手能力强", "亲子动手做手工的活动", "打击诈骗宣传", "他脾气暴躁",
])
def test_round3_harmless_words_are_no_alarm(matcher, text):
    assert matcher.match(text) is None, text


@pytest.mark.parametrize("text", ["他家暴", "他家暴，还很暴躁", "老公暴躁又家暴我", "我被打了"])
def test_round3_benign_blanking_keeps_real_danger(matcher, text):
    assert matcher.match(text) is not None, text
