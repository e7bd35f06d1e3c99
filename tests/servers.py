"""Run the real webhook in subprocesses (``taoyuan serve``) for cross-process tests."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.clock import taoyuan_argv



def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The intent model's cache file for this test run (set by tests/conftest.py's ``intent_model``).
INTENTS_CACHE: Path | None = None


def write_config(path: Path, *, db_url: str, redis_url: str, redis_prefix: str,
                 instance_dir: Path, extra: str = "") -> Path:
    """Write a TOML config for a subprocess server and return its path. The run's intent
    model (:data:`INTENTS_CACHE`) is put in the instance's cache, so the server loads it
    instead of building it (seconds of CPU per process)."""
    if INTENTS_CACHE is not None and INTENTS_CACHE.exists():
        (Path(instance_dir) / "cache").mkdir(parents=True, exist_ok=True)
        shutil.copy(INTENTS_CACHE, Path(instance_dir) / "cache" / INTENTS_CACHE.name)
    path.write_text(
        f'[app]\ninstance_dir = "{instance_dir}"\nsecret_key = "test-secret-key-0123456789abcdef"\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[redis]\nurl = "{redis_url}"\nprefix = "{redis_prefix}"\n' + extra, encoding="utf-8")
    return path


class Server:
    """``taoyuan serve`` on a free port; ``.url``; ``.stop()`` returns its log output."""

    def __init__(self, config_path: Path, port: int | None = None, env: dict | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = config_path.with_suffix(f".{self.port}.log")
        env = {**os.environ, "TAOYUAN_CONFIG": str(config_path), **(env or {})}
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(taoyuan_argv("serve", "--port", str(self.port)), env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log_path.read_text())
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code in (200, 503):
                    return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start:\n" + self.log_path.read_text())

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()
        return self.log_path.read_text(errors="replace")


# -- servers of our own, to stop, pause and kill (outage tests, bench/drills.py) -----------------
def _children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


class RedisServer:
    """A ``redis-server`` of our own on a free port (never the shared 6379): ``.url``,
    ``.stop()`` (an outage), ``.start()`` again, ``.pause()``/``.resume()`` (SIGSTOP: hung)."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            self.proc.wait(10)

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)


def shutil_chown(path: Path) -> None:
    """Give ``path`` to the user postgres (PostgreSQL refuses to run as root)."""
    import shutil

    shutil.chown(path, "postgres", "postgres")


class PostgresServer:
    """A PostgreSQL cluster of our own (initdb in ``workdir``, a free port, never 5432):
    ``.url(db)``, ``.stop()`` (an outage), ``.start()``, ``.pause()``/``.resume()`` (SIGSTOP
    of the postmaster and every backend: a hung server)."""

    def __init__(self, workdir: Path, port: int | None = None):
        import tempfile

        self.port = port or free_port()
        # PostgreSQL refuses to run as root: then the cluster belongs to the user "postgres",
        # in a folder of its own (a pytest tmp_path is private to root).
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        home = Path(tempfile.mkdtemp(prefix="taoyuan-pg-")) if self._as else Path(workdir)
        if self._as:
            shutil_chown(home)
        self.home = home
        self.datadir = home / "pgdata"
        self.logfile = home / "pg.log"
        if not (self.datadir / "PG_VERSION").exists():
            subprocess.run([*self._as, "initdb", "-D", str(self.datadir), "-U", "postgres",
                            "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([*self._as, "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), *args],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        self._pg_ctl("-w", "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
                     "-c fsync=off -c max_connections=60", "start")

    def stop(self) -> None:
        self.resume()
        if (self.datadir / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Stop it and delete its files."""
        import shutil

        self.stop()
        shutil.rmtree(self.home if self._as else self.datadir, ignore_errors=True)

    def _pids(self) -> list[int]:
        try:
            postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [postmaster, *_children_of(postmaster)]

    def pause(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._pids():
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def create_database(self, name: str) -> str:
        """Create database ``name``, bring its schema up; its URL."""
        from sqlalchemy import create_engine, text

        from bot.core.db import upgrade

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        upgrade(self.url(name), quiet=True)
        return self.url(name)
