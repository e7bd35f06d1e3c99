"""``taoyuan doctor``: is this configuration ready to go live?

Reads the configuration the other commands use (``--config`` / ``TAOYUAN_CONFIG`` /
``./config.toml``), checks it without changing anything (no file, table or key is created, no
WeChat API call is made), and prints one Chinese line per finding, marked
``阻止上线`` (blocker: fix before pointing WeChat at it), ``建议`` (advice) or ``正常`` (a live
check that passed). Exit status 1 when anything blocks going live, else 0.

Checks: the example ``wechat.token``; ``app.secret_key`` (shorter than 16 characters, or empty
while the instance secret file can be neither read nor created); ``wechat.app_secret`` (empty = dry run: nothing
reaches WeChat, not even urgent notices to on-duty staff); the example ``wechat.app_id``;
``wechat.encoding_aes_key`` (plaintext pushes); ``[help] on_duty_openids`` and
``staff_template_id`` (urgent requests reach nobody at once); ``app.federation_phone``; the
template ids reminders, pending notices and answers use (``[wechat.templates] reminder`` /
``reminder_subscribe`` / ``notice``, ``[help] answer_template_id``); ``[console] https``;
SQLite and the in-process Redis stand-in; PostgreSQL and Redis reachable within
:data:`TIMEOUT` seconds; the local clock against the database server's ``now()`` (more than
:data:`MAX_SKEW` seconds off blocks: WeChat's signed timestamps and every reminder use it).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import click

from bot.core.config import production_blockers

BLOCKER = "阻止上线"
ADVICE = "建议"
OK = "正常"
#: Seconds a database or Redis connection may take before it counts as unreachable.
TIMEOUT = 3
#: Seconds the local clock may differ from the database server's before it blocks going live.
MAX_SKEW = 60
#: ``wechat.app_id`` of config.example.toml and the embedded defaults (not a real account).
EXAMPLE_APP_ID = "wx0000000000000000"


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``level`` is :data:`BLOCKER`, :data:`ADVICE` or :data:`OK`;
    ``key`` the config key or service concerned; ``text`` what is wrong and what to do (Chinese)."""

    level: str
    key: str
    text: str

    def line(self) -> str:
        return f"[{self.level}] {self.key}：{self.text}"


def register(main: click.Group) -> None:
    """Add ``doctor`` to ``main``."""
    main.add_command(doctor)


@click.command()
@click.pass_obj
def doctor(state) -> None:
    """上线前检查配置 / Check this configuration before going live (exit 1 when blocked)."""
    config = state.config
    findings = check(config)
    click.echo(f"桃源姐妹 上线检查（配置：{config.source}）")
    for finding in findings:
        click.echo(finding.line())
    blockers = sum(1 for f in findings if f.level == BLOCKER)
    advice = sum(1 for f in findings if f.level == ADVICE)
    if blockers:
        click.echo(f"结论：{blockers} 项阻止上线，{advice} 项建议。改好后再运行 taoyuan doctor。")
        raise SystemExit(1)
    click.echo(f"结论：没有阻止上线的问题（{advice} 项建议）。")


def check(config) -> list[Finding]:
    """Every finding for ``config`` (a :class:`bot.core.config.Config`), blockers first.

    Connects to PostgreSQL and Redis (each within :data:`TIMEOUT` seconds) when they are
    configured; creates nothing. Never raises for what it checks.
    """
    findings = []
    for message in token_and_secret_blockers(config):  # "key: text"
        key, _, text = message.partition(": ")
        findings.append(Finding(BLOCKER, key, text))
    findings += _wechat(config) + _help(config) + _templates(config) + _console(config)
    findings += _database(config) + _redis(config)
    order = {BLOCKER: 0, ADVICE: 1, OK: 2}
    return sorted(findings, key=lambda f: order[f.level])


def token_and_secret_blockers(config) -> list[str]:
    """``wechat.token`` and ``app.secret_key`` problems, one message each starting with the key
    (``"wechat.token: ..."``), Chinese then English.

    The checks ``serve``, ``bot.wsgi`` and ``scheduler`` refuse to start on
    (:func:`bot.core.config.production_blockers`, the one place these rules live), made on the
    config as it will be in production (``app_secret`` set: that function says nothing in dry
    run). Its ``redis.url`` message is left to :func:`_redis`, which says more.
    """
    live = config
    if config.dry_run:
        data = copy.deepcopy(config.data)
        data.setdefault("wechat", {})["app_secret"] = "doctor-assumes-production"
        live = dataclasses.replace(config, data=data)
    return [m for m in production_blockers(live) if not m.startswith("redis.url: ")]


def _wechat(config) -> list[Finding]:
    out = []
    w = config.wechat
    if not w.get("app_secret"):
        out.append(Finding(BLOCKER, "wechat.app_secret",
                           "未填写，系统处于演练模式：不调用微信接口，紧急求助通知、提醒、答复都只写进 outbox 表，"
                           "没有人收到。请填公众平台「基本配置」里的开发者密码（AppSecret）"))
    if (w.get("app_id") or EXAMPLE_APP_ID) == EXAMPLE_APP_ID:
        out.append(Finding(BLOCKER, "wechat.app_id", "还是示例值，请填公众平台「基本配置」里的开发者ID（AppID）"))
    if not w.get("encoding_aes_key"):
        out.append(Finding(ADVICE, "wechat.encoding_aes_key",
                           "未填写，只能用明文模式。建议在公众平台「服务器配置」生成 EncodingAESKey 并选安全模式"))
    return out


def _help(config) -> list[Finding]:
    from bot.core.config import ConfigError
    from models.help import help_settings

    try:
        settings = help_settings(config)
    except ConfigError as exc:
        return [Finding(BLOCKER, "[help]", f"配置有误：{exc}")]
    out = []
    if not settings.on_duty_openids:
        out.append(Finding(BLOCKER, "help.on_duty_openids",
                           "为空：妇女发出危险求助时没有任何值班人员会马上知道（她只能被告知自己拨打 110 / 12338）。"
                           "请填值班人员的 openid"))
    if not settings.staff_template_id:
        out.append(Finding(BLOCKER, "help.staff_template_id",
                           "为空：紧急求助只能用客服消息通知值班人员，值班人员48小时内没和公众号互动过就收不到。"
                           "请在公众平台添加「新求助」模板消息并填它的模板ID"))
    if not settings.answer_template_id:
        out.append(Finding(ADVICE, "help.answer_template_id",
                           "为空：她48小时内没和公众号互动时，答复到了也无法提醒她，只能等她自己回复「查看回复」"))
    if not config.app.get("federation_phone"):
        out.append(Finding(ADVICE, "app.federation_phone",
                           "为空：回复里不能提示打县妇联电话，危险求助的回复里也没有县妇联电话"))
    if not config.wechat.get("kf_enabled") and not (config.app.get("office_hours")
                                                     and config.app.get("federation_phone")):
        out.append(Finding(ADVICE, "app.office_hours",
                           "为空：她说「转人工」「联系方式」时无法告诉她工作人员几点在、打哪个电话，"
                           "只能建议她回复「求助」留言（或开通客服后设 wechat.kf_enabled = true）"))
    return out


def _templates(config) -> list[Finding]:
    templates = config.wechat.get("templates") or {}
    out = []
    if not templates.get("reminder") and not templates.get("reminder_subscribe"):
        out.append(Finding(ADVICE, "wechat.templates.reminder",
                           "reminder 和 reminder_subscribe 都为空：义剪、活动提醒只能发给48小时内和公众号互动过的人，"
                           "其余的人被跳过"))
    if not templates.get("notice"):
        out.append(Finding(ADVICE, "wechat.templates.notice",
                           "为空：候补转正等通知只能发给48小时内互动过的人，其余的人收不到"))
    return out


def _console(config) -> list[Finding]:
    https = config.section("console").get("https")
    if https is False:
        return [Finding(BLOCKER, "console.https",
                        "为 false：后台登录的密码和会话 cookie 可能经 HTTP 明文传输。请经 nginx 提供 HTTPS 并设为 true")]
    if https is None:
        return [Finding(ADVICE, "console.https",
                        "未设置：请确认后台 /admin 只经 HTTPS 访问，并设 [console] https = true")]
    return []


def _safe_url(url: str) -> str:
    """``url`` with any password hidden, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an odd URL is still shown without its credentials
        return url.split("@")[-1]


def _database(config) -> list[Finding]:
    url = config.database_url
    if url.startswith("sqlite"):
        return [Finding(ADVICE, "database.url",
                        "是 SQLite 文件（未填写时的默认）。生产环境建议用 PostgreSQL（备份、多进程并发更可靠）")]
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    shown = _safe_url(url)
    connect_args = {"connect_timeout": TIMEOUT} if url.startswith("postgresql") else {}
    engine = create_engine(url, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            before = time.time()
            server_now = conn.execute(text("SELECT now()")).scalar_one()
            after = time.time()
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable from here
        return [Finding(BLOCKER, "database.url",
                        f"连不上数据库 {shown}（{TIMEOUT} 秒内）：{type(exc).__name__}。请检查地址、密码和防火墙")]
    finally:
        engine.dispose()
    return [Finding(OK, "database.url", f"数据库 {shown} 可连接"), _clock(server_now, before, after)]


def _clock(server_now: datetime, before: float, after: float) -> Finding:
    """Compare the database server's ``now()`` with the local clock at the middle of the query."""
    if server_now.tzinfo is None:  # a server without time zones: assume UTC
        server_now = server_now.replace(tzinfo=timezone.utc)
    local = datetime.fromtimestamp((before + after) / 2, timezone.utc)
    skew = (local - server_now).total_seconds()
    if abs(skew) > MAX_SKEW:
        way = "快" if skew > 0 else "慢"
        return Finding(BLOCKER, "时钟",
                       f"本机时钟比数据库服务器{way} {abs(skew):.0f} 秒（允许 {MAX_SKEW} 秒）：微信推送的签名时间、"
                       "提醒和活动时间都会出错。请开启 NTP 时间同步（如 timedatectl set-ntp true）")
    return Finding(OK, "时钟", f"本机时钟与数据库服务器相差 {abs(skew):.1f} 秒")


def _redis(config) -> list[Finding]:
    url = config.redis.get("url") or ""
    if not url:
        return [Finding(BLOCKER, "redis.url",
                        "未填写，使用进程内的 Redis 替身（fakeredis）：gunicorn 的多个进程和 taoyuan scheduler "
                        "之间不共享去重、会话状态和 access_token，重试会被处理两次。请填真实 Redis 的地址")]
    import redis

    shown = _safe_url(url)
    client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable from here
        return [Finding(BLOCKER, "redis.url",
                        f"连不上 Redis {shown}（{TIMEOUT} 秒内）：{type(exc).__name__}。请检查地址、密码和防火墙")]
    finally:
        client.close()
    return [Finding(OK, "redis.url", f"Redis {shown} 可连接")]
