"""Database engine, sessions, and schema upgrades (Alembic).

SQLite (the embedded default) gets WAL mode and a busy timeout so several worker processes can
share one file. PostgreSQL gets a connect timeout, a statement timeout (server side), and,
client side, :class:`HangWatch` and :class:`FailFastGate`: a server that stops answering (a
hung host, SIGSTOP, a dead link) costs one request about a second, after which every session
fails at once for :attr:`FailFastGate.QUIET_SECONDS` (``DatabaseUnavailable``) instead of every
worker waiting on it — the way ``bot.core.kv.FailFast`` treats Redis. ``upgrade()`` runs every
Alembic head.
"""
from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

#: ``[database] connect_timeout``: seconds to wait for a new PostgreSQL connection (libpq and
#: psycopg never wait less than 2).
DEFAULT_CONNECT_TIMEOUT = 2
#: ``[database] statement_timeout``: seconds a statement may run on the PostgreSQL server (a
#: lock wait included) before the server cancels it: past WeChat's 15 s of retries, under
#: gunicorn's 30 s worker timeout, so a worker is never killed for waiting on the database.
DEFAULT_STATEMENT_TIMEOUT = 20


class DatabaseUnavailable(SQLAlchemyError):
    """The database did not answer a moment ago (refused, timed out, hung): this session is
    refused at once rather than waiting for it again (see :class:`FailFastGate`)."""


class FailFastGate:
    """The fail-fast window of one :class:`Database` (per process).

    When a connection to PostgreSQL fails or hangs, :meth:`went_down` opens a window of
    :attr:`QUIET_SECONDS`; meanwhile :meth:`check` (called when a session starts and before
    each new connection) raises :class:`DatabaseUnavailable` at once. Then the next session
    tries again.
    """

    #: Seconds to refuse at once after the database failed to answer.
    QUIET_SECONDS = 10.0

    def __init__(self) -> None:
        self.quiet_until = 0.0  # monotonic seconds
        self._logged_at = float("-inf")

    @property
    def quiet(self) -> bool:
        """True while the window is open."""
        return time.monotonic() < self.quiet_until

    def check(self) -> None:
        """Raise :class:`DatabaseUnavailable` while the window is open."""
        if time.monotonic() < self.quiet_until:
            raise DatabaseUnavailable("the database did not answer a moment ago; not waiting "
                                      "for it again yet")

    def went_down(self, why: str) -> None:
        """The database failed to answer (``why``, for the log): open the window. Logged at
        ERROR at most once a minute per process."""
        now = time.monotonic()
        self.quiet_until = now + self.QUIET_SECONDS
        if now - self._logged_at >= 60:
            self._logged_at = now
            log.error("database unavailable (%s): sessions fail at once for %.0f s at a time "
                      "(answers that need no database still go out); said once a minute",
                      why, self.QUIET_SECONDS)


def probe_postgres(address: tuple, timeout: float) -> bool:
    """True when the PostgreSQL server at ``address`` answers within ``timeout`` seconds.

    ``address``: ``("tcp", host, port)`` or ``("unix", path)``. Sends an SSLRequest (the first
    packet of the PostgreSQL protocol, 8 bytes) and waits for its one-byte answer: a server
    that accepts connections but is stopped or hung never sends it. Never raises."""
    deadline = time.monotonic() + timeout
    try:
        if address[0] == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(address[1])
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection(address[1:], timeout=timeout)
        with sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            sock.sendall(struct.pack("!ii", 8, 80877103))
            return sock.recv(1) != b""
    except OSError:
        return False


def _probe_address(url: str) -> tuple | None:
    """Where :func:`probe_postgres` knocks for ``url`` (None: unknown, not probed)."""
    u = make_url(url)
    host = u.host or u.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    port = u.port or 5432
    if host and not host.startswith("/"):
        return ("tcp", host, port)
    for folder in ([host] if host else ["/var/run/postgresql", "/tmp"]):
        path = f"{folder}/.s.PGSQL.{port}"
        if os.path.exists(path):
            return ("unix", path)
    return None


class HangWatch:
    """Notices a PostgreSQL server that stopped answering in the middle of a statement.

    The server's ``statement_timeout`` cannot help when the server itself is stopped (SIGSTOP,
    a hung host): the client would wait for ever, and every worker with it. Each statement and
    commit is armed here (a dict write); a thread of this process looks every
    :attr:`TICK` seconds, and a statement without an answer after :attr:`HANG_SECONDS` has
    the server probed (:func:`probe_postgres`, :attr:`PROBE_SECONDS`). A server that answers
    is alive (a long statement or a lock wait: its own ``statement_timeout`` applies) and the
    statement is left alone; one that does not is taken as hung: its connection's socket is
    shut down (the statement fails with an OperationalError at once) and the
    :class:`FailFastGate` window opens.
    """

    HANG_SECONDS = 1.0
    PROBE_SECONDS = 0.7
    TICK = 0.1

    def __init__(self, gate: FailFastGate, address: tuple | None):
        self.gate, self.address = gate, address
        self._armed: dict[int, tuple[float, object]] = {}
        self._pid = -1

    def arm(self, dbapi_conn) -> None:
        """Start the clock for a statement (or commit) on ``dbapi_conn``."""
        self._armed[id(dbapi_conn)] = (time.monotonic() + self.HANG_SECONDS, dbapi_conn)
        if self._pid != os.getpid():
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="taoyuan-db-hangwatch", daemon=True).start()

    def disarm(self, dbapi_conn) -> None:
        """The statement on ``dbapi_conn`` was answered."""
        self._armed.pop(id(dbapi_conn), None)

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(self.TICK)
            now, alive = time.monotonic(), None
            for key, (deadline, conn) in list(self._armed.items()):
                if now < deadline:
                    continue
                if alive is None:
                    alive = self.address is None or probe_postgres(self.address, self.PROBE_SECONDS)
                if alive:
                    if self._armed.get(key, (None, None))[1] is conn:
                        self._armed[key] = (now + self.HANG_SECONDS, conn)
                    continue
                self._armed.pop(key, None)
                self.gate.went_down("no answer to a statement; the server does not answer a probe")
                _cut(conn)


def _cut(dbapi_conn) -> None:
    """Shut down the socket of a psycopg connection: its waiting statement fails at once."""
    try:
        fd = dbapi_conn.pgconn.socket
        sock = socket.socket(fileno=os.dup(fd))
    except Exception:  # noqa: BLE001 - closed meanwhile: nothing to cut
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _watch_postgres(engine: Engine, url: str, gate: FailFastGate) -> None:
    """Attach :class:`HangWatch` and :class:`FailFastGate` to a PostgreSQL ``engine``."""
    address = _probe_address(url)
    watch = HangWatch(gate, address)
    engine.info = {"gate": gate, "watch": watch}

    @event.listens_for(engine, "do_connect")
    def _before_connect(dialect, conn_rec, cargs, cparams):  # pragma: no cover - driver callback
        gate.check()
        if address is not None and not probe_postgres(address, HangWatch.PROBE_SECONDS):
            gate.went_down("a new connection: the server does not answer")
            raise DatabaseUnavailable("the database server does not answer")
        return None  # go on with the normal connect (connect_timeout applies)

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn, cursor, statement, parameters, context, executemany):
        watch.arm(cursor.connection)

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn, cursor, statement, parameters, context, executemany):
        watch.disarm(cursor.connection)

    def _arm_connection(conn, *args):
        try:
            watch.arm(conn.connection.dbapi_connection)
        except Exception:  # noqa: BLE001 - no DBAPI connection (invalidated): nothing to watch
            pass
    event.listen(engine, "commit", _arm_connection)
    event.listen(engine, "rollback", _arm_connection)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_conn, record):
        if dbapi_conn is not None:
            watch.disarm(dbapi_conn)

    @event.listens_for(engine, "handle_error")
    def _failed(context):
        dbapi_conn = getattr(getattr(context.connection, "connection", None), "dbapi_connection", None)
        if dbapi_conn is not None:
            watch.disarm(dbapi_conn)
        if context.connection is None and isinstance(context.sqlalchemy_exception,
                                                       OperationalError):
            gate.went_down(type(context.original_exception).__name__)  # a connect failed
        elif context.is_disconnect and not gate.quiet and (
                address is not None and not probe_postgres(address, HangWatch.PROBE_SECONDS)):
            # a connection died and the server does not answer either (a dead connection of a
            # server that restarted is only replaced: SQLAlchemy refreshes the pool)
            gate.went_down(type(context.original_exception).__name__)

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


def make_engine(url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
                gate: FailFastGate | None = None) -> Engine:
    """Create an engine for ``url``; for SQLite create the parent folder and set pragmas.

    Statement parameters are hidden from error messages and logs (they carry names, phone
    numbers and what women wrote). PostgreSQL: ``connect_timeout`` and ``statement_timeout``
    (seconds; 0 = none) go to the server through psycopg's connect arguments, and a ``gate``
    (:class:`FailFastGate`) with a :class:`HangWatch` is attached (``engine.info``). SQLite
    is unaffected by all three.
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
    connect_args: dict = {}
    if url.startswith("postgresql"):
        if connect_timeout:
            connect_args["connect_timeout"] = max(int(round(connect_timeout)), 2)
        if statement_timeout:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_recycle=1800,
                           hide_parameters=True, connect_args=connect_args)
    if url.startswith("postgresql"):
        _watch_postgres(engine, url, gate or FailFastGate())
    return engine


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


def wrote_effects(session: Session) -> bool:
    """Whether ``session``'s transaction changed anything beyond relaxed rows (see
    :func:`_classify_flush`): an INSERT, UPDATE or DELETE of a row that matters, or any
    textual SQL. Pending changes are flushed first. A transaction that only read, or only
    touched relaxed rows (a follower's last-seen time), says False."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return bool(session.info.get(_STRICT))


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

    def __init__(self, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT):
        self.url = url
        #: The fail-fast window (PostgreSQL; on SQLite it never opens).
        self.gate = FailFastGate()
        self.engine = make_engine(url, connect_timeout=connect_timeout,
                                  statement_timeout=statement_timeout, gate=self.gate)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite = self.engine.dialect.name == "sqlite"

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session in a transaction; commit at the end, roll back on an exception.
        Raises :class:`DatabaseUnavailable` at once while the fail-fast window is open."""
        self.gate.check()
        with _transaction(self.Session()) as s:
            yield s

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Like :meth:`session`, serialising writers on SQLite (``BEGIN IMMEDIATE``).

        On PostgreSQL it is a plain session (no connection is taken until the first statement,
        so an update that needs no SQL costs none): lock rows with ``with_for_update()`` inside it.
        Raises :class:`DatabaseUnavailable` at once while the fail-fast window is open.
        """
        self.gate.check()
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
