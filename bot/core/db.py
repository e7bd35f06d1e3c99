"""Database engine, sessions, and schema upgrades (Alembic).

SQLite (the embedded default) gets WAL mode and a busy timeout so several worker processes can
share one file; PostgreSQL is used as it is. ``upgrade()`` runs every Alembic head.
"""
from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


def _ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file URL (the instance folder on a fresh checkout; 0700)
    and the empty database file, readable by its owner only (0600: it holds names and phone
    numbers; SQLite gives its -wal and -shm files the same mode)."""
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; for SQLite create the parent folder and set pragmas.

    Statement parameters are hidden from error messages and logs (they carry names, phone
    numbers and what women wrote).
    """
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - driver callback
            # Let SQLAlchemy emit BEGIN itself so "BEGIN IMMEDIATE" can be used for locks.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - driver callback
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

        return engine
    # No pool_pre_ping: it costs a round trip per request. After a database restart the first
    # request on each stale connection fails (she gets the polite fallback) and SQLAlchemy
    # refreshes the pool; pool_recycle retires connections before server-side idle limits.
    return create_engine(url, pool_size=5, max_overflow=5, pool_recycle=1800, hide_parameters=True)


#: ``session.info`` keys: the transaction wrote rows whose loss in a crash is harmless, or wrote
#: something else (see :func:`_classify_flush`).
_RELAXED, _STRICT = "taoyuan.relaxed_writes", "taoyuan.strict_writes"


def _is_relaxed_write(session: Session, obj: object) -> bool:
    """True when flushing ``obj`` only inserts a row of, or changes columns listed in, its
    class's ``__relaxed_columns__`` (e.g. a follower's last-seen time)."""
    relaxed = getattr(type(obj), "__relaxed_columns__", None)
    if relaxed is None or obj in session.deleted:
        return False
    if obj in session.new:
        return True
    state = inspect(obj)
    changed = {a.key for a in state.attrs if a.history.has_changes()}
    return changed <= relaxed


@event.listens_for(Session, "before_flush")
def _classify_flush(session: Session, _flush_context, _instances) -> None:
    """Note whether this flush writes only relaxed rows (see :func:`_commit`)."""
    if session.info.get(_STRICT):
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if obj in session.dirty and not session.is_modified(obj):
            continue
        if not _is_relaxed_write(session, obj):
            session.info[_STRICT] = True
            return
        session.info[_RELAXED] = True


@event.listens_for(Session, "do_orm_execute")
def _classify_statement(state) -> None:
    """A statement run through the session that is not a SELECT (an INSERT/UPDATE/DELETE, or
    any textual SQL) makes the transaction's commit an ordinary one."""
    if not state.is_select:
        state.session.info[_STRICT] = True


def _commit(session: Session) -> None:
    """Commit; on PostgreSQL, a transaction whose only writes are relaxed rows (a follower's
    last-seen time: rewritten by her next message anyway) does not wait for the WAL flush
    (``SET LOCAL synchronous_commit TO OFF``). A crash may then lose that write, never
    anything else; on a busy webhook it saves a disk flush per woman per minute."""
    session.flush()
    if session.info.get(_RELAXED) and not session.info.get(_STRICT) \
            and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    session.commit()


@contextmanager
def _transaction(session: Session) -> Iterator[Session]:
    """Yield ``session``; commit when the block ends normally, roll back when it raises, close.

    A session that was never used (nothing read, added or changed: a reply built from code and
    cached tables only, the commonest webhook message) is neither committed nor closed: there is
    no transaction or connection to end, and skipping both is a measurable share of such a
    message's cost (bench/webhook.py).
    """
    try:
        yield session
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            _commit(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_RELAXED, None)
        session.info.pop(_STRICT, None)
        if session.in_transaction() or session.identity_map:
            session.close()


class Database:
    """An engine and its session factory.

    ``session()`` is a context manager that commits on success and rolls back on error.
    ``write_session()`` is the same, but takes the database's write lock up front on SQLite
    (``BEGIN IMMEDIATE``); on PostgreSQL use ``SELECT ... FOR UPDATE`` inside it.
    """

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite = self.engine.dialect.name == "sqlite"

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session in a transaction; commit at the end, roll back on an exception."""
        with _transaction(self.Session()) as s:
            yield s

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Like :meth:`session`, serialising writers on SQLite (``BEGIN IMMEDIATE``).

        On PostgreSQL it is a plain session (no connection is taken until the first statement,
        so an update that needs no SQL costs none): lock rows with ``with_for_update()`` inside it.
        """
        if not self._sqlite:
            with _transaction(self.Session()) as s:
                yield s
            return
        with self.engine.connect() as conn:
            conn.info["immediate"] = True
            try:
                with _transaction(Session(bind=conn, expire_on_commit=False)) as s:
                    yield s
            finally:
                conn.info.pop("immediate", None)

    @contextmanager
    def on_demand_write_session(self) -> Iterator["OnDemandSession"]:
        """Like :meth:`write_session`, but the session is only made when something asks for it
        (:meth:`OnDemandSession.get`); at the end it is committed (or rolled back) if it was.

        For the webhook: most messages are answered from code and per-process copies of small
        tables, and making, checking and dropping an unused session is a few percent of such a
        message's CPU (bench/webhook.py).
        """
        with ExitStack() as stack:
            yield OnDemandSession(self, stack)

    def ping(self) -> bool:
        """True when a trivial query succeeds."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return False

    def clock_skew(self) -> float | None:
        """Our clock minus the database server's (``clock_timestamp()``), in seconds; None on
        SQLite (same clock as ours) or when the query fails. For ``/healthz``; never raises."""
        if self._sqlite:
            return None
        try:
            with self.engine.connect() as conn:
                before = time.time()
                theirs = conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar()
                after = time.time()
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return None
        return (before + after) / 2 - float(theirs)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str):
    """An Alembic Config pointing at this project's migrations and ``url``."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads", *, quiet: bool = False) -> None:
    """Bring the schema at ``url`` up to ``revision`` (default: every head).

    Alembic's INFO lines about its own plugins (seven in alembic 1.20) are never shown;
    ``quiet`` (``taoyuan serve``'s automatic upgrade) shows only its warnings and errors, so
    a start does not print the migration context and each step run."""
    import logging

    _ensure_sqlite_folder(url)
    logger = logging.getLogger("alembic" if quiet else "alembic.runtime.plugins")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        from alembic import command  # its first import logs the plugin lines

        command.upgrade(alembic_config(url), revision)
    finally:
        logger.setLevel(level)


class OnDemandSession:
    """A :meth:`Database.write_session` opened on the first :meth:`get` and ended with the
    ``with`` block of :meth:`Database.on_demand_write_session` that made this object.

    ``engine`` is known without opening anything (per-database caches key on it).
    """

    def __init__(self, db: Database, stack: ExitStack):
        self.engine = db.engine
        self._db, self._stack = db, stack
        self._session: Session | None = None

    @property
    def opened(self) -> bool:
        """True once :meth:`get` has made the session."""
        return self._session is not None

    def get(self) -> Session:
        """The session, made (in a transaction, BEGIN IMMEDIATE on SQLite) on the first call."""
        if self._session is None:
            self._session = self._stack.enter_context(self._db.write_session())
        return self._session
