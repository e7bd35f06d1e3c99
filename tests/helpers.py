"""Plain helper functions and constants shared by test modules (fixtures live in conftest.py).

Test modules import from here (``from tests.helpers import say``), never from another test module.
"""
from __future__ import annotations

import csv
import itertools
import re
import shutil
from datetime import datetime, timedelta

from sqlalchemy import select

import handlers
from bot.simulator import Simulator, flask_transport, reply_text, text_fields
from bot.wechat.updates import Update
from handlers import build_router
from handlers.router import Context
from bot.wechat.notifier import notifier_for
from models import activities as acts
from models import help as hr
from models import volunteers as vols
from models.base import utcnow
from models.staff import add_staff


# -- the signup conversation through the router (tests/test_activities_signup_handlers.py) ------
_ids = itertools.count(880000)   # msg ids for say/event
_ROUTER = None


def router():
    global _ROUTER
    if _ROUTER is None:
        _ROUTER = handlers.build_router()
    return _ROUTER


def dispatch(services, update: Update, now=None) -> str:
    """Dispatch ``update`` in a committed session; the reply text ("" for none)."""
    with services.db.session() as s:
        ctx = Context(update=update, services=services, session=s, now=now or utcnow())
        reply = router().dispatch(ctx)
    notifier_for(services).wait()  # sends queued after the commit (the outbox worker)
    return getattr(reply, "content", "") if reply is not None else ""


def say(services, openid: str, text: str, now=None) -> str:
    """She sends ``text``; return the reply text."""
    return dispatch(services, Update(msg_type="text", openid=openid, content=text,
                                     msg_id=str(next(_ids)), create_time=1), now)


def event(services, openid: str, name: str, key: str = "", now=None) -> str:
    """An event (``scan``, ``subscribe``, ``click`` ...) with EventKey ``key``."""
    return dispatch(services, Update(msg_type="event", openid=openid, event=name, event_key=key,
                                     create_time=next(_ids)), now)


def new_activity(services, *, capacity=5, volunteers=0, category="家政培训", title="家政培训班",
                 days=5, hours=2):
    """An activity ``days`` from now; returns its number."""
    start = utcnow() + timedelta(days=days)
    with services.db.session() as s:
        return acts.add_activity(s, title=title, category=category, starts_at=start,
                                 ends_at=start + timedelta(hours=hours), capacity=capacity,
                                 volunteers_needed=volunteers, place="桃城镇妇女微家",
                                 allow_past=True).number


def signups_of(services, number):
    with services.db.session() as s:
        act = acts.get_activity(s, number)
        return {r.openid: r for r in s.scalars(select(acts.Signup).where(acts.Signup.activity_id == act.id))}


def complete_signup(services, openid, number, name="王秀英", phone="13812341234") -> str:
    say(services, openid, f"报名 {number}")
    say(services, openid, "是")
    say(services, openid, name)
    say(services, openid, phone)
    return say(services, openid, "同意")


def conv_key(services, openid):
    return services.keys("conv", openid)


# -- volunteers (tests/test_volunteers_handlers.py) -----------------------------------------------
def register(services, openid, *, name="陈美华", phone="13612345678", town="达埔", skills="1 3",
             available="周末上午") -> str:
    say(services, openid, "志愿者")
    say(services, openid, name)
    say(services, openid, phone)
    say(services, openid, town)
    say(services, openid, skills)
    say(services, openid, available)
    return say(services, openid, "同意")


def get_volunteer(services, openid):
    with services.db.session() as s:
        return vols.get_volunteer(s, openid)


# -- the console (tests/test_staff_console.py) ----------------------------------------------------
PASSWORD = "mima-12345"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(client, path: str = "/admin/login") -> str:
    """The CSRF token from a console page's form."""
    m = _TOKEN.search(client.get(path).get_data(as_text=True))
    assert m, f"no csrf_token on {path}"
    return m.group(1) or m.group(2)


def make_staff(services, username: str = "admin1", role: str = "admin", openid: str | None = None):
    with services.db.session() as s:
        add_staff(s, username, PASSWORD, role, openid=openid)


def login(client, username: str = "admin1", password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/admin/login", data={"csrf_token": token, "username": username,
                                             "password": password})


# -- a real browser (tests/test_browser.py) -------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1280,1600", "--lang=zh-CN")


# -- service point spreadsheets (tests/test_directory_models.py) ----------------------------------
DIRECTORY_HEADER = ["名称", "类型", "平台", "乡镇", "村社区", "地址", "纬度", "经度", "大致位置", "电话",
                    "开放时间", "服务", "简介", "启用"]


def write_csv(path, rows, header=DIRECTORY_HEADER):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def good_row(name="测试妇女微家", town="桃城镇", lat="25.321", lng="118.29", **kw):
    row = dict(zip(DIRECTORY_HEADER, [name, "妇女微家", "邻里守望", town, "", "", lat, lng, "否",
                                      "0595-12345678", "周一至周五", "早教、普法", "测试", "是"]))
    row.update(kw)
    return [row[h] for h in DIRECTORY_HEADER]


# -- help requests and danger words (tests/test_help_*.py, tests/test_safety_*.py) ---------------
FEDERATION_PHONE = "0595-23882345"

#: The features ``Chat`` routes through by default (not ``handlers.FEATURES``, which is all of them).
HELP_FEATURES = ["handlers.safety", "handlers.help", "handlers.welcome"]
_chat_ids = itertools.count(1)


class Chat:
    """One woman talking to the router directly (no webhook), each message in its own
    committed transaction, as the webhook does."""

    def __init__(self, services, openid: str = "o_help_woman_0001", features=None):
        self.services = services
        self.openid = openid
        self.router = build_router(features or HELP_FEATURES)

    def push(self, now: datetime | None = None, **fields) -> str:
        fields.setdefault("msg_type", "text")
        if fields["msg_type"] != "event":
            fields.setdefault("msg_id", str(next(_chat_ids)))
        update = Update(openid=self.openid, account="gh_taoyuanjiemei", create_time=1, **fields)
        with self.services.db.session() as s:
            ctx = Context(update=update, services=self.services, session=s, now=now or utcnow())
            reply = self.router.dispatch(ctx)
        return reply.content if reply is not None and hasattr(reply, "content") else ""

    def say(self, text: str, **kw) -> str:
        return self.push(content=text, **kw)

    def click(self, key: str) -> str:
        return self.push(msg_type="event", event="click", event_key=key)

    def requests(self) -> list[hr.HelpRequest]:
        with self.services.db.session() as s:
            return list(s.scalars(select(hr.HelpRequest).where(hr.HelpRequest.openid == self.openid)
                                  .order_by(hr.HelpRequest.id)))


STAFF = ("o_staff_duty_000001", "o_staff_duty_000002")
HELP_CONFIG = {"on_duty_openids": list(STAFF), "staff_template_id": "TPL_STAFF_NEW_REQUEST",
               "answer_template_id": "TPL_ANSWER_WAITING", "notify_in_background": False,
               "retention_days": 180}


def services_with(db_url, redis_prefix, tmp_path, **sections):
    from bot.app import wire_services
    from tests.conftest import _empty_tables, make_config

    svc = wire_services(make_config(db_url, redis_prefix, tmp_path, **sections))
    _empty_tables(svc)
    return svc


def outbox(services, api: str | None = None) -> list:
    """Outbox rows (dry run sends), optionally only those for WeChat path ``api``."""
    import json

    from models.outbox import OutboxMessage

    with services.db.session() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [(r.api, r.openid, json.loads(r.payload)) for r in rows if api is None or r.api == api]


def webhook_sender(services):
    """``say(openid, text)`` through the real webhook (Flask test client, signed pushes)."""
    from bot.app import create_app

    sim = Simulator(token=services.config.wechat["token"])
    transport = flask_transport(create_app(services=services).test_client())
    return lambda openid, text: reply_text(sim.send(transport, text_fields(openid, text)))
