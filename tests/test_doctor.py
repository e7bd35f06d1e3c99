"""``taoyuan doctor`` (issue 12 item 15): the example config is blocked on every key that must be
set before going live; a complete config with reachable PostgreSQL and Redis passes; unreachable
servers and a skewed clock block."""
from __future__ import annotations

import re
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import REDIS_URL

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
#: Keys config.example.toml leaves at a value that must not go live.
EXAMPLE_BLOCKERS = ["wechat.token", "wechat.app_secret", "wechat.app_id", "help.on_duty_openids",
                    "help.staff_template_id", "redis.url"]
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def doctor(config_path: Path, cwd: Path, monkeypatch):
    """Run ``taoyuan --config FILE doctor`` in ``cwd``; returns (exit code, output lines)."""
    from bot.cli import main

    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, ["--config", str(config_path), "doctor"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


def blocked(lines: list[str]) -> set[str]:
    """The keys of the 阻止上线 lines."""
    return {m.group(1) for line in lines if (m := re.match(r"\[阻止上线\] ([^：]+)：", line))}


def complete_toml(tmp_path: Path, *, db_url: str, redis_url: str = REDIS_URL) -> Path:
    """A config with every key set (fake values) and the given servers."""
    path = tmp_path / "complete.toml"
    path.write_text(f'''
[app]
instance_dir = "{tmp_path / 'instance'}"
secret_key = "9f1c2b7d4e6a8c0f1e3d5b7a9c2e4f6a"
federation_phone = "0595-23882345"
office_hours = "周一至周五 8:00-12:00，14:30-17:30"
[wechat]
token = "yongchunTaoyuan2026"
app_id = "wx1234567890abcdef"
app_secret = "0123456789abcdef0123456789abcdef"
encoding_aes_key = "{AES_KEY}"
[wechat.templates]
reminder = "TPL_REMINDER"
notice = "TPL_NOTICE"
[database]
url = "{db_url}"
[redis]
url = "{redis_url}"
[help]
on_duty_openids = ["o_staff_duty_000001"]
staff_template_id = "TPL_STAFF"
answer_template_id = "TPL_ANSWER"
[console]
https = true
''', encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_example_config_lists_every_blocker_and_exits_1(tmp_path, monkeypatch):
    code, lines = doctor(EXAMPLE, tmp_path, monkeypatch)
    assert code == 1
    assert blocked(lines) == set(EXAMPLE_BLOCKERS), lines
    for key in ("app.federation_phone", "app.office_hours", "console.https", "database.url", "help.answer_template_id",
                "wechat.templates.reminder", "wechat.templates.notice"):
        assert any(line.startswith(f"[建议] {key}：") for line in lines), (key, lines)
    assert "6 项阻止上线" in lines[-1]
    assert list(tmp_path.iterdir()) == []  # nothing created: no instance folder, no SQLite file


@pytest.mark.real_clock   # compares with the database server's clock
def test_complete_config_with_reachable_servers_exits_0(tmp_path, monkeypatch, pg_url):
    code, lines = doctor(complete_toml(tmp_path, db_url=pg_url), tmp_path, monkeypatch)
    assert code == 0, lines
    assert not blocked(lines) and not any(line.startswith("[建议]") for line in lines), lines
    assert any(line.startswith("[正常] database.url：") for line in lines)
    assert any(line.startswith("[正常] redis.url：") for line in lines)
    assert any(line.startswith("[正常] 时钟：") for line in lines)
    assert "没有阻止上线的问题" in lines[-1]


def test_unreachable_servers_block_within_the_timeout(tmp_path, monkeypatch):
    pg = f"postgresql://postgres:pw-not-shown@127.0.0.1:{closed_port()}/taoyuan"
    redis_url = f"redis://:pw-not-shown@127.0.0.1:{closed_port()}/0"
    started = time.monotonic()
    code, lines = doctor(complete_toml(tmp_path, db_url=pg, redis_url=redis_url), tmp_path, monkeypatch)
    assert time.monotonic() - started < 10
    assert code == 1 and blocked(lines) == {"database.url", "redis.url"}, lines
    assert "pw-not-shown" not in "\n".join(lines)


@pytest.mark.real_clock   # compares with the database server's clock
def test_a_hung_redis_blocks_after_the_timeout(tmp_path, monkeypatch, pg_url, hung_redis_url):
    code, lines = doctor(complete_toml(tmp_path, db_url=pg_url, redis_url=hung_redis_url),
                         tmp_path, monkeypatch)
    assert code == 1 and blocked(lines) == {"redis.url"}, lines


@pytest.mark.real_clock   # compares with the database server's clock
@pytest.mark.parametrize("minutes", [5, -5])
def test_clock_skew_against_the_database_blocks(tmp_path, monkeypatch, pg_url, minutes):
    import time_machine

    with time_machine.travel(datetime.now().astimezone() + timedelta(minutes=minutes), tick=True):
        code, lines = doctor(complete_toml(tmp_path, db_url=pg_url), tmp_path, monkeypatch)
    assert code == 1 and blocked(lines) == {"时钟"}, lines
    [line] = [line for line in lines if line.startswith("[阻止上线] 时钟")]
    assert ("快" if minutes > 0 else "慢") in line and "NTP" in line


@pytest.mark.real_clock   # compares with the database server's clock
def test_unsafe_values_block(tmp_path, monkeypatch, pg_url):
    path = complete_toml(tmp_path, db_url=pg_url)
    text = path.read_text(encoding="utf-8")
    text = text.replace('secret_key = "9f1c2b7d4e6a8c0f1e3d5b7a9c2e4f6a"', 'secret_key = "dev"')
    text = text.replace("https = true", "https = false").replace('token = "yongchunTaoyuan2026"',
                                                                 'token = "taoyuandevtoken"')
    path.write_text(text, encoding="utf-8")
    code, lines = doctor(path, tmp_path, monkeypatch)
    assert code == 1 and blocked(lines) == {"app.secret_key", "console.https", "wechat.token"}, lines
