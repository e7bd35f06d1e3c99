"""Console forms in a real headless Chromium (the testers' round): a typed article date is kept
as typed (no JavaScript date picker rewriting it), a service point is created with 纬度/经度."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.test_browser import CHROMEDRIVER, CHROMIUM, browser, live_console  # noqa: F401
from tests.test_console import PASSWORD, make_staff

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian's chromium and chromium-driver are not installed")


def _sign_in(b, base):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    b.get(base + "/admin/login")
    b.find_element(By.ID, "username").send_keys("admin1")
    b.find_element(By.ID, "password").send_keys(PASSWORD)
    b.find_element(By.ID, "login-submit").click()
    wait = WebDriverWait(b, 15)
    wait.until(lambda d: "/admin/login" not in d.current_url)
    return wait


def test_typed_dates_and_coordinates(services, live_console, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    from models.columns import Article, add_column
    from models.directory import ServicePoint

    with services.db.session() as s:
        add_column(s, "改革破难")
    make_staff(services, "admin1", "admin")
    base, b = live_console, browser
    wait = _sign_in(b, base)

    b.get(base + "/admin/articles/new/")
    b.find_element(By.ID, "title").send_keys("近邻工作法")
    b.find_element(By.ID, "url").send_keys("https://mp.weixin.qq.com/s/334")
    field = b.find_element(By.ID, "published_on")
    field.clear()
    field.send_keys("2026-11-20")
    b.find_element(By.ID, "title").click()  # leave the field, as a person would
    assert field.get_attribute("value") == "2026-11-20"
    b.find_element(By.CSS_SELECTOR, "form.admin-form input[type=submit]").click()
    wait.until(lambda d: "/admin/articles/new" not in d.current_url)
    with services.db.session() as s:
        assert s.scalar(select(Article)).published_on == date(2026, 11, 20)

    b.get(base + "/admin/points/new/")
    b.find_element(By.ID, "name").send_keys("富临国际小区妇女微家")
    b.find_element(By.ID, "lat").send_keys("25.3215")
    b.find_element(By.ID, "lng").send_keys("118.2946")
    b.find_element(By.CSS_SELECTOR, "form.admin-form input[type=submit]").click()
    wait.until(lambda d: "/admin/points/new" not in d.current_url)
    with services.db.session() as s:
        row = s.scalar(select(ServicePoint))
        assert (row.name, row.town, row.lat, row.lng) == ("富临国际小区妇女微家", "", 25.3215, 118.2946)
