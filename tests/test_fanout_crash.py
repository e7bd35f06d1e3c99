"""Crash test: kill the sender half-way through 1,000 recipients, start it again, and check each
recipient got exactly one message at the fake WeChat API."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import wire_services
from models.followers import Follower
from models.reminders import DeliveryLog, ReminderRun, TopicSubscription
from tests.conftest import REDIS_URL, _empty_tables, make_config
from tests.clock import taoyuan_argv
from tests.servers import write_config

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "message/template/send"
N = 1000


def _toml(db_url, redis_prefix, tmp_path, fake) -> Path:
    return write_config(tmp_path / "crash.toml", db_url=db_url, redis_url=REDIS_URL,
                        redis_prefix=redis_prefix, instance_dir=tmp_path / "instance", extra=f'''
[wechat]
app_id = "{fake.app_id}"
app_secret = "{fake.app_secret}"
api_base_url = "{fake.base_url}"
timeout = 5.0
[wechat.templates]
reminder = "TPL_REMIND"
[reminders]
rate_per_second = 200
concurrency = 8
lock_ttl = 3
''')


def _sender(config: Path) -> subprocess.Popen:
    return subprocess.Popen(taoyuan_argv("--config", str(config), "reminders", "run",
                                         "义剪-当天", "--now", "--occurrence", "crash-1"),
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def crash_services(db_url, redis_prefix, tmp_path, fake_wechat):
    cfg = make_config(db_url, redis_prefix, tmp_path)
    svc = wire_services(cfg)
    _empty_tables(svc)
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


def test_killed_sender_restarted_sends_each_recipient_exactly_one(crash_services, db_url, redis_prefix,
                                                                  tmp_path, fake_wechat):
    svc = crash_services
    openids = [f"o_crash_{i:04d}" for i in range(N)]
    with svc.db.session() as s:
        s.add_all(Follower(openid=o, subscribed=True, valid=True) for o in openids)
        s.flush()
        s.add_all(TopicSubscription(openid=o, topic="haircut") for o in openids)
    fake_wechat.latency = 0.01
    config = _toml(db_url, redis_prefix, tmp_path, fake_wechat)

    first = _sender(config)
    deadline = time.monotonic() + 60
    while len(fake_wechat.sent) < N // 2 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    assert first.poll() is None, f"sender ended before the kill: {first.communicate()}"
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = len(fake_wechat.sent)
    assert N // 4 < at_kill < N

    with svc.db.session() as s:
        left = dict(s.execute(select(DeliveryLog.status, func.count()).group_by(DeliveryLog.status)).all())
    assert left.get("pending", 0) + left.get("sending", 0) > 0      # really half-way

    second = _sender(config)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err

    per_recipient = {o: len(fake_wechat.messages_to(o)) for o in openids}
    assert set(per_recipient.values()) == {1}, {o: n for o, n in per_recipient.items() if n != 1}
    calls = fake_wechat.count(TEMPLATE)
    with svc.db.session() as s:
        done = dict(s.execute(select(DeliveryLog.status, func.count()).group_by(DeliveryLog.status)).all())
        run = s.scalar(select(ReminderRun).where(ReminderRun.occurrence == "crash-1"))
    assert done == {"sent": N}
    assert run.status == "done" and run.sent == N
    print(f"\n[{db_url.split(':')[0]}] killed after {at_kill} messages; rows left {left}; "
          f"{calls} template calls in all, {calls - N} resends absorbed by client_msg_id")
