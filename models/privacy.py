"""Personal data: masking for replies and logs, and 「删除我的信息」 across every feature.

Each feature that stores personal fields registers an *eraser*::

    from models.privacy import register_eraser

    @register_eraser
    def erase_help_requests(session, openid) -> dict[str, int]:
        ...  # blank or delete her rows; return {"help_requests": n}

:func:`erase_personal_data` runs them all in the caller's transaction and returns the merged
counts. Erasers keep anonymous counts (a signup row stays, without name, phone or openid) so the
federation's monthly figures do not change when a woman asks to be forgotten.
"""
from __future__ import annotations

import logging
import re
import uuid
from typing import Callable

from sqlalchemy.orm import Session

from bot.core.geo import TOWNS
from models.followers import Follower

log = logging.getLogger(__name__)

Eraser = Callable[[Session, str], "dict[str, int] | None"]

_ERASERS: list[Eraser] = []

#: A mainland mobile number: 11 digits starting 1[3-9] (the signup and volunteer forms' rule).
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_SEPARATORS = re.compile(r"[\s\-—–_.()（）+]")


def mask_phone(phone: str | None) -> str:
    """``"13812341234"`` -> ``"138****1234"``; other lengths keep at most the last 2 digits.

    ``None`` or empty gives ``""``. Use it for every phone number shown in a reply or a log line.
    """
    if not phone:
        return ""
    digits = str(phone)
    if len(digits) >= 7:
        return digits[:3] + "*" * 4 + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_phones_in(text: str) -> str:
    """Mask every mobile number found inside free text (for log lines that quote a message)."""
    return _PHONE_IN_TEXT.sub(r"\1****\2", text or "")


def mask_name(name: str | None) -> str:
    """``"王秀英"`` -> ``"王**"``: the family name only (for logs and staff lists)."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


#: Digits as voice recognition writes them (「一三九」, 「幺」 and 「两」 for 1 and 2).
_CN_DIGITS = str.maketrans("零〇洞一幺二两三四五六七八九", "00011223456789")


def normalize_mobile(text: str) -> str | None:
    """The 11-digit mobile number in ``text`` (spaces, dashes, a +86/86 prefix allowed, digits
    in Chinese numerals as voice gives them), or None.

    ``"138 1234 1234"`` -> ``"13812341234"``; ``"幺三九零五九五一二三四"`` -> ``"13905951234"``;
    ``"12345"`` -> None.
    """
    digits = _SEPARATORS.sub("", text or "").translate(_CN_DIGITS)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if MOBILE_RE.match(digits) else None


#: A person's name as the forms take it: Chinese or Latin letters, 「·」 (少数民族 names), 1-20.
NAME_RE = re.compile(r"^[\u4e00-\u9fffA-Za-z·.]{1,20}$")
#: Answers and commands that are not names (she may have lost track of the form).
NOT_NAMES = frozenset({
    "是", "是的", "对", "对的", "嗯", "嗯嗯", "好", "好的", "行", "可以", "要", "确认", "确定", "同意",
    "我同意", "报名", "确认报名", "候补", "否", "不", "不是", "不要", "不用", "不行", "不同意", "没有",
    "yes", "y", "ok", "no", "n", "活动", "我的报名", "帮助", "志愿者", "求助", "菜单", "你好", "您好",
    "在吗", "不知道", "什么", "为什么", "干什么", "怎么办", "谢谢", "修改", "不变", "姓名", "名字"})
#: Commands of the account that are not names (she may answer a form with one).
NOT_NAMES |= frozenset({
    "附近", "更多", "继续", "下一页", "上一页", "退出", "返回", "地图", "位置", "定位", "导航", "地址",
    "电话", "联系", "联系方式", "娘家", "微家", "近邻娘家", "妇女微家", "服务点", "义剪", "理发",
    "法律", "咨询", "调解", "维权", "投诉", "举报", "积分", "签到", "订阅", "提醒", "退订", "文章",
    "栏目", "首页", "主页", "永春", "永春县", "妇联", "桃源姐妹", "家暴", "救命", "报警"})
#: Parts no name has: a message containing one is a command or a question, not her name.
NOT_NAME_PARTS = ("报名", "活动", "志愿", "取消", "删除", "求助", "帮助", "怎么", "什么", "谢谢", "你好",
                  "您好", "不知道", "为什么", "吗", "附近", "更多", "娘家", "微家", "调解", "预约",
                  "订阅", "提醒", "服务点", "几点", "时候", "哪里", "在哪", "时长", "我的",
                  # questions and sentences (「我报了哪些」「妇联电话多少」「你们在哪」)
                  "哪", "多少", "怎样", "啥", "谁", "呢", "？", "?", "我", "你", "您", "报了",
                  "不想", "不去", "不报", "电话", "人工", "请问")
#: A Chinese name is at most this long (复姓 and two given names; 「·」 names may be longer).
MAX_CHINESE_NAME = 6
#: 「我叫王秀英」「我是王秀英」「姓名：王秀英」: what comes before her name.
_NAME_LEAD = re.compile(r"^(?:你好|您好)?(?:我的名字(?:是|叫)|我的姓名(?:是|叫)?|名字(?:是|叫)|"
                        r"姓名(?:是|叫)?|我叫|我是|叫我|本人)[:：,，]?")


#: A name has at least one Chinese character or letter (「.」「·」「...」 are not names).
_LETTER = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def _too_long(name: str) -> bool:
    """A Chinese name without 「·」 longer than :data:`MAX_CHINESE_NAME` is a sentence."""
    return (len(name) > MAX_CHINESE_NAME and "·" not in name
            and all("\u4e00" <= ch <= "\u9fff" for ch in name))


def _is_town(name: str) -> bool:
    return any(name in (town, town[:-1]) for town in TOWNS)


def normalize_name(text: str | None) -> str | None:
    """Her name from a form answer (spaces removed), or None when it is not a name.

    ``" 王 秀英 "`` -> ``"王秀英"``; 「我叫王秀英」「我是王秀英」「姓名：王秀英」 -> ``"王秀英"``;
    ``"是"``, ``"好的"``, ``"13812341234"``, ``""`` and anything over 20 characters (over
    :data:`MAX_CHINESE_NAME` Chinese characters without 「·」), a command or question
    (「怎么报名」「在吗」「附近」「更多」「我报了哪些」) or a town (「桃城」「达埔镇」) -> None.
    The one rule for the signup and volunteer forms.
    """
    name = _NAME_LEAD.sub("", re.sub(r"\s+", "", text or ""), count=1)
    if (not NAME_RE.match(name) or name.lower() in NOT_NAMES
            or any(part in name for part in NOT_NAME_PARTS) or _is_town(name)
            or _too_long(name) or not _LETTER.search(name)):
        return None
    return name


#: Characters of a phone number: Arabic digits and the Chinese numerals voice input gives.
_DIGIT = "0-9零〇洞一幺二两三四五六七八九"
#: A whole run of digits (spaces and dashes between, a leading 「+」): never a part of a longer run,
#: so 「138123412345」 (12 digits) is not read as the mobile 13812341234.
_MOBILE_RUN = re.compile(rf"\+?[{_DIGIT}](?:[\s\-]*[{_DIGIT}])*")
_CN_ONLY = re.compile(r"^[零〇洞一幺二两三四五六七八九]+$")
#: Chinese numerals ending her name, then an Arabic mobile: 「王一一13812341234」.
_CN_THEN_ARABIC = re.compile(r"[零〇洞一幺二两三四五六七八九]+[\s\-]*(\+?[0-9][0-9\s\-]*)$")
#: Words that introduce the number: 「电话」「手机号是」「联系方式：」.
_MOBILE_LEAD = re.compile(r"[,，。;；、\s]*(?:我的)?(?:电话号码|电话|手机号码|手机号|手机|号码|联系方式|联系电话)"
                          r"(?:是|为)?[:：]?[,，\s]*$")


def _mobile_in_run(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """The mobile in the digit run ``text[start:end]`` as (start, end, phone), or None.

    The whole run must be one mobile. Only Chinese numerals ending the word before an Arabic
    number (「王一一13812341234」), or a chunk of them glued to the word before or after and set
    apart by a space (「我叫王五 一三九…」: 五 ends her name), are left out."""
    phone = normalize_mobile(text[start:end])
    if phone is not None:
        return start, end, phone
    glued = _CN_THEN_ARABIC.match(text, start, end)
    if glued and start > 0 and not text[start - 1].isspace():  # 「王一一13812341234」
        phone = normalize_mobile(glued.group(1))
        if phone is not None:
            return glued.start(1), end, phone
    chunks = list(re.finditer(r"\S+", text[start:end]))
    if len(chunks) < 2:
        return None
    first, last = chunks[0], chunks[-1]
    glued_before = start > 0 and not text[start - 1].isspace() and _CN_ONLY.match(first.group())
    glued_after = end < len(text) and not text[end].isspace() and _CN_ONLY.match(last.group())
    new_start = start + chunks[1].start() if glued_before else start
    new_end = start + chunks[-2].end() if glued_after else end
    if (new_start, new_end) == (start, end) or new_start >= new_end:
        return None
    phone = normalize_mobile(text[new_start:new_end])
    return (new_start, new_end, phone) if phone else None


def name_and_mobile(text: str | None) -> tuple[str | None, str | None]:
    """Her name and mobile from one message (「我叫陈美玲电话13905951234」「王秀英 +86 138 1234 1234」),
    each None when not there; (None, None) without a valid mobile. A longer or shorter run of
    digits (「138123412345」) is no mobile: nothing is cut to 11 digits."""
    text = text or ""
    for found in _MOBILE_RUN.finditer(text):
        got = _mobile_in_run(text, found.start(), found.end())
        if got is None:
            continue
        start, end, phone = got
        before = _MOBILE_LEAD.sub("", text[:start]).strip(",，。 ")
        after = text[end:].strip(",，。 ")
        return normalize_name(before or after) if (before or after) else None, phone
    return None, None


#: How an erased openid starts: nothing is ever sent to one (see :func:`is_erased`).
ERASED_PREFIX = "erased:"


def anonymous_openid() -> str:
    """A placeholder that replaces an erased openid: unique, not linkable to her (``erased:<hex>``)."""
    return ERASED_PREFIX + uuid.uuid4().hex


def is_erased(openid: str | None) -> bool:
    """True for a placeholder left by 「删除我的信息」 (no woman behind it: never message it)."""
    return bool(openid) and openid.startswith(ERASED_PREFIX)


def register_eraser(fn: Eraser) -> Eraser:
    """Add ``fn(session, openid) -> {name: count}`` to what 「删除我的信息」 runs (decorator)."""
    if fn not in _ERASERS:
        _ERASERS.append(fn)
    return fn


def erasers() -> list[Eraser]:
    """The registered erasers, in registration order."""
    return list(_ERASERS)


def erase_personal_data(session: Session, openid: str) -> dict[str, int]:
    """Erase everything personal about ``openid`` in every registered feature.

    Runs in the caller's transaction (commit or roll back as one). Returns counts by kind, e.g.
    ``{"signups": 2, "volunteers": 1}``. An eraser that fails makes the whole call fail (the
    caller rolls back), so she is never told her data is gone when some of it is not.
    """
    import models  # noqa: F401 - every feature module registers its eraser on import

    counts: dict[str, int] = {}
    for fn in _ERASERS:
        for key, value in (fn(session, openid) or {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    session.flush()
    log.info("personal data erased: %s", counts)
    return counts


@register_eraser
def erase_follower_details(session: Session, openid: str) -> dict[str, int]:
    """Blank the personal fields of her follower row (last position, town, QR scene).

    The row itself stays: it records whether she follows the account, which WeChat needs.
    """
    follower = session.get(Follower, openid)
    if follower is None:
        return {"followers": 0}
    follower.last_lat = follower.last_lng = follower.last_location_at = None
    follower.town = follower.scene = None
    return {"followers": 1}
