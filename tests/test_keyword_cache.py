"""models.keywords keeps a per-process copy of the active rules (a bench/webhook_costs.py fix)."""
from __future__ import annotations

from sqlalchemy import select, text

import models.keywords as keyword
import models.refcache as refcache
from bot.core.db import Database
from models.keywords import KeywordReply, find_keyword_reply


def _answer(services, words: str) -> str | None:
    with services.db.session() as s:
        row = find_keyword_reply(s, words)
        return row.reply_text if row else None


def test_an_edit_through_sqlalchemy_shows_at_once(services):
    assert _answer(services, "义剪") is None          # caches "no rules"
    with services.db.session() as s:
        s.add(KeywordReply(keyword="义剪", match="exact", reply_text="每月17日", active=True))
    assert _answer(services, "义剪") == "每月17日"
    with services.db.session() as s:
        s.scalar(select(KeywordReply)).reply_text = "每月17日上午"
    assert _answer(services, "义剪") == "每月17日上午"
    with services.db.engine.begin() as conn:             # Core, as the test fixtures empty tables
        conn.execute(KeywordReply.__table__.delete())
    assert _answer(services, "义剪") is None


def test_another_process_edit_shows_after_the_ttl(services, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(refcache.time, "monotonic", lambda: clock[0])
    assert _answer(services, "妇女节") is None
    other = Database(services.config.database_url)    # another engine, like another process
    try:
        with other.engine.begin() as conn:           # raw SQL: no event sees it
            conn.execute(text("INSERT INTO keyword_replies (keyword, match, reply_text, priority, "
                              "active) VALUES ('妇女节', 'exact', '节日快乐', 0, :t)"), {"t": True})
    finally:
        other.dispose()
    assert _answer(services, "妇女节") is None        # still the cached copy
    clock[0] += keyword.RULES_TTL + 0.1
    assert _answer(services, "妇女节") == "节日快乐"


def test_forget_cached_rules_drops_the_copy(services):
    assert _answer(services, "家暴") is None
    with services.db.engine.begin() as conn:
        conn.execute(text("INSERT INTO keyword_replies (keyword, match, reply_text, priority, "
                          "active) VALUES ('家暴', 'contains', '请拨打110', 0, :t)"), {"t": True})
    keyword.forget_cached_rules()
    assert _answer(services, "遇到家暴怎么办") == "请拨打110"


def test_ranking_priority_then_exact_then_older(services):
    with services.db.session() as s:
        s.add(KeywordReply(keyword="报名", match="contains", reply_text="c0", priority=0, active=True))
        s.add(KeywordReply(keyword="报名", match="exact", reply_text="e0", priority=0, active=True))
        s.add(KeywordReply(keyword="报名", match="exact", reply_text="e0-newer", priority=0, active=True))
        s.add(KeywordReply(keyword="活动", match="contains", reply_text="c5", priority=5, active=True))
        s.add(KeywordReply(keyword="活动报名", match="exact", reply_text="e1", priority=1, active=True))
        s.add(KeywordReply(keyword="报 名", match="contains", reply_text="off", priority=9, active=False))
    assert _answer(services, "报名") == "e0"           # exact beats contains, older beats newer
    assert _answer(services, "我要报名") == "c0"
    assert _answer(services, "活动报名") == "c5"       # higher priority beats exact
