"""``taoyuan reminders list|preview|run|set``."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from bot.cli import main
from models.followers import Follower
from models.reminders import subscribe_topic
from tests.conftest import REDIS_URL
from tests.servers import write_config


@pytest.fixture
def cli(services, db_url, redis_prefix, tmp_path):
    config = write_config(tmp_path / "cli.toml", db_url=db_url, redis_url=REDIS_URL,
                          redis_prefix=redis_prefix, instance_dir=tmp_path / "instance",
                          extra='[wechat.templates]\nreminder = "TPL_REMIND"\n')
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, ["--config", str(config), *args], catch_exceptions=False)
        return result.exit_code, result.output
    return run


def _subscriber(services, openid):
    with services.db.session() as s:
        s.add(Follower(openid=openid, subscribed=True, valid=True,
                       last_interaction_at=datetime.now(timezone.utc)))
        s.flush()
        subscribe_topic(s, openid, "haircut")


def test_list_shows_the_shipped_haircut_reminders_with_next_fire(cli):
    code, out = cli("reminders", "list")
    assert code == 0
    assert "义剪-前一天" in out and "0 18 16 * *" in out
    assert "义剪-当天" in out and "0 8 17 * *" in out
    assert "活动提醒" in out and "待发通知" in out
    assert "下次发送 20" in out and " 08:00" in out and " 18:00" in out


def test_preview_renders_fields_text_and_masked_recipients(cli, services):
    _subscriber(services, "oPreview1234567")
    code, out = cli("reminders", "preview", "义剪-前一天")
    assert code == 0
    assert "TPL_REMIND" in out and "爱心义剪" in out and "助困公益协会妇联" in out
    assert "oPrevi…" in out and "oPreview1234567" not in out
    assert "template → custom" in out
    code, out = cli("reminders", "preview", "没有这个")
    assert code != 0 and "没有名为" in out


def test_run_now_sends_once_per_day(cli, services):
    _subscriber(services, "o_run_1")
    code, out = cli("reminders", "run", "义剪-当天", "--now")
    assert code == 0 and "已发 1" in out
    code, out = cli("reminders", "run", "义剪-当天", "--now")
    assert "此前已发完" in out


def test_set_edits_and_validates(cli):
    code, out = cli("reminders", "set", "义剪-当天", "--weekend", "friday", "--schedule", "30 8 17 * *")
    assert code == 0
    code, out = cli("reminders", "list")
    assert "30 8 17 * *" in out and "周末规则 friday" in out
    code, out = cli("reminders", "set", "义剪-当天", "--schedule", "every day")
    assert code != 0 and "5段" in out


def test_set_goes_through_the_same_check_as_the_console(cli):
    """Issue 16: the model operation checks the audience and the text too, for CLI and console."""
    code, out = cli("reminders", "set", "义剪-当天", "--audience", "all")
    assert code != 0 and "发给谁" in out
    code, out = cli("reminders", "set", "义剪-当天", "--text", "今天{几点}义剪")
    assert code != 0 and "占位符" in out
    code, out = cli("reminders", "list")
    assert "30 8 17 * *" not in out and "0 8 17 * *" in out
