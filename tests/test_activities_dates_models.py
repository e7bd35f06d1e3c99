"""Dates staff type for activities (issue 16 item 10): the three ways, read the same in the
console and the CLI, never against the real clock."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from models.activities import BadDateTime, parse_local_datetime

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2030, 12, 6, 10, 0, tzinfo=TZ)


@pytest.mark.parametrize("text,expected", [
    ("2031-01-17 9:00", (2031, 1, 17, 9, 0)),
    ("2031/1/17 9:00", (2031, 1, 17, 9, 0)),
    ("2031-01-17T09:00", (2031, 1, 17, 9, 0)),        # the date picker's value
    ("1月17日 上午9点", (2031, 1, 17, 9, 0)),            # no year: the next 17 January
    ("12月20日 下午3点半", (2030, 12, 20, 15, 30)),
    ("2031年1月17日 晚上七点", (2031, 1, 17, 19, 0)),
    ("1月17日 9:30", (2031, 1, 17, 9, 30)),
])
def test_accepted(text, expected):
    assert parse_local_datetime(text, TZ, now=NOW) == datetime(*expected, tzinfo=TZ)


@pytest.mark.parametrize("text", ["周五", "1月17日", "2031-02-30 9:00", "25:00", "明天上午"])
def test_refused_in_chinese(text):
    with pytest.raises(BadDateTime) as exc:
        parse_local_datetime(text, TZ, now=NOW)
    assert "1月17日 上午9点" in str(exc.value) or "有效" in str(exc.value)


def test_empty():
    assert parse_local_datetime("", TZ, now=NOW, required=False) is None
    with pytest.raises(BadDateTime):
        parse_local_datetime("  ", TZ, now=NOW)


def test_cli_takes_the_same_forms(services, run):
    from tests.clock import year_ahead

    year = year_ahead(2)
    r = run("activities", "add", "--title", "普法", "--category", "普法宣传",
            "--start", f"{year}/3/8 9:00")
    assert r.exit_code == 0, r.output
    r = run("activities", "add", "--title", "普法2", "--category", "普法宣传",
            "--start", "3月8日 上午9点")
    assert r.exit_code == 0, r.output
