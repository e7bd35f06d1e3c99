"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) drives the console:
log in, create an activity, see a signup made through the webhook (phone masked), download the
signup export, and save a screenshot under the pytest tmp dir."""
from __future__ import annotations

import time
from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import select

from bot.simulator import Simulator, http_transport, reply_text, text_fields
from models.base import utcnow
from tests.helpers import CHROMEDRIVER, CHROMIUM, PASSWORD, make_staff


pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed "
           "(apt-get install -y chromium chromium-driver)")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_console_in_a_real_browser(services, live_console, browser, tmp_path):
    from openpyxl import load_workbook
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from models.activities import Activity

    make_staff(services, "admin1", "admin")
    base, b = live_console, browser

    b.get(base + "/admin/")
    assert "/admin/login" in b.current_url
    b.find_element(By.ID, "username").send_keys("admin1")
    b.find_element(By.ID, "password").send_keys(PASSWORD)
    b.find_element(By.ID, "login-submit").click()
    wait = WebDriverWait(b, 15)
    wait.until(lambda d: "/admin/login" not in d.current_url)  # click() does not wait for the page
    assert "桃源姐妹 · 公众号后台" in b.page_source

    starts = (utcnow() + timedelta(days=7)).astimezone(services.tz)
    b.get(base + "/admin/activities/new/")
    b.find_element(By.ID, "title").send_keys("爱心义剪（浏览器测试）")
    b.find_element(By.ID, "category").send_keys("爱心义剪")
    b.find_element(By.ID, "place").send_keys("助困公益协会妇联")
    b.find_element(By.ID, "starts_at").send_keys(starts.strftime("%Y-%m-%d 09:00"))
    b.find_element(By.ID, "capacity").send_keys("20")
    b.find_element(By.CSS_SELECTOR, "form.admin-form input[type=submit]").click()
    wait.until(lambda d: "/admin/activities/new" not in d.current_url)
    assert "爱心义剪（浏览器测试）" in b.page_source
    with services.db.session() as s:
        act = s.scalar(select(Activity).where(Activity.title == "爱心义剪（浏览器测试）"))
        number, aid = act.number, act.id
        assert act.starts_at.astimezone(services.tz).hour == 9  # entered as local time

    sim, post = Simulator(token=services.config.wechat["token"]), http_transport(base)
    for i, said in enumerate([f"报名 {number}", "是", "王秀英", "13812341234", "同意"]):
        last = reply_text(sim.send(post, text_fields("oBrowser", said, msg_id=880000 + i)))
    assert "报名成功" in last

    b.get(base + f"/admin/signups/?flt0_0={aid}")
    page = b.page_source
    assert "王秀英" in page and "138****1234" in page and "13812341234" not in page

    b.get(base + "/admin/activities/")
    b.find_element(By.LINK_TEXT, "导出").click()
    deadline = time.monotonic() + 15
    files: list = []
    while time.monotonic() < deadline:
        files = [p for p in b.downloads.iterdir() if p.suffix == ".xlsx"]
        if files:
            break
        time.sleep(0.2)
    assert files, "the export was not downloaded"
    time.sleep(0.3)
    rows = list(load_workbook(BytesIO(files[0].read_bytes())).active.iter_rows(values_only=True))
    assert rows[0][0].startswith("活动 ") and "爱心义剪" in rows[0][0]  # title and date first
    assert "爱心义剪" in files[0].name                                  # and in the file name
    head = next(i for i, row in enumerate(rows) if row[0] == "报名号")
    assert rows[head][1:5] == ("身份", "状态", "姓名", "电话")
    assert rows[head + 1][3:5] == ("王秀英", "13812341234")

    b.get(base + f"/admin/signups/?flt0_0={aid}")
    shot = tmp_path / "console-signups.png"
    assert b.save_screenshot(str(shot)) and shot.stat().st_size > 5000
    print(f"screenshot: {shot}")

    b.get(base + "/admin/stats/")
    assert b.find_element(By.CSS_SELECTOR, ".chart-box svg").is_displayed()
    assert "爱心义剪" not in b.find_element(By.ID, "town-table").text  # towns, not activities
    b.save_screenshot(str(tmp_path / "console-stats.png"))
