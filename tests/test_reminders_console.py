"""Issue 16 item 1: the reminder form in the staff's words. 「每月17日 8:30」 in the day field or
「周五」 as the time never saves (a Chinese form error); a right value saves and shows the next
five send times; 「预览发送时间」 shows them without saving; no cron, codes, JSON or English keys
on the page; the CLI goes through the same model check."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import reminders as rem
from models.reminders import Reminder, ensure_default_reminders, save_reminder
from tests.helpers import csrf_token, login, make_staff


def _signed_in(services, client):
    make_staff(services, "li", "admin")
    assert login(client, "li").status_code == 302
    with services.db.session() as s:
        ensure_default_reminders(s)
        return s.scalar(select(Reminder.id).where(Reminder.name == "义剪-当天"))


def _form(day="17", at="08:30", action="save", **extra):
    data = {"name": "义剪-当天", "title": "爱心义剪", "repeat": "monthly", "day": day,
            "weekday": "4", "offset": "0", "at": at, "weekend": "keep",
            "audience": "topic:haircut", "place_name": "助困公益协会妇联",
            "text": "【爱心义剪】今天{时间}是爱心义剪日。地点：{地点}", "grace": "", "enabled": "y",
            "tf_thing1": "{标题}", "tf_time2": "{时间}", "tf_thing3": "{地点}", "action": action}
    data.update(extra)
    return data


def _post(client, rid, data):
    path = f"/admin/reminders/edit/?id={rid}"
    return client.post(path, data={"csrf_token": csrf_token(client, path), **data})


def _schedule(services, rid):
    with services.db.session() as s:
        return s.get(Reminder, rid).schedule


@pytest.mark.parametrize("field,value,words", [
    ("day", "每月17日 8:30", "每月几号"),
    ("at", "周五", "发送时间"),
    ("day", "31", "1 到 28"),
])
def test_a_wrong_value_never_saves(services, client, field, value, words):
    rid = _signed_in(services, client)
    body = _post(client, rid, _form(**{field: value})).get_data(as_text=True)
    assert words in body and "保存记录成功" not in body and "接下来五次发送" not in body
    assert _schedule(services, rid) == "0 8 17 * *"


def test_a_right_value_saves_and_shows_the_next_five_times(services, client):
    rid = _signed_in(services, client)
    body = _post(client, rid, _form(day="17", at="08:30")).get_data(as_text=True)
    assert "已保存「义剪-当天」" in body
    times = re.findall(r"<li>(\d{4}-\d\d-17 08:30)（周.）</li>", body)
    assert len(times) == 5
    assert _schedule(services, rid) == "30 8 17 * *"


def test_preview_shows_the_times_without_saving(services, client):
    rid = _signed_in(services, client)
    body = _post(client, rid, _form(day="18", at="09:00", action="preview")).get_data(as_text=True)
    assert len(re.findall(r"<li>\d{4}-\d\d-18 09:00（周.）</li>", body)) == 5
    assert _schedule(services, rid) == "0 8 17 * *"


def test_the_form_speaks_the_staff_words(services, client):
    rid = _signed_in(services, client)
    page = client.get(f"/admin/reminders/edit/?id={rid}").get_data(as_text=True)
    for raw in ("0 8 17 * *", "模板字段(JSON)", "宽限秒数", ">thing1", "{title}"):
        assert raw not in page
    for words in ("每月 N 日", "每月几号", "发送时间", 'type="time"', "活动日逢周末", "推迟到周一办",
                  "订阅「义剪」的关注者", "事项（第1栏）", "{标题}", "接下来五次发送"):
        assert words in page
    listing = client.get("/admin/reminders/").get_data(as_text=True)
    assert "每月17日 · 活动当天 08:00 发送" in listing and "0 8 17 * *" not in listing


def test_the_model_refuses_what_the_form_refuses(services):
    with services.db.session() as s:
        ensure_default_reminders(s)
    with services.db.session() as s:
        row = s.scalar(select(Reminder).where(Reminder.name == "义剪-当天"))
        with pytest.raises(rem.ReminderError, match="时间规则"):
            save_reminder(s, row, schedule="每月17日 8:30")
        with pytest.raises(rem.ReminderError, match="占位符"):
            save_reminder(s, row, text="今天{几点}")
        with pytest.raises(rem.ReminderError, match="发给谁"):
            save_reminder(s, row, audience="all")
        with pytest.raises(rem.ReminderError, match="发送时间"):
            rem.schedule_to_cron(rem.ScheduleChoice(rem.REPEAT_WEEKLY, "周五", weekday=4))
        assert rem.schedule_to_cron(rem.ScheduleChoice(rem.REPEAT_WEEKLY, "18:00", weekday=4,
                                                       offset_days=1)) == "0 18 * * thu"
        assert rem.schedule_to_cron(rem.ScheduleChoice(rem.REPEAT_MONTHLY, "8:05", day=17,
                                                       offset_days=1)) == "5 8 16 * *"
    with services.db.session() as s:
        assert s.scalar(select(Reminder.schedule).where(Reminder.name == "义剪-当天")) == "0 8 17 * *"
