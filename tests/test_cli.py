"""The core commands on a fresh folder with embedded defaults."""
from __future__ import annotations

import importlib.metadata
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import HIDDEN_ALIASES, main

ROOT = Path(__file__).resolve().parent.parent


def test_db_upgrade_on_a_fresh_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAOYUAN_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "instance" / "taoyuan.db").exists()


def test_bad_config_is_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "c.toml"
    bad.write_text('[wechat]\nencoding_aes_key = "short"\n')
    result = CliRunner().invoke(main, ["--config", str(bad), "db", "upgrade"])
    assert result.exit_code != 0
    assert "wechat.encoding_aes_key" in result.output


# -- issue 12: production refuses the example token -------------------------------------------
def _production_config(tmp_path):
    """app_secret set (production), the token left at the example value."""
    path = tmp_path / "prod.toml"
    path.write_text(f'[app]\ninstance_dir = "{tmp_path / "instance"}"\n'
                    '[wechat]\napp_secret = "0123456789abcdef0123456789abcdef"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["scheduler"], ["gunicorn"]])
def test_production_with_the_example_token_refuses_to_start(tmp_path, command):
    bin_dir = Path(sys.executable).parent
    if command == ["gunicorn"]:
        command = [str(bin_dir / "gunicorn"), "--bind", "127.0.0.1:0", "--workers", "1",
                   "--chdir", str(ROOT), "bot.wsgi:app"]
    else:
        command = [str(bin_dir / "taoyuan"), *command]
    env = {**os.environ, "TAOYUAN_CONFIG": str(_production_config(tmp_path))}
    env.pop("TAOYUAN_WECHAT_TOKEN", None)
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "wechat.token: 生产环境" in text and "must not use the example token" in text
    assert not (tmp_path / "instance" / "taoyuan.db").exists()  # refused before any work


def test_chat_defaults_to_the_configured_encryption(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[wechat]\nencoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"\n'
                    'encryption = "compat"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(path), "chat", "--url", "http://127.0.0.1:1"],
                                input="/quit\n")
    assert result.exit_code == 0, result.output
    assert "（compat 模式）" in result.output


# -- issue 13: the CLI follows the feature names ------------------------------------------------
CJK = re.compile(r"[\u4e00-\u9fff]")
#: 「中文 / English」: the first " / " (or "）/ ") splits the Chinese from the English.
BILINGUAL = re.compile(r"(?:(?<=\s)|(?<=[）」]))/\s")


def _walk(command: click.Command, path: tuple[str, ...] = ("taoyuan",)):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def _help_texts(command: click.Command):
    """Each paragraph of the command's help (what ``--help`` shows, up to ``\\f``) and each
    option's help, the automatic ``--help`` and ``--version`` included."""
    for paragraph in inspect.cleandoc((command.help or "").split("\f")[0]).split("\n\n"):
        yield "help", paragraph
    ctx = click.Context(command)
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            yield param.opts[0], param.help or ""


def test_every_help_text_is_chinese_then_english():
    bad = []
    for path, command in _walk(main):
        for what, text in _help_texts(command):
            parts = BILINGUAL.split(text)
            ok = (len(parts) == 2 and CJK.search(parts[0]) and re.match(r"[A-Z(\"]", parts[1])
                  and re.search(r"[A-Za-z]", parts[1]))
            if not ok:
                bad.append(f"{' '.join(path)} {what}: {text!r}")
    assert not bad, "\n".join(bad)
    assert len(list(_walk(main))) > 40  # the walk reached the sub-commands


def test_help_is_the_clis_own_help():
    runner = CliRunner()
    own = runner.invoke(main, ["--help"])
    assert own.exit_code == 0
    assert runner.invoke(main, ["help"]).output == own.output
    sub = runner.invoke(main, ["help", "activities", "add"])
    assert sub.exit_code == 0 and sub.output == runner.invoke(main, ["activities", "add", "--help"]).output
    assert "新建活动" in sub.output
    # the old help-request commands now point to their new name instead of running
    old = runner.invoke(main, ["help", "show", "12"])
    assert old.exit_code == 2 and "taoyuan requests show" in old.output
    assert runner.invoke(main, ["help", "nosuch"]).exit_code == 2


def test_groups_are_named_after_the_features_old_names_hidden():
    listed = CliRunner().invoke(main, ["--help"]).output
    for name in ("activities", "directory", "requests", "help", "reminders", "staff", "stats"):
        assert f"\n  {name} " in listed, name
    for old in ("events", "points"):
        assert f"\n  {old} " not in listed
        assert main.commands[old].hidden
        assert main.commands[old].commands is main.commands[HIDDEN_ALIASES[old]].commands


def test_old_group_names_still_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAOYUAN_CONFIG", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    for old, new in (("events", "activities"), ("points", "directory")):
        sub = "list" if new == "activities" else "unmatched"
        result, expected = runner.invoke(main, [old, sub]), runner.invoke(main, [new, sub])
        assert result.exit_code == 0, result.output
        assert result.output == expected.output and result.output.strip()


def test_version_comes_from_the_package_metadata():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"taoyuan {importlib.metadata.version('taoyuan-bot')}"


def test_create_app_refuses_an_unsafe_production_config(tmp_path, caplog):
    # i12 fixes, finding 7: `gunicorn 'bot.app:create_app()'` must refuse like bot.wsgi.
    from bot.app import create_app
    from bot.core.config import ConfigError, load_config

    config = load_config(_production_config(tmp_path), environ={})
    with caplog.at_level("CRITICAL"), pytest.raises(ConfigError) as err:
        create_app(config)
    assert "wechat.token: 生产环境" in str(err.value) and "must not use the example token" in str(err.value)
    assert "refusing to start" in caplog.text
    assert not (tmp_path / "instance").exists()  # refused before any work


def test_gunicorn_create_app_factory_refuses_the_example_token(tmp_path):
    env = {**os.environ, "TAOYUAN_CONFIG": str(_production_config(tmp_path))}
    env.pop("TAOYUAN_WECHAT_TOKEN", None)
    command = [str(Path(sys.executable).parent / "gunicorn"), "--bind", "127.0.0.1:0",
               "--workers", "1", "--chdir", str(ROOT), "bot.app:create_app()"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode != 0
    assert "wechat.token: 生产环境" in out.stdout + out.stderr


def test_serve_refuses_with_the_bilingual_message_when_the_key_file_cannot_be_made(
        tmp_path, db_url, redis_prefix, monkeypatch):
    # i12 fixes, finding 10: as root os.access says /proc is writable; making the file fails.
    import flask

    from tests.conftest import REDIS_URL

    monkeypatch.setattr(flask.Flask, "run", lambda *a, **k: pytest.fail("server started"))
    path = tmp_path / "c.toml"
    path.write_text(f'[app]\ninstance_dir = "/proc/nonexist/inst"\n'
                    f'[wechat]\ntoken = "ourOwnToken2026"\n'
                    f'app_secret = "0123456789abcdef0123456789abcdef"\n'
                    f'[database]\nurl = "{db_url}"\n'
                    f'[redis]\nurl = "{REDIS_URL}"\nprefix = "{redis_prefix}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(path), "serve", "--port", "1"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "app.secret_key: " in result.output and "会话密钥文件" in result.output
    assert "session key file" in result.output and "Traceback" not in result.output


def test_staff_add_on_a_fresh_install_brings_the_schema_up_first(tmp_path, monkeypatch):
    """The README tells staff to run ``staff add`` first, before ``serve`` or ``db upgrade``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TAOYUAN_CONFIG", raising=False)
    runner = CliRunner()
    r = runner.invoke(main, ["staff", "add", "xiaowang", "--role", "admin", "--password",
                             "a-long-enough-password"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["staff", "list"])
    assert r.exit_code == 0 and "xiaowang" in r.output, r.output


# -- issue 14: errors in Chinese, never click's English 「Error:」 ----------------------------------
@pytest.mark.parametrize("args, words, code", [
    (["nosuch"], "用法不对", 2),
    (["activities", "list", "--bad"], "没有这个选项", 2),
    (["intents", "test"], "缺少参数", 2),
    (["help", "nosuch"], "没有命令「nosuch」", 2),
])
def test_errors_are_shown_in_chinese(tmp_path, monkeypatch, args, words, code):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args, prog_name="taoyuan")
    assert result.exit_code == code
    assert "Error:" not in result.output and "Try '" not in result.output
    assert f"错误：{words}" in result.output or ("错误：" in result.output and words in result.output)
    assert "用法 / Usage: taoyuan" in result.output


def test_a_commands_own_error_is_chinese_with_exit_1(tmp_path, monkeypatch):
    bad = tmp_path / "c.toml"
    bad.write_text('[wechat]\nencoding_aes_key = "short"\n')
    result = CliRunner().invoke(main, ["--config", str(bad), "db", "upgrade"])
    assert result.exit_code == 1
    assert result.output.startswith("错误：配置错误") and "Error:" not in result.output
