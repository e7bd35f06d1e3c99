"""Help requests end to end through the real webhook (Flask test client, signed pushes)."""
from __future__ import annotations

import itertools
import logging
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.simulator import event_fields, text_fields
from handlers import help_messages
from scheduler import help as help_jobs
from handlers import FEATURES
from models import help as hr
from models import volunteers as vols
from models.base import utcnow
from tests.conftest import REDIS_URL
from tests.servers import write_config
from tests.helpers import FEDERATION_PHONE, STAFF, Chat, new_activity, outbox, signups_of
from tests.helpers import webhook_sender as _sender


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


# ----------------------------------------------------------------------------------------------
# Merged from tests/test_help_round3.py (issue 13):
# Round 3 (second tester), through the real webhook with every feature registered:
# 1. a danger word DURING 「求助」: what she sends next lands in the urgent request at once;
# 2. what she writes in 「求助」 is saved as it arrives (a draft request), so leaving the
#    conversation (another command, 10 minutes of silence) loses nothing.
# ----------------------------------------------------------------------------------------------

_ids = itertools.count(770_000_001)


def media_fields(openid: str, kind: str, media_id: str) -> dict:
    """An image or voice message from ``openid``."""
    fields = {"ToUserName": "gh_taoyuanjiemei", "FromUserName": openid,
              "CreateTime": int(time.time()), "MsgType": kind, "MediaId": media_id,
              "MsgId": next(_ids)}
    if kind == "image":
        fields["PicUrl"] = "http://mmbiz.example/pic.jpg"
    else:
        fields.update(Format="amr", Recognition="")
    return fields


def rows_of(services, openid: str) -> list[hr.HelpRequest]:
    with services.db.session() as s:
        return list(s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == openid)
                              .order_by(hr.HelpRequest.id)))


# -- 1. danger during 求助 ----------------------------------------------------------------------
def test_urgent_during_help_takes_phone_and_place_at_once_end_to_end(staffed, send):
    openid = "o_round3_urgent_help"
    say = lambda text: send(text_fields(openid, text))  # noqa: E731
    say("求助")
    say("2")
    say("他又喝醉了")
    urgent = say("他打我")
    assert "110" in urgent and "12338" in urgent and "一并记入这条紧急求助" in urgent
    assert "137****8888" in say("13711118888")
    assert "湖洋镇" in say("我在湖洋")
    [row] = rows_of(staffed, openid)  # already in the urgent request, before she leaves
    assert row.urgent and row.contact == hr.CONTACT_PHONE and row.phone == "13711118888"
    assert row.body.splitlines() == ["他又喝醉了", "他打我", "我在湖洋"]
    assert row.category == "family"
    activities = say("活动")
    assert "已收到" not in activities and "请发您的手机号码" not in activities
    [row] = rows_of(staffed, openid)
    assert row.phone == "13711118888" and "我在湖洋" in row.body and "活动" not in row.body


def test_urgent_during_help_then_finishing_does_not_ask_for_the_phone_again(staffed, send):
    openid = "o_round3_urgent_finish"
    say = lambda text: send(text_fields(openid, text))  # noqa: E731
    for text in ("求助", "2", "他又喝醉了", "他打我", "13711118888"):
        say(text)
    done = say("提交")
    assert "都已记入紧急求助" in done and "手机号码" not in done and "1. 微信回复" not in done
    [row] = rows_of(staffed, openid)
    assert row.phone == "13711118888"


def test_draft_joins_an_urgent_request_already_open(help_services):
    chat = Chat(help_services, openid="o_round3_merge", features=FEATURES)
    chat.say("救命")
    chat.say("好了")
    chat.say("求助")
    chat.say("1")
    chat.say("我想问问离婚的事")
    assert "110" in chat.say("他打我")
    [row] = chat.requests()  # the draft moved into the open urgent request and was deleted
    assert row.urgent and row.body.splitlines() == ["救命", "我想问问离婚的事", "他打我"]


# -- 2. nothing she writes in 求助 is lost ----------------------------------------------------
def test_help_left_for_another_command_is_kept_end_to_end(staffed, send):
    openid = "o_round3_left_help"
    say = lambda text: send(text_fields(openid, text))  # noqa: E731
    say("求助")
    say("2")
    first = say("婆婆总是和我吵架，想请人调解")
    assert "已保存" in first and "中途离开也不会丢" in first
    send(media_fields(openid, "image", "IMG_R3"))
    send(media_fields(openid, "voice", "VOICE_R3"))
    assert "还没填完" in say("活动")  # read-only: answered, the form waits
    assert "删除" in say("删除我的信息")  # she leaves for another form (an escape)
    assert "没有删除" in say("不删")
    [row] = rows_of(staffed, openid)
    assert not row.submitted and row.status == hr.STATUS_NEW and not row.urgent
    assert row.body == "婆婆总是和我吵架，想请人调解" and row.category == "family"
    assert {m["media_id"] for m in row.media_items} == {"IMG_R3", "VOICE_R3"}
    mine = say("我的留言")
    assert row.ref in mine and "已保存" in mine
    done = say("提交")
    assert row.ref in done and "已提交" in done
    [row] = rows_of(staffed, openid)
    assert row.submitted and row.contact == hr.CONTACT_WECHAT


def test_help_left_silent_reaches_staff_by_the_digest(help_services):
    chat = Chat(help_services, openid="o_round3_silent", features=FEATURES)
    chat.say("求助")
    chat.say("4")
    chat.say("家里老人生病，想了解有没有帮扶")
    now = utcnow()
    assert help_jobs.send_digest(help_services, now=now).requests == 0  # she may still be writing
    later = now + timedelta(seconds=hr.DRAFT_IDLE_SECONDS + 60)
    result = help_jobs.send_digest(help_services, now=later)
    assert result.requests == 1 and result.staff_reached >= 1
    [row] = chat.requests()
    assert row.staff_notified_at is not None and not row.submitted


def test_submit_with_nothing_left_says_so(help_services):
    chat = Chat(help_services, openid="o_round3_nothing", features=FEATURES)
    reply = chat.say("提交")
    assert "没有正在填写的留言" in reply and "求助" in reply
    assert chat.requests() == []


def test_cancel_withdraws_the_draft_but_never_an_urgent_request(help_services):
    chat = Chat(help_services, openid="o_round3_cancel", features=FEATURES)
    chat.say("他打我")
    chat.say("求助")  # the full form, adding to the urgent request
    chat.say("1")
    chat.say("我想咨询一下怎么申请保护令")
    assert "退出" in chat.say("取消")
    [row] = chat.requests()
    assert row.urgent and "保护令" in row.body


def test_finished_request_is_one_row_with_everything(help_services):
    chat = Chat(help_services, openid="o_round3_finish", features=FEATURES)
    chat.say("求助")
    chat.say("5")
    chat.say("想学电商直播")
    chat.push(msg_type="image", media_id="IMG_F", pic_url="http://x/1.jpg")
    chat.say("提交")
    assert "编号 H" in chat.say("13812345678")
    [row] = chat.requests()
    assert row.submitted and row.phone == "13812345678" and row.body == "想学电商直播"
    assert [m["media_id"] for m in row.media_items] == ["IMG_F"]


def test_flag_urgent_moves_a_draft_into_the_open_urgent_request(services):
    openid = "o_round3_model_merge"
    with services.db.session() as s:
        urgent = hr.flag_urgent(s, openid, "救命", distress=False).request
        draft = hr.save_draft(s, openid, None, category="law", text="想问问离婚",
                              media={"type": "image", "media_id": "IMG_M"})
        assert draft.id != urgent.id and not draft.submitted
        flag = hr.flag_urgent(s, openid, "他打我", distress=False, draft_id=draft.id)
        assert flag.request.id == urgent.id and not flag.notify
    with services.db.session() as s:
        [row] = s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == openid)).all()
        assert row.body.splitlines() == ["救命", "想问问离婚", "他打我"]
        assert [m["media_id"] for m in row.media_items] == ["IMG_M"]


def test_flag_urgent_turns_her_draft_into_a_new_urgent_request(services):
    openid = "o_round3_model_turn"
    with services.db.session() as s:
        draft = hr.save_draft(s, openid, None, category="family", text="他又喝醉了")
        flag = hr.flag_urgent(s, openid, "他打我", distress=False, draft_id=draft.id)
        assert flag.request.id == draft.id and flag.notify and flag.request.urgent
        assert flag.request.category == "family"
        assert flag.request.body.splitlines() == ["他又喝醉了", "他打我"]


def test_staff_see_a_left_draft_in_the_cli(staffed, send, tmp_path):

    openid = "o_round3_cli_draft"
    for text in ("求助", "1", "想问问土地承包的政策", "活动"):
        send(text_fields(openid, text))
    [row] = rows_of(staffed, openid)
    shown = help_show(staffed, tmp_path, row.ref)
    assert "土地承包" in shown and "未填完" in shown


# ----------------------------------------------------------------------------------------------
# Merged from tests/test_help_testers.py (issue 13):
# What two testers found in help requests and danger words, each tried the way they tried it:
# through the real webhook (signed pushes) with every feature registered, and ``taoyuan requests``.
# ----------------------------------------------------------------------------------------------


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
