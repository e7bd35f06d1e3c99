"""Registered volunteers (志愿者): one row per openid, editable by registering again.

Service hours are not stored here: they are the ``hours`` of her attended volunteer signups
(:func:`models.activities.volunteer_hours`), so they follow check-ins exactly.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import String, Text, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.followers import TOWN_STATED, set_follower_town
from models.base import AwareDateTime, Base, utcnow
from bot.core.geo import TOWNS  # noqa: F401 - part of this module's interface (handlers use vols.TOWNS)
from models.privacy import mask_phone, normalize_mobile, normalize_name, register_eraser

log = logging.getLogger(__name__)

#: Skills a volunteer can offer (the issue's list); stored joined by 「、」.
SKILLS = ("理发", "法律", "家政", "电商", "早教", "心理", "其他")
SKILL_SEPARATOR = "、"

_SKILL_WORDS = {"剪发": "理发", "义剪": "理发", "法律咨询": "法律", "普法": "法律", "保洁": "家政",
                "月嫂": "家政", "育婴": "家政", "直播": "电商", "网店": "电商", "带货": "电商",
                "幼教": "早教", "亲子": "早教", "心理咨询": "心理", "谈心": "心理"}
_SPLIT = re.compile(r"[\s,，、;；/和及]+")


class VolunteerError(ValueError):
    """A registration field is not valid; the message is the Chinese sentence to show her."""


class Volunteer(Base):
    """A registered volunteer. ``skills``: tags from :data:`SKILLS` joined by 「、」;
    ``available``: when she can help, in her words (「周末上午」); ``town``: one of :data:`TOWNS`."""

    __tablename__ = "volunteers"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(16))
    town: Mapped[str] = mapped_column(String(16), index=True)
    skills: Mapped[str] = mapped_column(String(128), default="")
    available: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)

    @property
    def skill_list(self) -> list[str]:
        return [s for s in (self.skills or "").split(SKILL_SEPARATOR) if s]


def parse_town(text: str) -> str | None:
    """A town from her answer: full name (「桃城镇」), short name (「桃城」) or list number (1-22)."""
    t = (text or "").strip().replace(" ", "")
    if t.isdigit() and 1 <= int(t) <= len(TOWNS):
        return TOWNS[int(t) - 1]
    for town in TOWNS:
        if t == town or (len(t) >= 2 and t == town[:-1]) or (len(t) >= 3 and town in t):
            return town
    return None


def parse_skills(text: str) -> list[str]:
    """Skills from numbers (「1 3」, 「13」) or words (「理发、法律」); unknown words are ignored.

    Returns the skills in :data:`SKILLS` order without repeats (empty when none recognised).
    """
    found: set[str] = set()
    for part in _SPLIT.split((text or "").strip()):
        if not part:
            continue
        if part.isdigit():
            for ch in part:
                if "1" <= ch <= str(len(SKILLS)):
                    found.add(SKILLS[int(ch) - 1])
            continue
        for skill in SKILLS:
            if skill in part:
                found.add(skill)
        for word, skill in _SKILL_WORDS.items():
            if word in part:
                found.add(skill)
    return [s for s in SKILLS if s in found]


def get_volunteer(session: Session, openid: str) -> Volunteer | None:
    """Her volunteer registration, or None."""
    return session.get(Volunteer, openid)


def save_volunteer(session: Session, openid: str, *, name: str, phone: str, town: str,
                   skills: list[str], available: str, now: datetime | None = None) -> Volunteer:
    """Create or replace her registration (one row per openid).

    Raises :class:`VolunteerError` for a name :func:`models.privacy.normalize_name` refuses
    (empty, 「是」, digits ...), a phone that is not a mainland mobile
    (11 digits, 1[3-9]), an unknown town, no skill, or an empty availability.
    """
    name = normalize_name(name)
    if name is None:
        raise VolunteerError("请填写姓名（只要文字，最多 20 个字）")
    mobile = normalize_mobile(phone)
    if mobile is None:
        raise VolunteerError("手机号应为 11 位数字，以 13-19 开头")
    if town not in TOWNS:
        raise VolunteerError("请选择永春县的一个乡镇")
    skills = [s for s in SKILLS if s in set(skills)]
    if not skills:
        raise VolunteerError("请至少选择一项特长")
    available = (available or "").strip()
    if not available:
        raise VolunteerError("请说说您方便的时间")
    now = now or utcnow()
    vol = session.get(Volunteer, openid)
    if vol is None:
        vol = Volunteer(openid=openid, created_at=now)
        session.add(vol)
    vol.name, vol.phone, vol.town = name, mobile, town
    vol.skills, vol.available, vol.updated_at = SKILL_SEPARATOR.join(skills), available[:200], now
    session.flush()
    set_follower_town(session, openid, town, source=TOWN_STATED, now=now)  # figures per town
    log.info("volunteer saved: town=%s skills=%s phone=%s", town, vol.skills, mask_phone(mobile))
    return vol


@register_eraser
def erase_volunteer(session: Session, openid: str) -> dict[str, int]:
    """「删除我的信息」: delete her volunteer registration (hours stay, anonymised, on signups)."""
    result = session.execute(delete(Volunteer).where(Volunteer.openid == openid))
    return {"volunteers": result.rowcount or 0}
