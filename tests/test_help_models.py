"""Staff answers (inside and outside WeChat's 48-hour window), 「查看回复」, the digest,
retention, 「删除我的信息」 and the ``taoyuan requests`` commands."""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from scheduler import help as help_jobs
from handlers import help_messages
from models import help as hr
from models.base import utcnow
from models.followers import Follower
from tests.helpers import HELP_CONFIG, STAFF, Chat, outbox


def submit(chat: Chat, category: str = "1", text: str = "想咨询低保政策") -> hr.HelpRequest:
    chat.say("求助")
    chat.say(category)
    chat.say(text)
    chat.say("提交")
    chat.say("1")
    return chat.requests()[-1]


def set_last_message(services, openid: str, hours_ago: float) -> None:
    with services.db.session() as s:
        f = s.get(Follower, openid) or Follower(openid=openid, subscribed=True)
        s.add(f)
        f.subscribed = True
        f.last_interaction_at = utcnow() - timedelta(hours=hours_ago)


def test_answer_inside_48_hours_is_a_customer_service_message(help_services):
    chat = Chat(help_services)
    row = submit(chat)
    set_last_message(help_services, chat.openid, hours_ago=47)
    result = help_messages.answer_and_deliver(help_services, row.id, "您可以到镇民政办申请，带上户口本。", staff="王老师")
    assert result.delivery == hr.DELIVERY_CUSTOMER_SERVICE
    [(api, openid, payload)] = outbox(help_services, "message/custom/send")
    assert openid == chat.openid and "户口本" in payload["text"]["content"] and row.ref in payload["text"]["content"]
    assert outbox(help_services, "message/template/send") == []
    with help_services.db.session() as s:
        saved = s.get(hr.HelpRequest, row.id)
        assert saved.status == hr.STATUS_ANSWERED and saved.answered_by == "王老师"
        assert saved.answer_seen_at is not None


def test_answer_outside_48_hours_is_a_template_then_view_reply(help_services):
    chat = Chat(help_services)
    row = submit(chat, "2", "想请人调解家里的矛盾")
    set_last_message(help_services, chat.openid, hours_ago=49)
    result = help_messages.answer_and_deliver(help_services, row.id, "请周三到秀丽个人调解室。", staff="cli")
    assert result.delivery == hr.DELIVERY_TEMPLATE
    assert outbox(help_services, "message/custom/send") == []
    [(api, openid, payload)] = outbox(help_services, "message/template/send")
    assert openid == chat.openid and payload["template_id"] == "TPL_ANSWER_WAITING"
    assert "秀丽" not in str(payload) and "查看回复" in str(payload)
    reply = chat.say("查看回复")
    assert "【新】" in reply and "秀丽个人调解室" in reply and row.ref in reply
    assert "【新】" not in chat.say("查看回复")  # marked read


def test_window_closed_at_wechat_falls_back_to_template(live_help_services, fake_wechat):
    chat = Chat(live_help_services)
    row = submit(chat)
    set_last_message(live_help_services, chat.openid, hours_ago=1)
    fake_wechat.outside_window.add(chat.openid)
    result = help_messages.answer_and_deliver(live_help_services, row.id, "答复内容", staff="cli")
    assert result.delivery == hr.DELIVERY_TEMPLATE
    assert fake_wechat.count("message/custom/send") == 1
    [call] = fake_wechat.calls_to("message/template/send")
    assert call.json["touser"] == chat.openid and call.json["template_id"] == "TPL_ANSWER_WAITING"


def test_answer_inside_window_reaches_the_fake_api(live_help_services, fake_wechat):
    chat = Chat(live_help_services)
    row = submit(chat)
    set_last_message(live_help_services, chat.openid, hours_ago=2)
    assert help_messages.answer_and_deliver(live_help_services, row.id, "好的，已帮您联系。",
                                 staff="cli").delivery == hr.DELIVERY_CUSTOMER_SERVICE
    [call] = fake_wechat.messages_to(chat.openid)
    assert "已帮您联系" in call.json["text"]["content"]


def test_no_template_and_outside_window_stays_pending(services):
    chat = Chat(services)
    row = submit(chat)
    set_last_message(services, chat.openid, hours_ago=60)
    result = help_messages.answer_and_deliver(services, row.id, "答复", staff="cli")
    assert result.delivery == hr.DELIVERY_WAITING
    assert "答复" in chat.say("查看回复")


def test_long_answer_is_cut_and_points_to_view_reply(help_services):
    chat = Chat(help_services)
    row = submit(chat)
    set_last_message(help_services, chat.openid, hours_ago=1)
    help_messages.answer_and_deliver(help_services, row.id, "很长的答复。" * 400, staff="cli")
    [(_, _, payload)] = outbox(help_services, "message/custom/send")
    assert len(payload["text"]["content"].encode()) <= help_messages.CUSTOM_TEXT_LIMIT
    assert "查看回复" in payload["text"]["content"]
    with help_services.db.session() as s:
        assert s.get(hr.HelpRequest, row.id).answer_seen_at is None


def test_answer_errors(help_services):
    chat = Chat(help_services)
    row = submit(chat)
    with pytest.raises(hr.EmptyMessage):
        help_messages.answer_and_deliver(help_services, row.id, "  ", staff="cli")
    with pytest.raises(hr.RequestNotFound):
        help_messages.answer_and_deliver(help_services, 999999, "答复", staff="cli")


def test_digest_tells_staff_once_without_contents(help_services):
    chat = Chat(help_services)
    submit(chat, "1", "法律问题一")
    submit(Chat(help_services, openid="o_help_woman_0002"), "5", "就业问题二")
    result = help_jobs.send_digest(help_services)
    assert (result.requests, result.urgent, result.staff_reached) == (2, 0, 2)
    sent = outbox(help_services, "message/template/send")
    assert sorted(o for _, o, _ in sent) == sorted(STAFF)
    assert "问题" not in str([p for _, _, p in sent])
    assert help_jobs.send_digest(help_services).requests == 0


def test_digest_skips_unfinished_conversations(help_services):
    chat = Chat(help_services)
    chat.say("求助")
    chat.say("1")
    chat.say("还没说完")
    assert help_jobs.send_digest(help_services).requests == 0


def test_retention_anonymises_finished_requests_only(help_services):
    chat = Chat(help_services)
    old_closed, old_answered, recent, still_new = (submit(chat, str(i), f"第{i}件事的具体内容")
                                                   for i in (1, 2, 3, 4))
    now = utcnow()
    with help_services.db.session() as s:
        hr.record_answer(s, old_answered.id, "答复", staff="cli", now=now - timedelta(days=200))
        hr.close_request(s, old_closed.id, now=now - timedelta(days=181))
        hr.close_request(s, recent.id, now=now - timedelta(days=10))
        s.get(hr.HelpRequest, still_new.id).created_at = now - timedelta(days=400)
    with help_services.db.session() as s:
        assert hr.anonymise_finished(s, retention_days=180, now=now) == 2
    with help_services.db.session() as s:
        for rid in (old_closed.id, old_answered.id):
            r = s.get(hr.HelpRequest, rid)
            assert r.openid is None and r.body == "" and r.phone is None and r.anonymised_at
            assert r.category and r.created_at  # figures survive
        assert s.get(hr.HelpRequest, recent.id).body and s.get(hr.HelpRequest, still_new.id).body
        with pytest.raises(hr.RequestAnonymised):
            hr.record_answer(s, old_closed.id, "again", staff="cli")


def test_delete_my_information_erases_her_requests(help_services):
    from models.privacy import erase_personal_data

    chat = Chat(help_services)
    submit(chat)
    chat.say("救命")
    other = Chat(help_services, openid="o_help_woman_0002")
    submit(other)
    with help_services.db.session() as s:
        counts = erase_personal_data(s, chat.openid)
    assert counts.get("help_requests") == 2
    assert chat.requests() == [] and len(other.requests()) == 1
    with help_services.db.session() as s:
        rows = s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid.is_(None))).all()
        assert len(rows) == 2 and all(r.body == "" and r.anonymised_at for r in rows)
    assert "没有保存" in chat.say("我还想说")  # the urgent follow-up is over, nothing is re-attached
    assert chat.requests() == []


# -- taoyuan requests ... ----------------------------------------------------------------------
@pytest.fixture
def cli(help_services, tmp_path):
    """Run ``taoyuan --config <file> help ...`` against the test database and Redis."""
    from bot.cli import main

    cfg = help_services.config
    toml = tmp_path / "help-cli.toml"
    staff = ", ".join(f'"{o}"' for o in STAFF)
    toml.write_text(
        f'[app]\ninstance_dir = "{tmp_path / "instance"}"\nsecret_key = "x"\n'
        f'[database]\nurl = "{cfg.database_url}"\n'
        f'[redis]\nurl = "{cfg.redis["url"]}"\nprefix = "{cfg.redis["prefix"]}"\n'
        f'[help]\non_duty_openids = [{staff}]\nanswer_template_id = "TPL_ANSWER_WAITING"\n'
        f'staff_template_id = "TPL_STAFF_NEW_REQUEST"\nretention_days = 180\n'
        f'notify_in_background = false\n', encoding="utf-8")

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["--config", str(toml), "requests", *args],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output
    return run


def test_cli_list_show_reply_close(help_services, cli):
    chat = Chat(help_services)
    chat.say("求助")
    chat.say("2")
    chat.say("丈夫常年在外，婆媳矛盾很深")
    chat.say("提交")
    chat.say("13912345678")
    row = chat.requests()[0]
    listed = cli("list")
    assert row.ref in listed and "婚姻家庭" in listed and "139****5678" in listed
    assert "婆媳" not in listed  # no contents in the list
    shown = cli("show", str(row.id))
    assert "婆媳矛盾很深" in shown and "13912345678" in shown
    set_last_message(help_services, chat.openid, hours_ago=3)
    assert "客服消息" in cli("reply", row.ref, "我们周五上门了解情况。", "--staff", "林姐")
    set_last_message(help_services, chat.openid, hours_ago=50)
    assert "模板消息" in cli("reply", row.ref, "补充答复")
    assert "补充答复" in chat.say("查看回复")
    assert "已关闭" in cli("close", row.ref)
    assert "已关闭" in cli("show", row.ref)
    assert "已匿名化 0 条" in cli("anonymise")


def test_cli_digest_and_words(help_services, cli):
    submit(Chat(help_services))
    assert "新求助 1 件" in cli("digest")
    assert "未命中" in cli("words", "test", "他拿擀面杖追我")
    assert "已添加" in cli("words", "add", "擀面杖")
    assert "命中 danger" in cli("words", "test", "他拿擀面杖追我")
    assert "擀面杖" in cli("words", "list")
    assert "已停用" in cli("words", "remove", "擀面杖")


def test_cli_unknown_request(help_services):
    from bot.cli import main

    result = CliRunner().invoke(main, ["requests", "show", "H99999"],
                                env={"TAOYUAN_DATABASE_URL": help_services.config.database_url})
    assert result.exit_code != 0


def test_scheduler_hooks(help_services):
    assert hr.digest_cron_fields(help_services.config) == [{"hour": 9, "minute": 0},
                                                           {"hour": 17, "minute": 0}]
    chat = Chat(help_services)
    row = submit(chat)
    with help_services.db.session() as s:
        hr.close_request(s, row.id, now=utcnow() - timedelta(days=181))
    assert help_jobs.housekeeping(help_services) == 1


def test_console_style_answer_is_delivered_after_commit(help_services):
    chat = Chat(help_services)
    row = submit(chat)
    set_last_message(help_services, chat.openid, hours_ago=1)
    with help_services.db.session() as s:  # what the console does in its own transaction
        hr.record_answer(s, row.id, "后台的答复", staff="admin1")
        help_messages.deliver_after_commit(help_services, s, row.id)
        assert outbox(help_services, "message/custom/send") == []  # nothing before the commit
    [(_, openid, payload)] = outbox(help_services, "message/custom/send")
    assert openid == chat.openid and "后台的答复" in payload["text"]["content"]


def test_sweep_delivers_answers_left_pending(help_services):
    chat = Chat(help_services)
    row = submit(chat)
    set_last_message(help_services, chat.openid, hours_ago=1)
    with help_services.db.session() as s:
        hr.record_answer(s, row.id, "崩溃前保存的答复", staff="cli", now=utcnow() - timedelta(minutes=5))
    assert help_messages.deliver_pending_answers(help_services) == 1
    assert len(outbox(help_services, "message/custom/send")) == 1
    assert help_messages.deliver_pending_answers(help_services) == 0


def test_cli_bad_help_config_is_a_clear_error(tmp_path):
    from bot.cli import main

    toml = tmp_path / "bad.toml"
    toml.write_text('[help]\nretention_days = "forever"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(toml), "requests", "list"])
    assert result.exit_code != 0 and "help.retention_days" in result.output
