"""WeChat API client overhead and token sharing, against the fake WeChat API over loopback.

Measures, with the real Redis (under a throwaway key prefix, deleted afterwards):

* ``template`` – ``send_template`` calls per second from N threads sharing one token, and the
  per-call latency (p50/p99); the fake answers at once, so this is our overhead + HTTP;
* ``cold``     – N fresh WeChatAPI instances (as if N processes) asking for the token at the
  same moment while the fake takes ``--token-latency`` s to answer: how many token fetches
  reach WeChat (target: exactly 1) and how long the last one waited;
* ``busy``     – one call that meets -1 twice: total time (the back-off is 0.2 + 0.5 s).

Prints a table; exits 0 either way (it is a report). Run from the repository root::

    .venv/bin/python bench/wechat_client.py --threads 8 --calls 2000
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis  # noqa: E402

from bot.wechat.client import WeChatAPI  # noqa: E402
from tests.fake_wechat import FakeWeChat  # noqa: E402


def _api(fake: FakeWeChat, client: redis.Redis, prefix: str) -> WeChatAPI:
    return WeChatAPI(app_id=fake.app_id, app_secret=fake.app_secret, base_url=fake.base_url,
                     timeout=5, redis_client=client, token_key=prefix + "access_token")


def bench_template(fake, client, prefix, threads: int, calls: int) -> dict:
    api = _api(fake, client, prefix)
    api.access_token()
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = calls // threads

    def run():
        mine = []
        for i in range(per_thread):
            t0 = time.perf_counter()
            api.send_template("oBench000000000000000000001", "TPL", {"thing1": f"活动{i}"})
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"calls": len(latencies), "per_s": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "token_fetches": fake.token_fetches}


def bench_cold(fake, client, prefix, n: int, token_latency: float) -> dict:
    fake.reset()
    fake.latency = token_latency
    apis = [_api(fake, client, prefix + "cold:") for _ in range(n)]
    barrier = threading.Barrier(n)
    waits: list[float] = []

    def run(api):
        barrier.wait()
        t0 = time.perf_counter()
        api.access_token()
        waits.append(time.perf_counter() - t0)

    workers = [threading.Thread(target=run, args=(a,)) for a in apis]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    fake.latency = 0
    return {"instances": n, "token_fetches": fake.token_fetches, "max_wait_s": max(waits)}


def bench_busy(fake, client, prefix) -> dict:
    fake.reset()
    api = _api(fake, client, prefix + "busy:")
    api.access_token()
    fake.script("message/custom/send", [-1, -1])
    t0 = time.perf_counter()
    api.send_text("oBench000000000000000000001", "hi")
    return {"tries": fake.count("message/custom/send"), "total_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default=os.environ.get("TAOYUAN_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--instances", type=int, default=16)
    parser.add_argument("--token-latency", type=float, default=0.3)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis, decode_responses=True)
    prefix = f"taoyuan-bench:{uuid.uuid4().hex[:8]}:"
    fake = FakeWeChat().start()
    try:
        t = bench_template(fake, client, prefix, args.threads, args.calls)
        c = bench_cold(fake, client, prefix, args.instances, args.token_latency)
        b = bench_busy(fake, client, prefix)
    finally:
        fake.stop()
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    print(f"template  {t['calls']} calls, {args.threads} threads: {t['per_s']:.0f} calls/s, "
          f"p50 {t['p50_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms, token fetches {t['token_fetches']}")
    print(f"cold      {c['instances']} instances at once, token answer {args.token_latency}s: "
          f"token fetches {c['token_fetches']} ({'PASS' if c['token_fetches'] == 1 else 'FAIL'}), "
          f"longest wait {c['max_wait_s']:.2f} s")
    print(f"busy      -1 twice then ok: {b['tries']} tries in {b['total_s']:.2f} s")


if __name__ == "__main__":
    main()
