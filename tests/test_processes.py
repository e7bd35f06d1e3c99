"""The webhook as real processes: two workers sharing Redis and the database; ``taoyuan chat``."""
from __future__ import annotations

import os
import subprocess
import threading

import pytest

from bot.simulator import Simulator, http_transport, reply_text, text_fields
from tests.conftest import REDIS_URL
from tests.clock import taoyuan_argv
from tests.servers import Server, write_config


@pytest.fixture
def two_servers(db_url, redis_prefix, tmp_path):
    cfg = write_config(tmp_path / "config.toml", db_url=db_url, redis_url=REDIS_URL,
                       redis_prefix=redis_prefix, instance_dir=tmp_path / "instance")
    debug = {"TAOYUAN_LOG_LEVEL": "DEBUG"}  # the per-message lines are DEBUG
    servers = [Server(cfg, env=debug), Server(cfg, env=debug)]
    yield cfg, servers
    for s in servers:
        s.stop()


def test_two_processes_one_side_effect_identical_replies(two_servers):
    cfg, servers = two_servers
    sim = Simulator(token="taoyuandevtoken")
    fields = text_fields("oTwoProc", "帮助", msg_id=424242)
    replies: list[str] = []
    barrier = threading.Barrier(2)

    def post(server):
        path, body = sim.build(fields)
        barrier.wait()
        status, text = http_transport(server.url)(path, body)
        assert status == 200
        replies.append(reply_text(sim.read_reply(text)))

    threads = [threading.Thread(target=post, args=(s,)) for s in servers]
    [t.start() for t in threads]
    [t.join() for t in threads]
    logs = "".join(s.stop() for s in servers)
    assert len(replies) == 2 and replies[0] == replies[1] and "您可以这样用" in replies[0]
    assert logs.count("text answered in") == 1, logs
    assert logs.count("retry of text: same reply") == 1, logs
    assert "oTwoProc" not in logs


def test_taoyuan_chat_talks_to_a_running_webhook(two_servers):
    cfg, servers = two_servers
    lines = "/subscribe poster\n帮助\n/loc 25.32 118.29\n/click HELP_USAGE\n/bogus\n/quit\n"
    out = subprocess.run(taoyuan_argv("chat", "--url", servers[0].url), input=lines, text=True,
                         capture_output=True, timeout=60,
                         env={**os.environ, "TAOYUAN_CONFIG": str(cfg)})
    assert out.returncode == 0, out.stderr
    assert "欢迎关注" in out.stdout and "您可以这样用" in out.stdout
    assert "不认识的命令" in out.stdout


def test_taoyuan_chat_takes_the_webhook_url_as_set_in_wechat(two_servers):
    cfg, servers = two_servers
    out = subprocess.run(taoyuan_argv("chat", "--url", servers[0].url + "/wechat/"), input="帮助\n",
                         text=True, capture_output=True, timeout=60,
                         env={**os.environ, "TAOYUAN_CONFIG": str(cfg)})
    assert out.returncode == 0, out.stderr
    assert "您可以这样用" in out.stdout and "404" not in out.stdout


def test_a_signed_url_from_a_log_cannot_post_another_body(two_servers):
    from bot.simulator import fields_xml

    cfg, servers = two_servers
    sim = Simulator(token="taoyuandevtoken")
    path, body = sim.build(text_fields("oLoggedUrl", "帮助", msg_id=868686))
    status, first = http_transport(servers[0].url)(path, body)
    assert status == 200 and "您可以这样用" in reply_text(sim.read_reply(first))
    forged = fields_xml(text_fields("oAttacker", "活动", msg_id=868687)).encode()
    assert http_transport(servers[1].url)(path, forged)[0] == 403  # on the other worker too
    assert http_transport(servers[1].url)(path, body) == (200, first)  # a retry: same reply
    logs = "".join(s.stop() for s in servers)
    assert logs.count("its signed URL was used before with another body") == 1, logs
    assert logs.count("text answered in") == 1 and "oAttacker" not in logs
