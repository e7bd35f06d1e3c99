"""Monthly figures per town and per service point: model, CLI, console page (SVG) and XLSX."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import BytesIO

import pytest
from openpyxl import load_workbook

from models.stats import BadMonth, monthly_figures, parse_month, to_xlsx
from tests.helpers import login, make_staff

UTC = timezone.utc
NOV = datetime(2026, 11, 17, 1, 0, tzinfo=UTC)   # 09:00 on 17 November, Beijing time
OCT = datetime(2026, 10, 20, 1, 0, tzinfo=UTC)


def seed(services):
    from models.activities import Activity, Signup
    from models.broadcasts import Broadcast
    from models.followers import Follower
    from models.help import HelpRequest
    from models.directory import ServicePoint

    with services.db.session() as s:
        s.add_all([
            Follower(openid="f1", subscribed=True, subscribed_at=NOV, town="桃城镇"),
            Follower(openid="f2", subscribed=True, subscribed_at=NOV, town="桃城镇"),
            Follower(openid="f3", subscribed=True, subscribed_at=NOV, town="蓬壶镇"),
            Follower(openid="f4", subscribed=False, subscribed_at=OCT, unsubscribed_at=NOV,
                     town="蓬壶镇"),
            Follower(openid="f5", subscribed=True, subscribed_at=OCT, town="桃城镇"),
            Follower(openid="f6", subscribed=True, subscribed_at=NOV),
        ])
        point = ServicePoint(name="助困公益协会妇联", town="桃城镇", lat=25.32, lng=118.29)
        s.add(point)
        s.flush()
        act = Activity(number=1, title="爱心义剪", category="爱心义剪", point_id=point.id,
                       starts_at=NOV, ends_at=NOV + timedelta(hours=3), status="open")
        s.add(act)
        s.flush()
        s.add_all([
            Signup(activity_id=act.id, openid="f1", role="participant", status="attended",
                   created_at=NOV - timedelta(days=3), attended_at=NOV),
            Signup(activity_id=act.id, openid="f2", role="participant", status="confirmed",
                   created_at=NOV - timedelta(days=2)),
            Signup(activity_id=act.id, openid="f3", role="participant", status="cancelled",
                   created_at=NOV - timedelta(days=2)),
            Signup(activity_id=act.id, openid="f5", role="volunteer", status="attended",
                   created_at=OCT, attended_at=NOV, hours=3.0),
        ])
        s.add(HelpRequest(openid="f3", category="other", status="answered", body="x",
                          submitted=True, created_at=NOV, answered_at=NOV))
        s.add(Broadcast(kind="text", text="通知", status="finished", client_msg_id="c1",
                        sent_at=NOV, sent_count=5, created_by="li"))
        s.add(Broadcast(kind="text", text="蓬壶", town="蓬壶镇", status="finished", client_msg_id="c2",
                        sent_at=NOV, sent_count=2, created_by="li"))
        s.add(Broadcast(kind="text", text="十月", status="finished", client_msg_id="c3",
                        sent_at=OCT, sent_count=50, created_by="li"))


def test_month_bounds_are_local(services):
    start, end = parse_month("2026-11", services.tz)
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert parse_month("2026-12", services.tz)[1] == datetime(2026, 12, 31, 16, tzinfo=UTC)
    for bad in ("2026-13", "11-2026", "", "2026/11", "0000-01", "0001-01", "1999-12", "2101-01",
                "9999-12"):
        with pytest.raises(BadMonth):
            parse_month(bad, services.tz)


def test_figures_per_town_and_point(services):
    seed(services)
    with services.db.session() as s:
        fig = monthly_figures(s, "2026-11", services.tz)
    assert fig.missing == []
    t = fig.towns
    assert t["桃城镇"]["new_followers"] == 2 and t["蓬壶镇"]["new_followers"] == 1
    assert t["未填乡镇"]["new_followers"] == 1
    assert t["蓬壶镇"]["lost_followers"] == 1
    assert t["桃城镇"]["signups"] == 2           # the cancelled one is not counted
    assert t["桃城镇"]["attendance"] == 2        # a participant and a volunteer checked in
    assert t["桃城镇"]["volunteer_hours"] == 3.0
    assert t["蓬壶镇"]["help_answered"] == 1
    assert t["全县"]["broadcast_reach"] == 5 and t["蓬壶镇"]["broadcast_reach"] == 2
    point = fig.points[0]
    assert (point["name"], point["signups"], point["attendance"], point["volunteer_hours"]) == \
        ("助困公益协会妇联", 2, 2, 3.0)
    assert fig.totals["new_followers"] == 4 and fig.totals["broadcast_reach"] == 7
    assert [town for town, _ in fig.town_rows()][:2] == ["桃城镇", "蓬壶镇"]  # county order


def test_other_month_is_empty(services):
    seed(services)
    with services.db.session() as s:
        fig = monthly_figures(s, "2026-12", services.tz)
    assert fig.town_rows() == [] and all(v == 0 for v in fig.totals.values())


def test_xlsx_export(services):
    seed(services)
    with services.db.session() as s:
        data = to_xlsx(monthly_figures(s, "2026-11", services.tz))
    wb = load_workbook(BytesIO(data))
    towns = [row for row in wb["乡镇"].iter_rows(values_only=True)]
    assert towns[1][0] == "乡镇" and towns[2][0] == "桃城镇"
    assert towns[-1][0] == "合计"
    assert list(wb["服务点"].iter_rows(values_only=True))[1][:3] == ("助困公益协会妇联", "桃城镇", 2)


def test_stats_cli(services, tmp_path):
    from click.testing import CliRunner

    from bot.cli import main

    seed(services)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{services.config.database_url}"\n'
                   f'[redis]\nurl = "redis://127.0.0.1:6379/0"\nprefix = "{services.keys.prefix}"\n'
                   f'[app]\ninstance_dir = "{tmp_path}"\n')
    out = tmp_path / "nov.xlsx"
    r = CliRunner().invoke(main, ["--config", str(cfg), "stats", "--month", "2026-11",
                                  "--xlsx", str(out)])
    assert r.exit_code == 0, r.output
    assert "桃源姐妹 月度数据 2026-11" in r.output
    assert "桃城镇\t2\t0\t2\t2\t3.0" in r.output
    assert "助困公益协会妇联\t桃城镇\t2\t2\t3.0" in r.output
    assert out.stat().st_size > 1000
    r = CliRunner().invoke(main, ["--config", str(cfg), "stats", "--month", "2026-13"])
    assert r.exit_code != 0 and "YYYY-MM" in r.output


def test_stats_cli_xlsx_to_missing_folder(services, tmp_path):
    """Tester: --xlsx into a folder that does not exist printed a traceback."""
    from click.testing import CliRunner

    from bot.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{services.config.database_url}"\n'
                   f'[redis]\nurl = "redis://127.0.0.1:6379/0"\nprefix = "{services.keys.prefix}"\n'
                   f'[app]\ninstance_dir = "{tmp_path}"\n')
    out = tmp_path / "no-such-folder" / "nov.xlsx"
    r = CliRunner().invoke(main, ["--config", str(cfg), "stats", "--month", "2026-11",
                                  "--xlsx", str(out)])
    assert r.exit_code == 1 and r.exception is not None and isinstance(r.exception, SystemExit)
    assert "文件夹不存在" in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_stats_page_and_export(services, client):
    seed(services)
    make_staff(services, "li", "staff")
    login(client, "li")
    body = client.get("/admin/stats/?month=2026-11").get_data(as_text=True)
    assert "<svg" in body and "桃城镇" in body and "助困公益协会妇联" in body
    assert "https://" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]  # nothing external
    r = client.get("/admin/stats/export.xlsx?month=2026-11")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert load_workbook(BytesIO(r.data))["乡镇"]["A3"].value == "桃城镇"
    body = client.get("/admin/stats/?month=bad").get_data(as_text=True)
    assert "月份格式应为" in body


@pytest.mark.parametrize("month", ["0000-01", "0001-01", "9999-12"])
def test_a_month_outside_the_years_is_a_chinese_error_not_a_500(services, client, tmp_path, month):
    # i12 fixes, finding 9: ValueError / OverflowError gave 500 on PostgreSQL.
    from click.testing import CliRunner

    from bot.cli import main

    make_staff(services, "li", "staff")
    login(client, "li")
    r = client.get(f"/admin/stats/?month={month}")
    assert r.status_code == 200 and "年份应在 2000 到 2100 之间" in r.get_data(as_text=True)
    r = client.get(f"/admin/stats/export.xlsx?month={month}")
    assert r.status_code == 302 and r.location.endswith("/admin/stats/")
    assert "年份应在 2000 到 2100 之间" in client.get(r.location).get_data(as_text=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{services.config.database_url}"\n'
                   f'[redis]\nurl = "redis://127.0.0.1:6379/0"\nprefix = "{services.keys.prefix}"\n'
                   f'[app]\ninstance_dir = "{tmp_path}"\n')
    r = CliRunner().invoke(main, ["--config", str(cfg), "stats", "--month", month])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception
    assert "年份应在 2000 到 2100 之间" in r.output
