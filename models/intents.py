"""TEMPORARY STUB of the intent engine (contract: /tmp/intents_spec.md); replaced by the
i14-engine branch's models/intents.py on merge. Keyword lookups only."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from bot.core.text import compact

INTENTS: dict[str, str] = {
    "directory_need": "找服务点", "directory_town": "找乡镇服务点", "directory_nearby": "找附近服务点",
    "mediation": "找调解室", "activities": "看近期活动", "signup": "报名活动", "my_signups": "我的报名",
    "signup_cancel": "取消报名", "haircut": "爱心义剪", "volunteer": "登记志愿者",
    "volunteer_hours": "查志愿时长", "help": "留言求助", "my_requests": "查看回复",
    "subscribe": "订阅提醒", "unsubscribe": "退订提醒", "columns": "往期文章",
    "privacy_delete": "删除我的信息", "human": "转人工", "contact": "妇联联系方式",
    "usage": "使用帮助", "greeting": "打招呼", "thanks": "感谢", "goodbye": "再见",
    "bot_identity": "你是谁", "danger": "紧急求助",
}
CONFIDENT = 0.6
CLOSE_MARGIN = 0.15
DANGER_THRESHOLD = 0.3

_WORDS = [
    ("danger", ("动手", "打得我", "关起来", "不想活", "活不下去")),
    ("unsubscribe", ("别再", "不要提醒")),
    ("subscribe", ("提醒我",)),
    ("mediation", ("吵架", "婆媳", "调解")),
    ("signup_cancel", ("不去了", "取消报名")),
    ("my_signups", ("报了哪些", "我报了")),
    ("signup", ("报名",)),
    ("haircut", ("义剪", "理发")),
    ("volunteer_hours", ("时长",)),
    ("volunteer", ("志愿者",)),
    ("my_requests", ("有回复", "回复了吗")),
    ("help", ("帮忙", "求助")),
    ("columns", ("文章",)),
    ("privacy_delete", ("删掉", "删除")),
    ("human", ("人工", "工作人员", "真人")),
    ("contact", ("电话", "地址")),
    ("directory_nearby", ("最近的", "附近")),
    ("directory_need", ("哪里有",)),
    ("activities", ("活动",)),
    ("usage", ("能干嘛", "怎么用")),
    ("bot_identity", ("机器人",)),
    ("thanks", ("谢谢",)),
    ("goodbye", ("拜拜", "再见")),
    ("greeting", ("你好", "在吗", "您好")),
]


@dataclass(frozen=True)
class Slots:
    town: str | None = None
    need: str | None = None
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class Prediction:
    intent: str | None
    confidence: float
    ranked: tuple[tuple[str, float], ...]
    slots: Slots = field(default_factory=Slots)
    danger: float = 0.0


def extract_slots(text: str, *, today: date) -> Slots:
    t = compact(text)
    category = "爱心义剪" if ("义剪" in t or "理发" in t) else ("家政培训" if "家政" in t else None)
    town = next((x + "镇" for x in ("桃城", "五里街", "石鼓") if x in t), None)
    return Slots(town=town, need="调解" if "调解" in t else None, category=category)


def classify(text: str, *, today: date, session=None, kv=None) -> Prediction:
    t = compact(text)
    if not t:
        return Prediction(None, 0.0, (), Slots(), 0.0)
    hits = [name for name, words in _WORDS if any(w in t for w in words)]
    if "模糊" in t:  # test hook of the stub: two close intents
        hits = ["mediation", "help"]
    scores = {}
    for i, name in enumerate(hits[:2]):
        scores[name] = 0.45 if len(hits) > 1 and "模糊" in t else (0.9 if i == 0 else 0.05)
    rest = [n for n in INTENTS if n not in scores]
    ranked = tuple(sorted(scores.items(), key=lambda kv: -kv[1])) + tuple((n, 0.01) for n in rest)
    best, conf = ranked[0]
    if not hits:
        best, conf = "usage", 0.2
        ranked = (("usage", 0.2), ("help", 0.18), ("activities", 0.15)) + tuple(
            (n, 0.01) for n in INTENTS if n not in ("usage", "help", "activities"))
    danger = 0.9 if best == "danger" else 0.0
    return Prediction(best, conf, ranked, extract_slots(text, today=today), danger)


def record_unmatched(session, text: str, prediction: Prediction) -> None:
    return None
