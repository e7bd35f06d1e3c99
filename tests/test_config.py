"""Configuration: defaults, files, environment, and errors that name the key."""
from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config


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

    from bot.logsetup import MaskingFilter, mask_personal

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
