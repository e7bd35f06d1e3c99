"""Round 3 (second tester), through the real webhook with every feature registered:
1. a danger word DURING 「求助」: what she sends next lands in the urgent request at once;
2. what she writes in 「求助」 is saved as it arrives (a draft request), so leaving the
   conversation (another command, 10 minutes of silence) loses nothing."""
from __future__ import annotations

import itertools
import time
from datetime import timedelta

from sqlalchemy import select

from bot.simulator import text_fields
from handlers import FEATURES
from scheduler import help as help_jobs
from models import help as hr
from models.base import utcnow
from tests.test_help_requests import Chat, help_services  # noqa: F401 - fixture
from tests.test_help_webhook import send, staffed  # noqa: F401 - fixtures

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
    say("活动")  # she leaves (an escape)
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
    from tests.test_help_testers import help_show

    openid = "o_round3_cli_draft"
    for text in ("求助", "1", "想问问土地承包的政策", "活动"):
        send(text_fields(openid, text))
    [row] = rows_of(staffed, openid)
    shown = help_show(staffed, tmp_path, row.ref)
    assert "土地承包" in shown and "未填完" in shown
