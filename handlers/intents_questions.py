"""Clear everyday questions the classifier has no intent for, answered shortly and honestly.

Testers' round 3 (issue 14): 「家政培训要钱吗」「近邻课堂是干什么的」「12338是什么电话」「怎么扫码
签到」「小孩天天玩手机怎么办」「我老公赌博欠了很多钱」「我们村能不能也搞个妇女微家」「我想学
理发」「能不能帮我介绍工作」「我想给你们捐点东西」 got 「没太明白」 or a wrong feature. Each
question here is a narrow word test on her compact text, answered from what the project knows
(the activity list, the check-in rules of models/activities.py, the hotlines, ``[app]``),
never with invented facts (fees, ages, dates): the rest goes to 「求助」, which staff read.

One rule at :attr:`Stage.KNOWN_QUESTION`, just above :attr:`Stage.INTENT`
(after every command and phrase rule, before the classifier and the directory's bare words). The danger words (interceptors) answer first:
「老公赌博还打我」 gets the hotlines before this module sees it.
"""
from __future__ import annotations

import re
from typing import Callable

from handlers import activities, help as help_, intents
from handlers.router import Context, Router, Stage
from models import activities as acts
from models import intents as engine

#: Longer texts are stories (the classifier and 「求助」 read them).
MAX_CHARS = 40

#: She asks whether it costs money.
MONEY_WORDS = intents.MONEY_WORDS + ("交钱", "付钱", "给钱", "要不要钱", "贵不贵")
#: ... about a course (a training, a class): the activity list and the fee line answer.
COURSE_WORDS = ("培训", "课", "班", "学")

#: What-is questions about an activity category.
WHAT_WORDS = ("是干什么", "干什么的", "是做什么", "做什么的", "干嘛的", "是什么", "是啥", "啥意思",
              "几岁", "多大", "适合", "什么人", "谁可以", "哪些人", "讲什么", "学什么")
#: One plain line per category (from its name and the directory's notes; no dates, no fees).
CATEGORY_ABOUT = {
    "家政培训": "「家政培训」是妇联组织的家政技能培训，帮姐妹学一门手艺。",
    "电商直播培训": "「电商直播培训」是妇联组织的电商、直播带货技能培训。",
    "近邻课堂": "「近邻课堂」是妇联在村居、小区的“近邻娘家”（妇女微家等）办的公益课，家门口就能参加。",
    "亲子早教": "「亲子早教」是家长带着孩子一起参加的公益早教活动。",
    "爱心义剪": "「爱心义剪」是志愿者免费给大家理发的公益活动，每月17日是义剪日。",
    "巾帼宣讲": "「巾帼宣讲」是妇联组织的宣讲活动。",
    "普法宣传": "「普法宣传」是妇联组织的讲法律知识的活动。",
    "徒步": "「徒步」是妇联组织的健步走、户外徒步活动。",
}
CATEGORY_DETAILS = "每场的内容、时间和适合谁参加，以活动通知为准。"

#: The numbers she may ask about, explained.
HOTLINE_RE = re.compile(r"12338|12356|12348|110")
HOTLINE_ASK = ("什么", "啥", "干嘛", "干什么", "哪里的", "谁的", "可以打", "能打", "有用", "管什么")
HOTLINES_EXPLAINED = (
    "这几个电话都是免费的公益热线：\n"
    "12338：妇女维权公益服务热线，遇到家庭暴力、婚姻家庭纠纷、权益受侵害都可以打；\n"
    "110：报警电话，正在遇到危险请马上打；\n"
    "12356：心理援助热线，心里难受、想不开时可以打；\n"
    "12348：法律援助热线，咨询法律问题。")

#: Check-in: a QR code posted at the activity, open from CHECKIN_EARLY before to CHECKIN_LATE after.
CHECKIN_WORDS = ("签到",)
#: ... asked as a how or where question (「我签到的那个活动取消了吗」 is not one).
CHECKIN_HOW_WORDS = ("怎么", "在哪", "如何", "怎样", "哪里", "咋")


def _hours(delta) -> str:
    return f"{delta.total_seconds() / 3600:g}小时"


CHECKIN_HOW = (
    "签到很简单：活动现场会张贴签到二维码，用微信「扫一扫」扫码，本公众号就会回复「签到成功」。\n"
    f"签到时间：活动开始前{_hours(acts.CHECKIN_EARLY)}到结束后{_hours(acts.CHECKIN_LATE)}。"
    "没有提前报名的，扫码时会现场登记；志愿者签到后服务时长自动累计。\n"
    "找不到二维码，请问现场工作人员。回复「我的报名」查看您报的活动。")

#: A child's behaviour worries her: family education.
CHILD_WORDS = ("小孩", "孩子", "儿子", "女儿", "小朋友", "娃")
CHILD_TROUBLE = ("不听话", "玩手机", "打游戏", "玩游戏", "叛逆", "厌学", "不想上学", "不写作业",
                 "不爱学习", "管不了", "管不住", "沉迷", "顶嘴", "早恋", "怎么教", "怎么管")
CHILD_ANSWER = (
    "孩子的事让人操心，您不是一个人在烦。\n"
    "妇联有家庭教育指导：「亲子早教」「近邻课堂」等活动常讲怎么陪伴、引导孩子，"
    "回复「活动」看近期安排。\n"
    "想请工作人员帮您出出主意，回复「求助」留言（选「家庭教育指导」），写上孩子多大、遇到什么情况。")

#: Family trouble the classifier misses (gambling, debts, drinking): the family answer.
FAMILY_TROUBLE = ("赌博", "赌钱", "好赌", "欠债", "欠了很多钱", "欠一屁股", "酗酒", "喝醉了就")
#: 「老公天天在家喝酒」: drinking day after day is family trouble too.
DRINKING_RE = re.compile(r"(?:天天|老是|整天|每天|经常|总是|一直).{0,4}喝酒")

#: 「我们村能不能也搞个妇女微家」: setting one up is the federation's matter.
WEIJIA_RE = re.compile(r"(?:搞|建|办|开|成立|设立|申请|弄)(?:一个|个)?(?:妇女)?微家")
WEIJIA_ANSWER = (
    "想在村里（社区）也办一个「妇女微家」，好主意！这需要村（社区）妇联和县妇联一起商量办理。\n"
    "请回复「求助」留言，写上您的村名和想法，工作人员会联系您。")

#: Learning a trade that is not one of our trainings (理发: 爱心义剪 is a free haircut, no course).
LEARN_HAIR = ("学理发", "学剪发", "学美发", "学剪头", "理发培训", "美发培训", "学做头发", "学发型")
LEARN_HAIR_ANSWER = (
    "「爱心义剪」是志愿者每月17日免费给大家理发，不是理发培训课。\n"
    "妇联活动里的技能培训有「家政培训」「电商直播培训」，回复「活动」看近期安排；"
    "暂时没有专门的理发培训。\n"
    "想学其他手艺，可以回复「求助」留言（选「就业创业」），工作人员帮您打听。")

#: She looks for work.
JOB_WORDS = ("介绍工作", "介绍个工作", "介绍份工作", "找工作", "找份工作", "找个工作", "找活干",
             "想上班", "想打工", "想工作", "想要工作", "我要工作", "就业")
JOB_ANSWER = (
    "找工作的事，妇联能帮的是学手艺：「家政培训」「电商直播培训」，学会了更好找活，"
    "回复「活动」看近期安排。\n"
    "想让工作人员帮您留意，回复「求助」留言（选「就业创业」），写上您在哪个乡镇、会做什么。")

#: She wants to give something: thanks, and how to reach the federation (not the 求助 form).
#: Her offering to give to us (「我想捐点东西」「给你们捐」「捐款给妇联」), not 「捐给寺庙了」.
DONATE_RE = re.compile(r"(?:想|要|能|可以|愿意)(?:给你们|给妇联|帮|为)?(?:捐|捐赠|捐款)"
                       r"|给(?:你们|妇联)捐|捐点|捐些|捐款给|捐赠给|怎么捐|在哪捐|哪里捐"
                       r"|捐(?:给|到)(?:你们|妇联)")
DONATE_FIRST = "谢谢您的爱心！"


def donate_answer(ctx: Context) -> str:
    """Thanks, how to reach the federation (its phone when configured) and 志愿者; the 求助
    form is only named for a message, never started."""
    phone = help_.federation_phone(ctx)
    lines = [DONATE_FIRST + "想捐赠物品或钱款，请先和县妇联确认需要什么、送到哪里。"]
    if phone:
        lines.append(f"县妇联电话：{phone}。")
    else:
        lines.append("可以回复「求助」写下您想捐什么和联系方式，工作人员会联系您。")
    lines.append("想出份力，也可以回复「志愿者」登记成为巾帼志愿者。")
    return "\n".join(lines)


#: School is not one of our courses: 「孩子上学要交钱吗」「我家娃学费多少钱」.
SCHOOL_WORDS = ("学费", "上学", "学校", "读书", "幼儿园", "小学", "初中", "高中", "书费", "择校")
SCHOOL_FEES_ANSWER = (
    "孩子上学的学费、收费，要问孩子的学校或县教育局，妇联这里不清楚具体收多少。\n"
    "如果家里供孩子上学有困难，可以回复「求助」留言，工作人员帮您问问有没有帮扶。")


def _category(ctx: Context) -> str | None:
    return engine.extract_slots(ctx.compact_text, today=ctx.local_now().date()).category


def _slots(ctx: Context) -> engine.Slots:
    return engine.extract_slots(ctx.compact_text, today=ctx.local_now().date())


def _fees(ctx: Context) -> object:
    """A course and money: the activities of its category with the fee line."""
    return intents._activities(ctx, _slots(ctx))


def about_category(ctx: Context) -> str:
    """What an activity category is (:data:`CATEGORY_ABOUT`), then its upcoming activities."""
    category = _category(ctx) or ""
    first = CATEGORY_ABOUT.get(category, f"「{category}」是妇联组织的活动。") + CATEGORY_DETAILS
    return first + "\n\n" + activities.list_activities(ctx, category=category)


def _has(text: str, words) -> bool:
    return any(w in text for w in words)


#: (name, test on the compact text and ctx, answer), first match wins.
QUESTIONS: tuple[tuple[str, Callable[[Context, str], bool], Callable[[Context], object]], ...] = (
    ("learn_hair", lambda ctx, t: _has(t, LEARN_HAIR), lambda ctx: LEARN_HAIR_ANSWER),
    ("school_fees", lambda ctx, t: _has(t, SCHOOL_WORDS) and _has(t, MONEY_WORDS + ("学费",)),
     lambda ctx: SCHOOL_FEES_ANSWER),
    ("fees", lambda ctx, t: _has(t, MONEY_WORDS) and _has(t, COURSE_WORDS)
     and _category(ctx) != activities.HAIRCUT_CATEGORY, _fees),
    ("hotlines", lambda ctx, t: bool(HOTLINE_RE.search(t)) and _has(t, HOTLINE_ASK)
     and len(t) <= 16, lambda ctx: HOTLINES_EXPLAINED),
    ("checkin", lambda ctx, t: _has(t, CHECKIN_WORDS) and _has(t, CHECKIN_HOW_WORDS),
     lambda ctx: CHECKIN_HOW),
    ("child", lambda ctx, t: _has(t, CHILD_WORDS) and _has(t, CHILD_TROUBLE), lambda ctx: CHILD_ANSWER),
    ("family", lambda ctx, t: _has(t, FAMILY_TROUBLE) or bool(DRINKING_RE.search(t)),
     lambda ctx: intents._mediation(ctx, _slots(ctx))),
    ("weijia", lambda ctx, t: bool(WEIJIA_RE.search(t)), lambda ctx: WEIJIA_ANSWER),
    ("job", lambda ctx, t: _has(t, JOB_WORDS), lambda ctx: JOB_ANSWER),
    ("donate", lambda ctx, t: bool(DONATE_RE.search(t)), donate_answer),
    ("about", lambda ctx, t: _has(t, WHAT_WORDS) and _category(ctx) is not None, about_category),
)


def _anchor() -> re.Pattern:
    """One pattern that every :data:`QUESTIONS` test needs to find first (a word of the list
    each test requires at least one of): most messages (「你好」「活动」) fail it in a single
    search instead of eleven tests."""
    words = (LEARN_HAIR + SCHOOL_WORDS + MONEY_WORDS + CHECKIN_WORDS + CHILD_WORDS + FAMILY_TROUBLE
             + JOB_WORDS + WHAT_WORDS)
    patterns = [re.escape(w) for w in sorted(set(words), key=len, reverse=True)]
    patterns += [HOTLINE_RE.pattern, DRINKING_RE.pattern, WEIJIA_RE.pattern, DONATE_RE.pattern]
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_ANCHOR = _anchor()


def known_question(ctx: Context):
    """Check: the answer function of the first :data:`QUESTIONS` entry her text matches
    (a text or voice message of at most :data:`MAX_CHARS` characters), else None."""
    if ctx.update.msg_type not in ("text", "voice"):
        return None
    text = ctx.compact_text
    if not text or len(text) > MAX_CHARS or not _ANCHOR.search(text):
        return None
    for _name, test, reply in QUESTIONS:
        if test(ctx, text):
            return reply
    return None


def on_known_question(ctx: Context) -> object:
    """Answer what :func:`known_question` found."""
    ctx.set_more([])
    return ctx.match(ctx)


def register(router: Router) -> None:
    """One rule just above the classifier's stage (:attr:`Stage.INTENT`)."""
    router.add(known_question, on_known_question, stage=Stage.KNOWN_QUESTION, name="known_question",
               msg_types=("text", "voice"))
