"""Core commands: ``serve``, ``db upgrade``, ``chat``, ``menu push``."""
from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the core commands to ``main``."""
    main.add_command(serve)
    main.add_command(db)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="监听地址 / Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int,
              help="监听端口 / Port to listen on.")
@click.pass_obj
def serve(state, host: str, port: int) -> None:
    """启动 webhook（开发服务器）/ Run the webhook (development server).

    SQLite 数据库先自动升级；生产环境请用 gunicorn bot.wsgi:app /
    SQLite databases are brought up to date first; in production use gunicorn bot.wsgi:app.
    """
    from bot.app import create_app
    from bot.core.config import ConfigError

    from bot.core.logging import configure_logging

    state.refuse_unsafe_production()
    configure_logging(state.config.app.get("log_level", "INFO"))
    services = state.services  # on SQLite, the schema is brought up to date here
    make_due_occurrences(services)
    try:
        app = create_app(services=services)
    except ConfigError as exc:  # e.g. the session key file cannot be made
        raise click.ClickException(f"配置有误，拒绝启动 / refusing to start:\n  {exc}") from None
    click.echo(f"桃源姐妹 webhook: http://{host}:{port}/wechat  (config: {services.config.source})")
    app.run(host=host, port=port, threaded=True)


def make_due_occurrences(services) -> None:
    """Make the due activities of the monthly recurring ones (the next 爱心义剪) at once, as the
    scheduler's daily job does, so 「我想报名义剪」 works on a fresh install before any
    ``taoyuan scheduler`` runs. Idempotent and safe with several processes (each month is
    made once, under a row lock); a failure is logged and the server starts all the same."""
    import logging

    from scheduler.activities import make_recurring

    try:
        make_recurring(services)
    except Exception:  # noqa: BLE001 - the webhook must start even so
        logging.getLogger(__name__).exception("serve: recurring activities not made at start")


@click.group()
def db() -> None:
    """数据库结构（Alembic）/ Database schema (Alembic)."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(state) -> None:
    """升级数据库结构到最新 / Bring the schema up to date (every Alembic head)."""
    from bot.core.db import upgrade

    upgrade(state.config.database_url)
    click.echo("数据库已是最新 / schema is up to date")
