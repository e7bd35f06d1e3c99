"""``taoyuan stats --month 2026-11 [--xlsx FILE]``: the monthly figures."""
from __future__ import annotations

from pathlib import Path

import click


def register(main: click.Group) -> None:
    """Add ``stats`` to ``main``."""
    main.add_command(stats)


def _fmt(metric: str, value: float) -> str:
    return f"{value:.1f}" if metric == "volunteer_hours" else f"{int(value)}"


@click.command()
@click.option("--month", default=None, help="月份 YYYY-MM（当地时间，默认本月）/ Month YYYY-MM, local time (default: this month).")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False), default=None,
              help="同时导出到这个 Excel 文件 / Also write the figures to this XLSX file.")
@click.pass_obj
def stats(state, month: str | None, xlsx_path: str | None) -> None:
    """月度数据：各乡镇、各服务点 / Monthly figures per town and per service point."""
    from models.base import utcnow
    from models.stats import METRICS, BadMonth, monthly_figures, monthly_trend, to_xlsx

    svc = state.services
    month = month or utcnow().astimezone(svc.tz).strftime("%Y-%m")
    try:
        with svc.db.session() as s:
            fig = monthly_figures(s, month, svc.tz)
            trend = monthly_trend(s, month, svc.tz) if xlsx_path else None
    except BadMonth as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"桃源姐妹 月度数据 {fig.month}")
    click.echo("\t".join(["乡镇"] + [METRICS[m] for m in fig.metrics]))
    for town, values in fig.town_rows():
        click.echo("\t".join([town] + [_fmt(m, values[m]) for m in fig.metrics]))
    click.echo("\t".join(["合计"] + [_fmt(m, fig.totals[m]) for m in fig.metrics]))
    active = [p for p in fig.points if p.get("signups") or p.get("attendance")]
    if active:
        click.echo("\n服务点\t乡镇\t活动报名\t到场签到\t志愿服务时长（小时）")
        for p in active:
            click.echo(f"{p['name']}\t{p['town']}\t{p.get('signups', 0)}\t{p.get('attendance', 0)}"
                       f"\t{p.get('volunteer_hours', 0):.1f}")
    if fig.missing:
        click.echo("未统计（功能未安装）：" + "、".join(fig.missing))
    if xlsx_path:
        _write_xlsx(Path(xlsx_path), to_xlsx(fig, trend))
        click.echo(f"已导出 {xlsx_path}")


def _write_xlsx(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``; a missing folder or a refused write is a clear message."""
    folder = path.parent
    if not folder.is_dir():
        raise click.ClickException(f"文件夹不存在：{folder}（请先建好文件夹，或换一个路径）")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"无法写入 {path}：{exc.strerror or exc}") from None
