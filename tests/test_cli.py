"""The core commands on a fresh folder with embedded defaults."""
from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main


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
