"""Distances and sanity checks for coordinates (GCJ-02 degrees, as WeChat's map sends them).

Pure functions, no database: the haversine great-circle distance, a bounding box for index
prefilters, and :func:`check_coordinates`, which refuses positions that would give a wrong
answer rather than a useful one (0,0, out of range, latitude and longitude swapped, outside
China).

GCJ-02 differs from WGS-84 by a few hundred metres in China; over the short distances this
directory deals in, the haversine on GCJ-02 degrees is as good as on WGS-84.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

#: Mean Earth radius in metres (IUGG), the usual radius for haversine.
EARTH_RADIUS_M = 6_371_008.8

#: A generous box around China (incl. Hainan and the South China Sea islands), degrees.
CHINA_LAT = (3.5, 54.0)
CHINA_LNG = (73.0, 135.5)

#: 永春县's extent (117.69–118.52 E, 25.22–25.56 N, a box around its 22 towns), degrees; used to
#: warn, never to refuse.
COUNTY_LAT = (25.22, 25.56)
COUNTY_LNG = (117.69, 118.52)

#: The 22 towns (乡镇) of 永春县: 18 镇 and 4 乡, the county seat 桃城镇 first.
TOWNS = ("桃城镇", "五里街镇", "石鼓镇", "岵山镇", "仙夹镇", "达埔镇", "蓬壶镇", "玉斗镇", "苏坑镇",
         "介福乡", "吾峰镇", "东平镇", "东关镇", "湖洋镇", "外山乡", "锦斗镇", "桂洋镇", "坑仔口镇",
         "呈祥乡", "下洋镇", "横口乡", "一都镇")


#: Town-centre estimates (GCJ-02 degrees) of the 22 towns, from the seed directory's 妇联 of each
#: town (models/data/service_points.csv); :func:`nearest_town` compares with these.
TOWN_CENTRES = {
    "桃城镇": (25.320, 118.289), "五里街镇": (25.33, 118.27), "石鼓镇": (25.30, 118.26),
    "岵山镇": (25.28, 118.23), "仙夹镇": (25.23, 118.26), "达埔镇": (25.30, 118.16),
    "蓬壶镇": (25.38, 118.18), "玉斗镇": (25.30, 118.05), "苏坑镇": (25.45, 118.13),
    "介福乡": (25.45, 118.25), "吾峰镇": (25.37, 118.33), "东平镇": (25.33, 118.35),
    "东关镇": (25.32, 118.40), "湖洋镇": (25.29, 118.43), "外山乡": (25.35, 118.48),
    "锦斗镇": (25.40, 118.05), "桂洋镇": (25.43, 117.98), "坑仔口镇": (25.33, 117.97),
    "呈祥乡": (25.48, 117.97), "下洋镇": (25.38, 117.88), "横口乡": (25.42, 117.84),
    "一都镇": (25.36, 117.76),
}
#: How far outside the county's box (degrees, ~5 km) a position still gets a nearest town.
NEAREST_TOWN_MARGIN = 0.05


class BadCoordinates(ValueError):
    """A position that must not be used; ``reason`` is a short Chinese sentence for her."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ZeroCoordinates(BadCoordinates):
    """0,0 (or missing): the phone did not really have a position."""


class SwappedCoordinates(BadCoordinates):
    """Latitude and longitude given the wrong way round."""


class InvalidCoordinates(BadCoordinates):
    """Not a position on Earth: latitude outside ±90° or longitude outside ±180°.

    ``fields``: which of ``"lat"``/``"lng"`` is out of range (for spreadsheet/console errors).
    """

    def __init__(self, reason: str, fields: tuple[str, ...] = ("lat", "lng")):
        super().__init__(reason)
        self.fields = fields


class OutsideChina(BadCoordinates):
    """A position outside China, where GCJ-02 and this directory do not apply."""


def _in(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def check_coordinates(lat: float | None, lng: float | None) -> tuple[float, float]:
    """Return ``(lat, lng)`` as floats when they are a usable position in China.

    Raises :class:`ZeroCoordinates` (missing, not a number, or 0,0), :class:`SwappedCoordinates`
    (the pair only makes sense the other way round), :class:`InvalidCoordinates` (NaN or
    infinite, latitude outside ±90° or longitude outside ±180°: no place on Earth) or
    :class:`OutsideChina`.
    """
    try:
        lat_f, lng_f = float(lat), float(lng)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ZeroCoordinates("没有收到有效的位置。") from None
    not_numbers = tuple(name for name, value in (("lat", lat_f), ("lng", lng_f))
                        if not math.isfinite(value))
    if not_numbers:  # NaN / inf: a broken position, not 0,0
        raise InvalidCoordinates("这个位置无效（收到的经纬度不是有效的数字）。", not_numbers)
    if abs(lat_f) < 1e-6 and abs(lng_f) < 1e-6:
        raise ZeroCoordinates("没有收到有效的位置（经纬度为0）。")
    if _in(lat_f, CHINA_LAT) and _in(lng_f, CHINA_LNG):
        return lat_f, lng_f
    if _in(lng_f, CHINA_LAT) and _in(lat_f, CHINA_LNG):
        raise SwappedCoordinates("这个位置的纬度和经度好像填反了。")
    bad = tuple(name for name, value, limit in (("lat", lat_f, 90.0), ("lng", lng_f, 180.0))
                if abs(value) > limit)
    if bad:
        raise InvalidCoordinates("这个位置无效（纬度应在-90到90之间，经度应在-180到180之间）。", bad)
    raise OutsideChina("这个位置不在中国境内，本服务只覆盖永春县。")


def in_county(lat: float, lng: float, margin: float = 0.0) -> bool:
    """True when the point lies in 永春县's extent, widened by ``margin`` degrees."""
    return (COUNTY_LAT[0] - margin <= lat <= COUNTY_LAT[1] + margin
            and COUNTY_LNG[0] - margin <= lng <= COUNTY_LNG[1] + margin)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class BoundingBox:
    """Degrees: ``min_lat <= lat <= max_lat`` and ``min_lng <= lng <= max_lng``."""

    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float


def bounding_box(lat: float, lng: float, radius_m: float) -> BoundingBox:
    """The smallest lat/lng box holding every point within ``radius_m`` metres of (lat, lng).

    Valid away from the poles and the 180° meridian (true everywhere in China).
    """
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    # Use the poleward edge's latitude: the circle's widest point lies slightly poleward of
    # its centre, so the centre's cosine would make the box a hair too narrow.
    cos_lat = max(math.cos(math.radians(min(90.0, abs(lat) + dlat))), 1e-6)
    dlng = math.degrees(radius_m / (EARTH_RADIUS_M * cos_lat))
    dlat, dlng = dlat + 1e-9, dlng + 1e-9  # ~0.1 mm of slack against float rounding
    return BoundingBox(lat - dlat, lat + dlat, lng - dlng, lng + dlng)


def nearest_town(lat: float, lng: float) -> str | None:
    """The town (one of :data:`TOWNS`) whose centre (:data:`TOWN_CENTRES`) is nearest to the
    position (GCJ-02 degrees), or None when the position is outside 永春县 (its box widened by
    :data:`NEAREST_TOWN_MARGIN`): a woman sending her location from Quanzhou has no town here."""
    if not in_county(lat, lng, NEAREST_TOWN_MARGIN):
        return None
    return min(TOWN_CENTRES, key=lambda t: haversine_m(lat, lng, *TOWN_CENTRES[t]))
