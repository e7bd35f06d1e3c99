"""bot.core.geo: haversine against known pairs, bounding boxes, refusing bad coordinates."""
import math

import pytest

from bot.core.geo import (InvalidCoordinates, OutsideChina, SwappedCoordinates, ZeroCoordinates, bounding_box,
                        check_coordinates, haversine_m, in_county)


def test_one_degree_of_latitude_is_111_195_metres():
    assert haversine_m(25.0, 118.0, 26.0, 118.0) == pytest.approx(111_195, abs=1)


def test_one_degree_of_longitude_on_the_equator():
    assert haversine_m(0.0, 100.0, 0.0, 101.0) == pytest.approx(111_195, abs=1)


@pytest.mark.parametrize("a, b, km", [
    ((39.9042, 116.4074), (31.2304, 121.4737), 1067.3),   # Beijing - Shanghai
    ((48.8566, 2.3522), (51.5074, -0.1278), 343.6),       # Paris - London
    ((25.320, 118.289), (25.33, 117.97), 32.1),           # 桃城镇 - 坑仔口镇 (town centres)
])
def test_known_pairs(a, b, km):
    assert haversine_m(*a, *b) / 1000 == pytest.approx(km, rel=0.003)
    assert haversine_m(*a, *b) == pytest.approx(haversine_m(*b, *a))


def test_same_point_is_zero():
    assert haversine_m(25.32, 118.289, 25.32, 118.289) == 0


@pytest.mark.parametrize("radius", [100, 3_000, 50_000])
def test_bounding_box_holds_the_whole_circle(radius):
    lat, lng = 25.32, 118.289
    box = bounding_box(lat, lng, radius)
    for bearing in range(0, 360, 5):
        # walk ``radius`` metres along ``bearing`` on the sphere
        d = radius / 6_371_008.8
        b = math.radians(bearing)
        p1 = math.radians(lat)
        p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
        l2 = math.radians(lng) + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1),
                                            math.cos(d) - math.sin(p1) * math.sin(p2))
        plat, plng = math.degrees(p2), math.degrees(l2)
        assert haversine_m(lat, lng, plat, plng) == pytest.approx(radius, rel=1e-6)
        assert box.min_lat <= plat <= box.max_lat and box.min_lng <= plng <= box.max_lng


def test_good_coordinates_pass():
    assert check_coordinates("25.32", "118.289") == (25.32, 118.289)
    assert in_county(25.32, 118.289)
    assert not in_county(24.48, 118.09)  # Xiamen


@pytest.mark.parametrize("lat, lng", [(0, 0), (0.0, 0.0), (None, None), ("abc", "1")])
def test_zero_or_missing_is_refused(lat, lng):
    with pytest.raises(ZeroCoordinates) as exc:
        check_coordinates(lat, lng)
    assert "位置" in exc.value.reason


@pytest.mark.parametrize("lat, lng, fields", [(float("nan"), 118.0, ("lat",)),
                                              (25.3, float("inf"), ("lng",)),
                                              ("-inf", "nan", ("lat", "lng"))])
def test_nan_or_infinite_is_invalid_not_zero(lat, lng, fields):
    with pytest.raises(InvalidCoordinates) as exc:
        check_coordinates(lat, lng)
    assert "不是有效的数字" in exc.value.reason and "为0" not in exc.value.reason
    assert exc.value.fields == fields


def test_swapped_is_refused():
    with pytest.raises(SwappedCoordinates) as exc:
        check_coordinates(118.289, 25.32)
    assert "填反" in exc.value.reason


@pytest.mark.parametrize("lat, lng", [(48.8566, 2.3522), (-33.86, 151.2), (25.32, -118.289)])
def test_outside_china_is_refused(lat, lng):
    with pytest.raises(OutsideChina) as exc:
        check_coordinates(lat, lng)
    assert "中国" in exc.value.reason


@pytest.mark.parametrize("lat, lng, fields", [(91, 200, ("lat", "lng")), (95.0, 118.0, ("lat",)),
                                              (25.32, -200, ("lng",)), (-90.5, 118.0, ("lat",))])
def test_out_of_range_is_invalid_not_abroad(lat, lng, fields):
    """Tester: `/loc 91 200` said 不在中国境内; no place on Earth is 位置无效."""
    with pytest.raises(InvalidCoordinates) as exc:
        check_coordinates(lat, lng)
    assert "位置无效" in exc.value.reason and exc.value.fields == fields
