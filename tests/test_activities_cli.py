"""``taoyuan activities add|list|show|close|qr``."""
from __future__ import annotations

from models import activities as acts
from tests.helpers import complete_signup
from tests.clock import year_ahead


FUTURE = year_ahead(2)   # a year always ahead of the clock the tests run on


def test_add_list_show_close(services, run):
    r = run("activities", "add", "--title", "家政培训", "--category", "家政培训",
            "--start", f"{FUTURE}-12-17 09:00", "--capacity", "2", "--volunteers", "1")
    assert r.exit_code == 0, r.output
    number = int(r.stdout.strip().splitlines()[-1])
    with services.db.session() as s:
        a = acts.get_activity(s, number)
        # 09:00 Asia/Shanghai is 01:00 UTC; default end two hours later
        assert a.starts_at.isoformat() == f"{FUTURE}-12-17T01:00:00+00:00"
        assert a.ends_at.isoformat() == f"{FUTURE}-12-17T03:00:00+00:00"
        assert (a.capacity, a.volunteers_needed, a.status) == (2, 1, "open")
    complete_signup(services, "oCli1", number)
    complete_signup(services, "oCli2", number)
    complete_signup(services, "oCli3", number)
    r = run("activities", "list")
    assert r.exit_code == 0 and "家政培训" in r.output and "2/2" in r.output
    r = run("activities", "show", str(number))
    assert "已报名 2  候补 1  已签到 0" in r.output and f"checkin:{number}" in r.output
    r = run("activities", "close", str(number))
    assert r.exit_code == 0 and "已截止报名" in r.output
    assert "没有活动" in run("activities", "list").output
    assert "家政培训" in run("activities", "list", "--all").output


def test_add_with_point_end_and_errors(services, run):
    r = run("activities", "add", "--title", "普法", "--category", "普法宣传", "--start", f"{FUTURE}-01-01 09:00",
            "--point", "不存在的服务点")
    assert r.exit_code != 0 and "不存在" in r.output
    r = run("activities", "add", "--title", "普法", "--category", "普法宣传", "--start", "明天")
    assert r.exit_code != 0 and "看不懂" in r.output and "1月17日 上午9点" in r.output
    r = run("activities", "add", "--title", "普法", "--category", "普法宣传",
            "--start", f"{FUTURE}-01-01 09:00", "--end", f"{FUTURE}-01-01 08:00")
    assert r.exit_code != 0 and "结束时间" in r.output
    r = run("activities", "add", "--title", "徒步", "--category", "徒步", "--start", f"{FUTURE}-03-08 08:00",
            "--end", f"{FUTURE}-03-08 11:30", "--place", "桃溪绿道")
    assert r.exit_code == 0
    number = int(r.stdout.strip().splitlines()[-1])
    with services.db.session() as s:
        assert acts.get_activity(s, number).hours == 3.5
    assert run("activities", "show", "999").exit_code != 0
    assert run("activities", "close", "999").exit_code != 0


def test_qr_in_dry_run_goes_to_the_outbox(services, run):
    r = run("activities", "add", "--title", "义剪", "--category", "爱心义剪", "--start", f"{FUTURE}-01-17 09:00")
    number = int(r.stdout.strip().splitlines()[-1])
    r = run("activities", "qr", str(number))
    assert r.exit_code == 0, r.output
    assert f"checkin:{number}" in r.output and "showqrcode" in r.output


def test_cancel_tells_everyone_signed_up(services, run):
    from sqlalchemy import select

    from models.notice import Notice
    from models.outbox import OutboxMessage

    r = run("activities", "add", "--title", "近邻课堂", "--category", "近邻课堂",
            "--start", f"{FUTURE}-05-01 09:00", "--capacity", "1")
    number = int(r.stdout.strip().splitlines()[-1])
    complete_signup(services, "oC1", number)
    complete_signup(services, "oC2", number)          # waiting
    with services.db.session() as s:                  # oC2 last wrote 3 days ago
        from datetime import timedelta

        from models.base import utcnow
        from models.followers import Follower
        s.get(Follower, "oC2").last_interaction_at = utcnow() - timedelta(days=3)
    r = run("activities", "cancel", str(number), "--reason", "台风", "--yes")
    assert r.exit_code == 0, r.output
    assert "通知 1 人，1 人待发" in r.output
    with services.db.session() as s:
        assert acts.get_activity(s, number).status == "cancelled"
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.openid == "oC1")).all()
        queued = s.scalars(select(Notice).where(Notice.openid == "oC2")).all()
    assert len(sent) == 1 and len(queued) == 1 and "台风" in queued[0].text
    assert run("activities", "cancel", "999", "--yes").exit_code != 0


def test_more_seats_promote_the_waiting_list(services, run):
    from sqlalchemy import select

    from models.outbox import OutboxMessage

    r = run("activities", "add", "--title", "亲子早教", "--category", "亲子早教",
            "--start", f"{FUTURE}-06-01 09:00", "--capacity", "1")
    number = int(r.stdout.strip().splitlines()[-1])
    for openid in ("oS1", "oS2", "oS3"):
        complete_signup(services, openid, number)
    r = run("activities", "seats", str(number), "--capacity", "2")
    assert r.exit_code == 0 and "1 位候补" in r.output, r.output
    with services.db.session() as s:
        counts = acts.signup_counts(s, acts.get_activity(s, number))["participant"]
        told = s.scalars(select(OutboxMessage).where(OutboxMessage.openid == "oS2")).all()
    assert counts["confirmed"] == 2 and counts["waiting"] == 1 and len(told) == 1
    assert "0 位候补" in run("activities", "seats", str(number), "--capacity", "1").output
    r = run("activities", "seats", str(number), "--unlimited")
    assert "1 位候补" in r.output
    assert run("activities", "seats", str(number)).exit_code != 0


def test_serve_start_makes_the_next_haircut_so_signup_works_at_once(services):
    """Issue 14: a fresh install answers 「我想报名义剪」 without a scheduler process; twice is once."""
    from sqlalchemy import select

    from bot.cli.core import make_due_occurrences
    from models.activities_recurring import RecurringActivity, add_recurring
    from tests.helpers import say

    with services.db.session() as s:
        if not s.scalars(select(RecurringActivity)).first():
            add_recurring(s, title="爱心义剪", day=17, start_time="09:00", category="爱心义剪")
    make_due_occurrences(services)
    make_due_occurrences(services)
    with services.db.session() as s:
        made = s.scalars(select(acts.Activity).where(acts.Activity.category == "爱心义剪")).all()
    assert len(made) == 1
    reply = say(services, "oHaircutFresh", "我想报名义剪")
    assert "近期没有找到" not in reply and "爱心义剪" in reply
