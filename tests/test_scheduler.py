"""The scheduler process: jobs in the database job store, the leader lock, missed runs."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select, text

from models.followers import Follower
from models.outbox import OutboxMessage
from models.reminders import ReminderRun, ensure_default_reminders, get_reminder, subscribe_topic
from scheduler.runner import ReminderTrigger, build_scheduler, run_scheduler, sync_jobs
from tests.conftest import REDIS_URL
from tests.clock import taoyuan_argv
from tests.servers import write_config

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc


def _job_rows(services):
    with services.db.engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all())


def test_jobs_live_in_the_database_and_follow_staff_edits(services):
    with time_machine.travel(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), tick=True):
        sched = build_scheduler(services)
        sched.start(paused=True)
        try:
            counts = sync_jobs(sched, services)
            assert counts["added"] == 3
            rows = _job_rows(services)
            with services.db.session() as s:
                morning = get_reminder(s, "义剪-当天")
                eve = get_reminder(s, "义剪-前一天")
            assert {f"reminder:{morning.id}", f"reminder:{eve.id}", "notices", "sync",
                    "help-digest:09:00", "help-digest:17:00", "help-housekeeping"} <= set(rows)
            assert rows["help-digest:09:00"] == datetime(2026, 11, 30, 1, 0, tzinfo=UTC).timestamp()
            assert rows[f"reminder:{morning.id}"] == datetime(2026, 12, 17, 0, 0, tzinfo=UTC).timestamp()
            assert rows[f"reminder:{eve.id}"] == datetime(2026, 12, 16, 10, 0, tzinfo=UTC).timestamp()
            job = sched.get_job(f"reminder:{morning.id}")
            assert isinstance(job.trigger, ReminderTrigger)
            # unchanged reminders keep their stored next run time
            assert sync_jobs(sched, services)["kept"] == 3
            # staff disable one and move another
            with services.db.session() as s:
                get_reminder(s, "义剪-当天").enabled = False
                get_reminder(s, "义剪-前一天").schedule = "30 19 16 * *"
            counts = sync_jobs(sched, services)
            assert counts["removed"] == 1 and counts["added"] == 1
            # a broken schedule typed in the console unschedules that one only
            with services.db.session() as s:
                get_reminder(s, "活动提醒").schedule = "every evening"
            counts = sync_jobs(sched, services)
            assert counts["removed"] == 1 and counts["kept"] == 1
            rows = _job_rows(services)
            assert f"reminder:{morning.id}" not in rows
            assert rows[f"reminder:{eve.id}"] == datetime(2026, 12, 16, 11, 30, tzinfo=UTC).timestamp()
        finally:
            sched.shutdown(wait=False)


def _subscribers(services, n):
    with services.db.session() as s:
        for i in range(n):
            s.add(Follower(openid=f"o_s{i}", subscribed=True, valid=True,   # wrote on the 16th
                           last_interaction_at=datetime(2026, 12, 16, 20, 0, tzinfo=UTC)))
            s.flush()
            subscribe_topic(s, f"o_s{i}", "haircut")


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _outbox_count(services):
    with services.db.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage))


def _run_in_thread(services, stop):
    states: queue.Queue = queue.Queue()
    t = threading.Thread(target=run_scheduler, args=(services, stop),
                         kwargs={"poll": 0.1, "on_state": states.put}, daemon=True)
    t.start()
    return t, states


def test_fire_missed_while_down_runs_once_when_it_comes_back_the_same_day(services):
    _subscribers(services, 3)
    # 07:00 in Shanghai on the 17th: the scheduler runs, stores its jobs, then goes down
    with time_machine.travel(datetime(2026, 12, 16, 23, 0, tzinfo=UTC), tick=True):
        stop = threading.Event()
        t, states = _run_in_thread(services, stop)
        assert states.get(timeout=10) == "leader"
        time.sleep(0.5)
        stop.set()
        t.join(10)
    assert _outbox_count(services) == 0
    # back at 11:00 (the 08:00 fire was missed, still the same day): it fires once
    with time_machine.travel(datetime(2026, 12, 17, 3, 0, tzinfo=UTC), tick=True):
        stop = threading.Event()
        t, states = _run_in_thread(services, stop)
        assert states.get(timeout=10) == "leader"
        assert _wait_for(lambda: _outbox_count(services) >= 3)
        time.sleep(1.0)   # the stored job and the catch-up both ran by now
        stop.set()
        t.join(10)
    assert _outbox_count(services) == 3
    with services.db.session() as s:
        runs = {r.occurrence: r.status for r in s.scalars(select(ReminderRun))}
    assert runs["2026-12-17T00:00Z"] == "done"


def test_fire_missed_beyond_grace_is_recorded_not_sent(services):
    _subscribers(services, 2)
    with services.db.session() as s:
        ensure_default_reminders(s)
    # back the next morning, 00:30 on the 18th in Shanghai
    with time_machine.travel(datetime(2026, 12, 17, 16, 30, tzinfo=UTC), tick=True):
        stop = threading.Event()
        t, states = _run_in_thread(services, stop)
        assert states.get(timeout=10) == "leader"
        assert _wait_for(lambda: _missed(services))
        stop.set()
        t.join(10)
    assert _outbox_count(services) == 0


def _missed(services):
    with services.db.session() as s:
        return s.scalar(select(ReminderRun.status).where(ReminderRun.occurrence == "2026-12-17T00:00Z")) == "missed"


# -- two scheduler processes ---------------------------------------------------------------------
def _start(config: Path) -> tuple[subprocess.Popen, queue.Queue]:
    proc = subprocess.Popen(taoyuan_argv("--config", str(config), "scheduler"), cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stderr:
            if line.startswith("scheduler: "):
                lines.put(line.split(": ", 1)[1].strip())
    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def test_second_scheduler_process_stays_idle_until_the_first_stops(services, db_url, redis_prefix, tmp_path):
    config = write_config(tmp_path / "sched.toml", db_url=db_url, redis_url=REDIS_URL,
                          redis_prefix=redis_prefix, instance_dir=tmp_path / "instance",
                          extra="[reminders]\nleader_ttl = 2\n")
    first, first_lines = _start(config)
    try:
        assert first_lines.get(timeout=20) == "leader"
        second, second_lines = _start(config)
        try:
            assert second_lines.get(timeout=20) == "standby"
            time.sleep(1.5)
            assert second_lines.empty()            # still idle while the first renews the lock
            first.send_signal(signal.SIGTERM)
            assert first.wait(20) == 0
            assert second_lines.get(timeout=10) == "leader"
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
    finally:
        if first.poll() is None:
            first.kill()


# -- failover bound (issue 15 item 8) ------------------------------------------------------------
def test_failover_arithmetic_keeps_the_documented_bound():
    from scheduler.runner import DEFAULT_LEADER_TTL, Failover

    for bound in (2, 6, 10, DEFAULT_LEADER_TTL, 120):
        f = Failover(bound)
        # a dead leader's lock lives lock_ttl after its last renewal; the standby tries every
        # standby_poll seconds and needs margin to take it: the worst case is the bound itself
        assert f.lock_ttl + f.standby_poll + f.margin <= bound + 1e-9
        assert f.worst_takeover <= bound + 1e-9
        assert 0 < f.renew_every < f.lock_ttl
    assert Failover(DEFAULT_LEADER_TTL).worst_takeover <= 30  # the README's figure


def test_a_standby_scheduler_takes_over_a_killed_leader_within_leader_ttl(
        services, db_url, redis_prefix, tmp_path):
    """kill -9 the leader right after it renewed its lock (the worst moment) and time the
    standby's takeover against the bound computed from the config."""
    import redis as redis_lib

    from scheduler.runner import Failover

    bound = 10
    failover = Failover(bound)
    config = write_config(tmp_path / "sched.toml", db_url=db_url, redis_url=REDIS_URL,
                          redis_prefix=redis_prefix, instance_dir=tmp_path / "instance",
                          extra=f"[reminders]\nleader_ttl = {bound}\n")
    client = redis_lib.Redis.from_url(REDIS_URL)
    key = redis_prefix + "scheduler-leader"
    first, first_lines = _start(config)
    second = None
    try:
        assert first_lines.get(timeout=30) == "leader"
        second, second_lines = _start(config)
        assert second_lines.get(timeout=30) == "standby"
        # wait for a renewal: the lock's remaining time jumps back to (nearly) the full TTL
        deadline = time.monotonic() + 3 * failover.lock_ttl
        last = client.pttl(key)
        while time.monotonic() < deadline:
            now_ttl = client.pttl(key)
            if now_ttl > last + 100:
                break
            last = now_ttl
            time.sleep(0.005)
        else:
            pytest.fail("the leader never renewed its lock")
        assert now_ttl <= failover.lock_ttl * 1000 + 50   # the lock lives lock_ttl, not the bound
        first.kill()                                        # kill -9
        killed = time.monotonic()
        assert second_lines.get(timeout=bound * 3) == "leader"
        takeover = time.monotonic() - killed
        print(f"takeover after kill -9: {takeover:.2f} s (bound {bound} s)")
        # measured: at most the documented bound (+0.5 s for a loaded CI machine's scheduling)
        assert takeover <= bound + 0.5, f"takeover took {takeover:.2f} s (bound {bound} s)"
        assert takeover >= failover.lock_ttl - 0.5        # the dead leader's lock was honoured
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        client.close()
