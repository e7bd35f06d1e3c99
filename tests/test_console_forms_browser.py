"""Issue 16 staff jobs in a real Chromium, at the desktop (1366×768) and phone (390×844) widths
(``tests/console_browser.py``): cancel a signup and see the waiting list move; edit the 17th
reminder with a wrong value (refused) and a right one (the next five times shown); a broadcast
round in dry run; every list page of the console in Chinese only, fitting the phone screen.
Screenshots are saved under each test's tmp_path/screens."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.console_browser import assert_chinese_only, console  # noqa: F401 - fixture

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def _by():
    from selenium.webdriver.common.by import By

    return By


def _full_activity(services):
    from models import activities as acts

    with services.db.session() as s:
        act = acts.add_activity(s, title="爱心义剪", category="爱心义剪", capacity=1,
                                starts_at=datetime.now(timezone.utc) + timedelta(days=7))
        first = acts.sign_up(s, act.number, "oFirst0001", name="王秀英", phone="13812341234").signup
        second = acts.sign_up(s, act.number, "oSecond002", name="李美华", phone="13912345678").signup
        return act.id, first.id, second.id


def test_cancel_a_signup_and_the_waiting_list_moves(services, console):  # noqa: F811
    from models.activities import Signup

    By = _by()
    aid, first, second = _full_activity(services)
    console.sign_in()
    console.open(f"/admin/signups/?flt0_0={aid}", "signups")
    assert "候补" in console.driver.page_source
    form = console.driver.find_element(By.CSS_SELECTOR, f'form[action$="/signups/{first}/cancel"]')
    console.driver.execute_script("arguments[0].onsubmit = null;", form)  # the confirm() box
    form.find_element(By.TAG_NAME, "button").click()
    console.wait().until(lambda d: "已取消报名" in d.page_source)
    console.check("signups-after-cancel")
    assert "候补的 1 位已递补为已报名" in console.driver.page_source
    with services.db.session() as s:
        assert (s.get(Signup, first).status, s.get(Signup, second).status) == ("cancelled", "confirmed")
    if console.phone:
        assert console.page_fits(), f"wider than the phone: {console.too_wide()}"


def test_edit_the_17th_reminder(services, console):  # noqa: F811
    from models.reminders import Reminder, ensure_default_reminders

    By = _by()
    with services.db.session() as s:
        ensure_default_reminders(s)
        rid = s.scalar(select(Reminder.id).where(Reminder.name == "义剪-当天"))
    console.sign_in()
    console.open("/admin/reminders/", "reminders")
    assert "每月17日" in console.driver.page_source
    console.open(f"/admin/reminders/edit/?id={rid}", "reminder-form")
    d = console.driver
    day = d.find_element(By.ID, "day")
    day.clear()
    day.send_keys("每月17日 8:30")
    d.find_element(By.ID, "save-reminder").click()
    console.wait().until(lambda x: "alert-danger" in x.page_source)
    console.check("reminder-refused")
    assert "「每月几号」只填数字" in d.page_source and "已保存" not in d.page_source
    with services.db.session() as s:
        assert s.get(Reminder, rid).schedule == "0 8 17 * *"
    day = d.find_element(By.ID, "day")
    day.clear()
    day.send_keys("17")
    d.execute_script("document.getElementById('at').value = '08:30';")  # the time picker
    d.find_element(By.ID, "save-reminder").click()
    console.wait().until(lambda x: "已保存「义剪-当天」" in x.page_source)
    console.check("reminder-saved")
    times = [li.text for li in d.find_elements(By.CSS_SELECTOR, "#next-times li")]
    assert len(times) == 5 and all("-17 08:30" in t for t in times)
    with services.db.session() as s:
        assert s.get(Reminder, rid).schedule == "30 8 17 * *"
    console.open(f"/admin/reminders/{rid}/preview", "reminder-preview")


def test_a_broadcast_round_in_dry_run(services, console):  # noqa: F811
    from selenium.webdriver.support.ui import Select

    from models.followers import Follower
    from tests.helpers import make_staff

    By = _by()
    with services.db.session() as s:
        s.add(Follower(openid="oTaocheng01", subscribed=True, valid=True, town="桃城镇"))
    make_staff(services, "admin1", "admin", openid="oAdminOwn01")
    console.sign_in(make=False)
    console.open("/admin/broadcasts/new", "broadcast-new")
    d = console.driver
    assert "演练模式" in d.page_source
    d.find_element(By.CSS_SELECTOR, "input[name=kind][value=text]").click()
    d.find_element(By.ID, "text").send_keys("三八节活动通知：欢迎姐妹们参加")
    Select(d.find_element(By.ID, "town")).select_by_value("蓬壶镇")
    assert "您填写的文字" in d.find_element(By.ID, "will-send").text
    d.find_element(By.CSS_SELECTOR, "#broadcast-form button[type=submit]").click()
    console.wait().until(lambda x: "0 人" in x.page_source)
    console.check("broadcast-refused")
    assert d.find_element(By.ID, "text").get_attribute("value") == "三八节活动通知：欢迎姐妹们参加"
    Select(d.find_element(By.ID, "town")).select_by_value("桃城镇")
    d.find_element(By.CSS_SELECTOR, "#broadcast-form button[type=submit]").click()
    console.wait().until(lambda x: "草稿已保存" in x.page_source)
    console.check("broadcast-draft")
    d.find_element(By.XPATH, "//button[contains(., '预览到我的微信')]").click()
    console.wait().until(lambda x: "预览已发到您的微信" in x.page_source)
    d.find_element(By.XPATH, "//button[contains(., '确认群发')]").click()
    console.wait().until(lambda x: "确定吗" in x.page_source)
    console.check("broadcast-confirm")
    d.find_element(By.CSS_SELECTOR, "button[type=submit].btn-danger, input[type=submit].btn-danger").click()
    console.wait().until(lambda x: "演练：未真正发送" in x.page_source)
    console.check("broadcast-sent")
    assert "已提交微信群发" not in d.page_source and "msg_id" not in d.page_source


#: Console list pages; each is read in the browser for English and (phone) for its width.
LIST_PAGES = ("/admin/", "/admin/help/", "/admin/columns/", "/admin/articles/", "/admin/volunteers/",
              "/admin/activities/", "/admin/signups/", "/admin/reminders/", "/admin/deliveries/",
              "/admin/points/", "/admin/broadcasts/", "/admin/stats/", "/admin/staff/",
              "/admin/keywords/", "/admin/followers/", "/admin/outbox/", "/admin/audit/",
              "/admin/account/")


def _seed_everything(services):
    from models import broadcasts as bcast
    from models.audit import record
    from models.followers import Follower
    from models.reminders import ensure_default_reminders

    _full_activity(services)
    with services.db.session() as s:
        ensure_default_reminders(s)
        s.add(Follower(openid="oTaocheng01", subscribed=True, valid=True, town="桃城镇"))
        s.flush()
        bcast.create_broadcast(s, kind="text", text="三八节活动通知", actor="admin1")
        record(s, "cli", "create", "staff_users", "1", "创建账号 admin1（管理员）")
    from bot.app import wire_services  # noqa: F401 - the outbox gets a real dry-run message
    services.wechat.send_text("oTaocheng01", "您好，这是一条测试消息。")


def test_every_list_page_is_chinese_and_fits(services, console):  # noqa: F811
    _seed_everything(services)
    console.sign_in()
    wide = []
    for path in LIST_PAGES:
        console.open(path, path.strip("/").replace("/", "-") or "home")
        if console.phone and not console.page_fits():
            wide.append((path, console.too_wide()[:3]))
    assert not wide, f"wider than the phone: {wide}"
