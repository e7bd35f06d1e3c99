"""The understanding engine (models/intents.py): slots, intents, the danger net, unmatched
messages and staff teaching (also reaching a second, already running process)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from bot.core.geo import TOWNS
from models import intents as I
from tests.clock import python_argv

#: A Wednesday; every date in these tests is relative to it (never the real clock).
WED = date(2031, 4, 16)
DATA = Path(I.__file__).resolve().parent / "data" / "intents"


# -- the examples as data ---------------------------------------------------------------------

def test_every_intent_has_at_least_40_phrasings_and_danger_150():
    counts = {}
    for text, intent in I.shipped_examples():
        counts[intent] = counts.get(intent, 0) + 1
    for intent in I.INTENTS:
        assert counts.get(intent, 0) >= 40, intent
    assert counts["danger"] >= 150
    assert counts[I.NONE] >= 100
    assert {p.stem for p in DATA.glob("*.txt")} == set(I.INTENTS) | {I.NONE}


def test_no_phrasing_is_filed_under_two_intents():
    seen = {}
    for text, intent in I.shipped_examples():
        key = I.prepare(text)
        assert seen.setdefault(key, intent) == intent, (text, seen[key], intent)


# -- slots ------------------------------------------------------------------------------------

@pytest.mark.parametrize("town", TOWNS)
def test_every_town_by_full_and_short_name(town):
    short = town[:-1]
    assert I.extract_slots(f"{town}有没有妇女微家", today=WED).town == town
    assert I.extract_slots(f"我住{short} 附近有调解室吗", today=WED).town == town


@pytest.mark.parametrize("text,town", [
    ("坑子口有调解室吗", "坑仔口镇"), ("桃成的微家", "桃城镇"), ("县城有没有服务点", "桃城镇"),
    ("介福镇服务点", "介福乡"), ("诗元村妇女微家在哪", "坑仔口镇"), ("五里接调解室", "五里街镇"),
    ("桃城鎮有沒有婦女微家", "桃城镇"), ("我在 一都", "一都镇"), ("调解室在哪", None),
])
def test_town_typos_villages_and_traditional(text, town):
    assert I.extract_slots(text, today=WED).town == town


@pytest.mark.parametrize("text,need", [
    ("哪里有调解室", "调解室"), ("想找人调解", "矛盾调解"), ("妇女微家在哪", "妇女微家"),
    ("法律咨询去哪", "政策法律"), ("心理疏导哪里有", "心理疏导"), ("哪里可以学电商", "电商直播"),
    ("你好", None), ("妇联电话多少", None),
])
def test_need_words(text, need):
    assert I.extract_slots(text, today=WED).need == need


@pytest.mark.parametrize("text,category", [
    ("我想报名义剪", "爱心义剪"), ("家政培训什么时候", "家政培训"), ("想学直播带货", "电商直播培训"),
    ("有没有早教课", "亲子早教"), ("普法讲座", "普法宣传"), ("这周末有什么活动", None),
])
def test_activity_categories(text, category):
    from models.activities import CATEGORIES

    got = I.extract_slots(text, today=WED).category
    assert got == category
    assert got is None or got in CATEGORIES


@pytest.mark.parametrize("text,start,end", [
    ("今天有活动吗", 0, 0), ("明天有什么活动", 1, 1), ("后天呢", 2, 2), ("大后天", 3, 3),
    ("这周末有什么活动", 3, 4), ("下周有活动吗", 5, 11), ("这周有活动吗", 0, 4),
    ("周六有活动吗", 3, 3), ("下周六的活动", 10, 10), ("礼拜天有什么", 4, 4),
    ("星期一有活动吗", 5, 5), ("这个月有什么活动", 0, 14),
])
def test_date_words_against_today(text, start, end):
    slots = I.extract_slots(text, today=WED)
    assert (slots.date_from, slots.date_to) == (WED + timedelta(days=start), WED + timedelta(days=end))


def test_this_weeks_day_already_past_is_the_coming_one():
    """「这周六」 said on a Sunday: she asks about an activity, so the coming Saturday, never
    yesterday; a day still ahead this week stays this week."""
    sunday = date(2031, 4, 20)
    for text in ("这周六有活动吗", "本周六", "这个星期六", "周六"):
        assert I.extract_slots(text, today=sunday).date_from == date(2031, 4, 26), text
    assert I.extract_slots("这周五", today=WED).date_from == date(2031, 4, 18)
    assert I.extract_slots("本周三", today=WED).date_from == WED


def test_month_and_day_numbers():
    s = I.extract_slots("下个月有哪些活动", today=WED)
    assert (s.date_from, s.date_to) == (date(2031, 5, 1), date(2031, 5, 31))
    assert I.extract_slots("17号有义剪吗", today=WED).date_from == date(2031, 4, 17)
    assert I.extract_slots("15号有义剪吗", today=WED).date_from == date(2031, 5, 15)  # past: next month
    assert I.extract_slots("12月17日有活动吗", today=WED).date_from == date(2031, 12, 17)
    assert I.extract_slots("1月3号", today=date(2031, 12, 20)).date_from == date(2032, 1, 3)
    assert I.extract_slots("十七号", today=WED).date_from == date(2031, 4, 17)
    assert I.extract_slots("没有日期", today=WED).date_from is None


def test_dates_at_year_and_month_ends():
    nye = date(2036, 12, 31)
    assert I.extract_slots("明天", today=nye).date_from == date(2037, 1, 1)
    s = I.extract_slots("下个月", today=nye)
    assert (s.date_from, s.date_to) == (date(2037, 1, 1), date(2037, 1, 31))
    assert I.extract_slots("30号", today=date(2030, 2, 28)).date_from == date(2030, 3, 30)
    assert I.extract_slots("31号", today=date(2031, 4, 16)).date_from == date(2031, 5, 31)


# -- intents ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,intent", [
    # the examples that failed before
    ("我和婆婆吵架了", "mediation"), ("打听一下义剪的时间", "haircut"), ("我想当志愿者", "volunteer"),
    ("妇联电话多少", "contact"), ("人工", "human"), ("老公喝醉了就动手", "danger"),
    # the contract's examples
    ("哪里有调解室", "directory_need"), ("桃城镇有没有妇女微家", "directory_town"),
    ("离我最近的服务点在哪", "directory_nearby"), ("这周末有什么活动", "activities"),
    ("我想报名义剪", "signup"), ("我报了哪些活动", "my_signups"),
    ("我不去了帮我取消报名", "signup_cancel"), ("我的志愿时长有多少", "volunteer_hours"),
    ("我有事想请妇联帮忙", "help"), ("我上次反映的问题有回复了吗", "my_requests"),
    ("义剪前提醒我一下", "subscribe"), ("别再给我发提醒了", "unsubscribe"),
    ("有没有往期文章", "columns"), ("把我的信息删掉", "privacy_delete"),
    ("这个公众号能干嘛", "usage"), ("你好呀", "greeting"), ("谢谢你啦", "thanks"),
    ("好的拜拜", "goodbye"), ("你是机器人吗", "bot_identity"),
])
def test_contract_examples(text, intent):
    p = I.classify(text, today=WED)
    assert p.intent == intent, p.ranked[:3]
    assert p.confident


@pytest.mark.parametrize("text", ["附近哪里有早教", "附近有家庭教育指导的地方吗", "周边能咨询法律的点",
                                  "我家附近有没有评理室"])
def test_nearby_with_a_need_is_nearby_not_need(text):
    """附近 + a need is the nearest point offering it (issue 14; sentences not in the examples)."""
    p = I.classify(text, today=WED)
    assert p.intent == "directory_nearby", p.ranked[:3]
    assert p.slots.need


def test_prediction_shape():
    p = I.classify("  我想当志愿者。", today=WED)
    assert [i for i, _ in p.ranked] and set(i for i, _ in p.ranked) == set(I.INTENTS)
    probs = [c for _, c in p.ranked]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert p.confidence == probs[0] and p.intent == p.ranked[0][0]
    assert p.danger == dict(p.ranked)["danger"]
    for empty in ("", "   ", "？？", "。"):
        q = I.classify(empty, today=WED)
        assert q.intent is None and q.confidence == 0 and q.ranked == ()


def test_traditional_full_width_and_voice_punctuation_read_alike():
    a = I.classify("我想當志願者", today=WED)
    b = I.classify("我，想当。志愿者", today=WED)
    c = I.classify("ＨＥＬＬＯ", today=WED)
    assert a.intent == b.intent == "volunteer"
    assert c.intent == "greeting"


def test_fast_path_matches_scikit_learn():
    """The numpy classification gives scikit-learn's probabilities."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    examples = list(I.shipped_examples())[::3]
    model = I.build_model(examples=examples)
    texts = [I.prepare(t) for t, _ in examples]
    vec = TfidfVectorizer(analyzer=I._features, sublinear_tf=True, norm="l2")
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=I.C, solver="saga", max_iter=5000, tol=1e-4,
                             class_weight="balanced", random_state=0).fit(x, [i for _, i in examples])
    for sentence in ("我和婆婆吵架了", "桃城有什么", "zzz"):
        p = I.prepare(sentence)
        want = clf.predict_proba(vec.transform([p]))[0]
        got = model.proba(p)
        assert list(clf.classes_) == list(model.labels)
        assert np.allclose(got, want, atol=2e-3)


# -- the danger net ----------------------------------------------------------------------------

#: Paraphrases written for this test (not in danger.txt): violence, threat, confinement,
#: self-harm, despair.
DANGER = ["我老公昨晚又动手了", "他喝了酒就拿我撒气打我", "他把我打得住院了", "他用刀顶着我",
          "他说要砍死我", "他不准我出这个门", "他把我锁在家里不让走", "我真的不想活下去了",
          "我想从这里跳下去", "我活着没什么意思了", "救救我 他要打死我", "我实在撑不住了",
          "伊拍阮", "他掐我脖子差点死掉", "我想吃药自杀"]
#: Harmless sentences with 打/杀/死/锁/跳 (not in none.txt).
BENIGN = ["打听一下", "打车到县医院", "小孩打疫苗", "周末打麻将", "去市场杀条鱼", "笑死我啦",
          "手机又死机", "出门记得锁好门", "晚饭后跳广场舞", "今天热死了", "我打算学做菜",
          "帮我打听下社保", "杀鸡过节", "跳绳减肥"]


@pytest.mark.parametrize("text", DANGER)
def test_danger_paraphrases_alarm(text):
    p = I.classify(text, today=WED)
    assert p.danger >= I.DANGER_THRESHOLD and p.alarming, (text, p.danger)


@pytest.mark.parametrize("text", BENIGN)
def test_harmless_sentences_with_scary_characters_do_not_alarm(text):
    p = I.classify(text, today=WED)
    assert p.danger < I.DANGER_THRESHOLD and not p.alarming, (text, p.danger)


# -- unmatched messages and teaching -------------------------------------------------------------

def test_record_unmatched_masks_counts_and_keeps_no_openid(services):
    p = I.classify("我家猫丢了 电话13812345678", today=WED)
    with services.db.session() as s:
        I.record_unmatched(s, "我家猫丢了 电话13812345678", p)
        I.record_unmatched(s, "我家猫丢了，电话13812345678", p)  # normalised: punctuation kept
        I.record_unmatched(s, "我家猫丢了 电话13812345678", p)
        I.record_unmatched(s, "？？", p) if False else None
    with services.db.session() as s:
        rows = I.list_unmatched(s)
        assert [r.count for r in rows] == [2, 1]
        assert all("13812345678" not in r.text and "138****5678" in r.text for r in rows)
        columns = set(I.UnmatchedMessage.__table__.columns.keys())
        assert not {c for c in columns if "openid" in c}
        assert rows[0].guess in I.INTENTS and rows[0].status == I.STATUS_OPEN
        assert I.record_unmatched(s, "", p) is None


def test_teach_adds_an_example_bumps_the_version_and_ignore_hides(services):
    today = WED
    with services.db.session() as s:
        a = I.record_unmatched(s, "阿嬷的鸭仔飞走了", I.classify("阿嬷的鸭仔飞走了", today=today))
        b = I.record_unmatched(s, "哈哈哈哈哈哈哈", I.classify("哈哈哈哈哈哈哈", today=today))
        s.flush()
        ids = a.id, b.id
    with services.db.session() as s:
        assert I.model_version(s) == 0
        I.teach(s, ids[0], "help", staff="li", kv=services)
        I.teach(s, ids[1], None, staff="li", kv=services)
        with pytest.raises(I.TeachError):
            I.teach(s, 999999, "help", staff="li")
        with pytest.raises(I.TeachError):
            I.teach(s, ids[0], "no_such_intent", staff="li")
    with services.db.session() as s:
        assert I.model_version(s) == 1
        assert int(services.redis.get(services.keys("intents", "version"))) == 1
        assert I.list_unmatched(s) == []
        every = {r.id: r for r in I.list_unmatched(s, status=None)}
        assert every[ids[0]].status == I.STATUS_ASSIGNED and every[ids[0]].intent == "help"
        assert every[ids[1]].status == I.STATUS_IGNORED
        ex = s.scalars(select(I.TaughtExample)).all()
        assert [(e.text, e.intent, e.staff) for e in ex] == [("阿嬷的鸭仔飞走了", "help", "li")]
        p = I.classify("阿嬷的鸭仔飞走了", today=today, session=s, kv=services)
        # this process checks the version at most every few seconds: force the look
        model = I.current_model(s, services, wait=True)
        assert model.version == 1
        p = I.predict(model, "阿嬷的鸭仔飞走了", today=today)
        assert p.intent == "help" and p.confidence == 1.0


def test_retrain_bumps_and_rebuilds(services):
    with services.db.session() as s:
        I.teach_text(s, "阿公的牛走丢了", "help", staff="li")
    with services.db.session() as s:
        model = I.retrain(s, kv=services)
        assert model.version == 2 and model.examples == len(I.shipped_examples()) + 1
        assert I.current_model(s, services).version == 2
        assert I.predict(model, "阿公的牛走丢了", today=WED).intent == "help"
        with pytest.raises(I.TeachError):
            I.teach_text(s, "？", "help", staff="li")


WORKER = r"""
import sys
from datetime import date
from bot.app import wire_services
from bot.core.config import load_config
from models import intents
intents.VERSION_CHECK_SECONDS = 1.0
svc = wire_services(load_config(sys.argv[1]))
for line in sys.stdin:
    with svc.db.session() as s:
        p = intents.classify(line.strip(), today=date(2031, 4, 16), session=s, kv=svc)
    print(p.intent, flush=True)
"""


def test_teaching_reaches_a_second_running_process(services, db_url, redis_prefix, tmp_path):
    """Another worker, with its model already built, classifies a taught sentence after the
    teach (it looks at the version every few seconds and rebuilds in the background)."""
    from tests.conftest import REDIS_URL
    from tests.servers import write_config

    cfg = write_config(tmp_path / "config.toml", db_url=db_url, redis_url=REDIS_URL,
                       redis_prefix=redis_prefix, instance_dir=tmp_path / "instance")
    sentence = "隔壁阿嬷的鸭仔飞去溪里了"
    worker = subprocess.Popen(python_argv(WORKER, str(cfg)), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        def ask() -> str:
            worker.stdin.write(sentence + "\n")
            worker.stdin.flush()
            return worker.stdout.readline().strip()

        before = ask()  # the worker builds its model here
        assert before != "columns"
        with services.db.session() as s:
            row = I.record_unmatched(s, sentence, I.classify(sentence, today=WED))
            s.flush()
            I.teach(s, row.id, "columns", staff="li", kv=services)
        deadline = time.monotonic() + 60  # the promise: every process within a minute
        answer = before
        while answer != "columns" and time.monotonic() < deadline:
            time.sleep(0.5)
            answer = ask()
        assert answer == "columns"
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)


def test_model_cache_round_trip_without_scikit_learn(tmp_path):
    """A built model is kept as plain arrays under the instance folder, keyed by a hash of the
    examples; loading it gives the same probabilities and needs no scikit-learn."""
    taught = [("阿公的牛走丢了", "help")]
    model = I.build_model(taught, version=3)
    path = I.save_cached(model, tmp_path, taught)
    assert path is not None and path.parent == tmp_path and path.suffix == ".npz"
    assert I.load_cached(tmp_path, [("别的句子", "help")]) is None  # other examples, other file
    loaded = I.load_cached(tmp_path, taught, version=3)
    assert loaded.labels == model.labels and loaded.taught == model.taught and loaded.version == 3
    for text in ("我和婆婆吵架了", "阿公的牛走丢了", "桃城有什么"):
        assert np.allclose(loaded.proba(I.prepare(text)), model.proba(I.prepare(text)))
    code = ("import sys\nfrom pathlib import Path\nfrom models import intents as I\n"
            "m = I.load_cached(Path(sys.argv[1]), [('阿公的牛走丢了', 'help')])\n"
            "print(I.predict(m, '我想当志愿者', today=__import__('datetime').date(2031, 4, 16)).intent,"
            " 'sklearn' in sys.modules)")
    out = subprocess.run(python_argv(code, str(tmp_path)), capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["volunteer", "False"], out.stderr
    path.write_bytes(b"not an npz")
    assert I.load_cached(tmp_path, taught) is None


def test_a_new_worker_loads_the_shipped_model_from_the_instance_cache(tmp_path):
    """A worker that finds the shipped model in ``<instance>/cache`` loads it (tens of ms)
    instead of building it (seconds of CPU, in every worker at once after a deploy); one that
    finds none builds it and leaves the cache for the next."""
    from tests import servers

    code = ("import sys, time\nfrom pathlib import Path\nfrom models import intents as I\n"
            "built = []\nreal = I.build_model\n"
            "I.build_model = lambda *a, **k: built.append(1) or real(*a, **k)\n"
            "m = I.base_model(Path(sys.argv[1]))\n"
            "print(len(built), I.predict(m, '我想当志愿者', today=__import__('datetime').date(2031, 4, 16)).intent,"
            " 'sklearn' in sys.modules)")
    empty = tmp_path / "empty"
    out = subprocess.run(python_argv(code, str(empty)), capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["1", "volunteer", "True"], out.stderr
    assert len(list(empty.glob("intents-*.npz"))) == 1  # left for the next worker
    out = subprocess.run(python_argv(code, str(empty)), capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["0", "volunteer", "False"], out.stderr
    assert servers.INTENTS_CACHE is not None and servers.INTENTS_CACHE.exists()


def test_the_webhook_starts_loading_the_model_when_it_starts(services, monkeypatch):
    """``init_app`` runs the router's start hooks with the Services: the intent feature's
    loads the shipped model from ``<instance>/cache`` in the background."""
    from bot.app import create_app
    from handlers import intents as stage

    seen = []
    monkeypatch.setattr(stage, "_warming", [])
    monkeypatch.setattr(I, "base_model", lambda cache_dir=None: seen.append(cache_dir))
    create_app(services=services)
    for thread in stage._warming:
        thread.join(10)
    assert seen == [I.cache_dir_of(services)] and seen[0] == services.config.instance_dir / "cache"
