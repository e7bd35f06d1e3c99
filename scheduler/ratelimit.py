"""A pacer: at most ``rate`` sends per second across threads, evenly spaced (no bursts)."""
from __future__ import annotations

import threading
import time


class Pacer:
    """Hands out send slots ``1/rate`` seconds apart; :meth:`wait` blocks until the caller's slot.

    Thread-safe. ``rate`` is sends per second (> 0). Spacing slots evenly keeps the measured
    rate of a long fan-out within a fraction of a percent of ``rate`` (bench/fanout.py).
    """

    def __init__(self, rate: float, *, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be > 0 sends per second")
        self.interval = 1.0 / rate
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next free slot; return the slot time (``clock`` seconds)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - self._clock()
        if delay > 0:
            self._sleep(delay)
        return slot
