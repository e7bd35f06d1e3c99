"""The one notifier: every 客服消息 and 模板消息 the bot sends on its own goes through here.

Model operations decide and change the database; they never send. A caller that has worded a
message hands it to :func:`notifier_for(services) <notifier_for>` and, when the message reports
a change, registers the sending with :meth:`Notifier.after_commit`, so nothing is sent for a
transaction that rolls back. Sending goes through ``services.wechat`` (the WeChat API client;
in dry run the outbox table, no network).

WeChat doc sections: 客服消息 - 发送消息 (only within 48 hours of her last message, else
errcode 45015) and 模板消息接口 - 发送模板消息 (a field shows at most 20 characters).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from bot.core.logging import mask_openid
from bot.wechat.errors import WeChatAPIError

log = logging.getLogger(__name__)

#: Guards making a process's :class:`OutboxWorker`.
_WORKER_MADE = threading.Lock()
#: WeChat shows at most this many characters of a template field.
TEMPLATE_FIELD_CHARS = 20


def short_field(text: str, limit: int = TEMPLATE_FIELD_CHARS) -> str:
    """``text`` cut to what WeChat shows of a template field (``…`` marks a cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Notifier:
    """Sends through ``services.wechat`` and runs sends after a commit.

    Holds nothing but ``services`` (:func:`notifier_for`); background sends are threads kept in
    ``services.notify_threads`` so :meth:`wait` can join them (tests, CLI).
    """

    def __init__(self, services) -> None:
        self._services = services

    # -- sending ---------------------------------------------------------------------------
    def send_text(self, openid: str, text: str, *, session: Session | None = None) -> None:
        """A text 客服消息. Raises the client's ``WeChatAPIError`` subclasses
        (``OutsideServiceWindow`` 45015, ``NotFollower`` 43004 ...). ``session``: in dry run the
        outbox row joins that transaction."""
        self._services.wechat.send_text(openid, text, session=session)

    def send_template(self, openid: str, template_id: str, data: dict[str, Any], *,
                      url: str | None = None, client_msg_id: str | None = None) -> None:
        """A 模板消息 (``data``: field key -> value). Raises ``WeChatAPIError``."""
        self._services.wechat.send_template(openid, template_id, data, url=url,
                                            client_msg_id=client_msg_id)

    def send_to_staff(self, openids, *, template_id: str, data: dict[str, str], text: str,
                      msg_key: str, url: str = "") -> int:
        """Send a 模板消息 with ``data`` (or, without ``template_id``, the 客服消息 ``text``) to
        each of ``openids``; ``client_msg_id`` is ``f"{msg_key}-{i}"`` so WeChat drops a repeat.

        Returns how many were reached; a failure is logged (masked openid) and skipped.
        """
        reached = 0
        for i, staff in enumerate(openids):
            try:
                if template_id:
                    self.send_template(staff, template_id, data, url=url or None,
                                       client_msg_id=f"{msg_key}-{i}")
                else:
                    self.send_text(staff, text)
                reached += 1
            except WeChatAPIError as exc:
                log.warning("help notification %s to staff %s failed: %s", msg_key,
                            mask_openid(staff), exc)
        return reached

    # -- after the commit ------------------------------------------------------------------
    def after_commit(self, session, fn: Callable[[], None], *, background: bool = False,
                     name: str = "notify") -> None:
        """Run ``fn()`` once ``session`` commits (SQLAlchemy's ``after_commit`` session event);
        never if it rolls back first. ``background``: in a daemon thread named ``name`` (WeChat's
        5-second reply budget is never spent on it; :meth:`wait` joins it), else in the
        committing thread. ``fn`` must catch and log its own errors when it runs in the
        committing thread and the commit must not fail."""
        dropped: list[bool] = []

        def run(_session) -> None:
            if dropped:
                return
            if background:
                self.start(fn, name)
            else:
                fn()

        # the current thread's Session, not a scoped_session (its listeners would be class-wide)
        target = session() if isinstance(session, scoped_session) else session
        event.listen(target, "after_commit", run, once=True)
        event.listen(target, "after_rollback", lambda _s: dropped.append(True), once=True)

    def deliver_after_commit(self, session, drain: Callable[[], object]) -> None:
        """Once ``session`` commits (never if it rolls back), wake this process's one outbox
        worker (:meth:`wake_outbox`) to run ``drain()``: messages queued in that transaction
        (``models.outbox.OutboundMessage``) are sent after the response, not inside it."""
        self.after_commit(session, lambda: self.wake_outbox(drain))

    def wake_outbox(self, drain: Callable[[], object]) -> None:
        """Run ``drain()`` in this process's one outbox worker thread (started when idle and
        kept in ``services.notify_threads``, so :meth:`wait` joins it); a wake while it runs
        makes it go round once more. ``drain`` logs its own errors."""
        worker = self._services.outbox_worker
        if worker is None:
            with _WORKER_MADE:
                if self._services.outbox_worker is None:
                    self._services.outbox_worker = OutboxWorker()
                worker = self._services.outbox_worker
        with worker.lock:
            worker.drain = drain
            if worker.running:
                worker.again = True
                return
            worker.running = True

        def loop() -> None:
            while True:
                try:
                    worker.drain()
                except Exception:  # noqa: BLE001 - the rows stay pending for the next wake
                    log.exception("outbox worker failed")
                with worker.lock:
                    if not worker.again:
                        worker.running = False
                        return
                    worker.again = False

        self.start(loop, "outbox")

    def start(self, fn: Callable[[], None], name: str = "notify") -> threading.Thread:
        """Run ``fn()`` in a daemon thread that :meth:`wait` can join."""
        thread = threading.Thread(target=fn, name=name, daemon=True)
        threads = self._services.notify_threads
        threads[:] = [t for t in threads if t.is_alive()]
        threads.append(thread)
        thread.start()
        return thread

    def wait(self, timeout: float = 10.0) -> None:
        """Join the background sends started so far (each for at most ``timeout`` seconds)."""
        for thread in list(self._services.notify_threads):
            thread.join(timeout)


class OutboxWorker:
    """The state of a process's one outbox worker (``services.outbox_worker``): whether it
    runs, whether it must go round again, and what it runs (see :meth:`Notifier.wake_outbox`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = False
        self.again = False
        self.drain: Callable[[], object] = lambda: None


def notifier_for(services) -> Notifier:
    """The :class:`Notifier` of ``services`` (a :class:`bot.core.services.Services`)."""
    return Notifier(services)
