"""Shared fixtures: real PostgreSQL and Redis, a SQLite file, and the fake WeChat API.

Each test run creates its own PostgreSQL database (dropped at the end) and uses its own Redis key
prefix, so two runs never see each other's data. Tables are emptied after every test.
Environment: ``TAOYUAN_TEST_PG`` (admin URL, default postgresql://postgres@127.0.0.1:5432/test),
``TAOYUAN_TEST_REDIS`` (default redis://127.0.0.1:6379/0), ``TAOYUAN_TEST_CLOCK`` (run as if it
were that moment, e.g. ``2036-12-31T23:30``; see tests/clock.py).

Layout (issue 13): ``tests/test_<feature>_<layer>.py`` for a feature's tests, ``tests/test_<infra>.py``
for the rest; shared fixtures in this file, shared plain helpers in ``tests/helpers.py``. No test
module imports another test module.
"""
from __future__ import annotations

import os
import threading
import uuid

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text

import models
from bot.core.config import load_config
from bot.core.db import upgrade
from bot.app import wire_services

PG_ADMIN = os.environ.get("TAOYUAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TAOYUAN_TEST_REDIS", "redis://127.0.0.1:6379/0")
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
BACKENDS = ["sqlite", "postgresql"]


def pytest_configure(config):
    """Move the clock when ``TAOYUAN_TEST_CLOCK`` asks for it (before any test module is imported)."""
    from tests import clock

    moved = clock.start()
    if moved is not None:
        config.stash[CLOCK_KEY] = moved


def pytest_collection_modifyitems(config, items):
    """With the clock moved, skip tests marked ``real_clock``: they compare our clock with the
    database server's, which time-machine cannot move (that comparison is what they test)."""
    moved = config.stash.get(CLOCK_KEY, None)
    if moved is None:
        return
    skip = pytest.mark.skip(reason="compares with the database server's real clock; the clock is moved")
    for item in items:
        if item.get_closest_marker("real_clock"):
            item.add_marker(skip)


def pytest_report_header(config):
    moved = config.stash.get(CLOCK_KEY, None)
    return f"clock moved to {moved.isoformat()} (TAOYUAN_TEST_CLOCK)" if moved else None


CLOCK_KEY = pytest.StashKey()


@pytest.fixture(scope="session", autouse=True)
def intent_model(tmp_path_factory):
    """The intent classifier's shipped model, built once before any test: a woman's first
    message must not pay for it inside the webhook's reply budget (a worker builds it in the
    background at start-up, handlers/intents.py). Its cache file is given to every subprocess
    server (tests/servers.py ``write_config``), which then loads it instead of building it."""
    from models.intents import base_model, save_cached
    from tests import servers

    model = base_model()
    servers.INTENTS_CACHE = save_cached(model, tmp_path_factory.mktemp("intents-cache"), ())
    return model


@pytest.fixture(scope="session")
def pg_url():
    """URL of a PostgreSQL database made for this run, schema upgraded; dropped at the end."""
    name = f"taoyuan_test_{RUN_ID}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    """URL of a SQLite file made for this run, schema upgraded."""
    path = tmp_path_factory.mktemp("db") / "taoyuan.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def db_url(request):
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "pg_url"}[request.param])


@pytest.fixture
def redis_prefix():
    """A Redis key prefix unique to this test; its keys are deleted afterwards."""
    prefix = f"taoyuan-test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis_lib.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def make_config(db_url: str, redis_prefix: str, tmp_path, **sections):
    """A validated Config for tests: the given database, real Redis under ``redis_prefix``,
    instance folder in ``tmp_path``; ``sections`` are merged over it (``wechat={...}``)."""
    overrides = {
        "app": {"instance_dir": str(tmp_path / "instance"), "secret_key": "test-secret"},
        "database": {"url": db_url},
        "redis": {"url": REDIS_URL, "prefix": redis_prefix},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(overrides=overrides, environ={})


def _empty_tables(services) -> None:
    with services.db.engine.begin() as conn:
        for table in reversed(models.Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def config(db_url, redis_prefix, tmp_path):
    """Test configuration in dry run (no app_secret): outbound messages go to the outbox."""
    return make_config(db_url, redis_prefix, tmp_path)


@pytest.fixture
def services(config):
    """Services on the parametrised database and real Redis; tables emptied afterwards."""
    svc = wire_services(config)
    _empty_tables(svc)
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture(scope="session")
def fake_wechat_server():
    """The fake WeChat API, a real HTTP server on 127.0.0.1 (see tests/fake_wechat.py)."""
    from tests.fake_wechat import FakeWeChat

    server = FakeWeChat()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_wechat(fake_wechat_server):
    """The fake WeChat API, reset (no calls, no scripted errors) for this test."""
    fake_wechat_server.reset()
    return fake_wechat_server


@pytest.fixture
def live_services(db_url, redis_prefix, tmp_path, fake_wechat):
    """Services that really call the (fake) WeChat API: app_secret set, base URL pointed at it."""
    cfg = make_config(db_url, redis_prefix, tmp_path, wechat={
        "app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
        "api_base_url": fake_wechat.base_url, "timeout": 3.0})
    svc = wire_services(cfg)
    _empty_tables(svc)
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def app(services):
    """The Flask app on ``services``. At the end, the webhook's answer threads and the
    background sends are waited for, so that nothing a test started still writes (SQLite is
    one file for the whole run) while the next test runs."""
    from bot.app import create_app
    from bot.wechat.notifier import notifier_for

    flask_app = create_app(services=services)
    yield flask_app
    pool = flask_app.extensions["taoyuan_webhook"]._pool
    if pool is not None:
        pool.shutdown(wait=True)
    notifier_for(services).wait()


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def hung_redis_url():
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


# -- fixtures shared by several test modules (issue 13: no test module imports another) ----------
# ``taoyuan`` on the command line (tests/test_activities_*.py)
@pytest.fixture
def run(services, db_url, redis_prefix, tmp_path):
    """``run("activities", "list")``: ``taoyuan --config <a config for this test> ARGS`` in-process.

    (tests/test_directory_cli.py overrides it with its own ``run`` that prefixes ``directory``.)"""
    from click.testing import CliRunner

    from bot.cli import main
    from tests.servers import write_config

    cfg = write_config(tmp_path / "config.toml", db_url=db_url, redis_url=REDIS_URL,
                       redis_prefix=redis_prefix, instance_dir=tmp_path / "instance")

    def invoke(*args: str):
        result = CliRunner().invoke(main, ["--config", str(cfg), *args])
        return result
    return invoke


# help requests and danger words (tests/test_help_*.py, tests/test_safety_*.py, ...)
@pytest.fixture
def help_services(db_url, redis_prefix, tmp_path):
    """Dry-run services with two on-duty staff and both template ids configured."""
    from handlers import help_messages
    from tests.helpers import HELP_CONFIG, services_with

    svc = services_with(db_url, redis_prefix, tmp_path, help=dict(HELP_CONFIG))
    yield svc
    help_messages.wait_for_notifications(svc)
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def live_help_services(db_url, redis_prefix, tmp_path, fake_wechat):
    """Like ``help_services`` but calling the fake WeChat API over HTTP, notifying in a thread."""
    from handlers import help_messages
    from tests.helpers import HELP_CONFIG, services_with

    svc = services_with(db_url, redis_prefix, tmp_path,
                        help=dict(HELP_CONFIG, notify_in_background=True),
                        wechat={"app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
                                "api_base_url": fake_wechat.base_url, "timeout": 3.0})
    yield svc
    help_messages.wait_for_notifications(svc)
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def staffed(db_url, redis_prefix, tmp_path):
    """Dry-run services with on-duty staff, notifying in a background thread (the default)."""
    from handlers import help_messages
    from tests.helpers import STAFF, services_with

    svc = services_with(db_url, redis_prefix, tmp_path,
                        help={"on_duty_openids": list(STAFF), "staff_template_id": "TPL_STAFF"})
    yield svc
    help_messages.wait_for_notifications(svc)
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def send(staffed):
    from bot.app import create_app
    from bot.simulator import Simulator, flask_transport, reply_text

    sim = Simulator(token=staffed.config.wechat["token"])
    transport = flask_transport(create_app(services=staffed).test_client())
    return lambda fields: reply_text(sim.send(transport, fields))


@pytest.fixture
def unstaffed(db_url, redis_prefix, tmp_path):
    """Dry-run services with no ``[help] on_duty_openids`` and a federation phone, notifying in
    the request (nobody on duty: what she is told must not promise a call)."""
    from tests.helpers import FEDERATION_PHONE, services_with

    svc = services_with(db_url, redis_prefix, tmp_path, app={"federation_phone": FEDERATION_PHONE},
                        help={"notify_in_background": False})
    yield svc
    _empty_tables(svc)
    svc.db.dispose()


@pytest.fixture
def live_staffed(db_url, redis_prefix, tmp_path, fake_wechat):
    """Two on-duty staff, a staff template, the fake WeChat API over HTTP, notifying in a thread."""
    from handlers import help_messages
    from tests.helpers import FEDERATION_PHONE, STAFF, services_with

    svc = services_with(db_url, redis_prefix, tmp_path, app={"federation_phone": FEDERATION_PHONE},
                        help={"on_duty_openids": list(STAFF), "staff_template_id": "TPL_STAFF"},
                        wechat={"app_id": fake_wechat.app_id, "app_secret": fake_wechat.app_secret,
                                "api_base_url": fake_wechat.base_url, "timeout": 3.0})
    yield svc
    help_messages.wait_for_notifications(svc)
    _empty_tables(svc)
    svc.db.dispose()


# the console in a real browser (tests/test_browser.py, tests/test_console_browser.py)
@pytest.fixture
def live_console(app):
    """The app served over real HTTP on 127.0.0.1 (werkzeug, threaded) for the browser."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    from tests.helpers import CHROMEDRIVER, CHROMIUM, FLAGS

    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                        "downloadPath": str(downloads)})
    driver.implicitly_wait(5)
    driver.downloads = downloads
    yield driver
    driver.quit()


# servers of our own on other ports, to stop and pause (tests/test_outages.py, issue 15)
@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own (tests.servers.RedisServer), stopped afterwards."""
    from tests.servers import RedisServer

    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _own_pg_cluster(tmp_path_factory):
    from tests.servers import PostgresServer

    server = PostgresServer(tmp_path_factory.mktemp("own-pg"))
    yield server
    server.remove()


@pytest.fixture
def own_pg(_own_pg_cluster):
    """A PostgreSQL cluster of this run's own (tests.servers.PostgresServer), running and not
    paused at the start and end of each test that uses it."""
    _own_pg_cluster.resume()
    if not (_own_pg_cluster.datadir / "postmaster.pid").exists():
        _own_pg_cluster.start()
    yield _own_pg_cluster
    _own_pg_cluster.resume()
    if not (_own_pg_cluster.datadir / "postmaster.pid").exists():
        _own_pg_cluster.start()
