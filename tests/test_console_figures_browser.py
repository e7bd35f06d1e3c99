"""Staff jobs of issue 16 items 9–11 in a real headless Chromium, at 1366×768 and 390×844:
create the month's 爱心义剪 from the recurring one and see the signups; type an activity's date
the Chinese way; read the per-town figures and the 12-month trend. Every page is checked for
English a person would read (tests/console_browser.py); screenshots go to the test's tmp_path."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models import activities as acts
from models import activities_recurring as rec
from models.base import utcnow
from models.followers import TOWN_INFERRED, TOWN_STATED, Follower, set_follower_town
from tests.console_browser import console  # noqa: F401 - the fixture
from tests.helpers import complete_signup


def test_month_haircut_from_the_recurring_one_and_its_signups(services, console):  # noqa: F811
    from selenium.webdriver.common.by import By

    with services.db.session() as s:
        rec.add_recurring(s, title="爱心义剪", day=17, start_time="09:00", minutes=180,
                          place="助困公益协会妇联")
    console.sign_in()
    console.open("/admin/recurring/new/", "recurring-new")
    console.open("/admin/recurring/", "recurring-list")
    console.driver.find_element(By.CSS_SELECTOR, "button.recurring-make").click()
    console.wait().until(lambda d: "/admin/signups/" in d.current_url)
    console.check("month-made")
    assert "已生成" in console.driver.page_source
    with services.db.session() as s:
        act = s.scalar(select(acts.Activity))
        assert act.title == "爱心义剪" and act.starts_at > utcnow()
        number, aid = act.number, act.id
    complete_signup(services, "oSisterA", number, name="林美")
    complete_signup(services, "oSisterB", number, name="陈芳", phone="13712345678")
    console.driver.refresh()
    console.check("month-signups")
    page = console.driver.page_source
    assert "林美" in page and "陈芳" in page and "报名号" in page
    with services.db.session() as s:
        refs = [r.ref for r in s.scalars(select(acts.Signup).where(acts.Signup.activity_id == aid))]
    assert all(ref in page for ref in refs)
    console.open("/admin/recurring/", "recurring-after")
    assert f"活动 {number} 报名名单" in console.driver.page_source
    console.open("/admin/activities/", "activities-list")
    assert "助困公益协会妇联" in console.driver.page_source


def test_activity_date_typed_the_chinese_way(services, console):  # noqa: F811
    from selenium.webdriver.common.by import By

    console.sign_in()
    console.open("/admin/activities/new/", "activity-new")
    d = console.driver
    assert d.find_elements(By.CSS_SELECTOR, "input[type=datetime-local]")
    d.find_element(By.ID, "title").send_keys("亲子早教课")
    d.find_element(By.ID, "starts_at").send_keys("1月17日 上午9点")
    d.find_element(By.ID, "capacity").send_keys("12")
    console.check("activity-typed")
    d.find_element(By.CSS_SELECTOR, "form.admin-form input[type=submit]").click()
    console.wait().until(lambda x: "/admin/activities/new" not in x.current_url)
    console.check("activity-saved")
    with services.db.session() as s:
        act = s.scalar(select(acts.Activity))
        local = act.starts_at.astimezone(services.tz)
        assert (local.month, local.day, local.hour) == (1, 17, 9)
        assert act.ends_at - act.starts_at == acts.DEFAULT_DURATION


def test_read_the_figures_per_town(services, console):  # noqa: F811
    now = utcnow()
    with services.db.session() as s:
        for i, (town, source) in enumerate([("蓬壶镇", TOWN_STATED), ("蓬壶镇", TOWN_INFERRED),
                                            ("桃城镇", TOWN_STATED), (None, None)]):
            s.add(Follower(openid=f"oFig{i}", subscribed=True, subscribed_at=now, first_seen_at=now))
            s.flush()
            if town:
                set_follower_town(s, f"oFig{i}", town, source=source)
    console.sign_in()
    month = now.astimezone(services.tz).strftime("%Y-%m")
    console.open(f"/admin/stats/?month={month}", "stats")
    d = console.driver
    from selenium.webdriver.common.by import By

    table = d.find_element(By.ID, "town-table").text
    assert "蓬壶镇" in table and "桃城镇" in table
    trend = d.find_element(By.CSS_SELECTOR, "#trend-chart svg")
    assert trend.size["width"] <= d.execute_script("return window.innerWidth")
    assert "近12个月趋势" in d.page_source
    console.open("/admin/followers/", "followers")
    assert "本人填写" in d.page_source
    console.open("/admin/followers/edit/?id=oFig3", "follower-town-edit")   # staff set her town
    from selenium.webdriver.support.ui import Select

    Select(d.find_element(By.ID, "town")).select_by_value("石鼓镇")
    d.find_element(By.CSS_SELECTOR, "form.admin-form input[type=submit]").click()
    console.wait().until(lambda x: "/edit/" not in x.current_url)
    console.check("follower-town-saved")
    with services.db.session() as s:
        assert s.get(Follower, "oFig3").town == "石鼓镇"


@pytest.fixture(autouse=True)
def _only_on_postgresql_and_sqlite(db_url):
    """Runs on both databases like every test (``db_url`` is parametrised)."""
    return db_url
