"""models.directory: seed, nearest, search, spreadsheet import/export, unmatched queries."""
import csv
import random

import pytest
from sqlalchemy import create_engine, func, select, text

from bot.core.db import upgrade
from models import directory as sp
from bot.core.geo import haversine_m
from models.directory_io import PointFileError, read_table, write_table
from models.directory import ImportRejected, ServicePoint, UnmatchedQuery

HEADER = ["名称", "类型", "平台", "乡镇", "村社区", "地址", "纬度", "经度", "大致位置", "电话",
          "开放时间", "服务", "简介", "启用"]


def write_csv(path, rows, header=HEADER):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def good_row(name="测试妇女微家", town="桃城镇", lat="25.321", lng="118.29", **kw):
    row = dict(zip(HEADER, [name, "妇女微家", "邻里守望", town, "", "", lat, lng, "否",
                            "0595-12345678", "周一至周五", "早教、普法", "测试", "是"]))
    row.update(kw)
    return [row[h] for h in HEADER]


@pytest.fixture
def seeded(services):
    with services.db.session() as s:
        sp.load_seed(s)
    return services


def test_seed_has_every_article_point_and_22_towns(seeded):
    with seeded.db.session() as s:
        names = set(s.scalars(select(ServicePoint.name)))
        towns = s.scalars(select(ServicePoint).where(ServicePoint.kind == "乡镇妇联")).all()
    for name in ["临江经典小区妇联", "红玫瑰早教工作室", "富临国际小区妇女微家", "秀丽个人调解室",
                 "陈秀美个人评理室", "坑仔口镇诗元村第二网格党支部妇女微家", "助困公益协会妇联",
                 "坑仔口镇志愿者协会", "马峰村女儿阁", "知青驿站妇女微家", "永芳纸织画社妇女微家",
                 "永商网红城妇联", "电商园妇联", "永春县群团邻里中心"]:
        assert name in names
    assert len(towns) == 22 and all(t.approximate for t in towns)
    assert sum(t.town.endswith("乡") for t in towns) == 4
    assert all(not t.phone for t in towns)  # nothing invented


def test_fresh_database_is_seeded_by_the_migration(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM service_points")).scalar()
    engine.dispose()
    assert count == len(read_table(sp.SEED_FILE))
    upgrade(url)  # idempotent: a second run adds nothing


def test_nearest_matches_brute_force(services):
    rnd = random.Random(7)
    with services.db.session() as s:
        for i in range(300):
            s.add(ServicePoint(name=f"点{i}", town="", lat=rnd.uniform(25.2, 25.6),
                               lng=rnd.uniform(117.7, 118.5), active=i % 10 != 0))
    with services.db.session() as s:
        everything = s.scalars(select(ServicePoint).where(ServicePoint.active.is_(True))).all()
        for _ in range(20):
            lat, lng = rnd.uniform(25.0, 25.8), rnd.uniform(117.5, 118.7)
            got = sp.nearest(s, lat, lng, limit=5)
            want = sorted(everything, key=lambda p: haversine_m(lat, lng, p.lat, p.lng))[:5]
            assert [f.point.id for f in got] == [p.id for p in want]
            assert got[0].distance_m == pytest.approx(haversine_m(lat, lng, want[0].lat, want[0].lng))
        far = sp.nearest(s, 39.9, 116.4, limit=3)  # Beijing: the fallback scans everything
        assert len(far) == 3 and far[0].distance_m > 1_000_000


def test_search_by_town_need_platform(seeded):
    with seeded.db.session() as s:
        kzk = sp.search(s, town="坑仔口镇")
        assert {f.point.name for f in kzk} >= {"坑仔口镇妇联", "坑仔口镇志愿者协会",
                                                "坑仔口镇诗元村第二网格党支部妇女微家"}
        haircut = sp.search(s, tags=["义剪"])
        assert {f.point.name for f in haircut} == {"助困公益协会妇联", "巾帼义务理发服务队"}
        mediation = sp.search(s, platform="纠纷化解", near=(25.33, 117.97))
        assert mediation[0].point.name == "坑仔口镇诗元村第二网格党支部妇女微家"
        assert mediation[0].distance_m < 1


def test_import_creates_updates_and_reports(services, tmp_path):
    f = write_csv(tmp_path / "a.csv", [good_row(), good_row("另一处", town="坑仔口")])
    with services.db.session() as s:
        r = sp.import_file(s, f)
    assert (r.created, r.updated, r.unchanged) == (2, 0, 0)
    f2 = write_csv(tmp_path / "b.csv", [good_row(lat="25.322"), good_row("另一处", town="坑仔口镇")])
    with services.db.session() as s:
        r = sp.import_file(s, f2)
        assert (r.created, r.updated, r.unchanged) == (0, 1, 1)
        p = sp.get_by_name(s, "另一处")
        assert p.town == "坑仔口镇" and p.tags == ["早教", "普法"] and p.active and not p.approximate
        assert s.scalar(select(func.count()).select_from(ServicePoint)) == 2


def test_dry_run_changes_nothing(services, tmp_path):
    f = write_csv(tmp_path / "a.csv", [good_row(), good_row("另一处")])
    with services.db.session() as s:
        r = sp.import_file(s, f, dry_run=True)
    assert (r.created, r.dry_run) == (2, True)
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ServicePoint)) == 0


@pytest.mark.parametrize("change, column, words", [
    ({"纬度": "abc"}, "纬度", "不是数字"),
    ({"纬度": "118.29", "经度": "25.321"}, "纬度", "填反"),
    ({"纬度": "0", "经度": "0"}, "纬度", "为0"),
    ({"纬度": "39.9", "经度": "116.4"}, "纬度", "不在永春县"),
    ({"经度": ""}, "经度", "不能为空"),
    ({"乡镇": "厦门"}, "乡镇", "不是永春县的乡镇"),
    ({"平台": "其他"}, "平台", "四类平台"),
    ({"电话": "请打电话"}, "电话", "不像电话"),
    ({"启用": "也许"}, "启用", "是 或 否"),
    ({"名称": ""}, "名称", "不能为空"),
])
def test_bad_row_is_reported_with_row_and_column(services, tmp_path, change, column, words):
    bad = good_row("坏的一行")
    for k, v in change.items():
        bad[HEADER.index(k)] = v
    f = write_csv(tmp_path / "bad.csv", [good_row(), bad])
    with services.db.session() as s:
        with pytest.raises(ImportRejected) as exc:
            sp.import_file(s, f)
    msgs = [str(e) for e in exc.value.errors]
    assert any(m.startswith(f"第3行「{column}」") and words in m for m in msgs), msgs
    with services.db.session() as s:  # all or nothing: the good row 2 was not imported
        assert s.scalar(select(func.count()).select_from(ServicePoint)) == 0


def test_duplicate_rows_and_missing_columns(services, tmp_path):
    f = write_csv(tmp_path / "dup.csv", [good_row(), good_row(town="桃城")])
    with services.db.session() as s, pytest.raises(ImportRejected) as exc:
        sp.import_file(s, f)
    assert "第3行「名称」：与第2行重复" in str(exc.value.errors[0])
    f = write_csv(tmp_path / "cols.csv", [["a", "b"]], header=["名称", "乡镇"])
    with pytest.raises(PointFileError, match="纬度"):
        read_table(f)
    with pytest.raises(PointFileError, match="不支持"):
        read_table(write_csv(tmp_path / "x.json", []))


def test_gbk_csv_from_excel(services, tmp_path):
    path = tmp_path / "gbk.csv"
    with open(path, "w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerow(good_row("岵山镇某妇女微家", town="岵山"))
    with services.db.session() as s:
        assert sp.import_file(s, path).created == 1
        assert sp.get_by_name(s, "岵山镇某妇女微家").town == "岵山镇"


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_export_import_round_trip(seeded, tmp_path, ext):
    with seeded.db.session() as s:
        before = sp.export_records(s)
        s.execute(sp.ServicePoint.__table__.update().values(active=False))
    path = tmp_path / f"points.{ext}"
    assert write_table(path, before) == len(before)
    with seeded.db.session() as s:
        r = sp.import_file(s, path)
        assert r.updated == len(before) and r.created == 0  # every point re-activated
        assert sp.export_records(s) == before
    with seeded.db.session() as s:
        assert sp.import_file(s, path).unchanged == len(before)


def test_xlsx_numbers_and_phone(services, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(HEADER)
    row = good_row()
    row[HEADER.index("纬度")], row[HEADER.index("经度")] = 25.321, 118.29
    row[HEADER.index("电话")] = 13812341234
    wb.active.append(row)
    wb.active.append([None] * len(HEADER))  # blank rows are skipped
    wb.save(tmp_path / "a.xlsx")
    with services.db.session() as s:
        sp.import_file(s, tmp_path / "a.xlsx")
        p = sp.get_by_name(s, "测试妇女微家")
        assert (p.lat, p.lng, p.phone) == (25.321, 118.29, "13812341234")


def test_unmatched_queries_are_counted_and_masked(services):
    with services.db.session() as s:
        sp.log_unmatched(s, "附近医院")
        sp.log_unmatched(s, "附近医院")
        sp.log_unmatched(s, "13812341234在哪里")
    with services.db.session() as s:
        rows = {r.text: r.count for r in sp.top_unmatched(s)}
    assert rows == {"附近医院": 2, "138****1234在哪里": 1}


def _form(**kw):
    values = {"name": "新微家", "kind": "妇女微家", "platform": "邻里守望", "town": "桃城",
              "lat": 25.321, "lng": 118.29, "phone": "0595-12345678", "approximate": False,
              "active": True, "services": "早教，普法"}
    values.update(kw)
    return values


def test_console_validator_accepts_a_good_point_and_an_empty_town(services):
    from models.directory_io import clean_point_fields, point_field_errors

    assert point_field_errors(_form()) == {}
    assert point_field_errors(_form(town="", phone=None)) == {}  # seed points: town unknown
    assert point_field_errors(_form(lat="25.321", lng="118.29")) == {}  # form text
    clean = clean_point_fields(_form())
    assert (clean["town"], clean["services"], clean["lat"], clean["active"]) == ("桃城镇", "早教、普法", 25.321, True)
    assert clean_point_fields(_form(town=None))["town"] == ""


@pytest.mark.parametrize("change, field, words", [
    ({"town": "火星镇"}, "town", "不是永春县的乡镇"),
    ({"phone": "电话不知道"}, "phone", "不像电话号码"),
    ({"lat": None}, "lat", "不能为空"), ({"lng": ""}, "lng", "不能为空"),
    ({"lat": 95}, "lat", "超出范围"), ({"lng": -200}, "lng", "超出范围"),
    ({"lat": 39.9}, "lat", "不在永春县附近"), ({"lng": 120.5}, "lng", "不在永春县附近"),
    ({"lat": 118.29, "lng": 25.321}, "lat", "填反"), ({"lat": 0, "lng": 0}, "lat", "为0"),
    ({"name": " "}, "name", "不能为空"), ({"platform": "其他"}, "platform", "四类平台"),
])
def test_console_validator_reports_each_field(change, field, words):
    """Tester: the console accepted 乡镇「火星镇」, 电话「电话不知道」 and had no 纬度/经度."""
    from models.directory_io import point_field_errors

    errors = point_field_errors(_form(**change))
    assert field in errors and words in errors[field], errors
    assert all("第" not in m for m in errors.values())


def test_console_validator_checks_name_and_town_are_unique(seeded):
    from models.directory_io import point_field_errors

    with seeded.db.session() as s:
        seed_point = sp.get_by_name(s, "秀丽个人调解室")
        assert point_field_errors(_form(name="秀丽个人调解室", town=""), session=s)["name"]
        assert point_field_errors(_form(name="秀丽个人调解室", town=""), session=s,
                                  point_id=seed_point.id) == {}
        assert point_field_errors(_form(name="秀丽个人调解室"), session=s) == {}  # 桃城镇: other town


def test_point_without_town_can_be_created(services):
    with services.db.session() as s:
        s.add(ServicePoint(name="无乡镇", lat=25.32, lng=118.29))
    with services.db.session() as s:
        assert sp.get_by_name(s, "无乡镇").town == ""
