"""Configuration: a TOML file, embedded defaults, and environment overrides.

Where the file comes from, in order: the path in ``TAOYUAN_CONFIG``; ``./config.toml``; none
(embedded defaults only). Secrets may also come from environment variables
(``TAOYUAN_WECHAT_APP_SECRET`` and the others in :data:`ENV_OVERRIDES`).

Every key is checked at start; a bad one raises :class:`ConfigError` whose message names the
key, e.g. ``wechat.encoding_aes_key: must be 43 characters``.
"""
from __future__ import annotations

import base64
import binascii
import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TOKEN = "taoyuandevtoken"
#: Tokens anyone can read (the embedded default, config.example.toml's): never in production.
EXAMPLE_TOKENS = frozenset({DEFAULT_TOKEN})
#: Shortest ``app.secret_key`` production accepts (a shorter one can be guessed). The value
#: config.example.toml ships is ``""``: a key generated and kept in the instance folder, fine
#: in production only when that file can be read or made (:func:`production_blockers`).
MIN_SECRET_KEY_LENGTH = 16
#: ``wechat.max_clock_skew`` bounds, seconds: below, WeChat's own delays refuse genuine pushes;
#: above (or no check at all), a signed URL stays usable longer than anything remembers it.
MIN_CLOCK_SKEW, MAX_CLOCK_SKEW = 30, 3600
#: ``wechat.reply_budget`` bounds, seconds: WeChat drops a try it has no answer to after 5 s;
#: 0 turns the budget off (handlers run in the request thread, however long they take).
MAX_REPLY_BUDGET = 4.8
#: ``wechat.encryption``: the MP console's 消息加解密方式 (明文 / 兼容 / 安全).
ENCRYPTION_MODES = ("plain", "compat", "safe")

#: Embedded defaults: enough to run the webhook on 127.0.0.1 with SQLite and an
#: in-process Redis stand-in. Production overrides them in a TOML file.
DEFAULTS: dict[str, Any] = {
    "app": {
        "instance_dir": "instance",
        "secret_key": "",           # Flask session key; generated per instance when empty
        "timezone": "Asia/Shanghai",
        "federation_phone": "",     # county federation phone; empty = unknown: replies leave the call out
        "federation_address": "",   # its office address (联系方式); empty = not said
        "office_hours": "",         # e.g. "周一至周五 8:00-12:00，14:30-17:30"; empty = not said
        "log_level": "INFO",
    },
    "wechat": {
        "token": DEFAULT_TOKEN,
        "app_id": "wx0000000000000000",
        "app_secret": "",           # empty = dry run: outbound messages go to the outbox table
        "encoding_aes_key": "",
        "previous_encoding_aes_key": "",
        "encryption": "",           # plain | compat | safe; "" = safe with an AES key, else plain
        "account": "gh_taoyuanjiemei",
        "api_base_url": "https://api.weixin.qq.com/cgi-bin/",
        "timeout": 5.0,
        "max_clock_skew": 600,      # seconds; older/newer signed pushes are ignored (replays)
        "reply_budget": 4.3,        # seconds from a push's arrival to its answer; later = 客服消息
        "templates": {},
        "kf_enabled": False,        # 转人工: answer with transfer_customer_service (客服 tools)
        "kf_account": "",           # optional 客服 account (name@account) to transfer to
    },
    "database": {"url": ""},        # empty = SQLite file in the instance folder
    "redis": {"url": "", "prefix": "taoyuan:"},  # empty url = in-process fakeredis
    "menu": {"button": []},
}

#: Environment variables that override a key: variable -> (section, key).
ENV_OVERRIDES = {
    "TAOYUAN_WECHAT_TOKEN": ("wechat", "token"),
    "TAOYUAN_WECHAT_APP_ID": ("wechat", "app_id"),
    "TAOYUAN_WECHAT_APP_SECRET": ("wechat", "app_secret"),
    "TAOYUAN_WECHAT_ENCODING_AES_KEY": ("wechat", "encoding_aes_key"),
    "TAOYUAN_WECHAT_PREVIOUS_ENCODING_AES_KEY": ("wechat", "previous_encoding_aes_key"),
    "TAOYUAN_WECHAT_API_BASE_URL": ("wechat", "api_base_url"),
    "TAOYUAN_DATABASE_URL": ("database", "url"),
    "TAOYUAN_REDIS_URL": ("redis", "url"),
    "TAOYUAN_REDIS_PREFIX": ("redis", "prefix"),
    "TAOYUAN_SECRET_KEY": ("app", "secret_key"),
    "TAOYUAN_LOG_LEVEL": ("app", "log_level"),
}


_NUM = (int, float)
#: Feature sections' keys and the types they take (checked at start; each feature reads its own
#: section and applies defaults). A number here must also be > 0.
FEATURE_KEYS: dict[str, dict[str, type | tuple]] = {
    "points": {"map_referer": str, "location_max_age": _NUM, "max_results": int},
    "reminders": {"rate_per_second": _NUM, "concurrency": int, "retry_delays": list,
                  "grace": (str, int), "notice_interval": _NUM, "leader_ttl": _NUM,
                  "lock_ttl": _NUM, "fields": dict, "subscribe_fields": dict, "notice_fields": dict},
    "console": {"idle_minutes": _NUM, "max_hours": _NUM, "trusted_proxies": int, "https": bool},
    "activities": {"haircut_seats": int},
    "help": {"on_duty_openids": list, "staff_template_id": str, "answer_template_id": str,
             "template_url": str, "digest_times": list, "retention_days": int,
             "answer_time": str, "urgent_merge_hours": int, "notify_in_background": bool},
}
#: Feature keys where 0 is a meaningful value (every other number must be > 0).
ZERO_ALLOWED = {"urgent_merge_hours", "trusted_proxies"}


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message starts with the key's name."""


@dataclass
class Config:
    """The validated configuration: one dict per TOML section in :attr:`data`.

    Access sections as ``config.wechat["token"]``; unknown sections from later features
    (``[scheduler]``, ``[help]`` ...) are kept as they are in :attr:`data`.
    """

    data: dict[str, Any] = field(default_factory=dict)
    source: str = "embedded defaults"

    def section(self, name: str) -> dict[str, Any]:
        """Return section ``name`` (an empty dict when absent)."""
        return self.data.get(name, {})

    @property
    def app(self) -> dict[str, Any]:
        return self.section("app")

    @property
    def wechat(self) -> dict[str, Any]:
        return self.section("wechat")

    @property
    def database(self) -> dict[str, Any]:
        return self.section("database")

    @property
    def redis(self) -> dict[str, Any]:
        return self.section("redis")

    @property
    def menu(self) -> dict[str, Any]:
        return self.section("menu")

    @property
    def instance_dir(self) -> Path:
        return Path(self.app["instance_dir"]).resolve()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; the embedded default is ``sqlite:///<instance>/taoyuan.db``."""
        url = self.database.get("url") or ""
        if not url:
            url = f"sqlite:///{self.instance_dir / 'taoyuan.db'}"
        return url

    def database_timeouts(self) -> dict[str, float]:
        """``connect_timeout`` and ``statement_timeout`` of ``[database]``, in seconds (for
        :class:`bot.core.db.Database`; PostgreSQL only)."""
        from bot.core.db import DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT

        return {"connect_timeout": self.database.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
                "statement_timeout": self.database.get("statement_timeout",
                                                       DEFAULT_STATEMENT_TIMEOUT)}

    @property
    def dry_run(self) -> bool:
        """True when no app_secret is set: nothing is sent to WeChat, all goes to the outbox."""
        return not self.wechat.get("app_secret")

    @property
    def encryption(self) -> str:
        """``wechat.encryption`` as set, else ``"safe"`` when an EncodingAESKey is set and
        ``"plain"`` otherwise (消息加解密方式: 明文 plain, 兼容 compat, 安全 safe)."""
        return self.wechat.get("encryption") or (
            "safe" if self.wechat.get("encoding_aes_key") else "plain")

    def aes_keys(self) -> list[str]:
        """The EncodingAESKeys to try, current first, then the previous one (rotation)."""
        keys = [self.wechat.get("encoding_aes_key"), self.wechat.get("previous_encoding_aes_key")]
        return [k for k in keys if k]


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _require_str(data: dict, section: str, key: str, *, allow_empty: bool = True) -> str:
    value = data.get(section, {}).get(key)
    if not isinstance(value, str):
        raise ConfigError(f"{section}.{key}: must be a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise ConfigError(f"{section}.{key}: must not be empty")
    return value


def _is_aes_key(value: str) -> bool:
    """True when ``value`` (43 characters) is base64 of a 32-byte AES key, as WeChat makes."""
    try:
        return len(base64.b64decode(value + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def validate(data: dict[str, Any]) -> None:
    """Check every key this module knows; raise :class:`ConfigError` naming the first bad one."""
    for section in ("app", "wechat", "database", "redis"):
        if not isinstance(data.get(section), dict):
            raise ConfigError(f"{section}: must be a table")
    _require_str(data, "wechat", "token", allow_empty=False)
    token = data["wechat"]["token"]
    if not (3 <= len(token) <= 32) or not (token.isascii() and token.isalnum()):
        raise ConfigError("wechat.token: must be 3-32 letters or digits (WeChat's rule)")
    _require_str(data, "wechat", "app_id", allow_empty=False)
    _require_str(data, "wechat", "app_secret")
    _require_str(data, "wechat", "account")
    for key in ("encoding_aes_key", "previous_encoding_aes_key"):
        value = _require_str(data, "wechat", key)
        if value and len(value) != 43:
            raise ConfigError(f"wechat.{key}: must be 43 characters (WeChat's EncodingAESKey)")
        if value and not _is_aes_key(value):
            raise ConfigError(f"wechat.{key}: must be 43 characters of A-Z, a-z, 0-9, + and / "
                              "(WeChat's EncodingAESKey, base64)")
    mode = _require_str(data, "wechat", "encryption")
    if mode and mode not in ENCRYPTION_MODES:
        raise ConfigError("wechat.encryption: must be plain, compat or safe "
                          "(消息加解密方式: 明文 / 兼容 / 安全)")
    if mode in ("compat", "safe") and not data["wechat"]["encoding_aes_key"]:
        raise ConfigError(f"wechat.encryption: {mode} mode needs wechat.encoding_aes_key")
    base = _require_str(data, "wechat", "api_base_url", allow_empty=False)
    if not base.startswith(("http://", "https://")):
        raise ConfigError("wechat.api_base_url: must start with http:// or https://")
    timeout = data["wechat"].get("timeout")
    if not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise ConfigError("wechat.timeout: must be a number of seconds between 0 and 60")
    skew = data["wechat"].get("max_clock_skew")
    if not isinstance(skew, int) or isinstance(skew, bool) \
            or not MIN_CLOCK_SKEW <= skew <= MAX_CLOCK_SKEW:
        raise ConfigError(f"wechat.max_clock_skew: 必须是 {MIN_CLOCK_SKEW} 到 {MAX_CLOCK_SKEW} 之间的"
                          f"整数秒（推送时间戳与本机时钟允许的最大差值）/ must be a whole number of "
                          f"seconds from {MIN_CLOCK_SKEW} to {MAX_CLOCK_SKEW}")
    if not isinstance(data["wechat"].get("kf_enabled", False), bool):
        raise ConfigError("wechat.kf_enabled: must be true or false（是否把「转人工」转到微信客服）")
    _require_str(data, "wechat", "kf_account")
    budget = data["wechat"].get("reply_budget")
    if not isinstance(budget, (int, float)) or isinstance(budget, bool) \
            or not 0 <= budget <= MAX_REPLY_BUDGET:
        raise ConfigError(f"wechat.reply_budget: 必须是 0 到 {MAX_REPLY_BUDGET} 之间的秒数（微信 5 秒"
                          f"内收不到回复就重试）/ must be seconds from 0 to {MAX_REPLY_BUDGET} "
                          f"(WeChat gives up on a try after 5 s; 0 = no budget)")
    if not isinstance(data["wechat"].get("templates", {}), dict):
        raise ConfigError("wechat.templates: must be a table")
    url = _require_str(data, "database", "url")
    if url and "://" not in url:
        raise ConfigError("database.url: must be a SQLAlchemy URL such as postgresql://...")
    for key, top in (("connect_timeout", 60), ("statement_timeout", 3600)):
        value = data["database"].get(key, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
            raise ConfigError(f"database.{key}: 必须是 0 到 {top} 之间的秒数（0 = 不限）/ must be a "
                              f"number of seconds from 0 to {top} (0 = none)")
    url = _require_str(data, "redis", "url")
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("redis.url: must start with redis://, rediss:// or unix://")
    _require_str(data, "redis", "prefix")
    for key in ("federation_phone", "federation_address", "office_hours"):
        _require_str(data, "app", key)
    _require_str(data, "app", "timezone", allow_empty=False)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(data["app"]["timezone"])
    except Exception as exc:  # noqa: BLE001 - any lookup failure is a config error
        raise ConfigError(f"app.timezone: unknown time zone ({exc})") from None
    if not isinstance(data.get("menu", {}).get("button", []), list):
        raise ConfigError("menu.button: must be an array of tables")
    for section, keys in FEATURE_KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: must be a table")
        for key, kind in keys.items():
            if key not in table:
                continue
            value = table[key]
            if isinstance(value, bool) and kind is not bool:
                raise ConfigError(f"{section}.{key}: must not be true/false")
            if not isinstance(value, kind):
                names = "/".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
                raise ConfigError(f"{section}.{key}: must be {names}, got {type(value).__name__}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0 \
                    and not (value == 0 and key in ZERO_ALLOWED):
                raise ConfigError(f"{section}.{key}: must be "
                                  + ("0 or more" if key in ZERO_ALLOWED else "greater than 0"))


def production_blockers(config: Config) -> list[str]:
    """What in ``config`` must not go live: one message per problem, ``[]`` when none.

    Production means ``wechat.app_secret`` is set (otherwise it is a dry run and nothing here
    applies). Blockers: ``wechat.token`` empty or an example anyone can read
    (:data:`EXAMPLE_TOKENS`: pushes signed with it would be accepted from anyone);
    ``app.secret_key`` shorter than :data:`MIN_SECRET_KEY_LENGTH`, or empty (the value
    config.example.toml ships) while the instance secret file (``<instance_dir>/secret_key``)
    neither exists readable nor can be created; ``redis.url`` empty (a per-process stand-in:
    retry and signed-URL memory not shared between workers). Each message is Chinese then
    English, starting with the key, e.g.
    ``"wechat.token: 生产环境不能使用示例 Token… / production must not use the example token…"``.

    Used by ``taoyuan serve``, ``taoyuan scheduler`` and ``bot.app.create_app`` (which refuse to
    start) and by ``taoyuan doctor`` (its one source for these rules). No side effects: it only
    looks at the file system (whether the secret file or its folder is there and writable),
    creates nothing, and never raises.
    """
    if config.dry_run:
        return []
    out: list[str] = []
    token = config.wechat.get("token") or ""
    if not token or token in EXAMPLE_TOKENS:
        out.append("wechat.token: 生产环境（正式运行、填写了 app_secret 时）不能使用示例 Token，也不能留空；请在公众平台"
                   "「基本配置 → 服务器配置」设置自己的 Token（3-32 位字母或数字）并填在这里 / "
                   "production (app_secret set) must not use the example token or none: set your "
                   "own (3-32 letters or digits) in 服务器配置 and here")
    secret = config.app.get("secret_key") or ""
    if secret and len(secret) < MIN_SECRET_KEY_LENGTH:
        out.append(f"app.secret_key: 太短（少于 {MIN_SECRET_KEY_LENGTH} 个字符），别人可能猜到并伪造后台登录；"
                   "请改成随机的长字符串（如 python3 -c \"import secrets; print(secrets.token_hex(32))\" "
                   "的输出），或留空自动生成 / too short to be secret (under "
                   f"{MIN_SECRET_KEY_LENGTH} characters): set a long random string, or leave it "
                   "empty to have one generated")
    elif not secret and not _secret_file_possible(config.instance_dir / "secret_key"):
        path = config.instance_dir / "secret_key"
        out.append(f"app.secret_key: 未填写，且无法读取或创建会话密钥文件 {path}；请填写一个随机的长"
                   f"字符串，或让实例目录可写 / not set, and the session key file {path} can be "
                   "neither read nor created: set a long random string, or make the instance "
                   "folder writable")
    if not (config.redis.get("url") or ""):
        out.append("redis.url: 生产环境不能留空（留空时每个进程各用一个进程内的 Redis 替身）：gunicorn 的多个"
                   "进程和 taoyuan scheduler 之间不共享去重、签名网址记忆、会话状态和 access_token，"
                   "重试会被处理两次、用过的签名网址能被再次使用。请填真实 Redis 的地址，如 "
                   "redis://127.0.0.1:6379/0 / production must not leave it empty (each process "
                   "would use its own in-process stand-in, so retry and signed-URL memory are not "
                   "shared between workers): set your Redis server's URL")
    return out


def _secret_file_possible(path: Path) -> bool:
    """True when ``path`` is a readable non-empty file, or could be created (its nearest
    existing folder is writable): what ``bot.app`` needs to keep a generated key there."""
    try:
        if path.exists():
            return path.is_file() and os.access(path, os.R_OK) and path.stat().st_size > 0
        folder = path.parent
        while not folder.exists():
            if folder.parent == folder:
                return False
            folder = folder.parent
        return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        return False


def load_config(path: str | os.PathLike | None = None, *, overrides: dict | None = None,
                environ: dict[str, str] | None = None) -> Config:
    """Load, merge and validate the configuration.

    ``path`` wins over ``TAOYUAN_CONFIG``, which wins over ``./config.toml``. ``overrides`` is a
    nested dict merged last (tests use it). Raises :class:`ConfigError` for a missing file named
    explicitly, invalid TOML, or a bad key.
    """
    env = os.environ if environ is None else environ
    data = copy.deepcopy(DEFAULTS)
    source = "embedded defaults"
    chosen = path or env.get("TAOYUAN_CONFIG")
    if chosen is None and Path("config.toml").is_file():
        chosen = "config.toml"
    if chosen:
        p = Path(chosen)
        if not p.is_file():
            raise ConfigError(f"TAOYUAN_CONFIG: file not found: {p}")
        try:
            with p.open("rb") as fh:
                data = _merge(data, tomllib.load(fh))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
        source = str(p)
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            data.setdefault(section, {})[key] = env[var]
    if overrides:
        data = _merge(data, overrides)
    validate(data)
    return Config(data=data, source=source)
