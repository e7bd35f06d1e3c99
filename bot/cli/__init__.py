"""The ``taoyuan`` command line.

Every command gets the shared :class:`~bot.core.services.Services` through ``click`` context:
``services = ctx.obj.services`` (built on first use from ``--config`` / ``TAOYUAN_CONFIG``).
Commands live in their own modules, each exposing ``register(main: click.Group) -> None``:
the shared ones of :data:`SHARED_COMMAND_MODULES`, then each feature's, found by name from the
feature manifest (:data:`bot.core.features.FEATURES`).
"""
from __future__ import annotations

from importlib import import_module

import click

from bot.core.config import ConfigError, load_config, production_blockers
from bot.core.features import module_names

#: Command modules that belong to no one feature (serve, scheduler, menu, chat, doctor).
SHARED_COMMAND_MODULES = [
    "bot.cli.core",
    "bot.cli.menu",
    "bot.cli.chat",
    "bot.cli.doctor",
]
#: Modules that add commands to ``taoyuan`` (each has ``register(main)``).
COMMAND_MODULES = SHARED_COMMAND_MODULES + list(module_names("bot.cli"))


class CliState:
    """Lazily built configuration and services for one CLI invocation."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config = None
        self._services = None

    @property
    def config(self):
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                raise click.ClickException(f"配置错误 / configuration error: {exc}") from None
        return self._config

    def refuse_unsafe_production(self) -> None:
        """For long-running commands (``serve``, ``scheduler``): raise ``click.ClickException``
        (exit 1) listing :func:`bot.core.config.production_blockers`, if there are any."""
        blockers = production_blockers(self.config)
        if blockers:
            raise click.ClickException(
                "配置不能用于生产环境，拒绝启动 / refusing to start, not safe for production:\n  "
                + "\n  ".join(blockers))

    @property
    def services(self):
        if self._services is None:
            from bot.app import wire_services

            self._services = wire_services(self.config)
        return self._services


@click.group()
@click.option("--config", "config_path", envvar="TAOYUAN_CONFIG", default=None,
              help="TOML configuration file (default: ./config.toml, else embedded defaults).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """桃源姐妹 公众号后台 (Yongchun County Women's Federation WeChat backend)."""
    from bot.core.logging import configure_logging

    configure_logging("INFO")
    ctx.obj = CliState(config_path)


for _name in COMMAND_MODULES:
    import_module(_name).register(main)
