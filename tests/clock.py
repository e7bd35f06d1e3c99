"""Run the suite as if today were another day: ``TAOYUAN_TEST_CLOCK=2036-12-31T23:30+08:00 pytest``.

The tests must pass on any date, so CI also runs them with the clock moved (README "Tests").
:func:`start` moves this process's clock with time-machine (``tick=True``: time goes on from
there); subprocesses that the tests start run :data:`PRELUDE` first, which moves theirs by the
same offset (``TAOYUAN_TEST_CLOCK_OFFSET`` seconds), so every process agrees on the time.
PostgreSQL and Redis keep the real clock: code under test must take times from Python, not from
``now()`` on the server.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime

CLOCK_ENV = "TAOYUAN_TEST_CLOCK"
OFFSET_ENV = "TAOYUAN_TEST_CLOCK_OFFSET"

#: Python run first in every subprocess a test starts (see :func:`python_argv`).
PRELUDE = (
    "import os, time\n"
    f"_offset = float(os.environ.get({OFFSET_ENV!r}) or 0)\n"
    "if _offset:\n"
    "    import time_machine\n"
    "    time_machine.travel(time.time() + _offset, tick=True).start()\n"
)


def start() -> datetime | None:
    """Move this process's clock to ``$TAOYUAN_TEST_CLOCK`` (ISO 8601; naive means UTC+8).

    Returns the moment moved to, or None when the variable is unset. Sets ``$TAOYUAN_TEST_CLOCK_OFFSET``
    for subprocesses. Raises ValueError when the value is not an ISO 8601 date or time.
    """
    value = os.environ.get(CLOCK_ENV, "").strip()
    if not value:
        return None
    import time_machine
    from zoneinfo import ZoneInfo

    target = datetime.fromisoformat(value)
    if target.tzinfo is None:
        target = target.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    os.environ[OFFSET_ENV] = repr(target.timestamp() - time.time())
    time_machine.travel(target, tick=True).start()
    return target


def python_argv(code: str, *args: str) -> list[str]:
    """argv for ``python -c code args…`` in a subprocess whose clock agrees with this one's."""
    return [sys.executable, "-c", PRELUDE + code, *args]


def taoyuan_argv(*args: str) -> list[str]:
    """argv for ``taoyuan args…`` in a subprocess whose clock agrees with this one's."""
    return python_argv("from bot.cli import main; main()", *args)


def year_ahead(years: int = 2) -> str:
    """The year ``years`` after today's (on the possibly moved clock), as text: dates in it are
    always in the future, whatever day the tests run."""
    return str(datetime.now().year + years)
