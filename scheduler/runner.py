"""``taoyuan scheduler``: APScheduler 3 in its own process, jobs stored in the app database.

- Jobs live in APScheduler's SQLAlchemyJobStore (table ``apscheduler_jobs``, created by
  migration 0300_reminders): one job per enabled reminder (``reminder:<id>``, a
  :class:`ReminderTrigger` computing fires with :mod:`scheduler.timing`), ``notices`` (pending
  notices every ``notice_interval`` seconds), ``sync`` (picks up staff edits every minute), and
  the help feature's digest (``help-digest:HH:MM`` at ``[help] digest_times``) and daily
  retention job (``help-housekeeping``, 03:30).
- Web workers never start this; only ``taoyuan scheduler`` does, so N web workers never mean N
  sends. A Redis lock (``services.keys("scheduler-leader")``, renewed every third of its TTL)
  keeps a second scheduler process idle until the first one stops; ``[reminders] leader_ttl``
  is the documented takeover bound, and :class:`Failover` derives the lock TTL and the standby's
  polling from it so that bound holds by construction.
- Missed runs: APScheduler runs a job that was due while the process was down once
  (``coalesce``); the job and a catch-up at start call :func:`scheduler.reminders.run_due`, which
  sends the latest fire only within the grace time and records each fire once.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import select

from bot.core.features import registrations
from models.base import utcnow
from models.reminders import (KIND_ACTIVITY, KIND_SCHEDULED, Reminder, ReminderError,
                             ensure_default_reminders)
from scheduler import help as help_jobs
from scheduler.reminders import deliver_notices, run_due
from scheduler.timing import ScheduleSpec, check_spec, next_fire

log = logging.getLogger(__name__)

#: The services of the scheduler process; set by :func:`run_scheduler` (jobs are stored by
#: reference and cannot carry live objects).
_SERVICES = None

DEFAULT_LEADER_TTL = 30        # seconds: the takeover bound (see Failover)
DEFAULT_NOTICE_INTERVAL = 300  # seconds
SYNC_INTERVAL = 60             # seconds


class ReminderTrigger(BaseTrigger):
    """An APScheduler trigger for a reminder's schedule (cron in ``tz_name`` + offset + weekend
    policy), picklable for the database job store."""

    def __init__(self, schedule: str, tz_name: str, offset_days: int = 0, weekend: str = "keep"):
        self.schedule, self.tz_name = schedule, tz_name
        self.offset_days, self.weekend = offset_days, weekend

    def spec(self) -> ScheduleSpec:
        from zoneinfo import ZoneInfo

        return ScheduleSpec(self.schedule, ZoneInfo(self.tz_name), self.offset_days, self.weekend)

    def get_next_fire_time(self, previous_fire_time, now):
        after = previous_fire_time if previous_fire_time is not None else now - timedelta(seconds=1)
        fire = next_fire(self.spec(), after)
        return fire.at if fire else None

    def key(self) -> tuple:
        return (self.schedule, self.tz_name, self.offset_days, self.weekend)

    def __getstate__(self):
        return {"version": 1, "schedule": self.schedule, "tz_name": self.tz_name,
                "offset_days": self.offset_days, "weekend": self.weekend}

    def __setstate__(self, state):
        self.schedule, self.tz_name = state["schedule"], state["tz_name"]
        self.offset_days, self.weekend = state["offset_days"], state["weekend"]

    def __str__(self) -> str:
        return f"reminder[{self.schedule} {self.tz_name} +{self.offset_days}d weekend={self.weekend}]"


# -- job functions (referenced by name in the job store) -------------------------------------------
def job_run_reminder(reminder_id: int) -> None:
    """APScheduler job: run reminder ``reminder_id`` if its latest fire is due (once)."""
    run_due(_SERVICES, utcnow(), only=reminder_id)


def job_catch_up() -> None:
    """APScheduler job (once at start): run every reminder fire missed within its grace."""
    run_due(_SERVICES, utcnow())


def job_deliver_notices() -> None:
    """APScheduler job: deliver pending notices."""
    deliver_notices(_SERVICES)


def job_help_digest() -> None:
    """APScheduler job: the help-request digest for on-duty staff (scheduler/help.py)."""
    help_jobs.send_digest(_SERVICES)


def job_help_housekeeping() -> None:
    """APScheduler job (daily): anonymise finished help requests past their retention."""
    help_jobs.housekeeping(_SERVICES)


def job_followers_parked() -> None:
    """APScheduler job: record subscribes parked while the database was down."""
    from models.followers import record_parked

    record_parked(_SERVICES)


def job_sync() -> None:
    """APScheduler job: bring reminder jobs in step with the reminders table."""
    if _SCHEDULER is not None:
        sync_jobs(_SCHEDULER, _SERVICES)


_SCHEDULER = None


# -- set-up ---------------------------------------------------------------------------------------
def build_scheduler(services):
    """A paused-until-started BackgroundScheduler whose job store is the app database."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=services.db.engine)},
        executors={"default": ThreadPoolExecutor(4)},
        # misfire_grace_time None: a job missed while down still runs (once, coalesced); the
        # job itself applies the reminder's grace time and the once-only rule.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=services.tz)


def sync_jobs(scheduler, services) -> dict[str, int]:
    """Add/replace/remove ``reminder:<id>`` jobs to match enabled reminders; add the ``notices``
    and ``sync`` jobs. A job whose trigger did not change keeps its stored next run time (so a
    fire missed while the scheduler was down still runs). Returns counts added/removed/kept."""
    with services.db.write_session() as s:
        ensure_default_reminders(s)
        reminders = list(s.scalars(select(Reminder).where(
            Reminder.enabled.is_(True), Reminder.kind.in_([KIND_SCHEDULED, KIND_ACTIVITY]),
            Reminder.schedule != "")))
    tz_name = services.config.app["timezone"]
    wanted = {}
    for r in reminders:
        trigger = ReminderTrigger(r.schedule, tz_name, r.event_offset_days or 0, r.weekend)
        try:
            check_spec(trigger.spec())
        except ReminderError as exc:  # a bad edit in the console: skip it, keep the others
            log.error("reminder %s not scheduled: %s", r.name, exc)
            continue
        wanted[f"reminder:{r.id}"] = (r, trigger)
    counts = {"added": 0, "removed": 0, "kept": 0}
    existing = {job.id: job for job in scheduler.get_jobs()}
    for job_id, job in existing.items():
        if job_id.startswith("reminder:") and job_id not in wanted:
            scheduler.remove_job(job_id)
            counts["removed"] += 1
    for job_id, (r, trigger) in wanted.items():
        job = existing.get(job_id)
        if job is not None and isinstance(job.trigger, ReminderTrigger) and job.trigger.key() == trigger.key():
            counts["kept"] += 1
            continue
        scheduler.add_job("scheduler.runner:job_run_reminder", trigger=trigger, args=[r.id],
                          id=job_id, name=r.name, replace_existing=True)
        counts["added"] += 1
    cfg = services.config.section("reminders")
    interval = int(cfg.get("notice_interval", DEFAULT_NOTICE_INTERVAL))
    if "notices" not in existing:
        scheduler.add_job("scheduler.runner:job_deliver_notices", "interval", seconds=interval,
                          id="notices", name="待发通知", replace_existing=True)
    for register in registrations("scheduler"):  # each feature's jobs (scheduler/<feature>.py)
        register(scheduler, services, existing)
    if "sync" not in existing:
        scheduler.add_job("scheduler.runner:job_sync", "interval", seconds=SYNC_INTERVAL, id="sync",
                          name="同步提醒", replace_existing=True)
    return counts


class Failover:
    """The timing of the leader lock, derived from the documented takeover bound.

    ``bound`` (``[reminders] leader_ttl``, seconds, default 30) is what the README promises: a
    standby scheduler takes over at most that long after the leader died (``kill -9``, a lost
    machine). A dead leader's lock lives at most :attr:`lock_ttl` after its last renewal (it
    cannot have renewed later); a standby tries again every :attr:`standby_poll` seconds, and
    needs at most :attr:`margin` to get the lock and announce itself (one Redis round trip,
    well under the client's 2 s socket timeout, plus starting). So the worst takeover is
    ``lock_ttl + standby_poll + margin`` = :attr:`worst_takeover`, which equals ``bound``.
    (Before, the lock lived ``bound`` seconds and the standby polled every third of it: up to
    1.33 × bound, 40 s for the documented 30 s.)

    The leader renews every third of :attr:`lock_ttl`, so two renewals can fail (a Redis
    hiccup) before it loses the lock.
    """

    #: Longest pause between a standby's tries, in seconds.
    MAX_POLL = 1.0
    #: Longest allowance for taking the lock and starting, in seconds.
    MAX_MARGIN = 2.0

    def __init__(self, bound: float = DEFAULT_LEADER_TTL):
        if bound <= 0:
            raise ValueError("reminders.leader_ttl: must be a positive number of seconds")
        self.bound = float(bound)
        self.standby_poll = min(self.MAX_POLL, self.bound / 10)
        self.margin = min(self.MAX_MARGIN, self.bound / 10)
        self.lock_ttl = self.bound - self.standby_poll - self.margin
        self.renew_every = self.lock_ttl / 3

    @classmethod
    def from_config(cls, config) -> "Failover":
        """From ``[reminders] leader_ttl`` (default :data:`DEFAULT_LEADER_TTL`)."""
        return cls(float(config.section("reminders").get("leader_ttl", DEFAULT_LEADER_TTL)))

    @property
    def worst_takeover(self) -> float:
        """Seconds from the leader's death to a standby leading, at worst (``<= bound``)."""
        return self.lock_ttl + self.standby_poll + self.margin


class LeaderLock:
    """The Redis lock that makes one scheduler process active (``scheduler-leader``).

    :meth:`try_acquire` never blocks; :meth:`renew` extends the TTL and returns False when the
    lock was lost (another process took it after a long pause). ``ttl``: the lock's lifetime in
    seconds (default: :attr:`Failover.lock_ttl` from the config)."""

    def __init__(self, services, ttl: float | None = None):
        self.failover = Failover.from_config(services.config)
        self.ttl = float(ttl or self.failover.lock_ttl)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._complained_at = float("-inf")
        self._lock = services.redis.lock(services.keys("scheduler-leader"), timeout=self.ttl,
                                         thread_local=False)

    def try_acquire(self) -> bool:
        try:
            return bool(self._lock.acquire(blocking=False))
        except Exception as exc:  # noqa: BLE001 - Redis down: not leader; try again next poll
            now = time.monotonic()
            if now - self._complained_at >= 60:  # once a minute, not once a poll
                self._complained_at = now
                log.error("scheduler leader lock: Redis unavailable (%s); standing by",
                          type(exc).__name__)
            return False

    def renew(self) -> bool:
        try:
            self._lock.reacquire()
            return True
        except Exception:  # noqa: BLE001 - LockNotOwnedError or Redis down: not leader any more
            return False

    def release(self) -> None:
        try:
            self._lock.release()
        except Exception:  # noqa: BLE001 - already expired
            pass


def run_scheduler(services, stop: threading.Event | None = None, *, poll: float | None = None,
                  on_state=None) -> None:
    """Run until ``stop`` is set: wait to become leader, then catch up missed reminders, start
    APScheduler and renew the lock; step down (shut APScheduler) if the lock is lost.

    ``on_state(str)`` is called with ``"standby"``, ``"leader"`` and ``"stopped"`` (tests,
    logs). ``poll``: seconds between tries and renewals, for tests (default: from
    :class:`Failover`, which keeps the takeover within ``[reminders] leader_ttl``).
    """
    global _SERVICES, _SCHEDULER
    stop = stop or threading.Event()
    leader = LeaderLock(services)
    standby_poll = poll if poll is not None else leader.failover.standby_poll
    renew_every = poll if poll is not None else leader.ttl / 3
    notify = on_state or (lambda state: None)
    _SERVICES = services
    announced_standby = False
    try:
        while not stop.is_set():
            if not leader.try_acquire():
                if not announced_standby:
                    log.info("another scheduler is active; standing by")
                    notify("standby")
                    announced_standby = True
                stop.wait(standby_poll)
                continue
            announced_standby = False
            log.info("scheduler %s is the leader", leader.name)
            notify("leader")
            scheduler = build_scheduler(services)
            _SCHEDULER = scheduler
            try:
                scheduler.start(paused=True)
                sync_jobs(scheduler, services)
                # catch up fires missed while nobody was leader, in a job thread so the lock
                # keeps being renewed during a long fan-out
                scheduler.add_job("scheduler.runner:job_catch_up", "date", run_date=utcnow(),
                                  id="catch-up", name="补发错过的提醒", replace_existing=True)
                scheduler.resume()
                while not stop.wait(renew_every):
                    if not leader.renew():
                        log.error("scheduler lost the leader lock; stepping down")
                        break
            finally:
                scheduler.shutdown(wait=True)
                _SCHEDULER = None
                leader.release()
    finally:
        notify("stopped")


def next_runs(services) -> dict[str, datetime | None]:
    """Job id -> next run time (aware) as stored in the job store (for ``reminders list``)."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(engine=services.db.engine)
    try:
        store.start(None, "default")
        return {job.id: job.next_run_time for job in store.get_all_jobs()}
    except Exception:  # noqa: BLE001 - no scheduler has run yet
        return {}
