"""近邻娘家 service points (the directory a woman searches by location, town or need).

Coordinates are GCJ-02 degrees (the datum of WeChat's and Tencent's maps). ``approximate``
marks points whose coordinates are only a town centre estimate, not the real door.
``services`` holds tags (政策法律, 矛盾调解, 早教 ...) joined by ``、``.

Also holds :class:`UnmatchedQuery`: texts the directory could not answer, kept for staff so
the synonym list (models/data/synonyms.json) grows from real use.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import AwareDateTime, Base, utcnow

#: Separator of the ``services`` tags column (and of the spreadsheet column).
TAG_SEPARATOR = "、"


class ServicePoint(Base):
    """One 近邻娘家 service point: a 妇女微家, 调解室, 志愿服务队, 早教工作室 ...

    ``lat``/``lng``: GCJ-02 degrees, indexed (the nearest query prefilters on a bounding box).
    ``kind``: the point's type (妇女微家, 三新组织妇联 ...); ``platform``: one of the four
    platforms of the seed article (邻里守望, 纠纷化解, 志愿服务, 女性成长).
    ``phone``/``hours``/``address`` stay empty when unknown: nothing is invented.
    Unique per (name, town); imports upsert on that pair.
    """

    __tablename__ = "service_points"
    __table_args__ = (
        UniqueConstraint("name", "town", name="uq_service_points_name_town"),
        # The nearest query ranges over lat and filters lng inside the same index entries.
        Index("ix_service_points_lat_lng", "lat", "lng"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32), default="")
    platform: Mapped[str] = mapped_column(String(32), default="", index=True)
    town: Mapped[str] = mapped_column(String(16), index=True)
    village: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(256), default="")
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str] = mapped_column(String(64), default="")
    hours: Mapped[str] = mapped_column(String(128), default="")
    services: Mapped[str] = mapped_column(String(512), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def tags(self) -> list[str]:
        """The ``services`` column as a list of tags (empty list when none)."""
        return [t for t in (self.services or "").split(TAG_SEPARATOR) if t]


class UnmatchedQuery(Base):
    """A text the directory could not match, for staff to turn into synonyms.

    One row per distinct normalised text; ``count`` grows on repeats. No openid is kept.
    """

    __tablename__ = "unmatched_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(200), unique=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)
    last_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, index=True)
