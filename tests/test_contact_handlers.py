"""联系方式 (handlers/contact.py): the federation's phone, address and office hours, through the
webhook as WeChat sends them."""
from __future__ import annotations

import pytest

from bot.app import create_app, wire_services
from bot.simulator import Simulator, flask_transport, reply_text, text_fields
from models import directory
from tests.conftest import _empty_tables, make_config

QUESTIONS = ["妇联电话多少", "请问妇联电话多少？", "你们在哪里办公", "县妇联地址在哪里",
             "你们几点上班", "联系方式", "怎么联系你们", "妇联在哪里"]


@pytest.fixture
def ask(db_url, redis_prefix, tmp_path):
    """ask(text, **app) -> the reply's text, with ``app`` merged into ``[app]``."""
    made = []

    def ask(text, **app):
        svc = wire_services(make_config(db_url, redis_prefix, tmp_path, app=app))
        made.append(svc)
        _empty_tables(svc)
        with svc.db.session() as s:
            directory.load_seed(s)
        client = create_app(services=svc).test_client()
        sim = Simulator(token=svc.config.wechat["token"])
        return reply_text(sim.send(flask_transport(client), text_fields("oContact", text)))
    yield ask
    for svc in made:
        _empty_tables(svc)
        svc.db.dispose()


FULL = {"federation_phone": "0595-23881234", "federation_address": "永春县桃城镇八二三中路",
        "office_hours": "周一至周五 8:00-12:00，14:30-17:30"}


@pytest.mark.parametrize("question", QUESTIONS)
def test_contact_questions_get_what_is_configured(ask, question):
    reply = ask(question, **FULL)
    assert "电话：0595-23881234" in reply
    assert "地址：永春县桃城镇八二三中路" in reply
    assert "办公时间：周一至周五" in reply
    assert "12338" in reply and "没太明白" not in reply


def test_what_is_not_configured_is_left_out(ask):
    reply = ask("妇联电话多少", federation_phone="0595-23881234")
    assert "电话：0595-23881234" in reply
    assert "地址" not in reply and "待核实" not in reply


def test_with_nothing_configured_she_is_offered_help(ask):
    reply = ask("妇联电话多少")
    assert "求助" in reply and "110" in reply


def test_a_service_point_phone_stays_with_the_directory(ask):
    reply = ask("桃城镇妇女微家电话", **FULL)
    assert "0595-23881234" not in reply or "妇女微家" in reply
    assert "办公时间：周一至周五" not in reply


def test_a_long_story_is_not_a_contact_question(ask):
    story = "我老公天天喝酒不回家，我想问问你们妇联能不能帮我调解一下，电话多少"
    assert "办公时间：周一至周五" not in ask(story, **FULL)


@pytest.mark.parametrize("question", ["妇联在哪里", "县妇联地址在哪里"])
def test_without_a_configured_address_the_directory_point_says_where(ask, question):
    """Issue 14: the directory holds 永春县妇联 (桃城镇) with a map: never 「没有登记」 then."""
    reply = ask(question)
    assert "地址：桃城镇" in reply and "查看地图" in reply and "还没有登记" not in reply
    assert "12338" in reply
    configured = ask(question, **FULL)
    assert "地址：永春县桃城镇八二三中路" in configured and "查看地图" not in configured
