"""What two testers found in help requests and danger words, each tried the way they tried it:
through the real webhook (signed pushes) with every feature registered, and ``taoyuan requests``."""
from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.simulator import Simulator, flask_transport, reply_text, text_fields
from handlers import FEATURES
from handlers import help_messages
from models import help as hr
from models import volunteers as vols
from tests.conftest import REDIS_URL, _empty_tables
from tests.servers import write_config
from tests.test_help_requests import Chat, _services_with, help_services  # noqa: F401
from tests.test_danger_followups import _sender, live_staffed  # noqa: F401 - fixture
from tests.test_help_webhook import send, staffed  # noqa: F401 - fixtures
from tests.test_signup import new_activity, signups_of

FEDERATION_PHONE = "0595-23882345"


def help_show(services, tmp_path, ref: str, help_toml: str = "") -> str:
    """Output of ``taoyuan --config <file> help show REF`` on the test database."""
    from bot.cli import main

    cfg = services.config
    toml = write_config(tmp_path / "help-show.toml", db_url=cfg.database_url, redis_url=REDIS_URL,
                        redis_prefix=cfg.redis["prefix"], instance_dir=tmp_path / "instance",
                        extra=help_toml)
    result = CliRunner().invoke(main, ["--config", str(toml), "requests", "show", ref],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def the_request(services, openid: str) -> hr.HelpRequest:
    with services.db.session() as s:
        [row] = s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == openid)).all()
        return row


# -- 1. a danger word in the middle of another conversation ------------------------------------
def test_danger_mid_signup_goes_on_as_urgent_follow_up_end_to_end(staffed, send, tmp_path):
    openid = "o_tester_signup_01"
    n = new_activity(staffed)
    say = lambda text: send(text_fields(openid, text))  # noqa: E731
    assert "确认报名" in say(f"报名 {n}")
    assert "姓名" in say("是")
    urgent = say("他打我")
    assert "110" in urgent and "12338" in urgent and "报名已先停下" in urgent
    assert "135****5678" in say("13512345678")  # not "please send your name"
    assert "已收到" in say("我在桃城")
    assert signups_of(staffed, n) == {}  # 「我在桃城」 is not her name
    row = the_request(staffed, openid)
    assert row.urgent and row.contact == hr.CONTACT_PHONE and row.phone == "13512345678"
    assert row.body.splitlines() == ["他打我", "我在桃城"]
    shown = help_show(staffed, tmp_path, row.ref)
    assert "13512345678" in shown and "我在桃城" in shown and "紧急" in shown
    # afterwards she can start her signup again
    assert "确认报名" in say(f"报名 {n}")


def test_danger_mid_volunteer_form_goes_on_as_urgent_follow_up_end_to_end(staffed, send, tmp_path):
    openid = "o_tester_volunteer_01"
    say = lambda text: send(text_fields(openid, text))  # noqa: E731
    assert "姓名" in say("志愿者")
    urgent = say("想不開")
    assert "12356" in urgent and "志愿者登记已先停下" in urgent
    assert "139****5678" in say("13912345678")
    assert "已收到" in say("我在蓬壶")
    with staffed.db.session() as s:
        assert vols.get_volunteer(s, openid) is None  # no volunteer named 我在蓬壶
    row = the_request(staffed, openid)
    assert row.urgent and row.distress and row.phone == "13912345678"
    assert row.body.splitlines() == ["想不開", "我在蓬壶"]
    assert "13912345678" in help_show(staffed, tmp_path, row.ref)


def test_phone_with_words_after_danger_keeps_both(staffed, send):
    openid = "o_tester_phone_words"
    send(text_fields(openid, "救命"))
    assert "138****5678" in send(text_fields(openid, "我在桃城，电话13812345678"))
    row = the_request(staffed, openid)
    assert row.phone == "13812345678" and row.body.splitlines() == ["救命", "我在桃城，电话13812345678"]


def test_a_bare_town_after_danger_is_where_she_is_not_a_directory_search(staffed, send):
    openid = "o_tester_town_only"
    send(text_fields(openid, "他又打我了"))
    reply = send(text_fields(openid, "蓬壶"))
    assert "已收到" in reply and "蓬壶镇" in reply and "服务点" not in reply
    assert the_request(staffed, openid).body.splitlines() == ["他又打我了", "蓬壶"]


def test_no_contact_wish_after_danger_is_recorded(staffed, send):
    openid = "o_tester_no_call"
    send(text_fields(openid, "他又打我了"))
    assert "不打电话" in send(text_fields(openid, "不用联系"))
    row = the_request(staffed, openid)
    assert row.contact == hr.CONTACT_NONE and row.body == "他又打我了"


# -- 2. an urgent 求助 ends with the urgent wording ---------------------------------------------
@pytest.mark.parametrize("answers,then", [([], "会尽快联系您"), (["不用联系"], "会尽快处理")])
def test_urgent_help_request_ends_with_urgent_wording(live_staffed, answers, then):
    openid = f"o_tester_urgent_end_{len(answers)}"
    send = _sender(live_staffed)
    say = lambda text: send(openid, text)  # noqa: E731
    say("求助")
    say("2")
    assert "110" in say("家暴")
    help_messages.wait_for_notifications(live_staffed)
    for answer in answers:
        say(answer)
    done = say("提交")
    assert "已通过微信通知值班人员" in done and then in done and "110" in done
    assert "2个工作日" not in done
    row = the_request(live_staffed, openid)
    assert row.urgent and row.category == "family"


# -- 3. 「3」/「不需要」 wherever a contact choice or a phone is asked -----------------------------
@pytest.mark.parametrize("answers,contact", [
    (["2", "3"], hr.CONTACT_NONE),          # the tester's path: 电话, then changed her mind
    (["2", "不需要"], hr.CONTACT_NONE),
    (["2", "1"], hr.CONTACT_WECHAT),
    (["3。"], hr.CONTACT_NONE),
    (["3不需要联系"], hr.CONTACT_NONE),
    (["2", "3、不需要"], hr.CONTACT_NONE),
    (["1.微信"], hr.CONTACT_WECHAT),
    (["不需要联系"], hr.CONTACT_NONE),
])
def test_no_contact_is_accepted_at_contact_and_phone_steps(services, answers, contact):
    chat = Chat(services, features=FEATURES)
    chat.say("求助")
    chat.say("4")
    chat.say("家里老人生病，想了解有没有帮扶")
    chat.say("提交")
    replies = [chat.say(a) for a in answers]
    assert "编号 H" in replies[-1] and "不对" not in replies[-1]
    [row] = chat.requests()
    assert row.contact == contact and row.phone is None and row.submitted


# -- 4. 「有事请打我电话」 --------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["有事请打我电话", "有事请打我电话 13812345678", "麻烦给我回个电话"])
def test_call_me_is_no_alarm_and_no_directory_search(services, text):
    chat = Chat(services, features=FEATURES)
    reply = chat.say(text)
    assert "您的安全最要紧" not in reply and "有事请打我" not in reply and "服务点" not in reply
    assert "求助" in reply and "电话" in reply
    assert chat.requests() == []


def test_contact_us_still_reaches_other_rules(services):
    reply = Chat(services, features=FEATURES).say("怎么联系我们妇联")
    assert "最后选「2 电话」" not in reply


# -- 5. labels and the count the console uses ------------------------------------------------
def test_labels_and_open_request_count(services):
    assert hr.STATUS_LABELS == {"new": "待答复", "answered": "已答复", "closed": "已关闭"}
    assert hr.CATEGORY_LABELS["family"] == "婚姻家庭/矛盾调解"
    assert hr.CATEGORY_LABELS["urgent"] == "紧急求助"
    assert set(hr.DELIVERY_LABELS) == {"custom", "template", "pending", "waiting"}
    with services.db.session() as s:
        assert hr.open_request_count(s) == 0
        hr.flag_urgent(s, "o_count_1", "救命", distress=False)  # urgent, never "submitted"
        hr.submit_request(s, "o_count_2", category="law", parts=["问问政策"])
        answered = hr.submit_request(s, "o_count_3", category="jobs", parts=["找工作"])
        hr.record_answer(s, answered.id, "请来妇联", staff="t")
        hr.submit_request(s, "o_count_4", category="care", parts=["已删除"])
        hr.erase_help_requests(s, "o_count_4")
    with services.db.session() as s:
        assert hr.open_request_count(s) == 2


def test_cli_list_counts_urgent_requests_as_waiting(help_services, tmp_path):
    from bot.cli import main

    Chat(help_services).say("救命")
    cfg = help_services.config
    toml = write_config(tmp_path / "list.toml", db_url=cfg.database_url, redis_url=REDIS_URL,
                        redis_prefix=cfg.redis["prefix"], instance_dir=tmp_path / "instance")
    out = CliRunner().invoke(main, ["--config", str(toml), "requests", "list"]).output
    assert "【紧急】紧急求助" in out and "待答复 1（紧急 1）" in out


# -- 6. nobody on duty: don't promise a call ---------------------------------------------------
@pytest.fixture
def unstaffed(db_url, redis_prefix, tmp_path):
    """Dry-run services with no ``[help] on_duty_openids`` and a federation phone."""
    svc = _services_with(db_url, redis_prefix, tmp_path, app={"federation_phone": FEDERATION_PHONE},
                         help={"notify_in_background": False})
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


def test_no_on_duty_staff_she_is_told_to_call_and_an_error_is_logged(unstaffed, caplog):
    chat = Chat(unstaffed, features=FEATURES)
    with caplog.at_level(logging.ERROR, logger="handlers.help_messages"):
        reply = chat.say("他拿刀要杀我")
    assert "12338" in reply and "110" in reply and FEDERATION_PHONE in reply
    assert "会尽快联系您" not in reply and "没有值班人员" in reply
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "[help] on_duty_openids" in errors[0].getMessage()
    assert "他拿刀" not in caplog.text  # her words are never logged
    later = chat.say("13612345678")
    assert "136****5678" in later and "会尽快联系您" not in later and FEDERATION_PHONE in later
    assert "会尽快联系您" not in chat.say("好了")


def test_no_on_duty_staff_urgent_help_request_does_not_promise_a_call(unstaffed):
    chat = Chat(unstaffed, features=FEATURES)
    chat.say("求助")
    chat.say("2")
    first = chat.say("他打我")
    assert "编号 H" in first and "没有值班人员" in first
    done = chat.say("提交")
    assert "没有值班人员" in done and "12338" in done
    assert "已通过微信通知值班人员" not in done and "2个工作日" not in done


def test_staffed_danger_reply_still_promises_a_call(live_staffed):
    reply = _sender(live_staffed)("o_tester_staffed", "救命")
    assert "会尽快联系您" in reply and "没有值班人员" not in reply
    help_messages.wait_for_notifications(live_staffed)
    assert the_request(live_staffed, "o_tester_staffed").staff_notified_at is not None


def test_redis_down_after_saving_still_gives_the_reference(help_services, monkeypatch):
    import redis

    from handlers.conversation import ConversationStore

    def down(self):
        raise redis.ConnectionError("redis down")

    monkeypatch.setattr(ConversationStore, "get", down)
    chat = Chat(help_services)
    reply = chat.say("救命")
    [row] = chat.requests()
    assert row.ref in reply and "110" in reply
