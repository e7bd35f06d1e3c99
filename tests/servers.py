"""Run the real webhook in subprocesses (``taoyuan serve``) for cross-process tests."""
from __future__ import annotations

import os
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


def write_config(path: Path, *, db_url: str, redis_url: str, redis_prefix: str,
                 instance_dir: Path, extra: str = "") -> Path:
    """Write a TOML config for a subprocess server and return its path."""
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
