"""Monthly figures (月度数据) per town and per service point, from whatever tables exist.

Figures for local calendar month ``YYYY-MM`` (Asia/Shanghai):

- ``new_followers`` / ``lost_followers``: subscribe / unsubscribe times in the month, by
  ``Follower.town`` (town unknown = 「未填乡镇」);
- ``signups``: participant signups made in the month (not cancelled), by the activity's
  service point (and its town);
- ``attendance``: signups checked in during the month;
- ``volunteer_hours``: hours credited to volunteer signups checked in during the month;
- ``help_answered``: help requests answered in the month, by the asker's town;
- ``broadcast_reach``: 群发 ``sent_count`` of broadcasts sent in the month, by audience town
  (a send to everyone is counted under 「全县」).

A feature whose tables are missing (not installed yet) is left out and listed in
``missing``. Read only; nothing here changes the database.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, inspect, select
from sqlalchemy.orm import Session

import models
from models.base import Base
from models.spreadsheet import safe_row

METRICS = {
    "new_followers": "新增关注",
    "lost_followers": "取消关注",
    "signups": "活动报名",
    "attendance": "到场签到",
    "volunteer_hours": "志愿服务时长（小时）",
    "help_answered": "求助已答复",
    "broadcast_reach": "群发送达人数",
}
UNKNOWN_TOWN = "未填乡镇"
ALL_TOWNS = "全县"
#: The 22 towns of 永春县 in the county's usual order.
YONGCHUN_TOWNS = ("桃城镇", "五里街镇", "石鼓镇", "岵山镇", "仙夹镇", "达埔镇", "蓬壶镇", "玉斗镇",
                  "苏坑镇", "介福乡", "吾峰镇", "东平镇", "东关镇", "湖洋镇", "外山乡", "锦斗镇",
                  "桂洋镇", "坑仔口镇", "呈祥乡", "下洋镇", "横口乡", "一都镇")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


class BadMonth(ValueError):
    """The month is not ``YYYY-MM``."""


@dataclass
class MonthlyFigures:
    """``towns``: town -> metric -> value; ``points``: one dict per service point (``id``,
    ``name``, ``town`` and metric values); ``totals``: metric -> value; ``metrics``: the metric
    keys computed; ``missing``: Chinese names of features whose tables are absent."""

    month: str
    start: datetime
    end: datetime
    metrics: list[str] = field(default_factory=list)
    towns: dict[str, dict[str, float]] = field(default_factory=dict)
    points: list[dict] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def town_rows(self) -> list[tuple[str, dict[str, float]]]:
        """Towns in county order, then others (全县, 未填乡镇), skipping all-zero rows."""
        order = {t: i for i, t in enumerate(YONGCHUN_TOWNS)}
        rows = [(t, v) for t, v in self.towns.items() if any(v.values())]
        return sorted(rows, key=lambda tv: (order.get(tv[0], 99), tv[0]))


#: Years :func:`parse_month` accepts (outside them: no such date, or a bound that overflows).
MIN_YEAR, MAX_YEAR = 2000, 2100


def parse_month(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``"2026-11"`` -> (start, end) as aware UTC bounds of that local month; raises
    :class:`BadMonth` (Chinese message) for another shape, a month outside 1..12 or a year
    outside :data:`MIN_YEAR`..:data:`MAX_YEAR`."""
    m = _MONTH.match((month or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise BadMonth("月份格式应为 YYYY-MM，例如 2026-11")
    year, mon = int(m.group(1)), int(m.group(2))
    if not MIN_YEAR <= year <= MAX_YEAR:  # year 0 is no date; year 1 overflows in UTC
        raise BadMonth(f"月份的年份应在 {MIN_YEAR} 到 {MAX_YEAR} 之间，例如 2026-11")
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    utc = ZoneInfo("UTC")
    return start.astimezone(utc), end.astimezone(utc)


def _tables(session: Session, *names: str):
    """The Table objects for ``names`` if all are mapped and exist in the database, else None."""
    meta = Base.metadata.tables
    if not all(n in meta for n in names):
        return None
    insp = inspect(session.connection())
    if not all(insp.has_table(n) for n in names):
        return None
    return [meta[n] for n in names]


def monthly_figures(session: Session, month: str, tz: ZoneInfo) -> MonthlyFigures:
    """Compute :class:`MonthlyFigures` for ``month`` (``YYYY-MM``, local). Raises
    :class:`BadMonth`."""
    start, end = parse_month(month, tz)
    out = MonthlyFigures(month=month, start=start, end=end)
    towns: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    points: dict[int, dict] = {}

    def in_month(col):
        return and_(col >= start, col < end)

    fol = _tables(session, "followers")[0]
    town_col = func.coalesce(func.nullif(fol.c.town, ""), UNKNOWN_TOWN)
    for metric, col in (("new_followers", fol.c.subscribed_at), ("lost_followers", fol.c.unsubscribed_at)):
        out.metrics.append(metric)
        for town, n in session.execute(select(town_col, func.count()).where(in_month(col))
                                       .group_by(town_col)):
            towns[town][metric] += n

    act = _tables(session, "activities", "signups")
    sp = _tables(session, "service_points")
    if act is None:
        out.missing.append("活动报名")
    else:
        activities, signups = act
        if sp is not None:
            for pid, name, town in session.execute(select(sp[0].c.id, sp[0].c.name, sp[0].c.town)):
                points[pid] = {"id": pid, "name": name, "town": town or UNKNOWN_TOWN}
        point_town = {pid: p["town"] for pid, p in points.items()}
        base = select(activities.c.point_id, signups.c.role, func.count(),
                      func.coalesce(func.sum(signups.c.hours), 0)).select_from(
            signups.join(activities, signups.c.activity_id == activities.c.id))
        queries = {
            "signups": base.where(in_month(signups.c.created_at), signups.c.status != "cancelled",
                                  signups.c.role == "participant"),
            "attendance": base.where(in_month(signups.c.attended_at)),
        }
        out.metrics += ["signups", "attendance", "volunteer_hours"]
        for metric, q in queries.items():
            for pid, role, n, hours in session.execute(
                    q.group_by(activities.c.point_id, signups.c.role)):
                town = point_town.get(pid, UNKNOWN_TOWN)
                values = [(metric, n)]
                if metric == "attendance" and role == "volunteer":
                    values.append(("volunteer_hours", float(hours or 0)))
                for key, value in values:
                    towns[town][key] += value
                    if pid in points:
                        points[pid][key] = points[pid].get(key, 0) + value

    helps = _tables(session, "help_requests")
    if helps is None:
        out.missing.append("求助留言")
    else:
        hr = helps[0]
        out.metrics.append("help_answered")
        q = (select(town_col, func.count()).select_from(hr.outerjoin(fol, hr.c.openid == fol.c.openid))
             .where(in_month(hr.c.answered_at)).group_by(town_col))
        for town, n in session.execute(q):
            towns[town or UNKNOWN_TOWN]["help_answered"] += n

    bc = _tables(session, "broadcasts")[0]
    out.metrics.append("broadcast_reach")
    bc_town = func.coalesce(bc.c.town, ALL_TOWNS)
    for town, n in session.execute(select(bc_town, func.coalesce(func.sum(bc.c.sent_count), 0))
                                   .where(in_month(bc.c.sent_at)).group_by(bc_town)):
        towns[town]["broadcast_reach"] += n

    out.towns = {t: {m: v.get(m, 0) for m in out.metrics} for t, v in towns.items()}
    out.points = sorted(({**p, **{m: p.get(m, 0) for m in out.metrics
                                  if m in ("signups", "attendance", "volunteer_hours")}}
                         for p in points.values()),
                        key=lambda p: (-p.get("signups", 0), p["name"]))
    out.totals = {m: sum(v[m] for v in out.towns.values()) for m in out.metrics}
    return out


#: Metrics of the 12-month trend (page chart, XLSX sheet 趋势).
TREND_METRICS = ("new_followers", "signups", "attendance", "help_answered")
TREND_MONTHS = 12


def previous_months(month: str, count: int) -> list[str]:
    """The ``count`` months ending with ``month`` (``YYYY-MM``), oldest first; raises
    :class:`BadMonth` like :func:`parse_month` (also when the range leaves :data:`MIN_YEAR`)."""
    m = _MONTH.match((month or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise BadMonth("月份格式应为 YYYY-MM，例如 2026-11")
    index = int(m.group(1)) * 12 + int(m.group(2)) - 1
    out = [f"{i // 12}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]
    if int(out[0][:4]) < MIN_YEAR or int(out[-1][:4]) > MAX_YEAR:
        raise BadMonth(f"月份的年份应在 {MIN_YEAR} 到 {MAX_YEAR} 之间，例如 2026-11")
    return out


@dataclass
class Trend:
    """The county totals of the ``months`` ending with the chosen one (oldest first):
    ``values[metric]`` is one number per month; ``metrics``: those computed."""

    months: list[str]
    metrics: list[str]
    values: dict[str, list[float]]


def monthly_trend(session: Session, month: str, tz: ZoneInfo, count: int = TREND_MONTHS) -> Trend:
    """The 12-month trend (:class:`Trend`) ending with ``month`` (``YYYY-MM``, local): the
    county totals of :data:`TREND_METRICS` per month, from :func:`monthly_figures`. Raises
    :class:`BadMonth`."""
    months = previous_months(month, count)
    per_month = [monthly_figures(session, m, tz) for m in months]
    metrics = [m for m in TREND_METRICS if m in per_month[-1].metrics]
    return Trend(months, metrics, {m: [f.totals.get(m, 0) for f in per_month] for m in metrics})


def to_xlsx(figures: MonthlyFigures, trend: Trend | None = None) -> bytes:
    """The figures as an XLSX workbook (sheets 乡镇 with a bar chart per town, 服务点, and with
    ``trend`` 趋势 with a line chart of the 12 months), for the export button/CLI.
    Text cells go through :func:`models.spreadsheet.safe_cell` (names typed by staff or
    followers never become formulas)."""
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "乡镇"
    ws.append([f"永春县妇联「桃源姐妹」月度数据 {figures.month}"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(["乡镇"] + [METRICS[m] for m in figures.metrics])
    for town, values in figures.town_rows():
        ws.append(safe_row([town] + [values[m] for m in figures.metrics]))
    ws.append(["合计"] + [figures.totals[m] for m in figures.metrics])
    if figures.missing:
        ws.append([])
        ws.append(["未统计（功能未安装）：" + "、".join(figures.missing)])
    point_metrics = [m for m in ("signups", "attendance", "volunteer_hours") if m in figures.metrics]
    ps = wb.create_sheet("服务点")
    ps.append(["服务点", "乡镇"] + [METRICS[m] for m in point_metrics])
    for p in figures.points:
        ps.append(safe_row([p["name"], p["town"]] + [p.get(m, 0) for m in point_metrics]))
    sheets = [ws, ps]
    town_count = len(figures.town_rows())
    if town_count:
        chart = BarChart()
        chart.type, chart.style = "bar", 10
        chart.title = f"{figures.month} 各乡镇数据"
        chart.y_axis.title, chart.x_axis.title = "人数", "乡镇"
        shown = [i for i, m in enumerate(figures.metrics) if m in TREND_METRICS]
        for i in shown:
            chart.add_data(Reference(ws, min_col=i + 2, min_row=2, max_row=2 + town_count),
                           titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=3, max_row=2 + town_count))
        chart.height, chart.width = max(7.5, 0.9 * town_count + 3), 18
        ws.add_chart(chart, f"{get_column_letter(len(figures.metrics) + 3)}2")
    if trend is not None:
        ts = wb.create_sheet("趋势")
        ts.append(["月份"] + [METRICS[m] for m in trend.metrics])
        for i, month in enumerate(trend.months):
            ts.append([month] + [trend.values[m][i] for m in trend.metrics])
        line = LineChart()
        line.title = f"近{len(trend.months)}个月趋势（全县）"
        line.y_axis.title, line.x_axis.title = "人数", "月份"
        line.add_data(Reference(ts, min_col=2, max_col=1 + len(trend.metrics), min_row=1,
                                max_row=1 + len(trend.months)), titles_from_data=True)
        line.set_categories(Reference(ts, min_col=1, min_row=2, max_row=1 + len(trend.months)))
        line.height, line.width = 9, 20
        ts.add_chart(line, f"{get_column_letter(len(trend.metrics) + 3)}2")
        sheets.append(ts)
    for sheet in sheets:
        sheet.column_dimensions["A"].width = 28
        header = 1 if sheet.title == "趋势" else 2
        for row in sheet.iter_rows(min_row=header, max_row=header):
            for cell in row:
                cell.font = Font(bold=True)
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


_ = models  # every model module imported, so Base.metadata knows all tables
