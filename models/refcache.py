"""Per-process copies of small reference tables read on every message (keyword rules, column names).

Reading such a table as ORM rows on every text message costs more CPU than the rest of the
webhook (bench/webhook_costs.py). A :class:`ReferenceCache` keeps what its loader built from the
table, per database (engine), for ``ttl`` seconds. Any INSERT/UPDATE/DELETE of a watched table
that this process makes through SQLAlchemy (ORM or Core) drops every copy at once; an edit made by
another process (another gunicorn worker, the console) shows within ``ttl`` seconds.

With the database down or hung (issue 15) a cache given ``when_down`` keeps answering: its last
copy, however old, or else ``when_down()`` (an empty table), so a message that needs no other
data is still answered.
"""
from __future__ import annotations

import threading
import time
import weakref
from typing import Callable, Generic, TypeVar

from sqlalchemy import Table, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

from bot.core.db import DatabaseUnavailable, OnDemandSession

T = TypeVar("T")

_caches: "weakref.WeakSet[ReferenceCache]" = weakref.WeakSet()


class ReferenceCache(Generic[T]):
    """``cache.get(session)`` -> what ``loader(session)`` returned, fresh for ``ttl`` seconds.

    ``tables``: the tables whose writes drop the copy. The loader must return plain values or
    detached objects (never rows still bound to the session it was given). ``when_down``: what
    to answer when the database cannot be read and no copy was ever loaded (None: raise); the
    session is then rolled back, so its request can still be answered without it.
    """

    def __init__(self, tables: tuple[Table, ...], loader: Callable[[Session], T], ttl: float = 5.0,
                 when_down: Callable[[], T] | None = None):
        self.tables = frozenset(tables)
        self.loader = loader
        self.when_down = when_down
        self.ttl = ttl
        self._lock = threading.Lock()
        self._generation = 0
        self._copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        _caches.add(self)

    def get(self, session: "Session | OnDemandSession") -> T:
        """The cached value for ``session``'s database, loading it when stale or changed.

        Given a :class:`bot.core.db.OnDemandSession`, a fresh copy is returned without making the
        session; it is made only to load.
        """
        if isinstance(session, OnDemandSession):
            engine = session.engine
        else:
            engine = session.get_bind().engine  # a Connection's engine, or the Engine itself
        now = time.monotonic()
        # No lock to read: a dict lookup and an int read are atomic, and a copy stored under
        # an older generation is refused below.
        cached, generation = self._copies.get(engine), self._generation
        if cached is not None and cached[0] > now and cached[1] == generation:
            return cached[2]
        try:
            value = self.loader(session.get() if isinstance(session, OnDemandSession) else session)
        except (DatabaseUnavailable, OperationalError, InterfaceError):
            if self.when_down is None:
                raise
            made = session._session if isinstance(session, OnDemandSession) else session
            if made is not None:
                made.rollback()
            return cached[2] if cached is not None else self.when_down()
        with self._lock:
            if self._generation == generation:  # nothing changed while we read
                self._copies[engine] = (now + self.ttl, generation, value)
        return value

    def forget(self) -> None:
        """Drop every copy now (after raw-SQL edits the write hook cannot see)."""
        with self._lock:
            self._generation += 1
            self._copies.clear()


@event.listens_for(Engine, "after_execute")
def _forget_on_write(conn, clauseelement, multiparams, params, execution_options, result):
    """Drop the copies of every cache watching the table an INSERT/UPDATE/DELETE touched."""
    if isinstance(clauseelement, UpdateBase):
        for cache in list(_caches):
            if clauseelement.table in cache.tables:
                cache.forget()
