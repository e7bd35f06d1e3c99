"""近邻娘家 service directory: the nearest help by location, town, need or platform.

Rules (see handlers.router for the dispatch order):

- a location message, or the menu's ``SERVICES_LOCATION`` button (``location_select`` event,
  WeChat doc 自定义菜单事件推送: 弹出地理位置选择器的事件推送) → the 3 nearest active points;
- the menu's ``SERVICES_NEARBY`` button (CLICK) and the text 附近 / 附近服务 → the same from her
  last reported position if it is recent, else one line on how to send a location;
- a town (坑仔口, 桃城镇), a need (调解, 吵架了, 早教, 理发), a kind (妇女微家) or a platform
  (纠纷化解) → the matching points, nearest first when her position is known. Words come from
  models/data/synonyms.json and are matched exactly at stage DIRECTORY, so other features' words
  (活动, 报名, 志愿者, 求助 ...) never land here and there is no catch-all rule;
- 附近 + a need, kind or platform (附近有没有调解室, 离我近的微家) → the points offering it,
  nearest first, from her recent position; without one she is asked for her location and the
  need waits for it in Redis (``WANT_TTL``); a 调解室/评理室 nearby is any point that mediates;
- a where-is question about something unknown (附近医院) → helpful alternatives, and the text is
  counted in ``unmatched_queries`` for staff.

Each reply page holds at most 3 points and fits WeChat's 2048-byte text limit; the rest wait
for 「更多」 (``ctx.set_more``). When more than ``max_results`` points match, the last page
says how to narrow down (「调解 桃城」), so no page is promised that does not exist. Points
placed at a town-centre estimate show a whole-公里 distance marked （大致位置）. Config ``[points]``: ``map_referer``, ``location_max_age``
(seconds), ``max_results``; ``app.federation_phone`` is shown when points have no phone.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta
from urllib.parse import quote

import redis

from bot.core.geo import TOWNS, BadCoordinates, check_coordinates
from bot.wechat.menu import SERVICES_LOCATION, SERVICES_NEARBY
from bot.wechat.replies import MORE_HINT, TEXT_LIMIT_BYTES, cut_utf8
from handlers import activities
from handlers.router import Context, Router, Stage
from models import directory as points
from models.activities import CATEGORIES
from models import followers
from models.directory_synonyms import Query, synonyms

log = logging.getLogger(__name__)

PER_PAGE = 3
DEFAULT_MAX_RESULTS = 12
DEFAULT_LOCATION_MAX_AGE = 1800  # seconds: older positions are not "where she is now"
DEFAULT_REFERER = "taoyuanjiemei"
MAP_URL = "https://apis.map.qq.com/uri/v1/marker?marker=coord:{lat:.6f},{lng:.6f};title:{title};addr:{addr}&referer={referer}"
#: Same position from a location_select event and the location message that follows it
#: (seconds): answer only the first.
SAME_LOCATION_TTL = 10
FAR_AWAY_M = 100_000

HOW_TO_SEND = ("请发送您的位置：点输入框旁的「+」→「位置」→「发送」，或点菜单「附近服务」→「发送我的位置」，"
               "我帮您找最近的近邻娘家。")
#: Words that ask for the nearest (「我家附近有没有调解室」「离我近的微家」): a need, kind or
#: platform asked with one of them is answered nearest first, from her position.
NEAR_WORDS = ("附近", "最近的", "离我近", "离我最近", "离我家近", "就近", "周边", "身边", "旁边",
              "近一点", "近点的", "走路能到")
#: Kinds whose purpose is a need: the nearest 调解室 is the nearest point that mediates.
KIND_NEEDS = {"调解室": "矛盾调解", "评理室": "矛盾调解"}
#: Seconds a need she asked 附近 for (without a recent position) waits for her location: she
#: was asked to send it now; a location much later is a new question.
WANT_TTL = 600
TRY_WORDS = "也可以直接回复乡镇名（如「桃城」「坑仔口」）或需要（如「调解」「早教」「义剪」「电商」）。"


# -- formatting --------------------------------------------------------------------------------

def format_distance(metres: float) -> str:
    """850 → "850米"; 3240 → "3.2公里" (米 under 1 km, else 公里 with one decimal)."""
    if metres < 999.5:
        return f"{int(round(metres))}米"
    return f"{metres / 1000:.1f}公里"


def format_rough_distance(metres: float) -> str:
    """For points placed at a town-centre estimate: whole 公里, never metres (161 → "1公里").

    Their real door may be kilometres away, so "161米" would promise a precision they lack.
    """
    return f"{max(1, int(round(metres / 1000)))}公里"


def map_url(point: points.ServicePoint, referer: str = DEFAULT_REFERER) -> str:
    """Tencent Maps marker URL (腾讯地图 URI API ``/uri/v1/marker``; GCJ-02), opens in WeChat.

    Title and address are cut (16 and 16 characters) so the link stays under ~400 bytes (it is
    hidden behind 「查看地图」 but counts towards the reply's 2048 bytes).
    """
    addr = point.address or (point.town + point.village) or "永春县"
    return MAP_URL.format(lat=point.lat, lng=point.lng, title=quote(point.name[:16], safe=""),
                          addr=quote(addr[:16], safe=""), referer=quote(referer[:40], safe=""))


def _short(value: str, chars: int) -> str:
    return value if len(value) <= chars else value[: chars - 1] + "…"


def _call_line(ctx: Context) -> str:
    """「可致电县妇联0595-…，」 when ``app.federation_phone`` is set, else "": never a sentence
    that tells her to call without the number."""
    phone = (ctx.services.config.app.get("federation_phone") or "").strip()
    return f"可致电县妇联{phone}，" if phone else ""


def _settings(ctx: Context) -> dict:
    return ctx.services.config.section("points") or {}


def _int_setting(ctx: Context, key: str, default: int) -> int:
    """A positive integer from ``[points]``; a missing or malformed value gives ``default``."""
    try:
        value = int(_settings(ctx).get(key) or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def format_entry(ctx: Context, number: int, found: points.Found) -> str:
    """One point as a few short lines for a phone screen: name, where (distance and the
    address or town/village known), hours, phone, services, and a 「查看地图」 link.

    What is not known is left out (no 待核实, no 请致电县妇联 per point: the list's footer gives
    the federation's number once when it is configured, see :func:`phone_footer`). The map link is WeChat text markup (``<a href>``,
    被动回复 文本消息: the link shows as its words); a point placed at the county seat only
    because its town is unknown gets no distance and no map. Every field is cut to a few dozen
    characters, so an entry stays under ~700 bytes.
    """
    p = found.point
    kind = f"（{_short(p.kind, 16)}）" if p.kind and p.kind not in p.name else ""
    lines = [f"{number}. {_short(p.name, 40)}{kind}"]
    unplaced = p.approximate and not p.town
    where = []
    if not unplaced and found.distance_m is not None:
        where.append("距离约" + (format_rough_distance(found.distance_m) + "（大致位置）" if p.approximate
                            else format_distance(found.distance_m)))
    address = p.address or "".join(x for x in (p.town, p.village) if x)
    if address:
        where.append(_short(address, 40))
    if where:
        lines.append("   " + "，".join(where))
    if p.hours:
        lines.append("   时间：" + _short(p.hours, 30))
    if p.phone:
        lines.append("   电话：" + _short(p.phone, 30))
    if p.tags:
        lines.append("   服务：" + _short("、".join(p.tags), 24))
    if not unplaced:
        url = map_url(p, str(_settings(ctx).get("map_referer") or DEFAULT_REFERER))
        lines.append(f'   <a href="{url}">查看地图</a>')
    return "\n".join(lines)


def phone_footer(ctx: Context, found: list[points.Found]) -> str:
    """One line for the points listed without a phone: the federation's number when known
    (``app.federation_phone``), else nothing."""
    phone = (ctx.services.config.app.get("federation_phone") or "").strip()
    if not phone or all(f.point.phone for f in found):
        return ""
    return f"没写电话的服务点，可致电县妇联{phone}。"


def paginate(header: str, entries: list[str], footer: str = "", per_page: int = PER_PAGE,
             limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Pages of at most ``per_page`` entries, each within ``limit`` bytes (hint included)."""
    pages: list[str] = []
    current: list[str] = [header] if header else []
    count = 0
    room = limit - len(MORE_HINT.encode()) - len(footer.encode()) - 2
    for entry in entries:
        candidate = "\n".join(current + [entry])
        if count and (count >= per_page or len(candidate.encode()) > room):
            pages.append("\n".join(current))
            current, count = [], 0
        used = len("\n".join(current).encode()) + 1 if current else 0
        current.append(cut_utf8(entry, room - used))  # only bites on absurd data
        count += 1
    pages.append("\n".join(current))
    if footer:
        pages[-1] = pages[-1] + "\n" + footer
    return [p + MORE_HINT if i < len(pages) - 1 else p for i, p in enumerate(pages)]


#: Instead of the 「更多」 hint when the later pages cannot be kept (Redis unavailable).
NO_MORE_NOW = "\n（暂时无法翻页。想看其他服务点，请加上乡镇或需要再问一次，如「调解 桃城」。）"


def _send_pages(ctx: Context, pages: list[str]) -> str:
    """The first page; the rest wait for 「更多」. When they cannot be kept (Redis
    unavailable) the first page still goes out, saying how to narrow the question instead."""
    if ctx.set_more(pages[1:]) or len(pages) == 1:
        return pages[0]
    return pages[0].removesuffix(MORE_HINT) + NO_MORE_NOW


def _list_reply(ctx: Context, header: str, found: list[points.Found], footer: str = "") -> str:
    limit = _int_setting(ctx, "max_results", DEFAULT_MAX_RESULTS)
    found = found[:limit]
    entries = [format_entry(ctx, i, f) for i, f in enumerate(found, start=1)]
    footer = "\n".join(x for x in (footer, phone_footer(ctx, found)) if x)
    return _send_pages(ctx, paginate(header, entries, footer))


# -- positions ---------------------------------------------------------------------------------

def recent_position(ctx: Context) -> tuple[float, float] | None:
    """Her last reported position if recent (``points.location_max_age`` s) and valid."""
    f = ctx.follower
    if f.last_lat is None or f.last_lng is None or f.last_location_at is None:
        return None
    max_age = _int_setting(ctx, "location_max_age", DEFAULT_LOCATION_MAX_AGE)
    if ctx.now - f.last_location_at > timedelta(seconds=max_age):
        return None
    try:
        return check_coordinates(f.last_lat, f.last_lng)
    except BadCoordinates:
        return None


def _first_time(ctx: Context, lat: float, lng: float) -> bool:
    """False when this very position was answered seconds ago (location_select + message)."""
    key = ctx.services.keys("points", "answered", ctx.openid)
    value = f"{lat:.5f},{lng:.5f}"
    try:
        if ctx.services.redis.get(key) == value:
            return False
        ctx.services.redis.set(key, value, ex=SAME_LOCATION_TTL)
    except redis.RedisError:  # Redis unavailable: answer it (at worst twice)
        pass
    return True


def nearest_reply(ctx: Context, lat: float, lng: float) -> str:
    """The nearest points to (lat, lng) (GCJ-02 degrees, already checked)."""
    limit = _int_setting(ctx, "max_results", DEFAULT_MAX_RESULTS)
    found = points.nearest(ctx.session, lat, lng, limit=limit)
    if not found:
        ctx.set_more([])
        return f"服务点名录正在整理中，{_call_line(ctx)}可以回复「求助」留言，工作人员会答复您。"
    header = "离您最近的近邻娘家："
    if found[0].distance_m > FAR_AWAY_M:
        header = "您目前不在永春县附近。永春县离您最近的近邻娘家："
    return _list_reply(ctx, header, found)


def _want_key(ctx: Context) -> str:
    return ctx.services.keys("points", "want", ctx.openid)


def remember_want(ctx: Context, q: Query) -> None:
    """Keep what she asked 附近 for (need, kind, platform) until her location arrives
    (:data:`WANT_TTL`); Redis down: forgotten (the location then gets the plain nearest)."""
    value = json.dumps({"need": q.need, "kind": q.kind, "platform": q.platform, "core": q.core},
                       ensure_ascii=False)
    try:
        ctx.services.redis.set(_want_key(ctx), value, ex=WANT_TTL)
    except redis.RedisError:
        log.warning("directory: the need asked 附近 for is not kept (Redis unavailable)")


def take_want(ctx: Context) -> Query | None:
    """What she asked 附近 for before sending her location (forgotten once taken), or None."""
    try:
        raw = ctx.services.redis.get(_want_key(ctx))
        if raw:
            ctx.services.redis.delete(_want_key(ctx))
    except redis.RedisError:
        return None
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return Query(need=data.get("need"), kind=data.get("kind"), platform=data.get("platform"),
                 near=True, core=str(data.get("core") or ""))


def nearest_wanted(ctx: Context, q: Query, lat: float, lng: float) -> str:
    """The points offering what ``q`` asks for, nearest to (lat, lng) first; when none offers
    it, the nearest points that can help her ask."""
    if q.kind in KIND_NEEDS and not q.need:
        q = replace(q, kind=None, need=KIND_NEEDS[q.kind])
    tags = synonyms().need_tags.get(q.need, ()) if q.need else ()
    found = points.search(ctx.session, platform=q.platform, kind=q.kind, tags=tags, near=(lat, lng))
    what = _describe(q)
    if not found:
        return _nothing(ctx, f"暂时没有找到{what}。", (lat, lng))
    note = synonyms().need_notes.get(q.need or "", "")
    return _list_reply(ctx, (note + "\n" if note else "") + f"离您最近的{what}：", found)


def few_offering(ctx: Context, need: str, *, town: str | None = None, limit: int = 2,
                 label: str = "服务点") -> str:
    """A short block (no pages) of the ``limit`` points offering ``need`` nearest her recent
    position, else in ``town`` (the one she named) or her known town; "" when none of those is
    known or nothing is found — the caller then asks where she is."""
    pos = recent_position(ctx)
    town = None if pos is not None else (town or ctx.follower.town)
    if pos is None and not town:
        return ""
    tags = synonyms().need_tags.get(need, ())
    found = points.search(ctx.session, town=town, tags=tags, near=pos)[:limit]
    if not found:
        return ""
    where = "离您最近的" if pos is not None else f"{town}的"
    entries = [format_entry(ctx, i, f) for i, f in enumerate(found, 1)]
    return f"{where}{label}：\n" + "\n".join(entries)


def offers(ctx: Context, q: Query) -> bool:
    """Whether an active point matches ``q``'s need, kind or platform (its town too)."""
    tags = synonyms().need_tags.get(q.need, ()) if q.need else ()
    return bool(points.search(ctx.session, town=q.town, platform=q.platform, kind=q.kind, tags=tags))


def wants_nearest(q: Query, text: str = "") -> bool:
    """Whether the question asks for the nearest: a 附近 wrapper the parser stripped, or one of
    :data:`NEAR_WORDS` in her ``text``."""
    return q.near or any(w in (text or q.core) for w in NEAR_WORDS)


def ask_position_for(ctx: Context, q: Query) -> str:
    """附近 + a need without a recent position: ask for her location (the need waits for it,
    :func:`remember_want`), or a town instead."""
    remember_want(ctx, q)
    ctx.set_more([])
    word = q.core if q.core and len(q.core) <= 6 else (q.need or q.kind or q.platform or "调解")
    town = synonyms().short_town(ctx.follower.town or "") or "桃城"
    return (f"想找离您最近的{_describe(q)}，请发送您的位置：点输入框旁的「+」→「位置」→「发送」，"
            f"我按远近帮您列出来。\n不方便发位置，也可以回复乡镇名加需要，如「{word} {town}」。")


def reply_for_location(ctx: Context, lat, lng) -> str | None:
    """Answer a position she sent; bad coordinates get a clear sentence, never a wrong list."""
    try:
        lat, lng = check_coordinates(lat, lng)
    except BadCoordinates as exc:
        return exc.reason + HOW_TO_SEND
    if not _first_time(ctx, lat, lng):
        return None
    wanted = take_want(ctx)
    if wanted is not None:
        return nearest_wanted(ctx, wanted, lat, lng)
    return nearest_reply(ctx, lat, lng)


# -- handlers ----------------------------------------------------------------------------------

def on_location(ctx: Context):
    """A location message (接收普通消息: 地理位置消息) or the location_select menu event."""
    loc = ctx.update.location
    if loc is None:
        return "没能读到您的位置。" + HOW_TO_SEND
    return reply_for_location(ctx, loc.lat, loc.lng)


def on_nearby(ctx: Context) -> str:
    """The 附近服务 CLICK button and the text 附近: her recent position, else how to send one."""
    pos = recent_position(ctx)
    if pos is None:
        ctx.set_more([])
        return HOW_TO_SEND + "\n" + TRY_WORDS
    return nearest_reply(ctx, *pos)


def is_directory_question(ctx: Context) -> Query | None:
    """Check of the text rule: the parsed :class:`Query` for a town, need, kind, platform, 附近,
    a where-is question or a point's own name; None for anything else."""
    if ctx.update.msg_type not in ("text", "voice") or not ctx.compact_text:
        return None
    query = synonyms().parse(ctx.compact_text)
    if query is None and 4 <= len(ctx.compact_text or "") <= points.MAX_QUERY_CHARS:
        # A point's own name (红玫瑰早教工作室) typed on its own.
        if points.find_by_name(ctx.session, ctx.compact_text, limit=1):
            query = Query(unknown=ctx.compact_text, core=ctx.compact_text)
    return query


def _describe(q: Query) -> str:
    parts = []
    if q.town:
        parts.append(q.town)
    if q.platform:
        parts.append(f"「{q.platform}」平台")
    if q.kind:
        parts.append(f"「{q.kind}」")
    if q.need:
        parts.append(f"提供「{q.need}」")
    return "".join(parts) + "的服务点" if parts else "服务点"


def on_directory_text(ctx: Context) -> str:
    """A text the directory understands: ``ctx.match`` is the :class:`Query` that
    :func:`is_directory_question` found."""
    q: Query = ctx.match
    pos = recent_position(ctx)
    if q.everything:
        asks_near = q.near or "附近" in q.core or "最近" in q.core
        return on_nearby(ctx) if asks_near or pos else _overview(ctx)
    if q.unknown:
        return _unknown(ctx, q, pos)
    if not q.town and (q.need or q.kind or q.platform) and wants_nearest(q):
        if pos is None:  # 「附近有没有调解室」: she wants the nearest one, so her position first
            return ask_position_for(ctx, q)
        return nearest_wanted(ctx, q, *pos)
    tags = synonyms().need_tags.get(q.need, ()) if q.need else ()
    if q.town in TOWNS:  # the town she asks about: inferred, never over one she stated
        followers.set_follower_town(ctx.session, ctx.openid, q.town, source=followers.TOWN_INFERRED,
                                    now=ctx.now)
    found = points.search(ctx.session, town=q.town, platform=q.platform, kind=q.kind,
                          tags=tags, near=pos)
    what = _describe(q)
    if not found and q.need in CATEGORIES and activities.has_upcoming(ctx, q.need):
        return activities.list_activities(ctx, category=q.need)  # 家政: the training, not a point
    if not found:
        return _nothing(ctx, f"暂时没有找到{what}。", pos, q)
    limit = _int_setting(ctx, "max_results", DEFAULT_MAX_RESULTS)
    home = None if pos or q.town else ctx.follower.town
    if home:  # her known town's points first (the rest keep their order)
        found = sorted(found, key=lambda f: f.point.town != home)
    shown = min(PER_PAGE, limit, len(found))
    count = f"共{len(found)}处" + (
        f"，先列出{'最近的' if pos else ''}{shown}处，回复「更多」看其余" if len(found) > shown
        else ("，按距离排序" if pos else ""))
    footer = "" if pos else "发送位置可按远近排序。"
    if len(found) > limit:  # the last page says how to see the rest: never a dead end
        footer = narrow_hint(ctx, q, len(found) - limit, pos is not None)
    note = synonyms().need_notes.get(q.need or "", "")  # e.g. hotlines: on the first page
    ask = "" if pos or q.town or home or len(found) <= shown else ASK_TOWN_FIRST
    return _list_reply(ctx, (note + "\n" if note else "") + ask + f"{what}（{count}）：", found, footer)


#: Before a long list when neither her position nor her town is known: the order is no nearness.
ASK_TOWN_FIRST = "您在哪个乡镇？回复乡镇名（如「调解 桃城」）或发送位置，我先列离您近的。\n"


def narrow_hint(ctx: Context, q: Query, rest: int, has_position: bool) -> str:
    """The last page's line when only the first ``max_results`` of the matches were listed:
    how to narrow down (add a town, or a need to a town), e.g. 「调解 桃城」."""
    town = synonyms().short_town(ctx.follower.town or "") or "桃城"
    if q.town:
        example = f"「{synonyms().short_town(q.town)} 调解」「{synonyms().short_town(q.town)} 早教」"
        how = f"在乡镇名后加上需要，如{example}"
    else:
        word = q.core if q.core and len(q.core) <= 6 else (q.need or q.kind or q.platform or "调解")
        how = f"加上乡镇名缩小范围，如「{word} {town}」"
    where = "" if has_position else "，或发送位置按远近列出"
    return f"还有{rest}处没有列出：{how}{where}。"


def _overview(ctx: Context) -> str:
    ctx.set_more([])
    return ("“近邻娘家”是妇联在您身边的服务点：邻里守望、纠纷化解、志愿服务、女性成长四类平台。\n"
            + HOW_TO_SEND + "\n" + TRY_WORDS)


def _nothing(ctx: Context, first: str, pos, q: Query | None = None) -> str:
    if q is not None and q.town and (q.need or q.kind or q.platform):
        found = points.search(ctx.session, town=q.town, near=pos)
        if found:
            return _list_reply(ctx, first + f"{q.town}的服务点可以帮您联系：", found)
    if pos is not None:
        found = points.nearest(ctx.session, *pos, limit=DEFAULT_MAX_RESULTS)
        if found:
            return _list_reply(ctx, first + "离您最近的近邻娘家可以帮您问问：", found)
    ctx.set_more([])
    return f"{first}{_call_line(ctx)}可以回复「求助」留言，工作人员会尽快回复您。\n{TRY_WORDS}"


def _unknown(ctx: Context, q: Query, pos) -> str:
    named = points.find_by_name(ctx.session, q.unknown)
    if named:
        found = [points.Found(p, None) for p in named]
        if pos is not None:
            found = points.by_distance(named, *pos)
        unplaced = not any(p.address or p.town or p.village for p in named)
        return _list_reply(ctx, f"找到{len(found)}处名称含「{q.unknown}」的服务点：", found,
                           activities.address_unknown_line(ctx) if unplaced else "")
    points.log_unmatched(ctx.session, ctx.compact_text, now=ctx.now)
    log.info("directory: unmatched where-is question counted for staff")
    return _nothing(ctx, f"暂时没有和「{cut_utf8(q.unknown, 60)}」有关的服务点信息。", pos)


def register(router: Router) -> None:
    """Rules of the service directory (location at stage COMMAND, texts at DIRECTORY; no
    catch-all)."""
    router.on_message("location")(on_location)
    router.on_click(SERVICES_LOCATION)(on_location)
    router.on_click(SERVICES_NEARBY)(on_nearby)
    router.on(is_directory_question, stage=Stage.DIRECTORY)(on_directory_text)
