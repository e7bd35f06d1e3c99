"""Fan-out: deliver one occurrence of a reminder to its recipients, once each.

Per recipient (模板消息 / 订阅通知 / 客服消息, in that order of preference):

1. a template message (``message/template/send``) when the reminder's template id is configured,
   sent with a ``client_msg_id`` derived from (reminder, occurrence, openid) so a resend after a
   crash is de-duplicated by WeChat;
2. else (or when the template is refused) a 订阅通知 (``message/subscribe/bizsend``) when its
   template id is configured;
3. else a 客服消息 (``message/custom/send``) when she wrote to the account in the last 48 hours.

Every recipient is a :class:`~models.reminders.DeliveryLog` row, unique per (reminder,
occurrence, openid): rows are created ``pending``, claimed in chunks as ``sending`` before any
call, and finished by a single writer thread in batches. A run started again after a crash
sends only what is missing: ``sending`` rows go back to ``pending`` (template messages: resent
with the same client_msg_id) or become ``unknown`` (客服消息 has no idempotency key, so it is
never risked twice). A Redis lock per (reminder, occurrence) keeps two runs from overlapping.

WeChat errors (全局返回码): 43004 → follower.subscribed = False; 40003 → follower.valid = False;
-1 → retried with back-off; 45009 → the run stops, remaining rows stay pending, and the run
records it; 40001 → the API client refreshes the token once. Unsubscribed or invalid followers
are never sent anything (checked when each chunk is claimed). A woman who blocked template
messages (TEMPLATESENDJOBFINISH ``failed:user block``) gets none until she writes again, and one
whose 客服消息 was refused (45015, 45047) is not tried on that channel until she writes again.
A template message WeChat reported ``failed: system failed`` (status ``retry``) is sent once
more by the next run of its occurrence, with a new client_msg_id. Every refusal is logged
(openid masked) and recorded in the delivery log with its Chinese reason
(:func:`bot.wechat.errors.reason_for`).
"""
from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

from sqlalchemy import func, insert, select, update

from bot.core.logging import mask_openid
from bot.wechat.errors import reason_for
from models.base import utcnow
from models.followers import Follower, mark_custom_refused, refused_since
from models.reminders import (BLOCKED, DELIVERED, FAILED, FINAL_STATUSES, PENDING, RETRY, RUN_DONE,
                             RUN_RUNNING, RUN_STOPPED, SENDING, SENT, SKIPPED, UNKNOWN,
                             DeliveryLog, ReminderRun, retry_client_msg_id)
from scheduler.ratelimit import Pacer

log = logging.getLogger(__name__)

CHANNEL_TEMPLATE, CHANNEL_SUBSCRIBE, CHANNEL_CUSTOM = "template", "subscribe", "custom"
ERR_BUSY, ERR_INVALID_OPENID, ERR_NOT_FOLLOWER, ERR_QUOTA = -1, 40003, 43004, 45009
#: errcodes of a 客服消息 refused for this one woman (45015 outside the 48 hours, 45047 too many
#: unanswered): the 客服 channel is not tried for her again until she writes.
CUSTOM_REFUSALS = frozenset({45015, 45047})

#: Defaults of the ``[reminders]`` config section used here.
DEFAULT_RATE = 50.0          # sends per second, all threads together
DEFAULT_CONCURRENCY = 8      # sender threads
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0)  # seconds between retries of -1 / network errors
DEFAULT_LOCK_TTL = 15        # seconds; the run lock is renewed every third of it
CHUNK = 200                  # rows claimed per transaction


def client_msg_id(reminder_id: int, occurrence: str, openid: str) -> str:
    """The idempotency key of one recipient's template message (≤ 32 ASCII characters)."""
    digest = hashlib.sha1(f"{reminder_id}|{occurrence}|{openid}".encode()).hexdigest()[:24]
    return f"r{reminder_id}-{digest}"[:32]


@dataclass(frozen=True)
class Message:
    """What one recipient gets. ``text``: the 客服消息. ``template_id``/``template_data``:
    the 模板消息 (field -> value, ≤ 20 characters shown). ``subscribe_id``/``subscribe_data``:
    the 订阅通知. Empty ids mean that channel is not configured."""

    text: str
    template_id: str = ""
    template_data: dict = field(default_factory=dict)
    subscribe_id: str = ""
    subscribe_data: dict = field(default_factory=dict)
    url: str = ""

    def channels(self, in_window: bool) -> list[str]:
        """The channels to try, in order, for a recipient (``in_window``: 48-hour window)."""
        out = []
        if self.template_id:
            out.append(CHANNEL_TEMPLATE)
        if self.subscribe_id:
            out.append(CHANNEL_SUBSCRIBE)
        if in_window and self.text:
            out.append(CHANNEL_CUSTOM)
        return out


@dataclass
class _Item:
    log_id: int
    openid: str
    client_msg_id: str
    channels: list[str]
    message: Message


@dataclass
class _Outcome:
    log_id: int
    openid: str
    status: str
    channel: str = ""
    msg_id: str | None = None
    errcode: int | None = None
    detail: str = ""
    follower: str = ""       # "unsubscribed" / "invalid" / ""
    sent_at: float | None = None
    custom_refused: bool = False   # WeChat refused her a 客服消息 (CUSTOM_REFUSALS)


@dataclass
class RunResult:
    """How a run ended. ``status``: done, stopped (45009: ``note`` says so), already_done, busy
    (another process holds the run). Counts are of DeliveryLog rows for the occurrence;
    ``elapsed`` seconds; ``rate`` sends per second measured between the first and last send."""

    reminder_id: int
    occurrence: str
    status: str
    total: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    calls: int = 0
    elapsed: float = 0.0
    rate: float = 0.0
    note: str = ""
    counts: dict = field(default_factory=dict)


def _errcode(exc: BaseException) -> int | None:
    code = getattr(exc, "errcode", None)
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


class FanOut:
    """Delivers occurrences through ``client`` (default ``services.wechat``) at ``rate`` sends
    per second with ``concurrency`` sender threads. Settings default to config ``[reminders]``
    (rate_per_second, concurrency, retry_delays, lock_ttl)."""

    def __init__(self, services, *, client=None, rate: float | None = None,
                 concurrency: int | None = None, retry_delays: Iterable[float] | None = None,
                 chunk: int = CHUNK, now: Callable[[], datetime] = utcnow):
        cfg = services.config.section("reminders")
        self.services = services
        self._client = client
        self.rate = float(rate or cfg.get("rate_per_second", DEFAULT_RATE))
        self.concurrency = int(concurrency or cfg.get("concurrency", DEFAULT_CONCURRENCY))
        delays = retry_delays if retry_delays is not None else cfg.get("retry_delays", DEFAULT_RETRY_DELAYS)
        self.retry_delays = tuple(float(d) for d in delays)
        self.lock_ttl = int(cfg.get("lock_ttl", DEFAULT_LOCK_TTL))
        self.chunk = chunk
        self.now = now

    @property
    def client(self):
        return self._client if self._client is not None else self.services.wechat

    def _widen_http_pool(self) -> None:
        """Let every sender thread keep its own HTTP connection (requests' default pool keeps
        10 and opens a new TCP connection for each call beyond that)."""
        import requests

        http = getattr(self.client, "_http", None)
        if isinstance(http, requests.Session) and self.concurrency > 10:
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=self.concurrency)
            http.mount("http://", adapter)
            http.mount("https://", adapter)

    # -- public ---------------------------------------------------------------------------------
    def run(self, reminder_id: int, occurrence: str, openids: Iterable[str],
            render: Callable[[str], Message | None], *, scheduled_for: datetime | None = None) -> RunResult:
        """Deliver ``occurrence`` of reminder ``reminder_id`` to ``openids``.

        ``render(openid)`` returns that recipient's :class:`Message` (None = skip her). Recipients
        already in the delivery log are not added twice; finished ones are never sent again. A
        run already ``done`` returns status ``already_done`` without sending.
        """
        started = time.monotonic()
        lock = self.services.redis.lock(self.services.keys("reminder-run", reminder_id, occurrence),
                                        timeout=self.lock_ttl, thread_local=False)
        if not lock.acquire(blocking=True, blocking_timeout=self.lock_ttl + 5):
            return RunResult(reminder_id, occurrence, "busy", note="另一个进程正在发送这一次提醒")
        try:
            run_id, already = self._start_run(reminder_id, occurrence, scheduled_for)
            if already:
                result = self._finish(run_id, reminder_id, occurrence, None, started)
                result.status = "already_done"
                return result
            self._add_recipients(reminder_id, occurrence, openids)
            self._recover(reminder_id, occurrence)
            stop_reason = self._deliver(reminder_id, occurrence, render, lock)
            return self._finish(run_id, reminder_id, occurrence, stop_reason, started)
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - expired lock: nothing to release
                pass

    # -- steps ----------------------------------------------------------------------------------
    def _start_run(self, reminder_id: int, occurrence: str, scheduled_for) -> tuple[int, bool]:
        from sqlalchemy.exc import IntegrityError

        for _ in range(2):
            try:
                with self.services.db.write_session() as s:
                    run = s.scalar(select(ReminderRun).where(ReminderRun.reminder_id == reminder_id,
                                                             ReminderRun.occurrence == occurrence))
                    if run is None:
                        run = ReminderRun(reminder_id=reminder_id, occurrence=occurrence,
                                          scheduled_for=scheduled_for, status=RUN_RUNNING,
                                          started_at=self.now())
                        s.add(run)
                        s.flush()
                        return run.id, False
                    if run.status == RUN_DONE and not self._retries(s, reminder_id, occurrence):
                        return run.id, True
                    run.status, run.note = RUN_RUNNING, ""
                    return run.id, False
            except IntegrityError:
                continue
        raise RuntimeError("could not record the reminder run")

    @staticmethod
    def _retries(s, reminder_id: int, occurrence: str) -> int:
        """How many rows of the occurrence wait for their one resend (status ``retry``)."""
        return int(s.scalar(select(func.count()).select_from(DeliveryLog).where(
            DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence,
            DeliveryLog.status == RETRY)) or 0)

    def _add_recipients(self, reminder_id: int, occurrence: str, openids: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(o for o in openids if o))
        with self.services.db.write_session() as s:
            have = set(s.scalars(select(DeliveryLog.openid).where(
                DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence)))
            now = self.now()
            rows = [dict(reminder_id=reminder_id, occurrence=occurrence, openid=o, status=PENDING,
                         channel="", client_msg_id=client_msg_id(reminder_id, occurrence, o),
                         attempts=0, detail="", created_at=now, updated_at=now)
                    for o in wanted if o not in have]
            for i in range(0, len(rows), 1000):
                s.execute(insert(DeliveryLog), rows[i:i + 1000])
        return len(rows)

    def _recover(self, reminder_id: int, occurrence: str) -> None:
        """Rows left ``sending`` by a crashed run: resend template/subscribe ones (same
        client_msg_id), mark 客服消息 ones ``unknown`` (never risk a second message)."""
        where = (DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence,
                 DeliveryLog.status == SENDING)
        with self.services.db.write_session() as s:
            n_unknown = s.execute(update(DeliveryLog).where(*where, DeliveryLog.channel == CHANNEL_CUSTOM)
                                  .values(status=UNKNOWN, detail="crash during 客服消息; not resent",
                                          updated_at=self.now())).rowcount
            n_again = s.execute(update(DeliveryLog).where(*where).values(status=PENDING,
                                                                          updated_at=self.now())).rowcount
            retries = s.execute(select(DeliveryLog.id, DeliveryLog.client_msg_id).where(
                DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence,
                DeliveryLog.status == RETRY)).all()
            if retries:  # WeChat's "system failed": once more, under a new client_msg_id
                s.execute(update(DeliveryLog), [
                    dict(id=i, status=PENDING, client_msg_id=retry_client_msg_id(cmid),
                         detail="微信系统原因失败，重发一次", updated_at=self.now())
                    for i, cmid in retries])
                log.info("reminder %s %s: resending %d template messages WeChat failed",
                         reminder_id, occurrence, len(retries))
        if n_unknown or n_again:
            log.warning("reminder %s %s: resuming after a crash: %d to resend, %d unknown",
                        reminder_id, occurrence, n_again, n_unknown)

    def _claim(self, reminder_id: int, occurrence: str, render, in_window_at: datetime) -> list[_Item]:
        """Mark the next chunk of pending rows ``sending`` (or ``skipped``) and return them."""
        items: list[_Item] = []
        with self.services.db.write_session() as s:
            rows = s.execute(
                select(DeliveryLog.id, DeliveryLog.openid, DeliveryLog.client_msg_id, Follower.subscribed,
                       Follower.valid, Follower.last_interaction_at, Follower.template_blocked_at,
                       Follower.custom_refused_at)
                .join(Follower, Follower.openid == DeliveryLog.openid, isouter=True)
                .where(DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence,
                       DeliveryLog.status == PENDING)
                .order_by(DeliveryLog.id).limit(self.chunk)).all()
            now = self.now()
            changes = []
            for log_id, openid, cmid, subscribed, valid, last, blocked_at, refused_at in rows:
                base = dict(id=log_id, updated_at=now)
                if not subscribed or valid is False:
                    changes.append(dict(base, status=SKIPPED, channel="",
                                       detail="unsubscribed" if not subscribed else "invalid openid"))
                    continue
                message = render(openid)
                in_window = (last is not None and (in_window_at - last).total_seconds() < 48 * 3600
                             and not refused_since(refused_at, last))
                channels = message.channels(in_window) if message else []
                blocked = refused_since(blocked_at, last)
                if blocked:
                    channels = [c for c in channels if c != CHANNEL_TEMPLATE]
                if not channels:
                    detail = ("她已拒收模板消息，再发消息前不再发送" if blocked and message and message.template_id
                              else "no channel (no template, outside 48 h)")
                    changes.append(dict(base, status=SKIPPED, channel="", detail=detail))
                    continue
                changes.append(dict(base, status=SENDING, channel=channels[0], detail=""))
                items.append(_Item(log_id, openid, cmid, channels, message))
            if changes:
                s.execute(update(DeliveryLog), changes)
                s.execute(update(DeliveryLog).where(DeliveryLog.id.in_([c["id"] for c in changes
                                                                        if c["status"] == SENDING]))
                          .values(attempts=DeliveryLog.attempts + 1))
        return items

    def _deliver(self, reminder_id: int, occurrence: str, render, lock) -> str:
        """Send every pending row; returns the stop reason ('' when all were handled)."""
        self._widen_http_pool()
        pacer = Pacer(self.rate)
        stop = threading.Event()
        work: queue.Queue = queue.Queue(maxsize=self.chunk * 2)
        results: queue.Queue = queue.Queue()
        self._calls = 0
        self._stop_reason = ""
        self._calls_lock = threading.Lock()
        self._send_times: list[float] = []

        workers = [threading.Thread(target=self._worker, args=(work, results, pacer, stop),
                                    name=f"fanout-{i}", daemon=True) for i in range(self.concurrency)]
        writer = threading.Thread(target=self._writer, args=(results, lock), name="fanout-writer",
                                  daemon=True)
        for t in workers:
            t.start()
        writer.start()
        try:
            while not stop.is_set():
                items = self._claim(reminder_id, occurrence, render, self.now())
                if not items:
                    # rows skipped in a chunk leave nothing to send, but more may be pending
                    if not self._has_pending(reminder_id, occurrence):
                        break
                    continue
                for item in items:
                    work.put(item)
        finally:
            for _ in workers:
                work.put(None)
            for t in workers:
                t.join()
            results.put(None)
            writer.join()
        return self._stop_reason if stop.is_set() else ""

    def _has_pending(self, reminder_id: int, occurrence: str) -> bool:
        with self.services.db.session() as s:
            return bool(s.scalar(select(func.count()).select_from(DeliveryLog).where(
                DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence,
                DeliveryLog.status == PENDING)))

    def _worker(self, work: queue.Queue, results: queue.Queue, pacer: Pacer, stop: threading.Event) -> None:
        while True:
            item = work.get()
            if item is None:
                return
            if stop.is_set():
                results.put(_Outcome(item.log_id, item.openid, PENDING, detail="run stopped"))
                continue
            try:
                outcome = self._send_one(item, pacer)
            except Exception as exc:  # noqa: BLE001 - one recipient never stops the run
                log.exception("reminder send to %s failed", mask_openid(item.openid))
                outcome = _Outcome(item.log_id, item.openid, FAILED, detail=f"error: {type(exc).__name__}")
            if outcome.errcode == ERR_QUOTA:
                self._stop_reason = "45009：今日消息额度已用完，本次提醒已暂停，余下的人未发送"
                stop.set()
            results.put(outcome)

    def _send_one(self, item: _Item, pacer: Pacer) -> _Outcome:
        outcome = self._try_channels(item, pacer)
        if outcome.status == FAILED or outcome.errcode is not None:
            log.warning("reminder to %s failed on %s: errcode %s, %s", mask_openid(item.openid),
                        outcome.channel or "-", outcome.errcode, reason_for(outcome.errcode))
        return outcome

    def _try_channels(self, item: _Item, pacer: Pacer) -> _Outcome:
        last_code, last_channel = None, item.channels[0]
        custom_refused = False
        for channel in item.channels:
            last_channel = channel
            tries = len(self.retry_delays) + 1
            for attempt in range(tries):
                pacer.wait()
                with self._calls_lock:
                    self._calls += 1
                    self._send_times.append(time.monotonic())
                try:
                    msg_id = self._call(channel, item)
                    return _Outcome(item.log_id, item.openid, SENT, channel,
                                    msg_id=str(msg_id) if msg_id not in (None, "") else None)
                except Exception as exc:  # noqa: BLE001 - classified by errcode below
                    code = _errcode(exc)
                    if code == ERR_NOT_FOLLOWER:
                        return _Outcome(item.log_id, item.openid, FAILED, channel, errcode=code,
                                        detail="43004 not a follower", follower="unsubscribed")
                    if code == ERR_INVALID_OPENID:
                        return _Outcome(item.log_id, item.openid, FAILED, channel, errcode=code,
                                        detail="40003 invalid openid", follower="invalid")
                    if code == ERR_QUOTA:
                        return _Outcome(item.log_id, item.openid, PENDING, channel, errcode=code,
                                        detail="45009 quota reached")
                    retryable = code == ERR_BUSY or (code is None and channel == CHANNEL_TEMPLATE)
                    last_code = code
                    if code is not None and not (retryable and attempt < tries - 1):
                        log.info("reminder to %s: %s refused (errcode %s, %s)",
                                 mask_openid(item.openid), channel, code, reason_for(code))
                    if channel == CHANNEL_CUSTOM and code in CUSTOM_REFUSALS:
                        custom_refused = True
                    if retryable and attempt < tries - 1:
                        time.sleep(self.retry_delays[attempt])
                        continue
                    if code is None and not retryable:
                        # a network error on a non-idempotent channel: it may have arrived
                        return _Outcome(item.log_id, item.openid, UNKNOWN, channel,
                                        detail=f"network error: {type(exc).__name__}")
                    break  # refused (43101, 45015, 40037 ...) or still busy: next channel
        return _Outcome(item.log_id, item.openid, FAILED, last_channel, errcode=last_code,
                        detail=f"发送失败：{reason_for(last_code)}（错误码 {last_code}）",
                        custom_refused=custom_refused)

    def _call(self, channel: str, item: _Item):
        msg, client = item.message, self.client
        if channel == CHANNEL_TEMPLATE:
            return client.send_template(item.openid, msg.template_id, msg.template_data,
                                        url=msg.url or None, client_msg_id=item.client_msg_id)
        if channel == CHANNEL_SUBSCRIBE:
            return client.send_subscribe(item.openid, msg.subscribe_id, msg.subscribe_data,
                                         page=msg.url or None)
        client.send_text(item.openid, msg.text)
        return None

    def _writer(self, results: queue.Queue, lock) -> None:
        batch: list[_Outcome] = []
        last_flush = last_renew = time.monotonic()
        done = False
        while not done:
            try:
                item = results.get(timeout=0.2)
                if item is None:
                    done = True
                else:
                    batch.append(item)
            except queue.Empty:
                pass
            now = time.monotonic()
            if batch and (done or len(batch) >= self.chunk or now - last_flush > 0.25):
                self._flush(batch)
                batch, last_flush = [], now
            if now - last_renew > self.lock_ttl / 3:
                try:
                    lock.reacquire()
                except Exception:  # noqa: BLE001 - lost lock: carry on, the log is the truth
                    log.warning("reminder run lock could not be renewed")
                last_renew = now

    def _flush(self, batch: list[_Outcome]) -> None:
        now = self.now()
        rows = [dict(id=o.log_id, status=o.status, channel=o.channel, msg_id=o.msg_id,
                     errcode=o.errcode, detail=o.detail[:255], updated_at=now) for o in batch]
        gone = [o.openid for o in batch if o.follower == "unsubscribed"]
        invalid = [o.openid for o in batch if o.follower == "invalid"]
        refused = [o.openid for o in batch if o.custom_refused]
        for attempt in range(5):
            try:
                with self.services.db.write_session() as s:
                    s.execute(update(DeliveryLog), rows)
                    if gone:
                        s.execute(update(Follower).where(Follower.openid.in_(gone))
                                  .values(subscribed=False, unsubscribed_at=now))
                    if invalid:
                        s.execute(update(Follower).where(Follower.openid.in_(invalid)).values(valid=False))
                    if refused:
                        mark_custom_refused(s, refused, now=now)
                return
            except Exception:  # noqa: BLE001 - retry a failed batch; rows stay 'sending' otherwise
                log.exception("delivery log batch failed (try %d)", attempt + 1)
                time.sleep(0.2 * (attempt + 1))

    def _finish(self, run_id: int, reminder_id: int, occurrence: str, stop_reason: str | None,
                started: float) -> RunResult:
        with self.services.db.write_session() as s:
            counts = dict(s.execute(select(DeliveryLog.status, func.count()).where(
                DeliveryLog.reminder_id == reminder_id, DeliveryLog.occurrence == occurrence)
                .group_by(DeliveryLog.status)).all())
            run = s.get(ReminderRun, run_id)
            sent = counts.get(SENT, 0) + counts.get(DELIVERED, 0) + counts.get(BLOCKED, 0)
            failed = counts.get(FAILED, 0) + counts.get(UNKNOWN, 0)
            if stop_reason is not None:
                run.status = RUN_STOPPED if stop_reason else RUN_DONE
                run.note = stop_reason[:255]
                run.finished_at = self.now()
                run.total = sum(counts.values())
                run.sent, run.failed, run.skipped = sent, failed, counts.get(SKIPPED, 0)
            status, note = run.status, run.note
        times = getattr(self, "_send_times", [])
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        result = RunResult(reminder_id, occurrence, status, total=sum(counts.values()), sent=sent,
                           failed=failed, skipped=counts.get(SKIPPED, 0),
                           pending=counts.get(PENDING, 0) + counts.get(SENDING, 0) + counts.get(RETRY, 0),
                           calls=getattr(self, "_calls", 0), elapsed=time.monotonic() - started,
                           rate=rate, note=note, counts=counts)
        log.info("reminder %s %s: %s, %d sent, %d failed, %d skipped, %d pending, %.1f s",
                 reminder_id, occurrence, status, sent, failed, result.skipped, result.pending,
                 result.elapsed)
        return result


__all__ = ["FanOut", "Message", "RunResult", "client_msg_id", "FINAL_STATUSES"]
