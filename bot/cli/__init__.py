"""The ``taoyuan`` command line.

Every command gets the shared :class:`~bot.core.services.Services` through ``click`` context:
``services = ctx.obj.services`` (built on first use from ``--config`` / ``TAOYUAN_CONFIG``).
Commands live in their own modules, each exposing ``register(main: click.Group) -> None``:
the shared ones of :data:`SHARED_COMMAND_MODULES`, then each feature's, found by name from the
feature manifest (:data:`bot.core.features.FEATURES`). Groups are named after the features
(``activities``, ``directory``, ``requests`` …); :data:`HIDDEN_ALIASES` keeps the old names
working for staff scripts without listing them. Every help text reads 「中文 / English」;
``taoyuan help [COMMAND]…`` prints the same help as ``--help``.
"""
from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

import click

from bot.core.config import ConfigError, load_config, production_blockers
from bot.core.features import module_names

#: Command modules that belong to no one feature (serve, scheduler, chat, doctor).
SHARED_COMMAND_MODULES = [
    "bot.cli.core",
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
            if self._services.db.is_sqlite:
                # The embedded default: bring the SQLite file up to date first, so that any
                # command (``staff add`` on a fresh install, before ``serve``) finds its tables.
                from bot.core.db import upgrade

                upgrade(self.config.database_url, quiet=True)
        return self._services


#: Chinese words put before click's own (English) messages, by the error's type (most specific
#: first); the project's own messages are Chinese already and are shown as they are.
_CLICK_KINDS = ((click.MissingParameter, "缺少参数"), (click.NoSuchOption, "没有这个选项"),
                (click.BadParameter, "参数不对"), (click.UsageError, "用法不对"))


class CliError(click.ClickException):
    """A click error as staff read it: 「错误：…」 in Chinese (a usage error also gets its usage
    line and where the help is), never click's English 「Error:」 prefix. Wraps ``original``
    (its exit code is kept: 2 for a usage error, 1 otherwise)."""

    def __init__(self, original: click.ClickException):
        super().__init__(original.format_message())
        self.original = original
        self.exit_code = original.exit_code

    def format_message(self) -> str:
        """The message, with a Chinese kind in front of click's own English ones."""
        message = self.original.format_message()
        if any("\u4e00" <= ch <= "\u9fff" for ch in message):
            return message
        kind = next((k for cls, k in _CLICK_KINDS if isinstance(self.original, cls)), "")
        return f"{kind} / {message}" if kind else message

    def show(self, file=None) -> None:
        """Print the error on stderr (or ``file``)."""
        file = file or click.get_text_stream("stderr")
        ctx = getattr(self.original, "ctx", None)
        if isinstance(self.original, click.UsageError) and ctx is not None:
            click.echo(ctx.get_usage().replace("Usage:", "用法 / Usage:", 1), file=file)
            click.echo(f"查看说明：{ctx.command_path} --help", file=file)
        click.echo(f"错误：{self.format_message()}", file=file)


class TaoyuanGroup(click.Group):
    """The ``taoyuan`` group: any click error of any command below it is shown in Chinese
    (:class:`CliError`); 「Aborted!」 becomes 「已取消。」 (exit 1)."""

    def make_context(self, info_name, args, parent=None, **extra):
        """Parse the top-level options, errors in Chinese."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except CliError:
            raise
        except click.ClickException as exc:
            raise CliError(exc) from None

    def invoke(self, ctx: click.Context):
        """Run the command, errors in Chinese."""
        try:
            return super().invoke(ctx)
        except CliError:
            raise
        except click.ClickException as exc:
            raise CliError(exc) from None
        except click.Abort:
            click.echo("已取消。", err=True)
            raise SystemExit(1) from None


#: Old group names staff scripts still use → the feature's group. Hidden from ``--help``.
HIDDEN_ALIASES = {"events": "activities", "points": "directory"}

#: The help text of every command's ``--help`` option (click's own is English only).
HELP_OPTION_TEXT = "显示本说明并退出 / Show this message and exit."

#: The distribution whose version ``taoyuan --version`` prints (pyproject ``[project] name``).
DISTRIBUTION = "taoyuan-bot"


def package_version() -> str:
    """The installed version of :data:`DISTRIBUTION` (package metadata), or ``"unknown"`` when
    the project is run from a checkout that was never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


@click.group(cls=TaoyuanGroup)
@click.version_option(package_version(), "--version", prog_name="taoyuan",
                      message="%(prog)s %(version)s",
                      help="显示版本并退出 / Show the version and exit.")
@click.option("--config", "config_path", envvar="TAOYUAN_CONFIG", default=None,
              help="配置文件（TOML；默认 ./config.toml，没有则用内置默认值）/ "
                   "TOML configuration file (default: ./config.toml, else embedded defaults).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """桃源姐妹 公众号后台 / The 桃源姐妹 WeChat backend (Yongchun County Women's Federation).

    「taoyuan 命令 --help」或「taoyuan help 命令」查看每条命令的说明 /
    Run "taoyuan COMMAND --help" or "taoyuan help COMMAND" for one command.
    """
    from bot.core.logging import configure_logging

    configure_logging("INFO")
    ctx.obj = CliState(config_path)


@main.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """显示命令说明（同 --help）/ Show the help of taoyuan or of COMMAND (same as --help).

    例如 taoyuan help activities add / For example: taoyuan help activities add.
    \f
    ``taoyuan help`` prints the top-level help; ``taoyuan help activities add`` that command's.
    Help requests (求助留言) are ``taoyuan requests``. Raises ``click.UsageError`` (exit 2) for a
    name that is no command, saying so in Chinese.
    """
    target, target_ctx = main, ctx.parent
    for word in command:
        sub = target.get_command(target_ctx, word) if isinstance(target, click.Group) else None
        if sub is None:
            hint = ""
            if target is main and word in getattr(main.commands.get("requests"), "commands", {}):
                hint = f"（求助留言的命令是 taoyuan requests {word}）"
            raise click.UsageError(f"没有命令「{word}」{hint} / no such command: {word}")
        target, target_ctx = sub, click.Context(sub, info_name=word, parent=target_ctx)
    click.echo(target_ctx.get_help())


def hidden_alias(group: click.Group, name: str) -> click.Group:
    """A hidden group called ``name`` that shares ``group``'s sub-commands and callback (so
    ``taoyuan events add`` runs ``taoyuan activities add``); not listed by ``--help``."""
    return click.Group(name, commands=group.commands, callback=group.callback,
                       params=list(group.params), hidden=True,
                       help=f"「taoyuan {group.name}」的旧名称 / Old name of taoyuan {group.name}.")


def bilingual_help_options(command: click.Command) -> None:
    """Give ``command`` and every command below it a ``--help`` option whose text is
    :data:`HELP_OPTION_TEXT` instead of click's English one (idempotent)."""
    if command.add_help_option:
        command.add_help_option = False
        click.help_option("--help", help=HELP_OPTION_TEXT)(command)
    for sub in getattr(command, "commands", {}).values():
        bilingual_help_options(sub)


for _name in COMMAND_MODULES:
    import_module(_name).register(main)
for _old, _new in HIDDEN_ALIASES.items():
    main.add_command(hidden_alias(main.commands[_new], _old))
bilingual_help_options(main)
