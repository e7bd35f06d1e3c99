"""Nearest-3 service points: query time on 200 and 100,000 synthetic points over Fujian.

Runs ``models.directory.nearest`` (bounding-box prefilter on the indexed lat/lng columns,
haversine in Python) against a throwaway SQLite file and a throwaway PostgreSQL database that
it creates and drops, and prints median / p95 per query in milliseconds plus the query plan.
Target: ≤ 5 ms median at 100,000 points.

    .venv/bin/python bench/nearest.py [--pg postgresql://postgres@127.0.0.1:5432/test] [--no-pg]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import models  # noqa: E402,F401  (complete metadata)
from models.directory import NEAREST_RADII_M, ServicePoint, nearest, nearest_statement  # noqa: E402

#: Fujian's extent, degrees (a rectangle around the province; points land in the sea too).
FUJIAN_LAT = (23.5, 28.3)
FUJIAN_LNG = (115.8, 120.7)
SIZES = (200, 100_000)
QUERIES = 300


def fill(engine, n: int, rnd: random.Random) -> None:
    ServicePoint.__table__.drop(engine, checkfirst=True)
    ServicePoint.__table__.create(engine)
    rows = [dict(name=f"点{i}", kind="妇女微家", platform="", town="", village="", address="",
                 lat=rnd.uniform(*FUJIAN_LAT), lng=rnd.uniform(*FUJIAN_LNG), approximate=False,
                 phone="", hours="", services="", description="", active=True)
            for i in range(n)]
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(ServicePoint.__table__), rows[start:start + 5000])
        conn.execute(text("ANALYZE"))


def plan(engine, lat: float, lng: float) -> str:
    stmt = nearest_statement(lat, lng, NEAREST_RADII_M[0])
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
            return "\n".join("    " + r[-1] for r in rows)
        rows = conn.execute(text("EXPLAIN " + sql)).all()
        return "\n".join("    " + r[0] for r in rows)


def measure(engine, rnd: random.Random) -> tuple[float, float, float]:
    """(median ms, p95 ms, mean SQL round trips) of nearest-3 at random spots in Fujian."""
    times = []
    with Session(engine) as session:
        for i in range(QUERIES + 20):
            lat, lng = rnd.uniform(*FUJIAN_LAT), rnd.uniform(*FUJIAN_LNG)
            t0 = time.perf_counter()
            found = nearest(session, lat, lng, limit=3)
            elapsed = (time.perf_counter() - t0) * 1000
            assert len(found) == 3
            if i >= 20:  # warm-up
                times.append(elapsed)
            session.expunge_all()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(times)


def run(name: str, engine) -> None:
    rnd = random.Random(2026)
    for n in SIZES:
        t0 = time.perf_counter()
        fill(engine, n, rnd)
        load_s = time.perf_counter() - t0
        median, p95, count = measure(engine, rnd)
        print(f"{name:<10} {n:>7} points  nearest-3: median {median:6.2f} ms  p95 {p95:6.2f} ms"
              f"  ({count} queries; load {load_s:.1f} s)")
    with Session(engine) as session:  # for comparison: no prefilter, every row through haversine
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            nearest(session, rnd.uniform(*FUJIAN_LAT), rnd.uniform(*FUJIAN_LNG), limit=3, radii_m=())
            times.append((time.perf_counter() - t0) * 1000)
            session.expunge_all()
    print(f"{name:<10} {SIZES[-1]:>7} points  without the box prefilter (full scan): "
          f"median {statistics.median(times):.0f} ms")
    print(f"  plan ({name}, 100,000 points, {NEAREST_RADII_M[0] // 1000} km box):")
    print(plan(engine, 25.32, 118.289))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                    help="PostgreSQL admin URL (a throwaway database is created next to it)")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        from bot.core.db import make_engine

        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            run("sqlite", engine)
        finally:
            engine.dispose()

    if args.no_pg:
        return
    name = f"taoyuan_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(args.pg.rsplit("/", 1)[0] + "/" + name)
    try:
        run("postgresql", engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
