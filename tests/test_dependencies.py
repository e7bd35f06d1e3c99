"""Issue 12 item 16: dependency ranges with upper bounds, a hashed lock that CI installs from,
and ``taoyuan serve`` without Alembic's INFO lines."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REDIS_URL
from tests.servers import Server, write_config

ROOT = Path(__file__).resolve().parent.parent
#: Majors that would break us (README "Dependencies and the lock").
MUST_HAVE_UPPER_BOUND = ["flask", "sqlalchemy", "alembic", "apscheduler", "flask-admin", "wtforms",
                         "flask-wtf", "flask-login", "flask-babel", "flask-sqlalchemy", "redis",
                         "fakeredis", "psycopg", "click", "pytest", "selenium"]


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def lock() -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, [hashes])}`` from requirements-lock.txt."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for line in (ROOT / "requirements-lock.txt").read_text(encoding="utf-8").splitlines():
        pinned = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", line)
        if pinned:
            name = canonicalize_name(pinned.group(1))
            pins[name] = (pinned.group(2), [])
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            pins[name][1].append(digest)
    return pins


def test_every_dependency_is_locked_inside_its_range_with_hashes():
    pins = lock()
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements-lock.txt"
        version, _ = pins[name]
        assert req.specifier.contains(version, prereleases=True), (str(req), version)
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    assert {"wechatpy", "hiredis", "psycopg-binary", "time-machine"} <= set(pins)


def test_majors_that_break_us_are_excluded():
    reqs = {canonicalize_name(r.name): r for r in requirements()}
    for name in MUST_HAVE_UPPER_BOUND:
        assert any(s.operator in ("<", "<=", "==", "~=") for s in reqs[name].specifier), name
    assert not reqs["wtforms"].specifier.contains("3.4.0")
    assert not reqs["flask-admin"].specifier.contains("3.0.0")


def test_ci_installs_the_lock_as_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/pip install --quiet -r requirements-lock.txt" in ci
    assert ".venv/bin/pip install --quiet --no-deps -e '.[dev]'" in ci
    assert "pip install -e '.[dev]'" not in ci.replace("--no-deps ", "")
    setup = next(line for line in readme.splitlines() if line.startswith("python3 -m venv .venv"))
    assert ".venv/bin/pip install -r requirements-lock.txt && .venv/bin/pip install --no-deps -e '.[dev]'" in setup
    assert "pip-compile --extra dev --generate-hashes" in readme  # how to update the lock


def test_serve_prints_no_alembic_lines(tmp_path, redis_prefix):
    cfg = write_config(tmp_path / "serve.toml", db_url=f"sqlite:///{tmp_path / 'fresh.db'}",
                       redis_url=REDIS_URL, redis_prefix=redis_prefix, instance_dir=tmp_path / "instance")
    for _ in range(2):  # the first start migrates a new database, the second finds it up to date
        log = Server(cfg).stop()
        assert "桃源姐妹 webhook" in log
        assert " alembic." not in log, log  # no "INFO alembic.runtime..." line
