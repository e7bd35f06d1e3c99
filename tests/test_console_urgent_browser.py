"""Issue 16 items 6-8 in a real Chromium at desktop (1366×768) and phone (390×844) width:
answer an urgent request; build and publish a menu (dry run); bind her WeChat by sending
「绑定 N」 through the webhook, then preview a broadcast on it. Every page is checked for
English a person would read; screenshots go under the test's tmp_path/screens."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from models.outbox import OutboxMessage
from tests.console_browser import console  # noqa: F401 - fixture
from tests.helpers import webhook_sender

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _by(css):
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, css


def _outbox(services, api):
    with services.db.session() as s:
        return [(r.openid, json.loads(r.payload)) for r in
                s.scalars(select(OutboxMessage).where(OutboxMessage.api == api).order_by(OutboxMessage.id))]


def _flash(console) -> str:
    """The text of the page's alerts (read in one script: the page may be reloading)."""
    return console.driver.execute_script(
        "return Array.from(document.querySelectorAll('.alert')).map(e => e.innerText).join(' ')") or ""


def test_answer_an_urgent_request(services, console):  # noqa: F811
    from models.help import HelpRequest

    with services.db.session() as s:
        s.add(HelpRequest(openid="o_browser_her_0001", category="law", status="new",
                          body="想咨询离婚财产怎么分", submitted=True))
    say = webhook_sender(services)
    say("o_browser_her_0002", "他打我")
    d = console.driver
    console.sign_in()
    console.open("/admin/", "home")
    card = d.find_element(*_by(".figure-card.border-danger"))
    assert "待答复求助" in card.text and "其中紧急 1 条" in card.text
    card.find_element(*_by("a.stretched-link")).click()
    console.wait().until(lambda x: "urgent_open=1" in x.current_url)
    console.check("urgent-only")
    assert "只显示紧急且待答复的求助" in d.page_source and "离婚" not in d.page_source
    console.open("/admin/help/", "help-list")
    rows = d.find_elements(*_by("table tbody tr"))
    assert len(rows) == 2 and "离婚" in rows[1].text
    first = rows[0]
    assert re.search(r"H\d{5}", first.text) and "已等" in first.text and "紧急" in first.text
    red = d.execute_script("return getComputedStyle(arguments[0].querySelector('td:last-child')).color",
                           first)
    assert red.replace(" ", "") in ("rgb(183,28,28)", "rgba(183,28,28,1)"), red
    first.find_element(*_by("a[href*='/admin/help/edit/']")).click()
    console.wait().until(lambda x: "/admin/help/edit/" in x.current_url)
    console.check("answer-page")
    assert "紧急：有危险信号（可能正遭受暴力或威胁）" in d.page_source
    d.find_element(*_by("textarea[name=answer]")).send_keys("您好，我们已联系当地派出所和妇联，请注意安全。")
    d.find_element(*_by("#answer-send")).click()
    console.wait().until(lambda x: "已答复" in _flash(console))
    console.check("answered")
    text = _flash(console)
    assert "客服消息" in text and "演练：未真正发送" in text, text
    assert [o for o, _ in _outbox(services, "message/custom/send")] == ["o_browser_her_0002"]


def test_build_and_publish_a_menu(services, console):  # noqa: F811
    d = console.driver
    console.sign_in()
    console.open("/admin/menu/", "menu-editor")
    assert console.page_fits(), "the editor and its phone preview fit the screen"
    tops = d.find_elements(*_by("#menu-items > .menu-item.top"))
    assert len(tops) == 3
    name = tops[0].find_element(*_by("input.menu-name"))
    name.clear()
    name.send_keys("妇女微家近邻娘家")                 # 24 bytes: over the limit while she types
    assert "24/16 字节" in tops[0].text
    assert d.find_element(*_by("#menu-publish")).get_attribute("disabled")
    console.check("name-too-long")
    name.clear()
    name.send_keys("近邻娘家")
    assert not d.find_element(*_by("#menu-publish")).get_attribute("disabled")
    # drag 求助留言 (the third) onto the first place
    d.execute_script("""
        const cards = document.querySelectorAll('#menu-items > .menu-item.top');
        const src = cards[2], dst = cards[0], dt = new DataTransfer();
        src.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
        dst.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
        dst.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));
        src.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: dt}));""")
    bar = [c.text for c in d.find_elements(*_by("#phone-bar .phone-cell"))]
    assert [t.lstrip("≡ ") for t in bar] == ["求助留言", "近邻娘家", "活动报名"], bar
    # give 使用帮助 another action, chosen by its words
    from selenium.webdriver.support.ui import Select

    first_sub = d.find_elements(*_by("#menu-items > .menu-item.top"))[0].find_elements(
        *_by(".menu-item.sub"))[2]
    Select(first_sub.find_element(*_by("select.menu-action"))).select_by_visible_text("预约调解")
    console.check("menu-edited")
    d.find_element(*_by("#menu-publish")).click()
    console.wait().until(lambda x: "演练：未真正发送" in _flash(console))
    console.check("menu-published")
    sent = _outbox(services, "menu/create")
    assert len(sent) == 1
    menu = sent[0][1]
    assert [b["name"] for b in menu["button"]] == ["求助留言", "近邻娘家", "活动报名"]
    assert menu["button"][0]["sub_button"][2] == {"type": "click", "name": "使用帮助", "key": "MEDIATION"}


def test_bind_her_wechat_and_preview_a_broadcast(services, console):  # noqa: F811
    from models import broadcasts as bcast

    d = console.driver
    console.sign_in()
    with services.db.session() as s:
        bid = bcast.create_broadcast(s, kind=bcast.KIND_TEXT, actor="admin1", text="本周六近邻课堂").id
    console.open("/admin/account/", "account")
    assert "还没有绑定微信" in d.page_source
    d.find_element(*_by("#make-bind-code")).click()
    console.wait().until(lambda x: x.find_elements(*_by("#bind-code")))
    console.check("bind-code")
    code = re.search(r"绑定 (\d{6})", d.find_element(*_by("#bind-code")).text).group(1)
    reply = webhook_sender(services)("o_browser_staff_01", f"绑定 {code}")
    assert "绑定成功" in reply, reply
    console.open("/admin/account/", "account-bound")
    assert "已绑定微信" in d.find_element(*_by("#bind-status")).text
    console.open(f"/admin/broadcasts/{bid}", "broadcast")
    d.find_element(*_by("form[action$='/preview'] button")).click()
    console.wait().until(lambda x: "预览" in _flash(console))
    console.check("previewed")
    assert [o for o, _ in _outbox(services, "message/mass/preview")] == ["o_browser_staff_01"]
