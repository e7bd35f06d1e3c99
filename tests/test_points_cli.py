"""``taoyuan directory import/export/seed/unmatched`` through the real CLI."""
import csv

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import main
from models import directory as sp
from models.directory import ServicePoint
from tests.test_points import HEADER, good_row, write_csv


@pytest.fixture
def run(services, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{services.config.database_url}"\n'
                   f'[redis]\nurl = "redis://127.0.0.1:6379/0"\nprefix = "{services.keys.prefix}"\n'
                   f'[app]\ninstance_dir = "{tmp_path}"\n')
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["--config", str(cfg), "directory", *map(str, args)])


def count(services):
    with services.db.session() as s:
        return s.scalar(select(func.count()).select_from(ServicePoint))


def test_seed_export_edit_import_round_trip(services, run, tmp_path):
    r = run("seed")
    assert r.exit_code == 0 and "新增 39 处" in r.output, r.output
    for ext in ("csv", "xlsx"):
        out = tmp_path / f"all.{ext}"
        r = run("export", out)
        assert r.exit_code == 0 and "已导出 39 处" in r.output, r.output
        r = run("import", out)
        assert r.exit_code == 0 and "未变 39 处" in r.output, r.output
    # staff give a real phone number in the spreadsheet and re-import
    rows = list(csv.reader(open(tmp_path / "all.csv", encoding="utf-8-sig")))
    rows[1][HEADER.index("电话")] = "0595-23880000"
    write_csv(tmp_path / "edited.csv", rows[1:], header=rows[0])
    r = run("import", tmp_path / "edited.csv")
    assert r.exit_code == 0 and "更新 1 处" in r.output, r.output
    with services.db.session() as s:
        assert sp.get_by_name(s, rows[1][0], rows[1][3]).phone == "0595-23880000"


def test_dry_run_reports_and_changes_nothing(services, run, tmp_path):
    f = write_csv(tmp_path / "a.csv", [good_row(), good_row("另一处")])
    r = run("import", f, "--dry-run")
    assert r.exit_code == 0 and "试运行（未写入）：新增 2 处" in r.output, r.output
    assert count(services) == 0


def test_bad_rows_are_listed_and_nothing_imported(services, run, tmp_path):
    bad = good_row("坏行")
    bad[HEADER.index("纬度")] = "北纬25度"
    bad2 = good_row("坏行2", town="泉州")
    f = write_csv(tmp_path / "a.csv", [good_row(), bad, bad2])
    r = run("import", f)
    assert r.exit_code != 0
    assert "表格有 2 处问题，未导入任何一行" in r.output
    assert "第3行「纬度」：「北纬25度」不是数字" in r.output
    assert "第4行「乡镇」：「泉州」不是永春县的乡镇" in r.output
    assert count(services) == 0


def test_unreadable_files(services, run, tmp_path):
    r = run("import", tmp_path / "missing.csv")
    assert r.exit_code != 0 and "找不到文件" in r.output
    (tmp_path / "x.xlsx").write_bytes(b"not a zip")
    r = run("import", tmp_path / "x.xlsx")
    assert r.exit_code != 0 and "无法读取Excel文件" in r.output
    r = run("export", tmp_path / "x.pdf")
    assert r.exit_code != 0 and "不支持的文件类型" in r.output


def test_unmatched_listing(services, run):
    assert "暂无" in run("unmatched").output
    with services.db.session() as s:
        sp.log_unmatched(s, "附近医院")
        sp.log_unmatched(s, "附近医院")
    r = run("unmatched")
    assert r.exit_code == 0 and "附近医院" in r.output and "    2" in r.output


def test_export_to_a_missing_folder_is_a_clear_message(services, run, tmp_path):
    """Tester: `points export` to a missing folder printed a traceback."""
    run("seed")
    r = run("export", tmp_path / "no" / "such" / "名录.xlsx")
    assert r.exit_code == 1 and "文件夹不存在" in r.output and "Traceback" not in r.output
    assert not isinstance(r.exception, OSError)
    r = run("export", tmp_path)
    assert r.exit_code != 0 and "Traceback" not in r.output


@pytest.mark.parametrize("lat, lng, column, other", [("25.32", "-200", "经度", "纬度"),
                                                     ("95", "118.29", "纬度", "经度"),
                                                     ("25.32", "120.5", "经度", "纬度")])
def test_coordinate_errors_name_the_right_column(services, run, tmp_path, lat, lng, column, other):
    """Tester: a longitude of -200 was reported against the 「纬度」 column."""
    f = write_csv(tmp_path / "a.csv", [good_row(lat=lat, lng=lng)])
    r = run("import", f)
    assert r.exit_code != 0 and f"第2行「{column}」" in r.output and f"「{other}」" not in r.output
    assert count(services) == 0
