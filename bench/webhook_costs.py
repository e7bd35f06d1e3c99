"""Where a webhook request's time goes, in one process (no HTTP, no load tool).

Companion to bench/webhook.py: it calls ``Webhook.handle`` directly on a throwaway PostgreSQL
database (real service points loaded) and the real Redis, and prints, per text message:

* the database statements and Redis commands one message costs (the round trips; the
  webhook's own two go through ``bot.core.kv.HotPath`` and are listed as such);
* wall and CPU milliseconds as the tree is; with the follower row written on every message
  (as before TOUCH_RESOLUTION); with the keyword rules loaded every message (no RULES_TTL
  copy; try ``--keyword-rules 200``); and with one per-message database query switched off at a
  time (keyword rules, column names, the follower row) — what caching each would save.
  Variants are interleaved; each figure is the best (lowest) of ``--rounds`` batches, since a
  busy machine only ever adds time.

Run from the repository root::

    .venv/bin/python bench/webhook_costs.py [--content 你好] [--batch 200] [--rounds 8]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import webhook as bench  # noqa: E402  (bench/webhook.py: database, Redis and request helpers)


def push_body(msg_id: int, content: str) -> bytes:
    """A plaintext text message; 1,000 openids in turn, like bench/webhook.lua."""
    return (f"<xml><ToUserName><![CDATA[{bench.ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[obench01{msg_id % 1000:020d}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>").encode()


def add_keyword_rules(db_url: str, count: int) -> int:
    """Add ``count`` active keyword rules (half exact, half contains) that 「你好」 does not hit."""
    from bot.core.db import Database
    from models.keywords import KeywordReply

    db = Database(db_url)
    try:
        with db.session() as s:
            for i in range(count):
                s.add(KeywordReply(keyword=f"活动通知{i}", match="exact" if i % 2 else "contains",
                                   reply_text=f"第{i}条通知", priority=0, active=True))
    finally:
        db.dispose()
    return count


def variants():
    """name -> function that switches one query off (and returns an undo function)."""
    import models.columns as article
    import models.followers as follower
    import models.keywords as keyword

    def patch(module, name, replacement):
        def apply():
            original = getattr(module, name)
            setattr(module, name, replacement)
            return lambda: setattr(module, name, original)
        return apply

    no_keyword = patch(keyword, "find_keyword_reply", lambda session, text: None)
    no_columns = patch(article, "column_names", lambda session: {})
    no_touch = patch(follower, "touch", lambda session, openid, user_message, now=None: None)

    def write_every_message():  # models.followers before the TOUCH_RESOLUTION change
        from datetime import timedelta

        original = follower.TOUCH_RESOLUTION
        follower.TOUCH_RESOLUTION = timedelta(0)
        return lambda: setattr(follower, "TOUCH_RESOLUTION", original)

    def uncached_lookup(session, text):  # models.keywords before 7a41512, for comparison
        from sqlalchemy import select

        from bot.core.text import compact

        session = session.get() if hasattr(session, "get") else session  # OnDemandSession
        best = None
        for row in session.scalars(select(keyword.KeywordReply)
                                   .where(keyword.KeywordReply.active.is_(True))):
            word = compact(row.keyword)
            if row.match == keyword.MATCH_EXACT and text == word:
                rank = (row.priority, 1)
            elif row.match == keyword.MATCH_CONTAINS and word and word in text:
                rank = (row.priority, 0)
            else:
                continue
            if best is None or rank > best[:2]:
                best = (*rank, row)
        return best[2] if best else None

    no_rule_cache = patch(keyword, "find_keyword_reply", uncached_lookup)

    def all_three():
        undo = [no_keyword(), no_columns(), no_touch()]
        return lambda: [u() for u in undo]

    return {"as is": lambda: (lambda: None), "follower written every time": write_every_message,
            "rules queried every time": no_rule_cache,
            "no keyword-rule query": no_keyword,
            "no column-name query": no_columns, "no follower row (touch)": no_touch,
            "none of the three": all_three}


def count_round_trips(app, webhook, query: dict, body: bytes) -> tuple[int, int, list[str]]:
    """SQL statements (COMMIT included) and Redis commands for one push, and their list."""
    import redis
    from sqlalchemy import event

    engine = app.extensions["taoyuan"].db.engine
    seen: list[str] = []

    def on_sql(conn, cursor, statement, params, context, many):
        seen.append("SQL   " + " ".join(statement.split())[:70])

    def on_commit(conn):
        seen.append("SQL   COMMIT")

    from bot.core.kv import HotPath

    original = redis.Redis.execute_command
    original_send, original_later = HotPath.send, HotPath.send_later

    def on_redis(self, *args, **kwargs):
        seen.append("Redis " + " ".join(str(a) for a in args[:1]))
        return original(self, *args, **kwargs)

    def on_send(self, *commands):  # bot.core.kv.HotPath: one round trip for several commands
        seen.append("Redis " + " + ".join(str(c[0]) for c in commands) + " (one round trip)")
        return original_send(self, *commands)

    def on_later(self, *command):
        seen.append(f"Redis {command[0]} (queued: sent with the next round trip, reply skipped)")
        return original_later(self, *command)

    event.listen(engine, "before_cursor_execute", on_sql)
    event.listen(engine, "commit", on_commit)
    redis.Redis.execute_command = on_redis
    HotPath.send, HotPath.send_later = on_send, on_later
    try:
        webhook.handle(query, body)
    finally:
        redis.Redis.execute_command = original
        HotPath.send, HotPath.send_later = original_send, original_later
        event.remove(engine, "before_cursor_execute", on_sql)
        event.remove(engine, "commit", on_commit)
    return (sum(s.startswith("SQL") for s in seen), sum(s.startswith("Redis") for s in seen), seen)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--content", default="你好", help="text message Content (你好)")
    p.add_argument("--batch", type=int, default=200, help="messages per batch (200)")
    p.add_argument("--rounds", type=int, default=8, help="batches per variant (8)")
    p.add_argument("--keyword-rules", type=int, default=0,
                   help="staff keyword rules to add first (none match the Content) (0)")
    p.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = p.parse_args(argv)

    from bot.app import create_app
    from bot.core.config import load_config

    db_url = bench.create_database(args.pg_admin)
    seeded = bench.seed_database(db_url)
    if args.keyword_rules:
        seeded += f", {add_keyword_rules(db_url, args.keyword_rules)} keyword rules"
    prefix = f"taoyuan-bench:{uuid.uuid4().hex[:10]}:"
    tmp = Path(tempfile.mkdtemp(prefix="taoyuan-costs-"))
    try:
        config = load_config(overrides={
            "app": {"instance_dir": str(tmp), "secret_key": "bench"},
            "wechat": {"token": bench.TOKEN, "app_id": bench.APP_ID},
            "database": {"url": db_url}, "redis": {"url": args.redis, "prefix": prefix}},
            environ={})
        app = create_app(config)
        webhook = app.extensions["taoyuan_webhook"]
        def signed() -> dict:  # a signed URL per push: it is bound to the first body it carries
            return dict(parse_qsl(bench.signed_path("/wechat").split("?", 1)[1]))
        ids = iter(range(10**17, 2 * 10**17))
        first = webhook.handle(signed(), push_body(next(ids), args.content))
        for _ in range(1000):  # warm up; every openid now has a follower row
            webhook.handle(signed(), push_body(next(ids), args.content))
        n_sql, n_redis, seen = count_round_trips(app, webhook, signed(),
                                                 push_body(next(ids), args.content))
        print(f"PostgreSQL ({seeded}) + Redis; Content {args.content!r}; reply "
              f"{'text' if 'CDATA[text]' in first.body else first.body[:30]!r}")
        print(f"one message: {n_sql} SQL statements, {n_redis} Redis commands")
        for line in seen:
            print("   " + line)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in variants()}
        for _ in range(args.rounds):
            for name, switch in variants().items():
                pushes = [(signed(), push_body(next(ids), args.content))
                          for _ in range(args.batch)]
                undo = switch()
                try:
                    wall, cpu = time.perf_counter(), time.process_time()
                    for query, body in pushes:
                        webhook.handle(query, body)
                    figures[name].append(((time.perf_counter() - wall) / args.batch * 1000,
                                          (time.process_time() - cpu) / args.batch * 1000))
                finally:
                    undo()
        print(f"\nper message, best of {args.rounds} × {args.batch} (one process, no HTTP):")
        print(f"| {'variant':<28} | wall ms | CPU ms |\n|{'-' * 30}|---------|--------|")
        for name, values in figures.items():
            print(f"| {name:<28} | {min(v[0] for v in values):>7.2f} | "
                  f"{min(v[1] for v in values):>6.2f} |")
    finally:
        bench.drop_database(args.pg_admin, db_url)
        bench.delete_redis_prefix(args.redis, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
