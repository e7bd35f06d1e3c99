"""handlers.directory: replies to locations, 附近, towns, needs, platforms, 「更多」, limits."""
from datetime import timedelta

import pytest

import handlers
from bot.wechat.replies import TEXT_LIMIT_BYTES, TextReply
from bot.wechat.updates import Location, Update
from handlers.router import Context
from handlers.directory import format_distance, format_rough_distance, is_directory_question
from models import directory as sp
from models.base import utcnow
from models.directory import ServicePoint, UnmatchedQuery

OPENID = "o_points_test"
KENGZAIKOU = (25.33, 117.97)


@pytest.fixture
def router():
    return handlers.build_router(["handlers.welcome", "handlers.directory"])


@pytest.fixture
def seeded(services):
    with services.db.session() as s:
        sp.load_seed(s)
    return services


def _dispatch(services, router, update, now=None):
    with services.db.session() as s:
        ctx = Context(update=update, services=services, session=s, now=now or utcnow())
        reply = router.dispatch(ctx)
    if reply is None:
        return None
    assert isinstance(reply, TextReply)
    assert len(reply.content.encode("utf-8")) <= TEXT_LIMIT_BYTES
    return reply.content


def text(services, router, words, now=None):
    return _dispatch(services, router, Update(msg_type="text", openid=OPENID, content=words,
                                              msg_id=str(id(words))), now)


def pages(services, router, first):
    """``first`` and the pages 「更多」 brings after it."""
    out = [first]
    while "回复「更多」" in out[-1]:
        out.append(text(services, router, "更多"))
    return out


def pages_after(services, router):
    """The pages 「更多」 brings after the last reply."""
    found = []
    while not found or "回复「更多」" in found[-1]:
        found.append(text(services, router, "更多"))
    return found


def location(services, router, lat, lng, now=None):
    return _dispatch(services, router, Update(msg_type="location", openid=OPENID,
                                              location=Location(lat, lng), msg_id="1"), now)


def click(services, router, key, loc=None, event="click"):
    return _dispatch(services, router, Update(msg_type="event", event=event, openid=OPENID,
                                              event_key=key, location=loc))


def test_distance_wording():
    assert format_distance(0) == "0米"
    assert format_distance(850.4) == "850米"
    assert format_distance(999.4) == "999米"
    assert format_distance(999.6) == "1.0公里"
    assert format_distance(3240) == "3.2公里"
    assert format_distance(123_456) == "123.5公里"


def test_location_gives_three_nearest_with_details(seeded, router):
    reply = location(seeded, router, *KENGZAIKOU)
    assert reply.startswith("离您最近的近邻娘家：")
    assert "1. 坑仔口镇" in reply and "4." not in reply
    assert "距离约1公里（大致位置）" in reply and "米" not in reply
    assert "待核实" not in reply and "请致电县妇联" not in reply  # unknown fields are left out
    assert ('<a href="https://apis.map.qq.com/uri/v1/marker?marker=coord:25.330000,117.970000;title:'
            in reply)
    assert '&referer=taoyuanjiemei">查看地图</a>' in reply
    assert "回复「更多」" in reply


def test_more_continues_the_list(seeded, router):
    first = location(seeded, router, *KENGZAIKOU)
    second = text(seeded, router, "更多")
    assert "4. " in second and "1. " not in second and second != first
    pages = [first, second]
    while "回复「更多」" in pages[-1]:
        pages.append(text(seeded, router, "更多"))
    assert "12. " in pages[-1]  # max_results points in all, 3 a page
    assert len(pages) == 4


def test_approximate_points_show_rounded_kilometres():
    """Tester: a town-centre estimate showed "距离约101米"."""
    assert format_rough_distance(101) == "1公里"
    assert format_rough_distance(32_140) == "32公里"


def test_approximate_point_distance_in_kilometres_in_reply(services, router):
    with services.db.session() as s:
        s.add(ServicePoint(name="估计位置的镇妇联", town="桃城镇", lat=25.32, lng=118.289, approximate=True))
        s.add(ServicePoint(name="远处估计点", town="坑仔口镇", lat=25.33, lng=117.97, approximate=True))
    reply = location(services, router, 25.3209, 118.289)
    assert "1. 估计位置的镇妇联\n   距离约1公里（大致位置），桃城镇\n" in reply
    assert "2. 远处估计点\n   距离约32公里（大致位置），坑仔口镇\n" in reply
    assert "米" not in reply


def test_metres_and_kilometres_and_real_phone(services, router):
    with services.db.session() as s:
        s.add(ServicePoint(name="近处微家", town="桃城镇", lat=25.3245, lng=118.289, phone="0595-1",
                           hours="每周六上午", address="桃城镇某路1号"))
        s.add(ServicePoint(name="远处微家", town="坑仔口镇", lat=25.33, lng=117.97))
    reply = location(services, router, 25.32, 118.289)
    assert "1. 近处微家\n   距离约500米，桃城镇某路1号\n   时间：每周六上午\n   电话：0595-1\n" in reply
    assert "2. 远处微家\n   距离约32.1公里，坑仔口镇\n" in reply
    assert "大致位置" not in reply


@pytest.mark.parametrize("lat, lng, words", [(0, 0, "经纬度为0"), (118.289, 25.32, "填反"),
                                             (48.85, 2.35, "不在中国境内"), (91, 200, "位置无效")])
def test_bad_coordinates_get_a_clear_sentence(seeded, router, lat, lng, words):
    reply = location(seeded, router, lat, lng)
    assert words in reply and "「+」→「位置」" in reply and "距离" not in reply


def test_far_away_says_so(seeded, router):
    assert location(seeded, router, 39.9, 116.4).startswith("您目前不在永春县附近")


def test_location_select_then_location_message_answers_once(seeded, router):
    first = click(seeded, router, "SERVICES_LOCATION", Location(*KENGZAIKOU), event="location_select")
    assert first.startswith("离您最近的近邻娘家")
    assert location(seeded, router, *KENGZAIKOU) is None
    assert location(seeded, router, 25.32, 118.289).startswith("离您最近的近邻娘家")


def test_nearby_button_without_location_explains(seeded, router):
    for reply in (click(seeded, router, "SERVICES_NEARBY"), text(seeded, router, "附近"),
                  text(seeded, router, "附近服务")):
        assert "「+」→「位置」" in reply and "距离" not in reply


def test_nearby_uses_a_recent_location_only(seeded, router):
    location(seeded, router, *KENGZAIKOU)
    assert click(seeded, router, "SERVICES_NEARBY").startswith("离您最近的近邻娘家")
    assert text(seeded, router, "附近服务").startswith("离您最近的近邻娘家")
    later = utcnow() + timedelta(hours=2)
    assert "「+」→「位置」" in text(seeded, router, "附近", now=later)


@pytest.mark.parametrize("words, town", [("坑仔口", "坑仔口镇"), ("坑仔口镇", "坑仔口镇"),
                                         ("桃城", "桃城镇"), ("一都镇", "一都镇"), ("呈祥乡", "呈祥乡")])
def test_town(seeded, router, words, town):
    reply = text(seeded, router, words)
    assert reply.startswith(f"{town}的服务点（共")
    assert f". {town}妇联" in reply
    assert "发送位置可按远近排序" in reply


@pytest.mark.parametrize("words, expected", [
    ("调解", "秀丽个人调解室"), ("吵架了", "陈秀美个人评理室"), ("早教", "红玫瑰早教工作室"),
    ("理发", "巾帼义务理发服务队"), ("义剪", "助困公益协会妇联"), ("电商", "电商园妇联"),
    ("直播", "永商网红城妇联"), ("法律", "永春县妇联"), ("家庭教育", "临江经典小区妇联"),
    ("志愿", "坑仔口镇志愿者协会"), ("哪里可以理发?", "巾帼义务理发服务队"),
    ("坑仔口 调解", "坑仔口镇诗元村第二网格党支部妇女微家"),
])
def test_needs(seeded, router, words, expected):
    reply = text(seeded, router, words)
    pages = [reply]
    while "回复「更多」" in pages[-1]:
        pages.append(text(seeded, router, "更多"))
    assert expected in "".join(pages), pages


def test_nearby_with_a_need_asks_her_position_then_lists_that_need_nearest_first(seeded, router):
    reply = text(seeded, router, "附近有调解室吗")
    assert "离您最近的" in reply and "「+」→「位置」" in reply and "1. " not in reply
    assert "桃城" in reply  # ... or a town instead
    reply = location(seeded, router, *KENGZAIKOU)  # the need waited for her position
    assert "离您最近的提供「矛盾调解」的服务点" in reply and "12338" in reply
    assert reply.split("1. ")[1].startswith("坑仔口镇")
    assert "志愿者协会" not in reply  # only points that mediate
    assert location(seeded, router, 25.34, 117.98).startswith("离您最近的近邻娘家")  # taken once


@pytest.mark.parametrize("words, header", [
    ("附近有调解室吗", "离您最近的提供「矛盾调解」的服务点"),
    ("离我近的微家", "离您最近的「妇女微家」的服务点"),
    ("附近有法律咨询吗", "离您最近的提供「政策法律」的服务点"),
])
def test_nearby_with_a_need_and_a_recent_position_lists_nearest_first(seeded, router, words, header):
    location(seeded, router, *KENGZAIKOU)
    reply = text(seeded, router, words)
    assert header in reply and "距离约" in reply


def test_a_town_with_a_need_is_not_asked_for_a_position(seeded, router):
    reply = text(seeded, router, "坑仔口附近的调解")
    assert "「+」→「位置」" not in reply and "坑仔口镇" in reply


def test_unknown_location_points_show_no_distance(seeded, router):
    reply = location(seeded, router, 25.3205, 118.2905)
    assert "1. 永春县妇联\n   距离约1公里（大致位置），桃城镇\n" in reply
    assert "永春县群团邻里中心" not in reply  # placed only by default: after the points with a distance
    later = "".join(pages_after(seeded, router))
    entry = later.split(". 永春县群团邻里中心\n")[1].split("\n")[0:3]
    entry = "\n".join(line for line in entry if line.startswith("   "))
    assert "公里" not in entry and "待核实" not in entry and "查看地图" not in entry


def test_mediation_mentions_the_hotlines(seeded, router):
    assert "12338" in text(seeded, router, "吵架了")


def test_need_nearest_first_when_location_known(seeded, router):
    location(seeded, router, *KENGZAIKOU)
    reply = text(seeded, router, "调解")
    assert "先列出最近的3处" in reply.split("\n")[1]
    assert reply.split("\n")[2].startswith("1. 坑仔口镇")


def test_platform(seeded, router):
    reply = text(seeded, router, "纠纷化解")
    assert reply.startswith("「纠纷化解」平台的服务点（共3处）")
    assert "秀丽个人调解室" in reply and "陈秀美个人评理室" in reply


def test_point_name(seeded, router):
    assert "红玫瑰早教工作室" in text(seeded, router, "红玫瑰早教工作室在哪里")
    assert "红玫瑰早教工作室" in text(seeded, router, "红玫瑰早教工作室")


def test_unmatched_where_is_question_is_logged_and_helped(seeded, router):
    reply = text(seeded, router, "附近医院")
    assert "暂时没有和「医院」有关的服务点信息" in reply and "「求助」" in reply
    assert "致电" not in reply  # no phone configured: no call to an unknown number
    location(seeded, router, *KENGZAIKOU)
    reply = text(seeded, router, "医院在哪里")
    assert "离您最近的近邻娘家可以帮您问问" in reply
    with seeded.db.session() as s:
        assert {r.text: r.count for r in s.query(UnmatchedQuery)} == {"附近医院": 1, "医院在哪里": 1}


def test_known_need_with_no_point_is_helpful(seeded, router):
    reply = text(seeded, router, "家政")
    assert "暂时没有找到提供「家政培训」的服务点" in reply and "「求助」" in reply
    assert "致电" not in reply and "电话" not in reply  # no number known: no call


def test_no_point_found_gives_the_federation_phone_when_configured(db_url, redis_prefix, tmp_path,
                                                                   router):
    from bot.app import wire_services
    from tests.conftest import _empty_tables, make_config

    svc = wire_services(make_config(db_url, redis_prefix, tmp_path,
                                     app={"federation_phone": "0595-00000000"}))
    _empty_tables(svc)
    try:
        with svc.db.session() as s:
            sp.load_seed(s)
        assert "可致电县妇联0595-00000000，可以回复「求助」留言" in text(svc, router, "家政")
    finally:
        _empty_tables(svc)
        svc.db.dispose()


def test_an_empty_directory_never_says_call_without_a_number(services, router):
    reply = text(services, router, "附近医院")  # no points at all
    assert "致电" not in reply and "「求助」" in reply
    reply = location(services, router, *KENGZAIKOU)
    assert "正在整理中" in reply and "致电" not in reply and "「求助」" in reply


def test_federation_phone_from_config(db_url, redis_prefix, tmp_path, router):
    from bot.app import wire_services
    from tests.conftest import _empty_tables, make_config

    svc = wire_services(make_config(db_url, redis_prefix, tmp_path,
                                     app={"federation_phone": "0595-00000000"},
                                     points={"map_referer": "test-ref"}))
    _empty_tables(svc)
    try:
        with svc.db.session() as s:
            sp.load_seed(s)
        reply = location(svc, router, *KENGZAIKOU)
        assert "没写电话的服务点，可致电县妇联0595-00000000" in "".join(pages(svc, router, reply))
        assert "referer=test-ref" in reply
    finally:
        _empty_tables(svc)
        svc.db.dispose()


@pytest.mark.parametrize("words", ["活动", "报名", "报名 3", "志愿者", "求助", "帮助", "你好",
                                   "我要报名活动", "附近有什么活动", "取消报名", "我的报名",
                                   "今天天气怎么样", "家暴", "救命"])
def test_other_features_words_are_not_swallowed(seeded, router, words):
    with seeded.db.session() as s:
        ctx = Context(update=Update(msg_type="text", openid=OPENID, content=words, msg_id="9"),
                      services=seeded, session=s)
        assert not is_directory_question(ctx)


def test_every_page_fits_2048_bytes_even_with_longest_fields(services, router):
    with services.db.session() as s:
        for i in range(8):
            s.add(ServicePoint(name=("长" * 120) + str(i), kind="妇女微家", platform="邻里守望",
                               town="桃城镇", village="村" * 64, address="址" * 256,
                               lat=25.32 + i / 1000, lng=118.289, approximate=True,
                               phone="1" * 64, hours="时" * 128, services="、".join(["标签"] * 100)))
    pages = [text(services, router, "邻里守望")]
    while "回复「更多」" in pages[-1]:
        pages.append(text(services, router, "更多"))
    assert len(pages) >= 3
    assert all(len(p.encode()) <= TEXT_LIMIT_BYTES for p in pages)


def test_end_to_end_through_the_webhook(client, seeded):
    from bot.core.config import DEFAULT_TOKEN
    from bot.simulator import Simulator, flask_transport, location_fields, reply_text, text_fields

    sim, transport = Simulator(token=DEFAULT_TOKEN), flask_transport(client)
    reply = reply_text(sim.send(transport, location_fields("o_e2e", *KENGZAIKOU)))
    assert reply.startswith("离您最近的近邻娘家") and len(reply.encode()) <= TEXT_LIMIT_BYTES
    assert "4. " in reply_text(sim.send(transport, text_fields("o_e2e", "更多")))
    assert "坑仔口镇" in reply_text(sim.send(transport, text_fields("o_e2e", "坑仔口")))


def _all_pages(services, router, words):
    pages = [text(services, router, words)]
    while "回复「更多」" in pages[-1]:
        pages.append(text(services, router, "更多"))
    return pages


def test_paging_never_dead_ends_and_says_how_to_narrow(seeded, router):
    """Tester: 「调解」 said 共26处，列出前12处, and 「更多」 after page 4 got 没太明白."""
    pages = _all_pages(seeded, router, "调解")
    assert "共26处，先列出3处，回复「更多」看其余" in pages[0]
    assert len(pages) == 4 and "12. " in pages[-1] and "13. " not in pages[-1]
    assert "还有14处没有列出" in pages[-1] and "「调解 桃城」" in pages[-1]
    assert "发送位置" in pages[-1]
    narrowed = _all_pages(seeded, router, "调解 桃城")
    assert narrowed[0].startswith("如遇家庭暴力") and "桃城镇提供「矛盾调解」的服务点（共" in narrowed[0]
    assert "还有" not in narrowed[-1]
    location(seeded, router, *KENGZAIKOU)
    near = _all_pages(seeded, router, "调解")
    assert "先列出最近的3处" in near[0] and "还有14处没有列出" in near[-1] and "发送位置" not in near[-1]


def test_a_long_list_without_her_place_asks_her_town_first(seeded, router):
    """Tester: 「我想离婚怎么办」 said 共26处，列出前12处 over 3 items, from a far-off town."""
    first = text(seeded, router, "调解")
    assert first.index("您在哪个乡镇？") < first.index("共26处，先列出3处") and "4. " not in first
    assert "列出前12处" not in first


def test_her_known_town_comes_first_in_a_county_list(seeded, router):
    from models.followers import TOWN_STATED, set_follower_town

    with seeded.db.session() as s:
        set_follower_town(s, OPENID, "达埔镇", source=TOWN_STATED)
    first = text(seeded, router, "调解")
    assert "您在哪个乡镇" not in first
    assert "达埔镇" in first.split("\n2. ")[0]


def test_points_without_a_place_come_after_those_with_a_distance(services, router):
    """Tester: 离您最近的「妇女微家」 began with points showing no distance."""
    with services.db.session() as s:
        s.add(ServicePoint(name="不知乡镇的微家", kind="妇女微家", platform="邻里守望", town="",
                           lat=25.3219, lng=118.2899, approximate=True))
        s.add(ServicePoint(name="有位置的微家", kind="妇女微家", platform="邻里守望", town="桃城镇",
                           lat=25.35, lng=118.30))
    location(services, router, 25.322, 118.29)
    reply = text(services, router, "附近的妇女微家")
    assert reply.index("有位置的微家") < reply.index("不知乡镇的微家")


def test_short_lists_have_no_narrowing_hint(seeded, router):
    pages = _all_pages(seeded, router, "早教")
    assert "没有列出" not in "".join(pages) and "发送位置可按远近排序" in pages[-1]


@pytest.mark.parametrize("words, expected", [
    ("学直播", "永商网红城妇联"), ("我想学直播", "电商园妇联"), ("我想学电商", "电商园妇联"),
    ("桃城镇有没有早教", "桃城镇"), ("离婚", "秀丽个人调解室"), ("我想离婚", "12348"),
    ("义剪几点开始", "每月17日"), ("找工作", "电商园妇联"), ("我想找工作", "技能培训"),
    ("吵架了怎么办", "陈秀美个人评理室"), ("早教在桃城", "桃城镇"),
    ("我想找调解室，请问在哪里？", "调解室"), ("麻烦问一下，桃城镇有没有早教", "桃城镇"), ("吵架了，怎么办？", "调解"),
])
def test_everyday_phrases_are_understood(seeded, router, words, expected):
    """Tester: these all got the generic help."""
    pages = _all_pages(seeded, router, words)
    assert "没太明白" not in pages[0] and expected in "".join(pages), pages


def test_town_with_need_that_has_no_point_there_offers_the_town(seeded, router):
    reply = text(seeded, router, "桃城镇有没有早教")
    assert reply.startswith("暂时没有找到桃城镇提供「早教」的服务点。桃城镇的服务点可以帮您联系")


@pytest.mark.parametrize("words", ["义剪几点开始", "义剪什么时候", "学直播", "离婚", "找工作",
                                   "桃城镇有没有早教"])
def test_everyday_phrases_through_every_feature(seeded, words):
    """With all features registered, no one of them falls through to 没太明白."""
    reply = text(seeded, handlers.build_router(), words)
    assert "没太明白" not in reply


@pytest.mark.parametrize("words", ["有事请打我电话", "有事打我电话", "给我打电话", "你打我电话吧",
                                   "电话", "地址"])
def test_sentences_are_not_where_is_guesses(seeded, router, words):
    """Tester: 「有事请打我电话」 was answered as a where-is question about 「有事请打我」."""
    with seeded.db.session() as s:
        ctx = Context(update=Update(msg_type="text", openid=OPENID, content=words, msg_id="9"),
                      services=seeded, session=s)
        assert not is_directory_question(ctx)
    with seeded.db.session() as s:
        assert s.query(UnmatchedQuery).count() == 0


def test_clear_place_questions_still_guess(seeded, router):
    assert "暂时没有和「医院」有关的服务点信息" in text(seeded, router, "医院电话")
    assert "红玫瑰早教工作室" in text(seeded, router, "红玫瑰早教工作室电话")


def test_huge_text_never_reaches_a_like(seeded, caplog):
    """Tester: ~20,000 characters gave "LIKE or GLOB pattern too complex" and logged it all."""
    huge = "我想问一下红玫瑰" * 2500  # 20,000 characters, ~60 KB of UTF-8: under the 64 KiB limit
    with seeded.db.session() as s:
        assert sp.find_by_name(s, huge) == [] and sp.find_by_name(s, "红" * 51) == []
    reply = text(seeded, handlers.build_router(), huge)
    assert reply and "我想问一下红玫瑰我想问一下" not in caplog.text


def test_a_need_that_is_a_training_with_no_point_lists_the_training(seeded):
    from tests.helpers import new_activity, say

    new_activity(seeded, category="家政培训", title="家政培训班")
    reply = say(seeded, OPENID, "家政")
    assert "家政培训班" in reply and "暂时没有找到" not in reply


def test_a_need_waits_for_her_location_ten_minutes_only(seeded, router):
    text(seeded, router, "附近有调解室吗")
    key = seeded.keys("points", "want", OPENID)
    assert 0 < seeded.redis.ttl(key) <= 600
