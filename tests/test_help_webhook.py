"""Help requests end to end through the real webhook (Flask test client, signed pushes)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.simulator import Simulator, event_fields, flask_transport, reply_text, text_fields
from scheduler import help as help_jobs
from handlers import help_messages
from models import help as hr
from tests.test_help_requests import STAFF, _services_with, outbox


@pytest.fixture
def staffed(db_url, redis_prefix, tmp_path):
    """Dry-run services with on-duty staff, notifying in a background thread (the default)."""
    from tests.conftest import _empty_tables

    svc = _services_with(db_url, redis_prefix, tmp_path,
                         help={"on_duty_openids": list(STAFF), "staff_template_id": "TPL_STAFF"})
    yield svc
    help_messages.wait_for_notifications(svc)
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def send(staffed):
    from bot.app import create_app

    sim = Simulator(token=staffed.config.wechat["token"])
    transport = flask_transport(create_app(services=staffed).test_client())
    return lambda fields: reply_text(sim.send(transport, fields))


def test_danger_word_retry_gets_the_same_reply_and_one_request(staffed, send):
    fields = text_fields("o_web_help_0001", "救命，他喝醉了在打我", msg_id=987654321)
    first = send(fields)
    assert "110" in first and "12338" in first
    assert send(fields) == first  # WeChat's retry of the same MsgId
    help_messages.wait_for_notifications(staffed)
    with staffed.db.session() as s:
        [row] = s.scalars(select(hr.HelpRequest)).all()
        assert row.urgent and row.body == "救命，他喝醉了在打我"
        assert row.staff_notified_at is not None
    assert sorted(o for _, o, _ in outbox(staffed, "message/template/send")) == sorted(STAFF)


def test_full_conversation_through_the_webhook(staffed, send):
    openid = "o_web_help_0002"
    assert "政策法律" in send(event_fields(openid, "CLICK", EventKey="HELP"))
    assert "就业创业" in send(text_fields(openid, "5"))
    send(text_fields(openid, "想学电商直播，哪里有培训？"))
    assert "联系" in send(text_fields(openid, "提交"))
    done = send(text_fields(openid, "13712345678"))
    assert "编号 H" in done and "137****5678" in done
    with staffed.db.session() as s:
        [row] = s.scalars(select(hr.HelpRequest)).all()
        assert row.category == "jobs" and not row.urgent and row.phone == "13712345678"
    assert help_jobs.send_digest(staffed).requests == 1


def test_contents_and_phone_never_reach_the_log(staffed, send, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    openid = "o_web_help_0003"
    send(text_fields(openid, "我老公家暴，秘密内容甲"))
    send(text_fields(openid, "13698765432"))
    send(text_fields(openid, "求助"))
    send(text_fields(openid, "2"))
    send(text_fields(openid, "秘密内容乙"))
    send(text_fields(openid, "提交"))
    send(text_fields(openid, "3"))
    help_messages.wait_for_notifications(staffed)
    with staffed.db.session() as s:
        row = s.scalars(select(hr.HelpRequest)).first()
    help_messages.answer_and_deliver(staffed, row.id, "秘密答复丙", staff="cli")
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("秘密内容甲", "秘密内容乙", "秘密答复丙", "13698765432", "家暴"):
        assert secret not in text
