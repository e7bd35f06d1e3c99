"""Issue 16 staff jobs in a real Chromium at desktop and phone width (forms): list pages."""
from __future__ import annotations

import pytest

from tests.console_browser import console  # noqa: F401 - fixture


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_smoke(services, console):  # noqa: F811
    console.sign_in()
    console.open("/admin/", "home", chinese=False)
    print(console.driver.execute_script("return window.innerWidth"))
    for p in ["/admin/", "/admin/reminders/", "/admin/signups/", "/admin/broadcasts/", "/admin/outbox/", "/admin/audit/"]:
        console.driver.get(console.base + p)
        try:
            from tests.console_browser import assert_chinese_only
            assert_chinese_only(console.driver)
        except AssertionError as e:
            print(e)
