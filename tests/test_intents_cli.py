"""``taoyuan intents test|unmatched|teach|ignore|retrain``."""
from __future__ import annotations

from models import intents as I

#: A day for the classifications recorded here (the CLI itself uses today's local date).
from datetime import date

DAY = date(2031, 4, 16)


def test_intents_test_prints_intent_confidence_top3_slots_and_danger(run):
    r = run("intents", "test", "桃城镇下周六有没有家政培训")
    assert r.exit_code == 0, r.output
    assert "意图 / intent:" in r.output and "把握 / confidence:" in r.output
    assert "前三 / top 3:" in r.output and "危险分 / danger:" in r.output
    assert "乡镇 桃城镇" in r.output and "活动类别 家政培训" in r.output
    r = run("intents", "test", "我和婆婆吵架了")
    assert "mediation（家庭矛盾调解）" in r.output
    r = run("intents", "test", "他说要砍死我")
    assert "danger（紧急求助）" in r.output and "会回复求助热线" in r.output


def test_unmatched_teach_ignore_and_retrain(run, services):
    assert "没有没听懂的话" in run("intents", "unmatched").output
    with services.db.session() as s:
        a = I.record_unmatched(s, "阿嬷的鸭仔 13812345678", I.classify("阿嬷的鸭仔", today=DAY))
        b = I.record_unmatched(s, "啦啦啦啦", I.classify("啦啦啦啦", today=DAY))
        s.flush()
        ids = a.id, b.id
    out = run("intents", "unmatched").output
    assert "阿嬷的鸭仔 138****5678" in out and "13812345678" not in out and "啦啦啦啦" in out
    r = run("intents", "teach", str(ids[0]), "help", "--staff", "li")
    assert r.exit_code == 0 and "留言求助" in r.output, r.output
    r = run("intents", "ignore", str(ids[1]))
    assert r.exit_code == 0 and "已忽略" in r.output
    assert "没有没听懂的话" in run("intents", "unmatched").output
    out = run("intents", "unmatched", "--all").output
    assert "已归类" in out and "已忽略" in out
    r = run("intents", "teach", "99999", "help")
    assert r.exit_code == 1 and "找不到这条消息" in r.output
    r = run("intents", "teach", str(ids[0]), "nonsense")
    assert r.exit_code == 1 and "没有这个意图" in r.output
    r = run("intents", "retrain")
    assert r.exit_code == 0 and "已重新训练" in r.output and "版本 2" in r.output
    with services.db.session() as s:
        assert I.model_version(s) == 2


def test_intents_group_is_listed_in_help(run):
    r = run("--help")
    assert "intents" in r.output


def test_intents_test_with_an_empty_sentence_says_so(run):
    for empty in ("", "  ", "？！"):
        r = run("intents", "test", empty)
        assert r.exit_code == 2
        assert "句子是空的" in r.output and "前三" not in r.output and "Error:" not in r.output
