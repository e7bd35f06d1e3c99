"""Fan-out benchmark: one reminder to N recipients against the fake WeChat API (30 ms latency).

    .venv/bin/python -m bench.fanout                      # 10,000 at 550/s, then 1,000 at 50/s
    .venv/bin/python -m bench.fanout --db postgresql --recipients 10000 --rate 550 --concurrency 48

Targets (issue 5): 10,000 recipients in ≤ 20 s with bounded concurrency, and the configured rate
limit held within 5 %. Note that 10,000 in 20 s needs a limit of at least 500/s; the second run
checks the example limit of 50/s. The fake server runs in this process over real HTTP; the
database is a throwaway SQLite file (or PostgreSQL database, created and dropped); Redis is the
local one under a unique prefix (deleted afterwards).

Prints recipients, wall time, recipients/s overall, the send rate measured between the first and
the last call, the limit and the deviation, and the template calls the fake received.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _database(kind: str, workdir: Path):
    """(url, cleanup) of a throwaway database with the schema."""
    from bot.core.db import upgrade

    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        return url, lambda: None
    name = f"taoyuan_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def drop():
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                         {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    upgrade(url)
    return url, drop


class _FakeProcess:
    """``python -m tests.fake_wechat`` in its own process (its own GIL); counts come from the
    delivery log since its call list is not visible from here."""

    app_id, app_secret = "wxfake00000000001", "fakesecret0123456789abcdef012345"

    def __init__(self, latency: float):
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/cgi-bin/"
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fake_wechat", "--port", str(port),
                                      "--latency", str(latency)], cwd=ROOT, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:   # wait until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        self.sent = None

    def count(self, _path: str) -> int | None:
        return None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_once(db: str, recipients: int, rate: float, concurrency: int, latency: float,
             separate: bool = True) -> dict:
    """One fan-out; returns the figures."""
    from bot.core.config import load_config
    from bot.app import wire_services
    from models.followers import Follower
    from models.reminders import TopicSubscription
    from scheduler.fanout import FanOut
    from scheduler.reminders import run_reminder_now
    from tests.fake_wechat import FakeWeChat

    if separate:
        fake = _FakeProcess(latency)
    else:
        fake = FakeWeChat().start()
        fake.latency = latency
    prefix = f"taoyuan-bench:{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory() as tmp:
        url, cleanup = _database(db, Path(tmp))
        try:
            cfg = load_config(environ={}, overrides={
                "app": {"instance_dir": tmp, "secret_key": "bench"},
                "database": {"url": url}, "redis": {"url": REDIS_URL, "prefix": prefix},
                "wechat": {"app_id": fake.app_id, "app_secret": fake.app_secret,
                           "api_base_url": fake.base_url, "timeout": 5.0,
                           "templates": {"reminder": "TPL_BENCH"}},
                "reminders": {"rate_per_second": rate, "concurrency": concurrency}})
            services = wire_services(cfg)
            openids = [f"o_bench_{i:06d}" for i in range(recipients)]
            with services.db.session() as s:
                s.execute(insert(Follower), [dict(openid=o, subscribed=True, valid=True) for o in openids])
                s.execute(insert(TopicSubscription), [dict(openid=o, topic="haircut") for o in openids])
            services.wechat.access_token()  # token fetched once before timing starts
            started = time.monotonic()
            result = run_reminder_now(services, "义剪-当天", occurrence="bench", fanout=FanOut(services))
            wall = time.monotonic() - started
            services.db.dispose()
            keys = list(services.redis.scan_iter(match=prefix + "*"))
            if keys:
                services.redis.delete(*keys)
        finally:
            cleanup()
    calls = fake.count("message/template/send")
    delivered = len(fake.sent) if fake.sent is not None else None
    fake.stop()
    return {"db": db, "recipients": recipients, "sent": result.sent, "delivered": delivered,
            "calls": calls, "wall": wall, "overall": recipients / wall, "rate": result.rate,
            "limit": rate, "deviation": (result.rate - rate) / rate * 100, "concurrency": concurrency,
            "latency_ms": latency * 1000}


def report(f: dict, target_s: float | None) -> None:
    ok_rate = abs(f["deviation"]) <= 5
    print(f"[{f['db']}] {f['recipients']:,} recipients, {f['concurrency']} threads, fake latency "
          f"{f['latency_ms']:.0f} ms")
    print(f"  wall time        {f['wall']:.2f} s" + (f"   (target ≤ {target_s:.0f} s: "
          f"{'met' if f['wall'] <= target_s else 'MISSED'})" if target_s else ""))
    print(f"  recipients/s     {f['overall']:.1f} overall (setup of the delivery log included)")
    print(f"  send rate        {f['rate']:.1f}/s between first and last call; limit {f['limit']:.0f}/s; "
          f"deviation {f['deviation']:+.2f} % ({'within 5 %' if ok_rate else 'OUTSIDE 5 %'})")
    if f["calls"] is None:
        print(f"  sent {f['sent']:,} (delivery log; the fake ran as its own process)")
    else:
        print(f"  sent {f['sent']:,}; fake received {f['calls']:,} template calls, delivered {f['delivered']:,}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--recipients", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=550.0, help="rate limit, sends per second")
    p.add_argument("--concurrency", type=int, default=48)
    p.add_argument("--latency", type=float, default=0.030, help="fake API latency, seconds")
    p.add_argument("--skip-slow-check", action="store_true", help="skip the 1,000 at 50/s run")
    p.add_argument("--in-process", action="store_true",
                   help="run the fake in this process (shares the GIL: slower, but counts its calls)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    separate = not args.in_process
    report(run_once(args.db, args.recipients, args.rate, args.concurrency, args.latency, separate), 20.0)
    if not args.skip_slow_check:
        report(run_once(args.db, 1000, 50.0, 8, args.latency, separate), None)


if __name__ == "__main__":
    main()
