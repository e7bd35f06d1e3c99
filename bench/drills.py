"""Fault drills (issue 15): does every woman's answer reach her, once, in time?

Each drill starts real webhook processes (``taoyuan serve``) on a throwaway PostgreSQL database
(made from ``--pg-admin``, dropped afterwards), the real Redis under a unique key prefix (deleted
afterwards) and the fake WeChat API (tests/fake_wechat.py), plays WeChat — it retries a push
whose answer did not come within 5 s, at ~5 s and ~10 s, three tries in all — injects one fault,
and counts, per message she sent:

* ``requests``  – pushes sent (first tries and retries);
* ``lost``      – messages whose answer never reached her (no passive reply, no 客服消息, no
  stored notice; for drill 3, a promoted woman never told);
* ``duplicated``– messages answered more than once (a passive reply and a 客服消息, or two);
* ``over 5 s``  – tries whose HTTP answer took longer than 5 s (WeChat had already given up).

Drills (one function each, registered in :data:`DRILLS`; ``--drill N`` runs one, ``--all``
every one)::

    1  a locked row: the activities row is held FOR UPDATE for 12 s while women answer 「同意」
    2  dead workers: a worker process is SIGKILLed while it handles 「同意」
    3  a slow WeChat API (6 s per send: the client's 5 s timeout) while women cancel and the
       waiting list is promoted
    5  Redis down, then hung (SIGSTOP): the directory, 「更多」, 「活动」, 「报名 N」
    6  PostgreSQL hung (SIGSTOP of every server process) for 8 s: questions with and without
       the database
    7  PostgreSQL stopped: menu clicks and new followers (subscribe); are they recorded after?

Drills 5–7 start a redis-server / PostgreSQL of their own on free ports (tests/servers.py;
never the shared 6379/5432) so they can stop and pause them. For them, ``lost`` also counts an
answer that is only the generic fallback where a real answer needed neither server, and
drill 7 counts a new follower not recorded once the database is back as lost.

Run from the repository root (PostgreSQL and Redis as for the tests)::

    .venv/bin/python bench/drills.py --all
    .venv/bin/python bench/drills.py --drill 2 --women 6

It prints one line per drill and exits 0 (it is a report).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis as redis_lib  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bot.simulator import Simulator, reply_text, text_fields  # noqa: E402
from tests.fake_wechat import FakeWeChat  # noqa: E402
from tests.servers import Server, write_config  # noqa: E402

TOKEN = "drilltoken2026"
#: WeChat gives up on a try after this many seconds and retries (three tries in all).
WECHAT_TIMEOUT = 5.0
RETRY_AT = (0.0, 5.0, 10.0)


@dataclass
class Tally:
    """What a drill counts (see the module docstring)."""

    name: str
    requests: int = 0
    lost: int = 0
    duplicated: int = 0
    over_5s: int = 0
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def line(self) -> str:
        extra = f"  ({'; '.join(self.notes)})" if self.notes else ""
        return (f"{self.name:<34} requests {self.requests:>3}  lost {self.lost:>2}  "
                f"duplicated {self.duplicated:>2}  answered over 5 s {self.over_5s:>2}{extra}")


# -- the rig: database, Redis prefix, fake WeChat, webhook processes ---------------------------
@dataclass
class Rig:
    """One drill's world. ``servers`` are ``taoyuan serve`` processes sharing ``db_url`` and
    the Redis ``prefix``; ``wechat`` is the fake WeChat API they call."""

    db_url: str
    prefix: str
    wechat: FakeWeChat
    config_path: Path
    servers: list[Server]
    sim: Simulator

    def engine(self):
        return create_engine(self.db_url)


@contextmanager
def rig(args, *, processes: int = 2, extra: str = "") -> Iterator[Rig]:
    """Start the world for one drill; tear it down afterwards."""
    from bot.core.db import upgrade

    name = f"taoyuan_drill_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(args.pg_admin, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = args.pg_admin.rsplit("/", 1)[0] + "/" + name
    prefix = f"taoyuan-drill:{name}:"
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="drill") as tmp:
        try:
            upgrade(db_url, quiet=True)
            wechat = stack.enter_context(FakeWeChat())
            cfg = write_config(
                Path(tmp) / "config.toml", db_url=db_url, redis_url=args.redis, redis_prefix=prefix,
                instance_dir=Path(tmp) / "instance",
                extra=f'[wechat]\ntoken = "{TOKEN}"\napp_id = "{wechat.app_id}"\n'
                      f'app_secret = "{wechat.app_secret}"\napi_base_url = "{wechat.base_url}"\n'
                      + extra)
            servers = []
            stack.callback(lambda: [s.stop() for s in servers])
            for _ in range(processes):
                servers.append(Server(cfg))
            yield Rig(db_url, prefix, wechat, cfg, servers, Simulator(token=TOKEN))
        finally:
            stack.close()
            client = redis_lib.Redis.from_url(args.redis)
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :n"), {"n": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()


# -- playing WeChat ------------------------------------------------------------------------------
@dataclass
class Delivery:
    """What reached one woman for one message: passive replies (texts) and 客服消息 (texts)."""

    passive: list[str] = field(default_factory=list)
    custom: list[str] = field(default_factory=list)
    tries: int = 0
    slow_tries: int = 0


def push_like_wechat(rig: Rig, fields: dict, servers: list[Server],
                     before_try: Callable[[int], None] | None = None) -> Delivery:
    """Send ``fields`` the way WeChat does: a try, and if no answer came within 5 s, the same
    push again at ~5 s and ~10 s (the n-th try to ``servers[n % len(servers)]``). A passive
    reply is what the try WeChat still waited for answered (a late answer is dropped, as WeChat
    drops it). ``before_try(n)`` runs before try n (fault injection)."""
    import requests

    path, body = rig.sim.build(fields)
    out = Delivery()
    start = time.monotonic()
    for n, at in enumerate(RETRY_AT):
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if before_try is not None:
            before_try(n)
        server = servers[n % len(servers)]
        out.tries += 1
        sent = time.monotonic()
        try:
            resp = requests.post(server.url + path, data=body,
                                 headers={"Content-Type": "text/xml"}, timeout=WECHAT_TIMEOUT)
        except requests.RequestException:
            out.slow_tries += 1  # timed out (or the worker died): WeChat retries
            continue
        if time.monotonic() - sent > WECHAT_TIMEOUT:
            out.slow_tries += 1
            continue
        text_ = reply_text(rig.sim.read_reply(resp.text))
        if text_:
            out.passive.append(text_)
        return out  # WeChat got an answer in time: no more tries
    return out


def custom_texts(rig: Rig, openid: str) -> list[str]:
    """The 客服消息 texts the fake WeChat accepted for ``openid``."""
    return [c.json["text"]["content"] for c in rig.wechat.calls_to("message/custom/send")
            if c.json and c.json.get("touser") == openid and "text" in c.json
            and c.query.get("access_token") and c in rig.wechat.sent]


def notices_for(rig: Rig, openid: str) -> int:
    """Stored notices (the later path) for ``openid``."""
    engine = rig.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM notices WHERE openid = :o"),
                                {"o": openid}).scalar() or 0
    finally:
        engine.dispose()


def wait_quiet(seconds: float) -> None:
    """Let background deliveries finish."""
    time.sleep(seconds)


# -- fixtures of the activities drills ------------------------------------------------------------
def make_activity(rig: Rig, *, capacity: int | None = None, number: int = 1) -> None:
    """An activity accepting signups, starting in ten days."""
    from datetime import datetime, timezone

    starts = datetime.now(timezone.utc) + timedelta(days=10)
    engine = rig.engine()
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO activities (number, title, category, starts_at, ends_at, capacity, "
                "status, volunteers_needed, place, description, created_at) VALUES (:n, "
                "'巾帼健康讲座', '讲座', :s, :e, :c, 'open', 0, '县妇联三楼', '', :now)"),
                {"n": number, "s": starts, "e": starts + timedelta(hours=2), "c": capacity,
                 "now": datetime.now(timezone.utc)})
    finally:
        engine.dispose()


def follow(rig: Rig, openid: str) -> None:
    """Make ``openid`` a follower who wrote just now (inside the 48-hour window)."""
    rig.wechat.followers.add(openid)


def to_consent(rig: Rig, openid: str, server: Server, number: int = 1) -> None:
    """Walk her through 「报名 N」 → 是 → name → phone, up to the consent step."""
    for answer in (f"报名 {number}", "是", "王秀英", "13812345678"):
        rig.sim.send(_transport(server), text_fields(openid, answer))


def _transport(server: Server):
    from bot.simulator import http_transport

    return http_transport(server.url, timeout=30)


def warm_token(rig: Rig) -> None:
    """Fetch the access token the webhook processes share (cached in Redis under the prefix)."""
    from bot.app import wire_services
    from bot.core.config import load_config

    services = wire_services(load_config(path=str(rig.config_path)))
    try:
        services.wechat.send_text("oDrillWarmUp", "token")
    finally:
        services.db.dispose()


def count_signups(rig: Rig, openid: str) -> int:
    engine = rig.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM signups WHERE openid = :o "
                                     "AND status <> 'cancelled'"), {"o": openid}).scalar() or 0
    finally:
        engine.dispose()


def judge(tally: Tally, rig: Rig, openid: str, delivery: Delivery, *, expect: str) -> None:
    """Count one message: reached her (passive reply, 客服消息 or notice containing ``expect``)
    exactly once?"""
    custom = [t for t in custom_texts(rig, openid) if expect in t]
    passive = [t for t in delivery.passive if expect in t]
    stored = notices_for(rig, openid)
    reached = len(passive) + len(custom) + stored
    tally.add(requests=delivery.tries, over_5s=delivery.slow_tries,
              lost=int(reached == 0), duplicated=int(reached > 1))


# -- the drills ----------------------------------------------------------------------------------
def drill_locked_row(args) -> Tally:
    """Drill 1: the activity row is locked (``SELECT ... FOR UPDATE``) for 12 s while
    ``--women`` women answer 「同意」 (the last signup step, which takes that lock)."""
    tally = Tally("1 locked row 12 s, 「同意」")
    with rig(args) as r:
        make_activity(r)
        women = [f"oDrillLock{i:02d}" for i in range(args.women)]
        for i, openid in enumerate(women):
            follow(r, openid)
            to_consent(r, openid, r.servers[i % len(r.servers)])
        engine = r.engine()
        conn = engine.connect()
        trans = conn.begin()
        conn.execute(text("SELECT id FROM activities WHERE number = 1 FOR UPDATE"))
        locked_at = time.monotonic()
        threading.Timer(12.0, trans.rollback).start()
        results: dict[str, Delivery] = {}

        def one(i: int, openid: str) -> None:
            servers = r.servers[i % 2:] + r.servers[:i % 2]
            results[openid] = push_like_wechat(r, text_fields(openid, "同意"), servers)

        threads = [threading.Thread(target=one, args=(i, o)) for i, o in enumerate(women)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        wait_quiet(max(locked_at + 12.0 + 8.0 - time.monotonic(), 0))  # lock gone, then 8 s
        conn.close()
        engine.dispose()
        for openid in women:
            judge(tally, r, openid, results[openid], expect="报名号")
    return tally


def drill_dead_worker(args) -> Tally:
    """Drill 2: the worker handling 「同意」 is SIGKILLed mid-request (its handler waits on a
    locked row, then the process dies); WeChat retries on the other worker."""
    tally = Tally("2 worker SIGKILLed mid-「同意」")
    with rig(args, processes=1 + args.women) as r:
        make_activity(r)
        spare = r.servers[0]
        women = [f"oDrillKill{i:02d}" for i in range(args.women)]
        for i, openid in enumerate(women):
            follow(r, openid)
            to_consent(r, openid, spare)
        engine = r.engine()
        conn = engine.connect()
        trans = conn.begin()
        conn.execute(text("SELECT id FROM activities WHERE number = 1 FOR UPDATE"))
        results: dict[str, Delivery] = {}

        def one(i: int, openid: str) -> None:
            victim = r.servers[1 + i]

            def fault(n: int) -> None:
                if n == 0:  # kill the victim 1.5 s into its try, then free the row
                    def kill() -> None:
                        victim.proc.send_signal(signal.SIGKILL)
                    threading.Timer(1.5, kill).start()

            results[openid] = push_like_wechat(r, text_fields(openid, "同意"), [victim, spare, spare],
                                               before_try=fault)

        threading.Timer(2.5, trans.rollback).start()
        threads = [threading.Thread(target=one, args=(i, o)) for i, o in enumerate(women)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        wait_quiet(8.0)
        conn.close()
        engine.dispose()
        for openid in women:
            judge(tally, r, openid, results[openid], expect="报名号")
    return tally


def drill_slow_api(args) -> Tally:
    """Drill 3: every WeChat API call takes 6 s; ``--women`` women each cancel a seat of a full
    activity, so the next on its waiting list is promoted and must be told exactly once."""
    tally = Tally("3 slow WeChat API 6 s, 「取消报名」")
    with rig(args) as r:
        make_activity(r, capacity=args.women)
        seated = [f"oDrillSeat{i:02d}" for i in range(args.women)]
        waiting = [f"oDrillWait{i:02d}" for i in range(args.women)]
        for openid in seated + waiting:
            follow(r, openid)
            to_consent(r, openid, r.servers[0])
            r.sim.send(_transport(r.servers[0]), text_fields(openid, "同意"))
        warm_token(r)  # only the sends are slow: the access token is cached (in Redis) already
        r.wechat.latency = 6.0
        results: dict[str, Delivery] = {}

        def one(i: int, openid: str) -> None:
            servers = r.servers[i % 2:] + r.servers[:i % 2]
            results[openid] = push_like_wechat(r, text_fields(openid, "取消报名 1"), servers)

        threads = [threading.Thread(target=one, args=(i, o)) for i, o in enumerate(seated)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        wait_quiet(30.0)
        r.wechat.latency = 0.0
        for openid in seated:
            judge(tally, r, openid, results[openid], expect="已取消")
        for openid in waiting:  # the promoted women: told once (客服消息 or a stored notice)
            told = len([t for t in custom_texts(r, openid) if "好消息" in t]) + notices_for(r, openid)
            tally.add(lost=int(told == 0), duplicated=int(told > 1))
    return tally


# -- outages (drills 5–7): servers of the drill's own ----------------------------------------------
@contextmanager
def own_servers(args, *, redis_server: bool = False, pg_server: bool = False):
    """``(args, redis, pg)``: ``args`` pointed at a redis-server and/or a PostgreSQL cluster of
    our own (tests.servers), which the drill may stop and pause; removed afterwards."""
    from tests.servers import PostgresServer, RedisServer

    with tempfile.TemporaryDirectory(prefix="drill-own") as tmp:
        redis_srv = RedisServer(Path(tmp) / "redis") if redis_server else None
        pg_srv = PostgresServer(Path(tmp) / "pg") if pg_server else None
        try:
            changed = dict(vars(args))
            if redis_srv is not None:
                changed["redis"] = redis_srv.url
            if pg_srv is not None:
                changed["pg_admin"] = pg_srv.url()
            yield argparse.Namespace(**changed), redis_srv, pg_srv
        finally:
            if redis_srv is not None:
                redis_srv.stop()
            if pg_srv is not None:
                pg_srv.remove()


def judge_answer(tally: Tally, delivery: Delivery, *, ok: Callable[[str], bool]) -> str:
    """Count one push whose answer must satisfy ``ok`` (a passive reply WeChat waited for).
    Returns the answer ("" when none)."""
    answers = [t for t in delivery.passive if t]
    good = [t for t in answers if ok(t)]
    tally.add(requests=delivery.tries, over_5s=delivery.slow_tries,
              lost=int(not good), duplicated=int(len(answers) > 1))
    return good[0] if good else (answers[0] if answers else "")


def drill_redis_down(args) -> Tally:
    """Drill 5: Redis stopped, then hung (SIGSTOP): ``--women`` women each ask the directory
    (「桃城」「调解」, then 「更多」), 「活动」 and 「报名 1」 on two webhook processes. Every
    stateless question must get its real answer; 「报名 1」 a plain sentence that the signup
    cannot start now (counted as answered)."""
    from bot.simulator import event_fields  # noqa: F401 - same module as text_fields
    from bot.webhook import FALLBACK_TEXT

    tally = Tally("5 Redis stopped, then hung")
    asks = [("桃城", lambda t: "桃城" in t and t != FALLBACK_TEXT),
            ("调解", lambda t: "调解" in t and t != FALLBACK_TEXT),
            ("更多", lambda t: t != FALLBACK_TEXT),
            ("活动", lambda t: "巾帼健康讲座" in t),
            ("报名 1", lambda t: "开始不了" in t)]
    with own_servers(args, redis_server=True) as (own_args, redis_srv, _):
        with rig(own_args) as r:
            from models.directory import load_seed
            from sqlalchemy.orm import Session

            engine = r.engine()
            with Session(engine) as s:
                load_seed(s)
                s.commit()
            engine.dispose()
            make_activity(r)
            slowest = 0.0
            for phase, fault, undo in (("stopped", redis_srv.stop, redis_srv.start),
                                       ("hung", redis_srv.pause, redis_srv.resume)):
                fault()
                try:
                    def one(i: int, openid: str) -> None:
                        nonlocal slowest
                        servers = r.servers[i % 2:] + r.servers[:i % 2]
                        for text_, ok in asks:
                            started = time.monotonic()
                            d = push_like_wechat(r, text_fields(openid, text_), servers)
                            slowest = max(slowest, time.monotonic() - started)
                            judge_answer(tally, d, ok=ok)

                    women = [f"oDrillRedis{phase[0]}{i:02d}" for i in range(args.women)]
                    threads = [threading.Thread(target=one, args=(i, o)) for i, o in enumerate(women)]
                    [t.start() for t in threads]
                    [t.join() for t in threads]
                finally:
                    undo()
            tally.notes.append(f"slowest answer {slowest:.2f} s")
    return tally


def drill_postgres_hung(args) -> Tally:
    """Drill 6: every PostgreSQL process SIGSTOPped for 8 s while ``--women`` women ask
    「帮助」「你好」 and 「联系方式」 (no database needed: the real answer must come) and 「活动」 and
    「我的报名」 (database needed: a polite sentence, fast). Also reports the slowest answer."""
    from bot.webhook import FALLBACK_TEXT
    from handlers.welcome import HELP

    tally = Tally("6 PostgreSQL hung 8 s (SIGSTOP)")
    asks = [("帮助", lambda t: t == HELP), ("活动", lambda t: bool(t)),
            ("联系方式", lambda t: "12338" in t and t != FALLBACK_TEXT), ("我的报名", lambda t: bool(t)),
            ("你好", lambda t: t == HELP)]
    with own_servers(args, pg_server=True) as (own_args, _, pg):
        with rig(own_args) as r:
            make_activity(r)
            for server in r.servers:  # pool connections made before the hang
                r.sim.send(_transport(server), text_fields("oDrillPgWarm", "活动"))
            slowest, fallbacks = 0.0, 0
            pg.pause()
            resume = threading.Timer(8.0, pg.resume)
            resume.start()
            try:
                def one(i: int, openid: str) -> None:
                    nonlocal slowest, fallbacks
                    servers = r.servers[i % 2:] + r.servers[:i % 2]
                    for text_, ok in asks:
                        started = time.monotonic()
                        d = push_like_wechat(r, text_fields(openid, text_), servers)
                        slowest = max(slowest, time.monotonic() - started)
                        answer = judge_answer(tally, d, ok=ok)
                        fallbacks += answer == FALLBACK_TEXT

                women = [f"oDrillPgHung{i:02d}" for i in range(args.women)]
                threads = [threading.Thread(target=one, args=(i, o)) for i, o in enumerate(women)]
                [t.start() for t in threads]
                [t.join() for t in threads]
            finally:
                resume.join()
                pg.resume()
            tally.notes.append(f"slowest answer {slowest:.2f} s; {fallbacks} polite fallbacks "
                               "for questions that need the database")
    return tally


def drill_postgres_down(args) -> Tally:
    """Drill 7: PostgreSQL stopped; ``--women`` new followers subscribe (from a poster's QR
    code) and ``--women`` followers click the menu (近期活动, 我的报名, 使用帮助). Every tap
    must be answered (the welcome; the fallback where the database is needed); once the
    database is back (and its fail-fast window over) each new follower must be recorded, with
    her scene, after her next message."""
    from bot.simulator import event_fields
    from handlers.welcome import HELP, WELCOME

    tally = Tally("7 PostgreSQL down: clicks, follows")
    with own_servers(args, pg_server=True) as (own_args, _, pg):
        with rig(own_args) as r:
            for server in r.servers:
                r.sim.send(_transport(server), text_fields("oDrillPgWarm", "帮助"))
            newcomers = [f"oDrillNew{i:02d}" for i in range(args.women)]
            clickers = [f"oDrillClick{i:02d}" for i in range(args.women)]
            pg.stop()
            try:
                def newcomer(i: int, openid: str) -> None:
                    servers = r.servers[i % 2:] + r.servers[:i % 2]
                    d = push_like_wechat(r, event_fields(openid, "subscribe",
                                                         EventKey=f"qrscene_poster{i}"), servers)
                    judge_answer(tally, d, ok=lambda t: t == WELCOME)

                def clicker(i: int, openid: str) -> None:
                    servers = r.servers[i % 2:] + r.servers[:i % 2]
                    for key, ok in (("ACTIVITIES", bool), ("MY_SIGNUPS", bool),
                                    ("HELP_USAGE", lambda t: t == HELP)):
                        d = push_like_wechat(r, event_fields(openid, "click", EventKey=key), servers)
                        judge_answer(tally, d, ok=ok)

                threads = [threading.Thread(target=newcomer, args=(i, o)) for i, o in enumerate(newcomers)]
                threads += [threading.Thread(target=clicker, args=(i, o)) for i, o in enumerate(clickers)]
                [t.start() for t in threads]
                [t.join() for t in threads]
            finally:
                pg.start()
            time.sleep(10.5)  # the fail-fast window (bot.core.db.FailFastGate.QUIET_SECONDS)
            for i, openid in enumerate(newcomers):  # her next message
                r.sim.send(_transport(r.servers[i % 2]), text_fields(openid, "你好"))
            engine = r.engine()
            try:
                with engine.connect() as conn:
                    recorded = conn.execute(text(
                        "SELECT count(*) FROM followers WHERE openid LIKE 'oDrillNew%' "
                        "AND subscribed AND subscribed_at IS NOT NULL AND scene LIKE 'poster%'")
                    ).scalar() or 0
            finally:
                engine.dispose()
            tally.add(lost=len(newcomers) - recorded)
            tally.notes.append(f"{recorded}/{len(newcomers)} new followers recorded after")
    return tally


#: The drills by number (helpers add theirs here: one function each).
DRILLS: dict[int, Callable[[argparse.Namespace], Tally]] = {
    1: drill_locked_row,
    2: drill_dead_worker,
    3: drill_slow_api,
    5: drill_redis_down,
    6: drill_postgres_hung,
    7: drill_postgres_down,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--drill", type=int, action="append", choices=sorted(DRILLS),
                       help="run this drill (repeatable)")
    which.add_argument("--all", action="store_true", help="run every drill")
    parser.add_argument("--women", type=int, default=4, help="women per drill (default 4)")
    parser.add_argument("--pg-admin", default=os.environ.get(
        "TAOYUAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis", default=os.environ.get("TAOYUAN_TEST_REDIS",
                                                          "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)
    for number in (sorted(DRILLS) if args.all else args.drill):
        started = time.monotonic()
        tally = DRILLS[number](args)
        print(f"{tally.line()}  [{time.monotonic() - started:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
