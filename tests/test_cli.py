"""The core commands on a fresh folder with embedded defaults."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

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
