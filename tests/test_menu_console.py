"""Issue 16 item 7: the custom menu editor (公众号 → 自定义菜单, /admin/menu/) and
``taoyuan menu check`` refusing a CLICK key no handler answers.

The actions staff choose from are built from the router's own registrations; the menu is
stored in the database (the configuration's [[menu.button]] or the built-in menu until then);
「发布到微信」 goes the way of ``taoyuan menu push`` (dry run: the outbox)."""
from __future__ import annotations

import json
import re

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.wechat import menu as wm
from handlers import build_router
from models.outbox import OutboxMessage
from tests.helpers import csrf_token, login, make_staff


def _config_file(tmp_path, config, extra: str = "") -> str:
    r = config.redis
    path = tmp_path / "config.toml"
    path.write_text(f'[app]\ninstance_dir = "{config.app["instance_dir"]}"\n'
                    f'secret_key = "menu-test-secret-key-0123456789"\n'
                    f'[database]\nurl = "{config.database_url}"\n'
                    f'[redis]\nurl = "{r["url"]}"\nprefix = "{r["prefix"]}"\n{extra}', encoding="utf-8")
    return str(path)


def test_every_answered_key_has_chinese_words_and_the_default_menu_is_answered():
    router = build_router()
    assert router.click_keys, "on_click registrations are remembered"
    assert router.click_keys <= set(wm.KEY_LABELS), router.click_keys - set(wm.KEY_LABELS)
    for button in wm.DEFAULT_MENU["button"]:
        for leaf in button.get("sub_button") or [button]:
            assert router.answers_click(leaf["key"]), leaf
    assert router.answers_click("COLUMN_REFORM")          # a column's own key (prefix rule)
    assert not router.answers_click("NO_SUCH_BUTTON")


def test_menu_check_refuses_a_click_key_no_handler_answers(services, tmp_path):
    path = _config_file(tmp_path, services.config,
                        '[[menu.button]]\nname = "报名"\ntype = "click"\nkey = "SIGNUP_NOW"\n')
    result = CliRunner().invoke(main, ["--config", path, "menu", "check"])
    assert result.exit_code == 1, result.output
    assert "SIGNUP_NOW" in result.output and "没有任何功能响应" in result.output
    result = CliRunner().invoke(main, ["--config", path, "menu", "push"])
    assert result.exit_code == 1 and "未推送" in result.output
    with services.db.session() as s:
        assert s.scalars(select(OutboxMessage)).all() == []


def _editor_data(page: str) -> tuple[list, list]:
    items = json.loads(re.search(r"var items = (.*?);\n", page).group(1))
    actions = json.loads(re.search(r"var actions = (.*?);\n", page).group(1))
    return items, actions


def test_editor_offers_labelled_actions_and_starts_from_the_configured_menu(services, client):
    make_staff(services, "li", "staff")
    login(client, "li")
    page = client.get("/admin/menu/").get_data(as_text=True)
    assert "自定义菜单" in page and "内置默认菜单" in page and "发布到微信" in page
    assert 'class="phone"' in page and "draggable" in page and "TextEncoder" in page
    assert "cdn" not in page.lower() and "<script src" not in page
    items, actions = _editor_data(page)
    assert [i["name"] for i in items] == ["附近服务", "活动报名", "求助留言"]
    assert all(leaf["action"] for i in items for leaf in i["sub"])       # every key known
    labels = [a["label"] for a in actions]
    assert "近期活动（可报名）" in labels and "打开网页（填写网址）" in labels
    for label in labels:                                              # no raw keys shown
        assert not re.search(r"[A-Z_]{4,}", label), label


def test_save_and_publish_in_dry_run_goes_to_the_outbox(services, client):
    make_staff(services, "li", "staff")
    login(client, "li")
    page = client.get("/admin/menu/").get_data(as_text=True)
    items, _ = _editor_data(page)
    items.reverse()                                       # she dragged 求助留言 to the front
    items[0]["sub"].append({"name": "妇联官网", "action": "view", "url": "https://example.org/", "sub": []})
    token = csrf_token(client, "/admin/menu/")
    r = client.post("/admin/menu/", data={"csrf_token": token, "menu": json.dumps(items),
                                          "do": "publish"}, follow_redirects=True)
    body = r.get_data(as_text=True)
    assert "演练：未真正发送" in body, body
    with services.db.session() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert [r.api for r in rows] == ["menu/create"]
    sent = json.loads(rows[0].payload)
    assert [b["name"] for b in sent["button"]] == ["求助留言", "活动报名", "附近服务"]
    assert sent["button"][0]["sub_button"][-1] == {"type": "view", "name": "妇联官网",
                                                   "url": "https://example.org/"}
    assert "后台保存的菜单" in client.get("/admin/menu/").get_data(as_text=True)
    # `taoyuan menu push` now publishes the stored menu too (the same path)
    from models.menu import current_menu

    with services.db.session() as s:
        assert current_menu(s, services.config)[0] == sent


def test_unknown_actions_and_long_names_are_refused(services, client):
    make_staff(services, "li", "staff")
    login(client, "li")
    token = csrf_token(client, "/admin/menu/")
    bad = [{"name": "报名", "action": "click:SIGNUP_NOW", "url": "", "sub": []}]
    body = client.post("/admin/menu/", data={"csrf_token": token, "menu": json.dumps(bad), "do": "save"},
                       follow_redirects=True).get_data(as_text=True)
    assert "菜单没有保存" in body and "还没有选择功能" in body
    long = [{"name": "妇女微家近邻娘家", "action": "click:HELP", "url": "", "sub": []}]
    body = client.post("/admin/menu/", data={"csrf_token": token, "menu": json.dumps(long), "do": "save"},
                       follow_redirects=True).get_data(as_text=True)
    assert "菜单没有保存" in body and "名称太长" in body
    with services.db.session() as s:
        from models.menu import stored_menu

        assert stored_menu(s) is None
