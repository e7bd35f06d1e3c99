"""The custom menu: default menu, validation messages, ``taoyuan menu check|push|show``."""
from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.wechat.menu import DEFAULT_MENU, MENU_KEYS, MenuError, check_menu, menu_from_config, validate_menu
from models.outbox import OutboxMessage
from tests.conftest import make_config


def _keys(menu):
    for button in menu["button"]:
        for leaf in button.get("sub_button") or [button]:
            yield leaf.get("type"), leaf.get("key")


def test_default_menu_is_valid_and_keeps_the_key_contract():
    assert validate_menu(DEFAULT_MENU) == []
    pairs = dict((key, kind) for kind, key in _keys(DEFAULT_MENU))
    assert set(pairs) == set(MENU_KEYS) == {
        "SERVICES_LOCATION", "SERVICES_NEARBY", "ACTIVITIES", "MY_SIGNUPS", "HAIRCUT_DAY", "VOLUNTEER",
        "HELP", "COLUMN_LATEST", "HELP_USAGE"}
    assert pairs["SERVICES_LOCATION"] == "location_select"
    assert all(kind == "click" for key, kind in pairs.items() if key != "SERVICES_LOCATION")
    assert [b["name"] for b in DEFAULT_MENU["button"]] == ["附近服务", "活动报名", "求助留言"]


def test_menu_from_config_uses_config_or_default(tmp_path):
    cfg = make_config("sqlite://", "p:", tmp_path)
    built = menu_from_config(cfg)
    assert built == DEFAULT_MENU and built is not DEFAULT_MENU
    cfg = make_config("sqlite://", "p:", tmp_path, menu={"button": [
        {"name": "找妇联", "type": "view", "url": "https://example.org"}]})
    assert menu_from_config(cfg) == {"button": [{"name": "找妇联", "type": "view", "url": "https://example.org"}]}


def _menu(*buttons):
    return {"button": list(buttons)}


def _click(name="按钮", key="K"):
    return {"type": "click", "name": name, "key": key}


@pytest.mark.parametrize("menu,expected", [
    (_menu(*[_click(f"b{i}", f"K{i}") for i in range(4)]), "一级菜单需要 1 到 3 个，现在有 4 个"),
    (_menu(), "一级菜单需要 1 到 3 个，现在有 0 个"),
    (_menu({"name": "活动", "sub_button": [_click(f"s{i}", f"K{i}") for i in range(6)]}),
     "第 1 个一级菜单「活动」的子菜单最多 5 个，现在有 6 个"),
    (_menu(_click("妇女微家近邻娘家", "K")), "第 1 个一级菜单「妇女微家近邻娘家」名称太长：24 字节，一级菜单最多 16 字节"),
    (_menu({"name": "活动", "sub_button": [_click("长" * 21, "K")]}), "名称太长：63 字节，子菜单最多 60 字节"),
    (_menu(_click("求助", "K" * 129)), "第 1 个一级菜单「求助」的 key 太长：129 字节，最多 128 字节"),
    (_menu({"type": "view", "name": "文章", "url": "https://e.org/" + "a" * 1011}), "「文章」的网址太长：1025 字节"),
    (_menu({"type": "view", "name": "文章", "url": "e.org"}), "「文章」的网址要以 http:// 或 https:// 开头"),
    (_menu({"type": "view", "name": "文章"}), "「文章」（view）缺少 url"),
    (_menu({"type": "click", "name": "求助"}), "「求助」（click）缺少 key"),
    (_menu({"type": "miniprogram", "name": "小程序", "url": "https://e.org", "pagepath": "p"}),
     "「小程序」（miniprogram）缺少 appid"),
    (_menu({"type": "clik", "name": "求助", "key": "HELP"}), "「求助」的类型 “clik” 不认识"),
    (_menu({"name": "求助"}), "「求助」缺少类型（type），或者应有子菜单（sub_button）"),
    (_menu({"type": "click", "key": "K"}), "第 1 个一级菜单缺少名称（name）"),
    (_menu({"type": "click", "name": "求助", "key": "K", "kye": "x"}), "「求助」（click）不认识的字段：kye"),
    (_menu(_click("一", "HELP"), {"name": "二", "sub_button": [_click("三", "HELP")]}),
     "第 2 个一级菜单「二」 > 第 1 个子菜单「三」的 key “HELP” 与第 1 个一级菜单「一」重复"),
    (_menu({"name": "活动", "sub_button": [{"name": "深", "sub_button": [_click()]}]}), "不能再有子菜单（微信只支持两级）"),
    (_menu({"name": "活动", "type": "click", "key": "K", "sub_button": [_click()]}), "「活动」有子菜单，不应再写 key, type"),
    (_menu("附近服务"), "第 1 个一级菜单格式不对"),
    ({"buttons": []}, "菜单格式不对"),
])
def test_validation_messages_name_the_button(menu, expected):
    errors = validate_menu(menu)
    assert any(expected in e for e in errors), errors
    with pytest.raises(MenuError) as info:
        check_menu(menu)
    assert info.value.errors == errors


def test_limits_are_bytes_not_characters():
    assert validate_menu(_menu(_click("妇女微家服", "K"))) == []     # 15 bytes
    assert validate_menu(_menu(_click("abcdefghijklmnop", "K"))) == []  # 16 bytes
    assert validate_menu(_menu({"name": "a", "sub_button": [_click("长" * 20, "K")]})) == []  # 60 bytes
    assert validate_menu(_menu({"type": "view", "name": "x", "url": "https://e.org/" + "a" * 1010})) == []


def test_every_type_with_its_fields_is_accepted():
    menu = _menu(
        {"name": "一", "sub_button": [
            {"type": "scancode_push", "name": "扫码", "key": "S1"},
            {"type": "pic_weixin", "name": "相册", "key": "S2"},
            {"type": "media_id", "name": "素材", "media_id": "M"},
            {"type": "article_id", "name": "文章", "article_id": "A"},
            {"type": "miniprogram", "name": "小程序", "url": "https://e.org", "appid": "wx1", "pagepath": "p"}]},
        {"type": "view", "name": "网页", "url": "https://e.org"},
        {"type": "location_select", "name": "位置", "key": "LOC", "sub_button": []})
    assert validate_menu(menu) == []


# --------------------------------------------------------------------------- CLI

def _write_config(tmp_path, config) -> str:
    w, r = config.wechat, config.redis
    path = tmp_path / "config.toml"
    text = (f'[app]\ninstance_dir = "{config.app["instance_dir"]}"\nsecret_key = "menu-test-secret-key-0123456789"\n'
            f'[wechat]\napp_id = "{w["app_id"]}"\napp_secret = "{w["app_secret"]}"\n'
            f'api_base_url = "{w["api_base_url"]}"\ntimeout = 3.0\n'
            f'[database]\nurl = "{config.database_url}"\n'
            f'[redis]\nurl = "{r["url"]}"\nprefix = "{r["prefix"]}"\n')
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_check_default_and_bad_config(services, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["--config", _write_config(tmp_path, services.config), "menu", "check"])
    assert result.exit_code == 0, result.output
    assert "内置默认菜单" in result.output and "菜单检查通过" in result.output
    assert "发送我的位置  [location_select] SERVICES_LOCATION" in result.output
    path = _write_config(tmp_path, services.config)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('[[menu.button]]\nname = "妇女微家近邻娘家"\ntype = "click"\nkey = "HELP"\n')
    result = runner.invoke(main, ["--config", path, "menu", "check"])
    assert result.exit_code == 1
    assert "「妇女微家近邻娘家」名称太长" in result.output
    result = runner.invoke(main, ["--config", path, "menu", "push"])
    assert result.exit_code == 1 and "未推送" in result.output
    with services.db.session() as s:
        assert s.scalars(select(OutboxMessage)).all() == []


def test_cli_push_dry_run_goes_to_outbox(services, tmp_path):
    runner = CliRunner()
    config_path = _write_config(tmp_path, services.config)
    result = runner.invoke(main, ["--config", config_path, "menu", "push"])
    assert result.exit_code == 0, result.output
    assert "试运行" in result.output
    with services.db.session() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert [r.api for r in rows] == ["menu/create"]
    assert json.loads(rows[0].payload) == DEFAULT_MENU
    result = runner.invoke(main, ["--config", config_path, "menu", "show"])
    assert "■ 附近服务" in result.output and "我要求助  [click] HELP" in result.output


def test_cli_push_end_to_end_on_fake_wechat(live_services, fake_wechat, tmp_path):
    runner = CliRunner()
    config_path = _write_config(tmp_path, live_services.config)
    with open(config_path, "a", encoding="utf-8") as fh:
        fh.write('[[menu.button]]\nname = "求助留言"\ntype = "click"\nkey = "HELP"\n'
                 '[[menu.button]]\nname = "附近服务"\n'
                 '[[menu.button.sub_button]]\nname = "发送我的位置"\ntype = "location_select"\nkey = "SERVICES_LOCATION"\n')
    result = runner.invoke(main, ["--config", config_path, "menu", "push"])
    assert result.exit_code == 0, result.output
    assert "菜单已推送到微信" in result.output
    assert fake_wechat.count("menu/create") == 1
    assert fake_wechat.menu == {"button": [
        {"name": "求助留言", "type": "click", "key": "HELP"},
        {"name": "附近服务", "sub_button": [
            {"name": "发送我的位置", "type": "location_select", "key": "SERVICES_LOCATION"}]}]}
    result = runner.invoke(main, ["--config", config_path, "menu", "show"])
    assert "■ 求助留言  [click] HELP" in result.output
    with live_services.db.session() as s:
        assert s.scalars(select(OutboxMessage)).all() == []  # live: nothing in the outbox


def test_default_menu_accepted_by_fake_wechat(live_services, fake_wechat):
    live_services.wechat.create_menu(copy.deepcopy(DEFAULT_MENU))
    assert fake_wechat.menu == DEFAULT_MENU


def test_cli_push_reports_wechat_refusal(live_services, fake_wechat, tmp_path):
    fake_wechat.script("menu/create", [{"errcode": 40018}])
    result = CliRunner().invoke(main, ["--config", _write_config(tmp_path, live_services.config), "menu", "push"])
    assert result.exit_code == 1
    assert "errcode 40018" in result.output
