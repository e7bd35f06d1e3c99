"""联系方式: the county federation's phone, address and office hours, from ``[app]``.

She asks 「妇联电话多少」「你们在哪里办公」「几点上班」「联系方式」; the answer lists what the
configuration knows (``app.federation_phone``, ``app.federation_address``, ``app.office_hours``)
and leaves out what it does not, instead of printing 待核实. When nothing is configured she is
offered 「求助」, so her question still reaches staff. Questions about a service point's phone
(「桃城妇女微家电话」) name no federation word and stay with the directory.
"""
from __future__ import annotations

import re

from handlers import directory
from handlers.router import Context, Router, Stage
from models import directory as points

#: What she may call the federation: 妇联, 县妇联, 你们 (the account), 桃源姐妹.
_WHO = r"(?:永春)?(?:县)?(?:妇联|你们|桃源姐妹)(?:的)?"
#: Questions this feature answers, searched in the compact (no spaces) normalised text.
CONTACT_PATTERN = re.compile(
    "|".join([
        rf"{_WHO}(?:电话|联系电话|号码|热线|手机)",
        rf"{_WHO}(?:地址|办公地点|办公室|在哪(?:里|儿)?(?:办公|上班)|在什么地方(?:办公|上班)?)",
        rf"^{_WHO}在哪(?:里|儿)?[?？吗呀啊]*$",
        r"(?:上班|办公|工作)时间|几点(?:上班|下班|开门)",
        r"联系方式|怎么联系(?:你们|妇联)",
    ]))
#: Longer texts are stories, not contact questions (help and the directory read them).
MAX_CHARS = 30

NOTHING_KNOWN = ("县妇联的电话和地址还没有登记在这里。您可以回复「求助」留言，"
                 "工作人员会在后台看到并答复您。")
#: :data:`NOTHING_KNOWN` in the middle of a 「求助」: what she writes there reaches staff.
WRITING_KNOWN = "县妇联的电话和地址还没有登记在这里。您正在写的留言工作人员会在后台看到并答复您。"
EMERGENCY = "遇到危险请立即拨打110；妇女维权公益服务热线12338。"


def _asks_contact(ctx: Context):
    """The ``re.Match`` of a contact question in a short text message, else None."""
    if ctx.update.msg_type not in ("text", "voice") or len(ctx.compact_text) > MAX_CHARS:
        return None
    return CONTACT_PATTERN.search(ctx.compact_text)


#: Words of a where-question (the directory's point answers those when ``[app]`` has no address).
WHERE_WORDS = ("在哪", "地址", "地方", "办公地点", "办公室", "怎么走")
#: The directory point of the federation itself (models/data/service_points.csv).
FEDERATION_POINT = "永春县妇联"


def contact_text(app: dict, place: str = "", *, offer_help: bool = True) -> str:
    """The reply for ``[app]`` (``federation_phone``, ``federation_address``, ``office_hours``):
    one line per known value, then the emergency numbers. ``place``: lines telling where the
    federation is from the directory (its point's town and map link), used when ``[app]`` has
    no address. Nothing known: 「求助」 is offered (``offer_help`` False: she is writing one,
    which staff read)."""
    lines = []
    for label, key in (("电话", "federation_phone"), ("地址", "federation_address"),
                       ("办公时间", "office_hours")):
        value = str(app.get(key) or "").strip()
        if value:
            lines.append(f"{label}：{value}")
        elif key == "federation_address" and place:
            lines.append(place)
    if not lines:
        known = NOTHING_KNOWN if offer_help else WRITING_KNOWN
        return f"{known}\n{EMERGENCY}"
    return "永春县妇联（桃源姐妹）\n" + "\n".join(lines) + f"\n{EMERGENCY}"


def federation_place(ctx: Context) -> str:
    """「地址：桃城镇（大致位置）」 and a 「查看地图」 link from the directory's point of the
    federation (:data:`FEDERATION_POINT`), or "" when the directory does not hold it."""
    point = points.get_by_name(ctx.session, FEDERATION_POINT)
    if point is None or not point.active:
        return ""
    where = point.address or "".join(x for x in (point.town, point.village) if x)
    if not where:
        return ""
    lines = ["地址：" + where + ("（大致位置）" if point.approximate and not point.address else "")]
    referer = str((ctx.services.config.section("points") or {}).get("map_referer")
                  or directory.DEFAULT_REFERER)
    lines.append(f'<a href="{directory.map_url(point, referer)}">查看地图</a>')
    return "\n".join(lines)


#: Words of a when-question (「妇联几点上班」): answered with the office hours alone.
HOURS_WORDS = ("几点", "上班", "下班", "开门", "办公时间", "工作时间", "周末", "星期")


def hours_text(app: dict, *, offer_help: bool = True) -> str:
    """When the federation's office is open (``[app] office_hours``), with its phone when
    configured; not configured: said honestly, and 「求助」 offered (nothing about the address,
    which the directory may know)."""
    hours = str(app.get("office_hours") or "").strip()
    phone = str(app.get("federation_phone") or "").strip()
    lines = [f"县妇联办公时间：{hours}。" if hours else "县妇联的上班时间还没有登记在这里。"]
    if phone:
        lines.append(f"电话：{phone}。")
    if not hours or not phone:
        lines.append("您可以回复「求助」留言，工作人员会在后台看到并答复您。" if offer_help
                     else "您正在写的留言工作人员会在后台看到并答复您。")
    return "\n".join(lines) + f"\n{EMERGENCY}"


def contact(ctx: Context) -> str:
    """Answer a contact question from the configuration; a where-question
    (:data:`WHERE_WORDS`) gets the directory's point of the federation when ``[app]
    federation_address`` is not set; a when-question (:data:`HOURS_WORDS`, no where, no phone
    word) while ``office_hours`` is not configured gets :func:`hours_text` (「电话和地址还没有
    登记」 would contradict the directory's address)."""
    app = ctx.services.config.app
    text = ctx.compact_text
    if not str(app.get("office_hours") or "").strip() and any(w in text for w in HOURS_WORDS) \
            and not any(w in text for w in WHERE_WORDS) \
            and not any(w in text for w in ("电话", "号码", "联系方式")):
        return hours_text(app, offer_help=not ctx.writing_to_staff)
    asks_where = any(w in ctx.compact_text for w in WHERE_WORDS)
    place = "" if str(app.get("federation_address") or "").strip() or not asks_where \
        else federation_place(ctx)
    return contact_text(app, place, offer_help=not ctx.writing_to_staff)


def register(router: Router) -> None:
    """One rule, at stage SPECIFIC: above the directory's where-is questions."""
    router.add(_asks_contact, contact, stage=Stage.SPECIFIC, name="contact",
               msg_types=("text", "voice"))
