"""Volunteers (巾帼志愿者): registration, 「志愿报名 N」 hints, and 「我的志愿时长」.

Registration is the conversation ``volunteer``::

    志愿者 / menu VOLUNTEER ──► name ──► phone ──► town ──► skills ──► available ──► consent ──► saved
    (registered: her profile; then 「修改」 (or 「修改志愿者」 any time) restarts the form,
    「不变」 keeps a field; any other message after the profile is handled as usual)

Declared as data in :data:`VOLUNTEER` (handlers/conversation.py). 「取消」 or 「不想登记了」
leave it (:func:`_cancelled` says what was kept); a question in the middle of it
(「妇联电话多少」) is answered and she is told how to go on (the router). Volunteer signups for
activities go through handlers/activities_signup.py (「志愿报名 3」). Hours come from
QR check-in (handlers/activities.py).
"""
from __future__ import annotations

from bot.wechat.menu import VOLUNTEER as VOLUNTEER_KEY
from handlers.activities import activity_block
from handlers.conversation import (AGREE_WORDS, NO_WORDS, YES_WORDS, Conversation, ConversationState,
                                   Invalid, Step)
from handlers.router import Context, Router
from models import activities as acts
from models import volunteers as vols
from models.intents import find_town
from models.privacy import mask_phone, normalize_mobile, normalize_name

NAME = "volunteer"
ENTRY_WORDS = ["志愿者", "志愿者登记", "志愿者注册", "登记志愿者", "我要当志愿者", "成为志愿者",
               "巾帼志愿者", "报名志愿者", "志愿服务"]
EDIT_WORDS = ["修改志愿者", "修改志愿者信息", "更新志愿者", "重新登记志愿者"]
PROFILE_EDIT_WORDS = frozenset(EDIT_WORDS) | {"修改", "改", "重新登记", "编辑", "更新"}
HOURS_WORDS = ["我的志愿时长", "志愿时长", "我的志愿服务", "服务时长"]
KEEP = frozenset({"不变", "同上", "不改", "保留", "不用改"})
AGREE = AGREE_WORDS
NO = NO_WORDS
TOWN_PROMPT = ("您在哪个乡镇？回复乡镇名（如「桃城」「达埔」）或序号：\n"
               + "　".join(f"{i}.{t}" for i, t in enumerate(vols.TOWNS, 1)))
SKILL_PROMPT = ("您有哪些特长？可多选，回复序号或文字（如「1 3」或「理发、家政」）：\n"
                + "　".join(f"{i}.{s}" for i, s in enumerate(vols.SKILLS, 1)))
AVAILABLE_PROMPT = "您一般什么时间方便参加志愿服务？（如「周末上午」「每月17日」「工作日晚上」）"
CONSENT_TEXT = ("您的姓名、手机号、乡镇和特长只用于妇联联系您参加志愿服务，不会用于其他用途；"
                "回复「删除我的信息」可随时删除。\n同意请回复「同意」，不同意请回复「取消」。")
PHONE_PROMPT = "请发送您的手机号（11 位，例如：13812345678）。"


def _keep_hint(state: ConversationState, field: str, shown: str | None = None) -> str:
    old = (state.data.get("old") or {}).get(field)
    if not old:
        return ""
    return f"\n（回复「不变」保留：{shown if shown is not None else old}）"


def _kept(ctx: Context, state: ConversationState, field: str):
    """Her old value for ``field`` when she answered 「不变」, else None."""
    if ctx.compact_text in KEEP:
        return (state.data.get("old") or {}).get(field)
    return None


def entry(ctx: Context) -> str:
    """「志愿者」 / menu VOLUNTEER → her profile if registered, else start the registration."""
    vol = vols.get_volunteer(ctx.session, ctx.openid)
    if vol is None:
        VOLUNTEER.begin(ctx, "name")
        return ("欢迎加入永春县巾帼志愿者！登记只要几步，随时回复「取消」可退出。\n"
                "第一步：请告诉我您的姓名（例如：王秀英）。")
    total, _ = acts.volunteer_hours(ctx.session, ctx.openid)
    lines = [f"您已登记为志愿者：\n姓名：{vol.name}\n手机：{mask_phone(vol.phone)}\n乡镇：{vol.town}\n"
             f"特长：{vol.skills}\n方便时间：{vol.available}\n累计志愿时长：{total:g} 小时"]
    need = acts.upcoming_activities(ctx.session, ctx.now, volunteers=True, limit=5)
    if need:
        tz = ctx.services.tz
        lines.append("需要志愿者的活动（回复「志愿报名 编号」报名）：\n\n"
                     + "\n\n".join(activity_block(ctx.session, a, tz, volunteers=True) for a in need))
    lines.append("修改登记信息请回复「修改」。")
    VOLUNTEER.begin(ctx, "profile")  # her next 「修改」 edits; anything else goes on as usual
    return "\n\n".join(lines)


def edit(ctx: Context) -> str:
    """「修改志愿者」 → the form again, each field keepable with 「不变」."""
    vol = vols.get_volunteer(ctx.session, ctx.openid)
    if vol is None:
        return entry(ctx)
    old = {"name": vol.name, "phone": vol.phone, "town": vol.town, "skills": vol.skill_list,
           "available": vol.available}
    state = VOLUNTEER.begin(ctx, "name", old=old)
    return "好的，我们重新登记一遍。请告诉我您的姓名。" + _keep_hint(state, "name")


def _after_profile(ctx: Context, state: ConversationState, wants_edit: bool) -> str | None:
    """She has just seen her profile: 「修改」 edits; anything else is declined (None) and goes
    on as a fresh message."""
    ctx.conversation.end()
    return edit(ctx) if wants_edit else None


def _old_phone_hint(state: ConversationState) -> str:
    old = (state.data.get("old") or {}).get("phone")
    return _keep_hint(state, "phone", mask_phone(old) if old else None)


def _old_skills_hint(state: ConversationState) -> str:
    old = (state.data.get("old") or {}).get("skills")
    return _keep_hint(state, "skills", "、".join(old) if old else None)


def _parse_name(ctx: Context, state: ConversationState):
    name = _kept(ctx, state, "name") or normalize_name(ctx.text)
    if not name:
        return Invalid("请发送您的姓名，只要文字，例如：王秀英。" + _keep_hint(state, "name"))
    return name


def _parse_phone(ctx: Context, state: ConversationState):
    phone = _kept(ctx, state, "phone") or normalize_mobile(ctx.compact_text)
    if phone is None:
        return Invalid("手机号应为 11 位数字、以 13-19 开头，例如：13812345678。请重新发送。"
                       + _old_phone_hint(state))
    return phone


#: Longer answers at the town step are sentences, not a town named (see :func:`_parse_town`).
TOWN_ANSWER_CHARS = 12


def _parse_town(ctx: Context, state: ConversationState):
    """A list number or a town as the classifier's slots find it (short and traditional
    names, typos, 「我在達埔」「住在蓬壶」: ``models.intents.find_town``)."""
    town = (_kept(ctx, state, "town") or vols.parse_town(ctx.compact_text)
            or (find_town(ctx.compact_text) if len(ctx.compact_text) <= TOWN_ANSWER_CHARS
                else None))
    if town is None:
        return Invalid("没有认出这个乡镇，请回复乡镇名或序号，例如「桃城」或「1」。\n" + TOWN_PROMPT)
    return town


def _parse_skills(ctx: Context, state: ConversationState):
    skills = _kept(ctx, state, "skills") or vols.parse_skills(ctx.text)
    if not skills:
        return Invalid("请至少选一项，回复序号或文字，例如「1」或「理发」。\n" + SKILL_PROMPT)
    return list(skills)


#: Answers that are no time (「同意」 sent a step early, a plain yes): asked again.
NOT_TIMES = AGREE | YES_WORDS | NO | {"同意授权", "嗯嗯", "行", "知道了", "收到", "好滴"}


def _parse_available(ctx: Context, state: ConversationState):
    available = _kept(ctx, state, "available") or ctx.text.strip()
    if available.lower().rstrip("!。.!~的啊呀") in NOT_TIMES or available.lower() in NOT_TIMES:
        return Invalid("请先告诉我您方便的时间，下一步再回复「同意」。\n" + AVAILABLE_PROMPT)
    if not available or len(available) > 200:
        return Invalid(AVAILABLE_PROMPT)
    return available


def _parse_consent(ctx: Context, state: ConversationState):
    answer = ctx.compact_text.lower()
    if answer in NO:
        return False
    return True if answer in AGREE else Invalid("请回复「同意」完成登记，或回复「取消」退出。")


def _consent(ctx: Context, state: ConversationState, agreed: bool) -> str:
    if not agreed:
        ctx.conversation.end()
        return "好的，没有登记，您的信息没有保存。需要时随时回复「志愿者」。"
    d = state.data
    ctx.conversation.end()
    try:
        vol = vols.save_volunteer(ctx.session, ctx.openid, name=d.get("name", ""),
                                  phone=d.get("phone", ""), town=d.get("town", ""),
                                  skills=d.get("skills") or [], available=d.get("available", ""),
                                  now=ctx.now)
    except vols.VolunteerError as exc:
        return f"登记没有完成：{exc}。请重新回复「志愿者」。"
    text = (f"登记成功！感谢您加入巾帼志愿者，{vol.name}。\n乡镇：{vol.town}　特长：{vol.skills}\n"
            "有需要志愿者的活动时，回复「志愿者」查看，回复「志愿报名 编号」报名。")
    return text


def _cancelled(ctx: Context, state: ConversationState) -> str:
    """What she is told when she leaves the form: nothing was saved (a first registration) or
    her registration is unchanged (an edit); the profile view is no form (the router's own)."""
    if state.step == "profile":
        return ""
    if state.data.get("old"):
        return "好的，已取消修改，您原来的志愿者登记没有变。"
    return "好的，已取消这次志愿者登记，没有保存您的信息。需要时随时回复「志愿者」。"


def hours(ctx: Context) -> str:
    """「我的志愿时长」 → total hours and the list of activities."""
    total, rows = acts.volunteer_hours(ctx.session, ctx.openid)
    if not rows:
        if vols.get_volunteer(ctx.session, ctx.openid) is None:
            if ctx.aside_of is VOLUNTEER:  # she is registering right now: no need to say how
                return "您还没有志愿服务记录。"
            return "您还没有志愿服务记录。回复「志愿者」登记成为巾帼志愿者。"
        return "您还没有志愿服务时长记录。参加活动时扫描现场签到二维码，时长会自动累计。"
    from handlers.activities import fmt_time

    tz = ctx.services.tz
    lines = [f"您的累计志愿时长：{total:g} 小时，共 {len(rows)} 次："]
    lines += [f"· {fmt_time(a.starts_at, tz)} {a.title}：{h:g} 小时" for a, h in rows]
    return "\n".join(lines)


VOLUNTEER = Conversation(
    name=NAME,
    label="志愿者登记",
    steps=(
        Step("profile", parse=lambda ctx, state: ctx.compact_text in PROFILE_EDIT_WORDS,
             then=_after_profile, passive=True),
        Step("name", parse=_parse_name, next="phone"),
        Step("phone", parse=_parse_phone, next="town",
             prompt=lambda state: PHONE_PROMPT + _old_phone_hint(state),
             resume="请接着发送您的手机号（11 位，例如：13812345678）；不登记了回复「取消」。"),
        Step("town", parse=_parse_town, next="skills",
             prompt=lambda state: TOWN_PROMPT + _keep_hint(state, "town"),
             resume="请接着回复您所在的乡镇名（如「桃城」「达埔」）；不登记了回复「取消」。"),
        Step("skills", parse=_parse_skills, next="available",
             prompt=lambda state: SKILL_PROMPT + _old_skills_hint(state)),
        Step("available", parse=_parse_available, next="consent",
             prompt=lambda state: AVAILABLE_PROMPT + _keep_hint(state, "available")),
        Step("consent", parse=_parse_consent, then=_consent, prompt=CONSENT_TEXT,
             resume="请回复「同意」完成登记；不登记了回复「取消」。"),
    ),
    broken="抱歉，登记过程出了点问题，请重新回复「志愿者」。",
    cancelled=_cancelled,
)


def register(router: Router) -> None:
    """Rules of this module."""
    router.on_text(exact=ENTRY_WORDS)(entry)
    router.on_click(VOLUNTEER_KEY)(entry)
    router.on_text(exact=EDIT_WORDS)(edit)
    router.on_text(exact=HOURS_WORDS, escape=True, keeps_form=True)(hours)  # any time, forms wait
    router.conversation(VOLUNTEER)
