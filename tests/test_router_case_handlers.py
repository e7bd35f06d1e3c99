"""English commands match whatever the letter case (issue 15, item 13): 「Help」「HELP」「Hi」「OK」
and full-width letters get the same answer as 「help」「hi」「ok」, through the signed webhook."""
from __future__ import annotations

import pytest

from handlers.welcome import ACK, HELP, NOT_UNDERSTOOD, THANKS
from models.keywords import KeywordReply
from tests.helpers import webhook_sender


@pytest.fixture
def say(services):
    return webhook_sender(services)


@pytest.mark.parametrize("text", ["help", "Help", "HELP", "hElP", "ＨＥＬＰ", "Ｈｅｌｐ", " Help! "])
def test_help_in_any_case(say, text):
    answer = say("oCase1", text)
    assert answer != NOT_UNDERSTOOD
    assert HELP.splitlines()[1] in answer


@pytest.mark.parametrize("text", ["Hi", "HI", "hi", "Ｈｉ", "Hello", "HELLO"])
def test_greetings_in_any_case(say, text):
    assert say("oCase2", text) != NOT_UNDERSTOOD


@pytest.mark.parametrize("text, answer", [("OK", ACK), ("Ok", ACK), ("ok", ACK), ("ＯＫ", ACK),
                                          ("Thanks", THANKS), ("THANKS", THANKS)])
def test_ok_and_thanks_in_any_case(say, text, answer):
    """「OK」 is an acknowledgement (no 「不客气」: she did not thank us); 「Thanks」 is thanks."""
    assert say("oCase3", text) == answer


def test_staff_keywords_match_in_any_case(services, say):
    with services.db.session() as s:
        s.add(KeywordReply(keyword="WiFi", match="exact", reply_text="无线网络密码请到前台询问", active=True))
    assert say("oCase4", "wifi") == "无线网络密码请到前台询问"
    assert say("oCase4", "ＷＩＦＩ") == "无线网络密码请到前台询问"


def test_fold_case_keeps_chinese_and_digits():
    from bot.core.text import command_form, fold_case

    assert fold_case("报名3") == "报名3"
    assert command_form(" ＨＥＬＰ 我 ") == "help我"
