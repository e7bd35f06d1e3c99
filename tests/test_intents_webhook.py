"""The intent stage through the real webhook (handlers/intents.py): each intent reaches its
feature's entry point, 转人工 as transfer_customer_service in plain and safe mode, and the danger
net for paraphrases the word list misses."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import create_app
from bot.simulator import Simulator, flask_transport, reply_text, text_fields
from bot.wechat.protocol import AesKey, parse_xml
from models import activities as acts
from models import directory
from models.base import utcnow
from tests.conftest import _empty_tables
from tests.helpers import services_with, webhook_sender

KEY = "A" * 42 + "Q"


@pytest.fixture
def say(services):
    """say(text, openid=...) through the webhook, with the seed directory and two activities."""
    with services.db.session() as s:
        directory.load_seed(s)
        start = utcnow() + timedelta(days=6)
        for title, category in (("爱心义剪进社区", "爱心义剪"), ("家政培训班", "家政培训")):
            acts.add_activity(s, title=title, category=category, starts_at=start,
                              ends_at=start + timedelta(hours=2), capacity=10, volunteers_needed=2,
                              place="桃城镇妇女微家", allow_past=True)
    send = webhook_sender(services)
    return lambda text, openid="oIntentWoman0001": send(openid, text)


# (her sentence, words the feature's own answer contains)
ENTRY_POINTS = [
    ("我和婆婆吵架了", "调解"),
    ("这周末有什么活动", "活动"),
    ("我想报名义剪", "爱心义剪进社区"),
    ("我报了哪些活动", "报名"),
    ("我不去了帮我取消报名", "取消"),
    ("打听一下义剪的时间", "义剪"),
    ("我想当志愿者", "姓名"),
    ("我的志愿时长有多少", "志愿"),
    ("我有事想请妇联帮忙", "工作人员"),
    ("我上次反映的问题有回复了吗", "求助"),
    ("义剪前提醒我一下", "义剪提醒"),
    ("别再给我发提醒了", "提醒"),
    ("有没有往期文章", "文章"),
    ("把我的信息删掉", "确认删除"),
    ("这个公众号能干嘛", "您可以这样用"),
    ("离我最近的服务点在哪", "位置"),
    ("哪里有调解室", "调解"),
    ("桃城镇有没有妇女微家", "桃城"),
]


@pytest.mark.parametrize("text, expected", ENTRY_POINTS)
def test_each_intent_reaches_its_feature(say, text, expected):
    reply = say(text)
    assert expected in reply, reply
    assert "没太明白" not in reply


@pytest.mark.parametrize("text", ["你好呀", "你好", "谢谢你啦", "好的拜拜", "你是机器人吗"])
def test_small_talk_is_warm_and_never_not_understood(say, text):
    reply = say(text)
    assert reply and "没太明白" not in reply and len(reply) < 120


def test_signup_by_name_starts_the_signup_for_the_next_matching_activity(say, services):
    reply = say("我想报名义剪", openid="oIntentSignup01")
    assert "爱心义剪进社区" in reply and "确认报名" in reply
    assert "家政培训班" not in reply
    assert "姓名" in say("是", openid="oIntentSignup01")


# -- 转人工 ------------------------------------------------------------------------------------
def test_human_without_kf_gives_office_hours_phone_and_help(db_url, redis_prefix, tmp_path):
    svc = services_with(db_url, redis_prefix, tmp_path,
                        app={"federation_phone": "0595-23881234", "office_hours": "周一至周五 8:00-17:30"})
    try:
        reply = webhook_sender(svc)("oIntentHuman01", "人工")
        assert "0595-23881234" in reply and "周一至周五" in reply and "求助" in reply
        assert "没太明白" not in reply
    finally:
        _empty_tables(svc)
        svc.db.dispose()


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_human_with_kf_is_transfer_customer_service(db_url, redis_prefix, tmp_path, mode):
    wechat = {"kf_enabled": True}
    if mode == "safe":
        wechat |= {"encoding_aes_key": KEY, "encryption": "safe", "app_id": "wxapp000000000001"}
    svc = services_with(db_url, redis_prefix, tmp_path, wechat=wechat)
    try:
        client = create_app(services=svc).test_client()
        sim = Simulator(token=svc.config.wechat["token"], mode=mode,
                        aes_key=AesKey(KEY, "wxapp000000000001") if mode == "safe" else None)
        path, body = sim.build(text_fields("oIntentKf0001", "人工"))
        resp = client.post(path, data=body)
        assert resp.status_code == 200
        raw = resp.get_data(as_text=True)
        if mode == "safe":
            outer = parse_xml(raw)
            assert set(outer) >= {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
            assert "transfer_customer_service" not in raw  # only inside the ciphertext
        reply = sim.read_reply(raw)
        assert reply["MsgType"] == "transfer_customer_service"
        assert reply["ToUserName"] == "oIntentKf0001" and reply["FromUserName"] == "gh_taoyuanjiemei"
        assert "Content" not in reply
        assert reply_text(reply) == "[转人工客服]"
    finally:
        _empty_tables(svc)
        svc.db.dispose()


def test_transfer_to_a_named_kf_account(db_url, redis_prefix, tmp_path):
    svc = services_with(db_url, redis_prefix, tmp_path,
                        wechat={"kf_enabled": True, "kf_account": "kf2001@gh_taoyuanjiemei"})
    try:
        sim = Simulator(token=svc.config.wechat["token"])
        reply = sim.send(flask_transport(create_app(services=svc).test_client()),
                         text_fields("oIntentKf0002", "人工"))
        assert reply["MsgType"] == "transfer_customer_service"
        assert reply["TransInfo"]["KfAccount"] == "kf2001@gh_taoyuanjiemei"
    finally:
        _empty_tables(svc)
        svc.db.dispose()


# -- the danger net ---------------------------------------------------------------------------
def test_a_danger_paraphrase_gets_the_hotlines_truthfully(say):
    reply = say("老公喝醉了就动手")
    assert "110" in reply and "12338" in reply
    assert "没太明白" not in reply


@pytest.mark.parametrize("text", ["我", "他", "我我我", "他他", "我" * 2000])
def test_a_lone_pronoun_or_a_stuck_key_is_no_alarm(say, text):
    """The tester's finding: 「我」 alone scored 0.98 danger and got the hotlines."""
    reply = say(text, openid="oIntentLone01")
    assert "您的安全最要紧" not in reply and "12356" not in reply, reply


def test_a_minnan_husband_hitting_gets_the_hotlines(say):
    reply = say("頭家喝酒打人點算", openid="oIntentMinnan1")   # 头家 = husband
    assert "110" in reply and "12338" in reply, reply


@pytest.mark.parametrize("text", ["打听一下义剪的时间", "手机死机了怎么办", "今天去菜市场杀鱼",
                                  "笑死我了哈哈", "出门记得锁门", "晚上一起跳广场舞"])
def test_benign_sentences_with_scary_characters_do_not_alarm(say, text):
    reply = say(text, openid="oIntentBenign01")
    assert "110 报警" not in reply and "心理援助热线" not in reply, reply


@pytest.mark.parametrize("text", ["我没有智能手机是我女儿帮我弄的", "我儿媳妇生了孩子没人带，有没有人帮忙",
                                  "我是外地嫁过来的，这边没亲人", "我婆婆生病了没人照顾我一个人好累",
                                  "我怀孕了老公不管我"])
def test_hard_times_that_are_not_danger_get_no_hotlines(say, text):
    """A tester's ordinary sentences about family and loneliness got 「您的安全最要紧！…110」
    (danger 0.35–0.73 before): they are hard times, answered without the alarm."""
    assert "您的安全最要紧" not in say(text)


def test_minnan_wife_beating_is_a_danger_word(say):
    """「我翁打某」 (闽南: my husband beats me) is on the danger word list: hotlines and an urgent request."""
    answer = say("我翁打某，我很怕")
    assert "110" in answer and "12338" in answer


@pytest.mark.parametrize("text", ["我想捐款", "我想捐些衣服", "我想捐点东西"])
def test_offering_to_donate_is_no_alarm(say, text):
    """「我想捐款」 scored danger 0.62 (「我想…」 like 「我想死」): an offer to give is thanked."""
    reply = say(text)
    assert "您的安全最要紧" not in reply and "谢谢" in reply, reply
