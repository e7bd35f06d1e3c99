"""Figures per town filled from what followers tell us, the 12-month trend, and the XLSX
charts (issue 16 item 9): model, console page, export."""
from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

import pytest
from openpyxl import load_workbook

from models.followers import TOWN_INFERRED, TOWN_STATED, Follower, set_follower_town
from models.stats import (BadMonth, UNKNOWN_TOWN, monthly_figures, monthly_trend, previous_months,
                          to_xlsx)
from tests.helpers import login, make_staff, register

UTC = timezone.utc
NOV = datetime(2026, 11, 17, 1, 0, tzinfo=UTC)
MAY = datetime(2026, 5, 3, 1, 0, tzinfo=UTC)


def test_previous_months():
    assert previous_months("2027-02", 3) == ["2026-12", "2027-01", "2027-02"]
    assert len(previous_months("2026-11", 12)) == 12 and previous_months("2026-11", 12)[0] == "2025-12"
    with pytest.raises(BadMonth):
        previous_months("2000-03", 12)


def seed(services):
    with services.db.session() as s:
        s.add_all([Follower(openid="a", subscribed=True, subscribed_at=NOV),
                   Follower(openid="b", subscribed=True, subscribed_at=NOV),
                   Follower(openid="c", subscribed=True, subscribed_at=MAY)])
        s.flush()
        set_follower_town(s, "a", "蓬壶镇", source=TOWN_STATED)
        set_follower_town(s, "c", "桃城镇", source=TOWN_INFERRED)


def test_towns_told_by_followers_show_in_the_figures_and_the_trend(services):
    seed(services)
    with services.db.session() as s:
        fig = monthly_figures(s, "2026-11", services.tz)
        trend = monthly_trend(s, "2026-11", services.tz)
    assert fig.towns["蓬壶镇"]["new_followers"] == 1
    assert fig.towns[UNKNOWN_TOWN]["new_followers"] == 1
    assert trend.months[0] == "2025-12" and trend.months[-1] == "2026-11"
    followers = trend.values["new_followers"]
    assert followers[trend.months.index("2026-05")] == 1 and followers[-1] == 2 and sum(followers) == 3


def test_xlsx_has_the_town_bars_and_the_trend_line(services):
    seed(services)
    with services.db.session() as s:
        fig = monthly_figures(s, "2026-11", services.tz)
        trend = monthly_trend(s, "2026-11", services.tz)
    wb = load_workbook(BytesIO(to_xlsx(fig, trend)))
    assert wb.sheetnames == ["乡镇", "服务点", "趋势"]
    assert len(wb["乡镇"]._charts) == 1 and len(wb["趋势"]._charts) == 1
    rows = list(wb["趋势"].iter_rows(values_only=True))
    assert rows[0][0] == "月份" and rows[-1][0] == "2026-11" and len(rows) == 13
    # the chart parts are really in the file (Excel draws them)
    from zipfile import ZipFile

    names = ZipFile(BytesIO(to_xlsx(fig, trend))).namelist()
    assert sum(1 for n in names if n.startswith("xl/charts/chart")) == 2


def test_console_page_shows_town_bars_and_trend_and_exports_charts(services, client):
    seed(services)
    register(services, "oVolunteer", town="达埔")   # the volunteer form fills her town
    make_staff(services, "li", "staff")
    login(client, "li")
    month = datetime.now(UTC).astimezone(services.tz).strftime("%Y-%m")
    page = client.get(f"/admin/stats/?month={month}").get_data(as_text=True)
    assert 'id="trend-chart"' in page and "近12个月趋势" in page and "<polyline" in page
    assert 'id="town-chart"' in page
    page = client.get("/admin/stats/?month=2026-11").get_data(as_text=True)
    assert "蓬壶镇" in page
    r = client.get("/admin/stats/export.xlsx?month=2026-11")
    wb = load_workbook(BytesIO(r.data))
    assert "趋势" in wb.sheetnames and len(wb["乡镇"]._charts) == 1
