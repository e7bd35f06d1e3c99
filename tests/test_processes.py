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


# -- issue 15: the reply budget and dead workers, through real HTTP on two processes ---------------
PROC_TOKEN = "proctoken2026"


@pytest.fixture
def live_pair(pg_url, redis_prefix, tmp_path, fake_wechat):
    """Two ``taoyuan serve`` processes on PostgreSQL calling the fake WeChat API (not dry run),
    and ``services`` for the test's own reads and writes."""
    from bot.app import wire_services
    from tests.conftest import make_config

    cfg = write_config(
        tmp_path / "config.toml", db_url=pg_url, redis_url=REDIS_URL, redis_prefix=redis_prefix,
        instance_dir=tmp_path / "instance",
        extra=f'[wechat]\ntoken = "{PROC_TOKEN}"\napp_id = "{fake_wechat.app_id}"\n'
              f'app_secret = "{fake_wechat.app_secret}"\napi_base_url = "{fake_wechat.base_url}"\n')
    services = wire_services(make_config(pg_url, redis_prefix, tmp_path))
    servers = [Server(cfg), Server(cfg)]
    yield services, servers
    for s in servers:
        s.stop()
    with services.db.engine.begin() as conn:
        import models

        for table in reversed(models.Base.metadata.sorted_tables):
            conn.execute(table.delete())
    services.db.dispose()


def _at_consent(services, openid: str) -> int:
    """An activity with seats, and ``openid`` a follower at its signup's consent step."""
    from handlers.conversation import ConversationStore
    from models.base import utcnow
    from models.followers import Follower
    from tests.helpers import new_activity

    n = new_activity(services, capacity=5)
    with services.db.session() as s:
        s.add(Follower(openid=openid, subscribed=True, valid=True, last_interaction_at=utcnow()))
    store = ConversationStore(services.redis, services.keys, openid)
    state = store.start("signup", "consent", number=n, role="participant")
    store.update(state, name="王秀英", phone="13812345678")
    return n


def _lock_activity(services, number: int):
    """Hold the activity's row lock (as a slow staff edit would) until ``.rollback()``."""
    from sqlalchemy import text

    conn = services.db.engine.connect()
    trans = conn.begin()
    conn.execute(text("SELECT id FROM activities WHERE number = :n FOR UPDATE"), {"n": number})
    return conn, trans


def _custom_texts(fake_wechat, openid: str) -> list[str]:
    return [c.json["text"]["content"] for c in fake_wechat.sent
            if c.path == "message/custom/send" and c.json.get("touser") == openid]


def _confirmed(services, openid: str) -> int:
    from sqlalchemy import func, select

    from models.activities import Signup

    with services.db.session() as s:
        return s.scalar(select(func.count()).select_from(Signup).where(
            Signup.openid == openid, Signup.status == "confirmed"))


def _post(server, path: str, body: bytes, timeout: float = 5.0) -> tuple[float, str]:
    """(seconds, reply text) of one try; raises ``requests.Timeout`` after ``timeout``."""
    import time

    import requests

    started = time.monotonic()
    resp = requests.post(server.url + path, data=body, headers={"Content-Type": "text/xml"},
                         timeout=timeout)
    assert resp.status_code == 200
    sim = Simulator(token=PROC_TOKEN)
    return time.monotonic() - started, reply_text(sim.read_reply(resp.text))


def _wait_for(predicate, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_row_locked_past_the_budget_answers_once_as_a_customer_message(live_pair, fake_wechat):
    """The activity row is locked for 7 s while she answers 「同意」: the try is answered within
    WeChat's 5 s (``success``), a retry on the other process too, and her answer arrives once,
    as a 客服消息, when the lock is gone."""
    import time

    services, servers = live_pair
    n = _at_consent(services, "oLockedRow")
    path, body = Simulator(token=PROC_TOKEN).build(text_fields("oLockedRow", "同意", msg_id=515151))
    conn, trans = _lock_activity(services, n)
    try:
        started = time.monotonic()
        seconds, first = _post(servers[0], path, body)
        assert seconds < 5.0 and first == ""  # within the budget: success, not a late passive reply
        seconds, retry = _post(servers[1], path, body)  # as if WeChat had not got that answer
        assert seconds < 5.0 and retry == ""
        time.sleep(max(7.0 - (time.monotonic() - started), 0))
        assert _custom_texts(fake_wechat, "oLockedRow") == []  # nothing while the row is locked
    finally:
        trans.rollback()
        conn.close()
    assert _wait_for(lambda: _custom_texts(fake_wechat, "oLockedRow"), 10)
    time.sleep(1.0)
    texts = _custom_texts(fake_wechat, "oLockedRow")
    assert len(texts) == 1 and "报名成功" in texts[0], texts
    assert _confirmed(services, "oLockedRow") == 1
    logs = "".join(s.stop() for s in servers)
    assert logs.count("not answered within the reply budget") == 1, logs
    assert "oLockedRow" not in logs


def test_a_retry_takes_over_the_claim_of_a_killed_worker(live_pair, fake_wechat):
    """The worker handling 「同意」 is SIGKILLed while it waits for a locked row; WeChat's retry
    5 s later, on the other process, takes over the dead worker's claim (its lease is no longer
    renewed) and answers her, once."""
    import signal
    import time

    import requests

    services, servers = live_pair
    n = _at_consent(services, "oKilledWorker")
    path, body = Simulator(token=PROC_TOKEN).build(text_fields("oKilledWorker", "同意", msg_id=626262))
    conn, trans = _lock_activity(services, n)
    started = time.monotonic()

    def first_try() -> None:
        try:
            requests.post(servers[0].url + path, data=body, timeout=5)
        except requests.RequestException:
            pass  # the worker died: WeChat sees no answer

    thread = threading.Thread(target=first_try)
    thread.start()
    try:
        time.sleep(1.5)
        servers[0].proc.send_signal(signal.SIGKILL)
        servers[0].proc.wait(5)
    finally:
        trans.rollback()
        conn.close()
    thread.join()
    time.sleep(max(5.0 - (time.monotonic() - started), 0))  # WeChat retries at ~5 s
    seconds, retry = _post(servers[1], path, body)
    assert seconds < 5.0
    time.sleep(1.0)
    customs = [t for t in _custom_texts(fake_wechat, "oKilledWorker") if "报名成功" in t]
    passive = ["报名成功" in retry]
    assert sum(passive) + len(customs) == 1, (retry, customs)
    assert _confirmed(services, "oKilledWorker") == 1
    assert "claim taken over" in servers[1].stop()
