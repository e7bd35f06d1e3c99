"""近邻娘家 service points (the directory a woman searches by location, town or need).

Coordinates are GCJ-02 degrees (the datum of WeChat's and Tencent's maps). ``approximate``
marks points whose coordinates are only a town centre estimate, not the real door.
``services`` holds tags (政策法律, 矛盾调解, 早教 ...) joined by ``、``.

Also holds :class:`UnmatchedQuery`: texts the directory could not answer, kept for staff so
the synonym list (models/data/synonyms.json) grows from real use.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, UniqueConstraint, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import AwareDateTime, Base, utcnow
from bot.core.geo import bounding_box, haversine_m
from models.directory_io import read_table, validate_table

log = logging.getLogger(__name__)

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
    town: Mapped[str] = mapped_column(String(16), default="", index=True)
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


# -- errors and results ------------------------------------------------------------------------

class ImportRejected(ValueError):
    """The spreadsheet has bad rows; nothing was changed. ``errors``: list of point_io.RowError."""

    def __init__(self, errors: list):
        super().__init__(f"{len(errors)} bad row(s)")
        self.errors = errors


@dataclass(frozen=True)
class Found:
    """A point and its distance in metres from the asker (None when her position is unknown)."""

    point: ServicePoint
    distance_m: float | None


@dataclass(frozen=True)
class ImportResult:
    """Counts of an import (or of what a dry run would do)."""

    created: int
    updated: int
    unchanged: int
    dry_run: bool = False


# -- queries -----------------------------------------------------------------------------------

#: Search radii (metres) of the nearest query's bounding-box prefilter, tried in turn.
NEAREST_RADII_M = (3_000, 12_000, 50_000, 200_000)


def nearest_statement(lat: float, lng: float, radius_m: float):
    """The prefilter SELECT: active points in the bounding box of ``radius_m`` around (lat, lng).

    Plain comparisons on the indexed ``lat``/``lng`` columns, so SQLite and PostgreSQL both use
    ``ix_service_points_lat_lng`` (see bench/nearest.py for the plans).
    """
    box = bounding_box(lat, lng, radius_m)
    return select(ServicePoint).where(
        ServicePoint.lat.between(box.min_lat, box.max_lat),
        ServicePoint.lng.between(box.min_lng, box.max_lng),
        ServicePoint.active.is_(True))


def nearest(session: Session, lat: float, lng: float, limit: int = 3,
            radii_m: Sequence[float] = NEAREST_RADII_M) -> list[Found]:
    """The ``limit`` active points nearest to (lat, lng) (GCJ-02 degrees), nearest first.

    Widens a bounding-box prefilter through ``radii_m`` until ``limit`` points lie within the
    radius (so the answer is exact). Beyond the last radius (she is far from every point) the
    database ranks all active points by a flat-earth distance and the best few are checked
    with haversine. Distances are haversine metres. The caller validates coordinates
    (bot.core.geo.check_coordinates).
    """
    for radius in radii_m:
        rows = session.scalars(nearest_statement(lat, lng, radius)).all()
        found = by_distance(rows, lat, lng)
        inside = [f for f in found if f.distance_m <= radius]
        if len(inside) >= limit:
            return inside[:limit]
    k = math.cos(math.radians(lat))
    flat = ((ServicePoint.lat - lat) * (ServicePoint.lat - lat)
            + (ServicePoint.lng - lng) * k * (ServicePoint.lng - lng) * k)
    stmt = (select(ServicePoint).where(ServicePoint.active.is_(True))
            .order_by(flat).limit(max(limit * 5, 20)))
    return by_distance(session.scalars(stmt).all(), lat, lng)[:limit]


def by_distance(rows: Iterable[ServicePoint], lat: float, lng: float) -> list[Found]:
    """``rows`` with their haversine distance (metres) from (lat, lng), nearest first; points
    placed at the county seat only because their town is unknown (``approximate`` and no town:
    their distance means nothing, none is shown) come after every placed point."""
    found = [Found(p, haversine_m(lat, lng, p.lat, p.lng)) for p in rows]
    found.sort(key=lambda f: (bool(f.point.approximate and not f.point.town), f.distance_m, f.point.id))
    return found


#: Kinds that offer a bit of everything; listed after specialised points when unsorted by distance.
GENERAL_KINDS = ("县妇联", "乡镇妇联")


def search(session: Session, *, town: str | None = None, platform: str | None = None,
           kind: str | None = None, tags: Sequence[str] = (),
           near: tuple[float, float] | None = None) -> list[Found]:
    """Active points matching every given filter (``tags``: any of them), as :class:`Found`.

    Nearest first when ``near`` = (lat, lng) is given, else specialised points before the
    general federations (:data:`GENERAL_KINDS`), points of a known town first, then by town
    and name. Filters are exact (canonical town/platform/kind names from synonyms).
    """
    stmt = select(ServicePoint).where(ServicePoint.active.is_(True))
    if town:
        stmt = stmt.where(ServicePoint.town == town)
    if platform:
        stmt = stmt.where(ServicePoint.platform == platform)
    if kind:
        stmt = stmt.where(ServicePoint.kind == kind)
    if tags:
        stmt = stmt.where(or_(*[ServicePoint.services.contains(t) for t in tags]))
    rows = list(session.scalars(stmt))
    if tags:
        wanted = set(tags)
        rows = [p for p in rows if wanted.intersection(p.tags)]
    if near is not None:
        return by_distance(rows, *near)
    rank = {kind: i + 1 for i, kind in enumerate(GENERAL_KINDS)}
    rows.sort(key=lambda p: (rank.get(p.kind, 0), p.town == "", p.town, p.name))
    return [Found(p, None) for p in rows]


#: Longest text (characters) ever searched for as a point name: anything longer is a sentence,
#: not a name, and must never reach a LIKE (SQLite refuses patterns over 50,000 bytes).
MAX_QUERY_CHARS = 50


def find_by_name(session: Session, word: str, limit: int = 10) -> list[ServicePoint]:
    """Active points whose name is ``word`` or contains it.

    ``word`` must be 2 to :data:`MAX_QUERY_CHARS` characters; otherwise ``[]`` without any SQL.
    """
    word = word or ""
    if not 2 <= len(word) <= MAX_QUERY_CHARS:
        return []
    exact = session.scalars(select(ServicePoint).where(ServicePoint.name == word,
                                                       ServicePoint.active.is_(True))).all()
    if exact:
        return list(exact)
    like = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (select(ServicePoint).where(ServicePoint.name.like(f"%{like}%", escape="\\"),
                                       ServicePoint.active.is_(True))
            .order_by(ServicePoint.name).limit(limit))
    return list(session.scalars(stmt))


def get_by_name(session: Session, name: str, town: str | None = None) -> ServicePoint | None:
    """The point called ``name`` (in ``town`` when given; the first by id otherwise)."""
    stmt = select(ServicePoint).where(ServicePoint.name == name)
    if town is not None:
        stmt = stmt.where(ServicePoint.town == town)
    return session.scalars(stmt.order_by(ServicePoint.id).limit(1)).first()


# -- changes -----------------------------------------------------------------------------------

_FIELDS = ("name", "kind", "platform", "town", "village", "address", "lat", "lng", "approximate",
           "phone", "hours", "services", "description", "active")


def upsert_points(session: Session, records: Sequence[dict], *, dry_run: bool = False) -> ImportResult:
    """Create or update points keyed by (name, town) from validated ``records``.

    ``records`` come from :func:`models.directory_io.validate_table`. Points not in ``records`` are
    left alone (deactivate with 启用=否). With ``dry_run`` nothing is changed, only counted.
    """
    existing = {(p.name, p.town): p for p in session.scalars(select(ServicePoint))}
    created = updated = unchanged = 0
    for rec in records:
        values = {f: rec[f] for f in _FIELDS if f in rec}
        point = existing.get((values["name"], values["town"]))
        if point is None:
            created += 1
            if not dry_run:
                point = ServicePoint(**values)
                session.add(point)
                existing[(point.name, point.town)] = point
            continue
        changed = {f: v for f, v in values.items() if getattr(point, f) != v}
        if not changed:
            unchanged += 1
            continue
        updated += 1
        if not dry_run:
            for f, v in changed.items():
                setattr(point, f, v)
    if not dry_run:
        session.flush()
    return ImportResult(created, updated, unchanged, dry_run)


def import_file(session: Session, path, *, dry_run: bool = False) -> ImportResult:
    """Validate the spreadsheet at ``path`` (CSV/XLSX) and upsert it, all or nothing.

    Raises :class:`models.directory_io.PointFileError` (unreadable file) or :class:`ImportRejected`
    (bad rows; every error listed, nothing changed).
    """
    records, errors = validate_table(read_table(path))
    if errors:
        raise ImportRejected(errors)
    return upsert_points(session, records, dry_run=dry_run)


def export_records(session: Session) -> list[dict]:
    """Every point (inactive too) as dicts keyed by field, ordered by town then name."""
    rows = session.scalars(select(ServicePoint).order_by(ServicePoint.town, ServicePoint.name))
    return [{f: getattr(p, f) for f in _FIELDS} for p in rows]


SEED_FILE = Path(__file__).resolve().parent / "data" / "service_points.csv"


def load_seed(session: Session) -> ImportResult:
    """Upsert the points of the seed article (``models/data/service_points.csv``)."""
    return import_file(session, SEED_FILE)


_LONG_DIGITS = re.compile(r"\d{7,}")


def mask_personal(text: str) -> str:
    """Mask runs of 7+ digits (phone numbers): 13812341234 → 138****1234."""
    return _LONG_DIGITS.sub(lambda m: m.group()[:3] + "****" + m.group()[-4:], text)


def log_unmatched(session: Session, text: str, now: datetime | None = None) -> None:
    """Count ``text`` (phone-like digits masked, cut to 200 chars) as an unmatched query.

    Runs in a savepoint so a race with another process never breaks the caller's transaction.
    """
    text = mask_personal(text.strip())[:200]
    if not text:
        return
    now = now or utcnow()
    try:
        with session.begin_nested():
            row = session.scalars(select(UnmatchedQuery).where(UnmatchedQuery.text == text)).first()
            if row is None:
                session.add(UnmatchedQuery(text=text, count=1, first_at=now, last_at=now))
            else:
                row.count += 1
                row.last_at = now
    except IntegrityError:
        log.info("unmatched query counted by another process at the same time")


def top_unmatched(session: Session, limit: int = 50) -> list[UnmatchedQuery]:
    """The most frequent unmatched queries, for staff."""
    stmt = select(UnmatchedQuery).order_by(UnmatchedQuery.count.desc(),
                                           UnmatchedQuery.last_at.desc()).limit(limit)
    return list(session.scalars(stmt))
