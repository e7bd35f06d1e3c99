"""``taoyuan directory``: the 近邻娘家 service directory for staff (import/export a spreadsheet).

``taoyuan points …`` is a hidden alias kept for staff scripts (bot.cli.HIDDEN_ALIASES).

``import FILE [--dry-run]`` validates every row (row number, column, reason), then upserts by
名称 + 乡镇 in one transaction, all or nothing. ``export FILE`` writes the same format back.
``seed`` re-adds the seed article's points; ``unmatched`` lists what women asked that the
directory did not know (to grow models/data/synonyms.json).
"""
from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the ``directory`` group to ``main``."""
    main.add_command(directory)


@click.group()
def directory() -> None:
    """近邻娘家服务点名录：导入、导出表格 / The service directory: import and export spreadsheets."""


def _summary(result) -> str:
    head = "试运行（未写入）" if result.dry_run else "导入完成"
    return f"{head}：新增 {result.created} 处，更新 {result.updated} 处，未变 {result.unchanged} 处"


@directory.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只检查并报告，不写入数据库 / Validate only, write nothing.")
@click.pass_obj
def points_import(state, file: str, dry_run: bool) -> None:
    """导入名录表格 / Import FILE (.csv or .xlsx).

    表头：名称、类型、平台、乡镇、村社区、地址、纬度、经度、大致位置、电话、开放时间、服务、简介、启用；
    坐标用 GCJ-02 / The header row as in an export; coordinates are GCJ-02 degrees.
    """
    from sqlalchemy.exc import IntegrityError

    from models.directory_io import PointFileError
    from models.directory import ImportRejected, import_file

    services = state.services
    try:
        with services.db.write_session() as session:
            result = import_file(session, file, dry_run=dry_run)
    except PointFileError as exc:
        raise click.ClickException(str(exc)) from None
    except IntegrityError:  # another import added the same 名称+乡镇 meanwhile (PostgreSQL)
        raise click.ClickException("同时有另一次导入在写入同样的服务点，未导入任何一行，请稍后重试") from None
    except ImportRejected as exc:
        lines = [f"  {e}" for e in exc.errors[:100]]
        if len(exc.errors) > 100:
            lines.append(f"  ……另有 {len(exc.errors) - 100} 处问题")
        raise click.ClickException(f"表格有 {len(exc.errors)} 处问题，未导入任何一行：\n"
                                   + "\n".join(lines)) from None
    click.echo(_summary(result))


@directory.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
def points_export(state, file: str) -> None:
    """导出全部服务点（含已停用的）/ Write every point, inactive ones too, to FILE (.csv or .xlsx)."""
    from models.directory_io import PointFileError, write_table
    from models.directory import export_records

    with state.services.db.session() as session:
        records = export_records(session)
    try:
        count = write_table(file, records)
    except PointFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已导出 {count} 处服务点到 {file}")


@directory.command("seed")
@click.pass_obj
def points_seed(state) -> None:
    """重新补入种子名录 / (Re)load the seed article's points, upserting by name + town."""
    from models.directory import load_seed

    with state.services.db.write_session() as session:
        result = load_seed(session)
    click.echo(_summary(result))


@directory.command("unmatched")
@click.option("--limit", default=50, show_default=True, type=int, help="最多几条 / At most this many.")
@click.pass_obj
def points_unmatched(state, limit: int) -> None:
    """名录答不上的常见提问 / List the most frequent questions the directory could not answer."""
    from models.directory import top_unmatched

    with state.services.db.session() as session:
        rows = top_unmatched(session, limit)
        if not rows:
            click.echo("暂无未匹配的提问")
            return
        tz = state.services.tz
        for row in rows:
            click.echo(f"{row.count:>5}  {row.last_at.astimezone(tz):%Y-%m-%d %H:%M}  {row.text}")
