"""月度数据 page: figures per town and per service point, SVG charts (bars per town, the
12-month trend), XLSX export with the same charts."""
from __future__ import annotations

from flask import Response, current_app, flash, redirect, request, url_for
from flask_admin import expose

from bot.console.base import SecureView
from bot.console.charts import bar_chart, line_chart
from models.base import utcnow
from models.stats import METRICS, BadMonth, monthly_figures, monthly_trend, to_xlsx

CHART_METRICS = ("signups", "attendance", "new_followers", "help_answered")


def _month_arg(tz) -> str:
    return (request.args.get("month") or utcnow().astimezone(tz).strftime("%Y-%m")).strip()[:7]


class StatsView(SecureView):
    """Figures page (``?month=YYYY-MM``, default this month) and ``export.xlsx``."""

    @expose("/")
    def index(self):
        svc = current_app.extensions["taoyuan"]
        month = _month_arg(svc.tz)
        try:
            with svc.db.session() as s:
                figures = monthly_figures(s, month, svc.tz)
                trend = monthly_trend(s, month, svc.tz)
        except BadMonth as exc:
            flash(str(exc), "error")
            month = utcnow().astimezone(svc.tz).strftime("%Y-%m")
            with svc.db.session() as s:
                figures = monthly_figures(s, month, svc.tz)
                trend = monthly_trend(s, month, svc.tz)
        rows = figures.town_rows()
        series = [(METRICS[m], [v[m] for _, v in rows]) for m in CHART_METRICS
                  if m in figures.metrics]
        chart = bar_chart([t for t, _ in rows], series, title=f"{figures.month} 各乡镇数据")
        trend_chart = line_chart(trend.months, [(METRICS[m], trend.values[m]) for m in trend.metrics],
                                 title=f"近{len(trend.months)}个月趋势（全县）")
        point_metrics = [m for m in ("signups", "attendance", "volunteer_hours") if m in figures.metrics]
        return self.render("console/stats.html", figures=figures, rows=rows, chart=chart,
                           trend_chart=trend_chart, metrics=METRICS, point_metrics=point_metrics)

    @expose("/export.xlsx")
    def export(self):
        svc = current_app.extensions["taoyuan"]
        try:
            with svc.db.session() as s:
                figures = monthly_figures(s, _month_arg(svc.tz), svc.tz)
                trend = monthly_trend(s, figures.month, svc.tz)
        except BadMonth as exc:  # shown on the stats page, like a bad month there
            flash(str(exc), "error")
            return redirect(url_for(".index"))
        return Response(to_xlsx(figures, trend), mimetype=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="taoyuan-{figures.month}.xlsx"'})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(StatsView(name="月度数据", endpoint="stats"))
