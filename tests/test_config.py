"""Configuration: defaults, files, environment, and errors that name the key."""
from __future__ import annotations

import pytest

from bot.core.config import ConfigError, load_config


def test_embedded_defaults_are_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(environ={})
    assert cfg.source == "embedded defaults" and cfg.dry_run
    assert cfg.database_url.startswith("sqlite:///") and cfg.redis["url"] == ""


def test_file_and_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[wechat]\ntoken = "abc123"\n[database]\nurl = "postgresql://u@h/db"\n')
    cfg = load_config(environ={"TAOYUAN_CONFIG": str(path), "TAOYUAN_WECHAT_APP_SECRET": "s3"})
    assert cfg.wechat["token"] == "abc123" and cfg.wechat["app_secret"] == "s3" and not cfg.dry_run
    assert cfg.database_url == "postgresql://u@h/db" and cfg.source == str(path)


@pytest.mark.parametrize("toml,key", [
    ('[wechat]\ntoken = "a b"', "wechat.token"),
    ('[wechat]\ntoken = 5', "wechat.token"),
    ('[wechat]\nencoding_aes_key = "short"', "wechat.encoding_aes_key"),
    ('[wechat]\napi_base_url = "ftp://x"', "wechat.api_base_url"),
    ('[wechat]\ntimeout = -1', "wechat.timeout"),
    ('[database]\nurl = "nonsense"', "database.url"),
    ('[redis]\nurl = "http://x"', "redis.url"),
    ('[app]\ntimezone = "Mars/Base"', "app.timezone"),
    ('wechat = 3', "wechat"),
    ('[reminders]\nrate_per_second = "fast"', "reminders.rate_per_second"),
    ('[reminders]\nconcurrency = 0', "reminders.concurrency"),
    ('[console]\nidle_minutes = true', "console.idle_minutes"),
    ('[help]\non_duty_openids = "oAbc"', "help.on_duty_openids"),
    ('points = 1', "points"),
])
def test_bad_keys_are_named(tmp_path, toml, key):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value).startswith(key)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[wechat\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad, environ={})


def test_example_config_is_valid():
    from pathlib import Path

    load_config(Path(__file__).resolve().parent.parent / "config.example.toml", environ={})


def test_log_safety_net_masks_phones_and_ids(caplog):
    import logging

    from bot.core.logging import MaskingFilter, mask_personal

    assert mask_personal("电话13812341234，身份证350525199001011234") == "电话138****1234，身份证350525********1234"
    assert mask_personal("MsgId 6054768590064713728") == "MsgId 6054768590064713728"
    assert mask_personal("POST /wechat?signature=ab&openid=oQaWomanB123&nonce=1") == \
        "POST /wechat?signature=ab&openid=oQaWom…&nonce=1"
    record = logging.LogRecord("x", logging.INFO, "f", 1, "call %s", ("15900001111",), None)
    MaskingFilter().filter(record)
    assert record.getMessage() == "call 159****1111"


def test_app_start_checks_the_help_section(db_url, redis_prefix, tmp_path):
    from bot.app import create_app
    from tests.conftest import make_config

    cfg = make_config(db_url, redis_prefix, tmp_path, help={"digest_times": ["9点"]})
    with pytest.raises(ConfigError, match="^help.digest_times"):
        create_app(cfg)


# -- issue 12: safe by default ---------------------------------------------------------------
GOOD_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def env(tmp_path):
    """An environment pointing at an empty config file (no ./config.toml picked up)."""
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    return {"TAOYUAN_CONFIG": str(empty)}


@pytest.mark.parametrize("key", ["encoding_aes_key", "previous_encoding_aes_key"])
@pytest.mark.parametrize("value", [GOOD_KEY[:42] + "!", GOOD_KEY[:20] + " " + GOOD_KEY[21:],
                                   GOOD_KEY[:42] + "é", GOOD_KEY[:42] + "="])
def test_an_aes_key_outside_base64_is_refused_at_load(key, value, env):
    assert len(value) == 43
    with pytest.raises(ConfigError) as err:
        load_config(overrides={"wechat": {key: value}}, environ=env)
    assert str(err.value).startswith(f"wechat.{key}:") and "base64" in str(err.value)


def test_encryption_mode_defaults_and_checks(env):
    assert load_config(environ=env).encryption == "plain"
    assert load_config(overrides={"wechat": {"encoding_aes_key": GOOD_KEY}}, environ=env).encryption == "safe"
    for mode in ("plain", "compat", "safe"):
        cfg = load_config(overrides={"wechat": {"encoding_aes_key": GOOD_KEY, "encryption": mode}},
                          environ=env)
        assert cfg.encryption == mode
    with pytest.raises(ConfigError, match="^wechat.encryption: must be plain, compat or safe"):
        load_config(overrides={"wechat": {"encryption": "aes"}}, environ=env)
    for mode in ("compat", "safe"):
        with pytest.raises(ConfigError, match=f"^wechat.encryption: {mode} mode needs wechat.encoding_aes_key"):
            load_config(overrides={"wechat": {"encryption": mode}}, environ=env)


def _production(tmp_path, env, **sections):
    overrides = {"app": {"instance_dir": str(tmp_path / "instance")},
                 "wechat": {"app_secret": "s3cr3t"}, "redis": {"url": "redis://127.0.0.1:6379/0"}}
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(overrides=overrides, environ=env)


def test_production_blockers(tmp_path, env):
    from bot.core.config import production_blockers

    # Dry run (no app_secret): nothing is live, nothing blocks.
    dry = load_config(overrides={"app": {"instance_dir": str(tmp_path / "i")}},
                      environ=env)
    assert production_blockers(dry) == []
    # The example token anyone can read.
    blockers = production_blockers(_production(tmp_path, env))
    assert len(blockers) == 1 and blockers[0].startswith("wechat.token: ")
    assert "示例 Token" in blockers[0] and "example token" in blockers[0]
    assert production_blockers(_production(tmp_path, env, wechat={"token": "ourOwnToken2026"})) == []
    # No secret_key and nowhere to keep a generated one (the instance folder is under a file).
    (tmp_path / "a-file").write_text("x")
    stuck = {"token": "ourOwnToken2026"}
    blockers = production_blockers(_production(tmp_path, env, wechat=stuck,
                                               app={"instance_dir": str(tmp_path / "a-file" / "i")}))
    assert len(blockers) == 1 and blockers[0].startswith("app.secret_key: ")
    assert "会话密钥" in blockers[0] and "session key" in blockers[0]
    assert production_blockers(_production(tmp_path, env, wechat=stuck, app={
        "instance_dir": str(tmp_path / "a-file" / "i"), "secret_key": "a-long-random-string"})) == []
    # The file is already there (made by an earlier start): fine even where none could be made.
    (tmp_path / "made").mkdir()
    (tmp_path / "made" / "secret_key").write_text("0123abcd")
    assert production_blockers(_production(tmp_path, env, wechat=stuck,
                                           app={"instance_dir": str(tmp_path / "made")})) == []


def test_the_example_config_ships_only_known_example_secrets():
    import tomllib
    from pathlib import Path

    from bot.core.config import EXAMPLE_TOKENS

    example = tomllib.loads((Path(__file__).resolve().parent.parent / "config.example.toml")
                            .read_text(encoding="utf-8"))
    assert example["wechat"]["token"] in EXAMPLE_TOKENS
    # No key shipped: one is generated in the instance folder (checked where that cannot be).
    assert example["app"]["secret_key"] == ""


@pytest.mark.parametrize("value", [0, -1, 29, 3601, 10**9, 1.5, True, "600"])
def test_max_clock_skew_outside_30_to_3600_is_refused_at_load(value, env):
    # i12 fixes, finding 3: 0 made signed URLs valid forever while they are remembered 600 s.
    with pytest.raises(ConfigError) as err:
        load_config(overrides={"wechat": {"max_clock_skew": value}}, environ=env)
    assert str(err.value).startswith("wechat.max_clock_skew: ") and "30" in str(err.value)
    assert "3600" in str(err.value)


@pytest.mark.parametrize("value", [30, 600, 3600])
def test_max_clock_skew_inside_30_to_3600_is_taken(value, env):
    cfg = load_config(overrides={"wechat": {"max_clock_skew": value}}, environ=env)
    assert cfg.wechat["max_clock_skew"] == value


def test_production_blocks_an_empty_redis_url(tmp_path, env):
    # i12 fixes, finding 2: each gunicorn worker would have its own fakeredis (retry and
    # signed-URL memory per worker).
    from bot.core.config import production_blockers

    blockers = production_blockers(_production(tmp_path, env, wechat={"token": "ourOwnToken2026"},
                                               redis={"url": ""}))
    assert len(blockers) == 1 and blockers[0].startswith("redis.url: ")
    assert "Redis" in blockers[0] and "in-process" in blockers[0]
    assert blockers[0].index("生产环境") < blockers[0].index("production")  # Chinese, then English


@pytest.mark.parametrize("secret", ["a", "test", "x" * 15])
def test_production_blocks_a_short_secret_key(tmp_path, env, secret):
    # i12 fixes, finding 8: one rule, shared by serve/scheduler/create_app and doctor.
    from bot.core.config import production_blockers

    blockers = production_blockers(_production(tmp_path, env, wechat={"token": "ourOwnToken2026"},
                                               app={"secret_key": secret}))
    assert len(blockers) == 1 and blockers[0].startswith("app.secret_key: ")
    assert "16" in blockers[0] and "too short" in blockers[0]
    assert production_blockers(_production(tmp_path, env, wechat={"token": "ourOwnToken2026"},
                                           app={"secret_key": "x" * 16})) == []
