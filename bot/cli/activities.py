"""``taoyuan activities add|list|show|close|seats|cancel|qr``: staff manage activities (活动) from the command line.

``taoyuan events …`` is a hidden alias kept for staff scripts (bot.cli.HIDDEN_ALIASES).

Times are typed in local time (Asia/Shanghai, ``app.timezone``) as ``YYYY-MM-DD HH:MM``,
``YYYY/M/D H:MM`` or ``1月17日 上午9点`` and stored as aware UTC.

``taoyuan activities recurring list|add|make|run``: the monthly ones (每月固定活动, the 17th's
爱心义剪): list them, add one, make a month's activity now, or run the daily job by hand.
"""
from __future__ import annotations

from datetime import datetime

import click



def _not_found(number: int) -> click.ClickException:
    return click.ClickException(f"没有编号为 {number} 的活动")


def _activity_or_fail(session, number: int):
    """Activity ``number``, or a clear ClickException saying there is none."""
    from models.activities import get_activity

    activity = get_activity(session, number)
    if activity is None:
        raise _not_found(number)
    return activity

def register(main: click.Group) -> None:
    """Add the ``activities`` group to ``main``."""
    main.add_command(activities)


def _parse_local(value: str | None, tz, label: str) -> datetime | None:
    """``"2026-12-17 09:00"``, ``"2026/12/17 9:00"``, ``"12月17日 上午9点"`` (local) -> aware
    datetime (``models.activities.parse_local_datetime``, as in the console); None stays None."""
    from models.activities import BadDateTime, parse_local_datetime

    try:
        return parse_local_datetime(value or "", tz, required=False, label=label)
    except BadDateTime as exc:
        raise click.BadParameter(str(exc)) from None


def _fmt(when: datetime | None, tz) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M") if when else "-"


@click.group()
def activities() -> None:
    """活动：新建、列出、查看、截止报名、签到二维码 / Activities: add, list, show, close, QR codes."""


@activities.command("add")
@click.option("--title", required=True, help="活动名称 / Title.")
@click.option("--category", required=True, help="类别：家政培训、电商直播培训、近邻课堂、亲子早教、爱心义剪 … / Category.")
@click.option("--start", "start", required=True, help='开始时间（当地时间）"2026-12-17 09:00"、"2026/12/17 9:00" 或 "12月17日 上午9点" / Start, local time.')
@click.option("--end", "end", default=None, help="结束时间（默认开始后 2 小时）/ End (default: 2 hours after the start).")
@click.option("--capacity", type=int, default=None, help="名额，至少 1（不填 = 不限）/ Seats, at least 1 (default: unlimited).")
@click.option("--deadline", default=None, help="报名截止时间（默认为开始时间）/ Signup deadline (default: the start).")
@click.option("--point", "point_name", default=None, help="承办服务点名称（近邻娘家目录中的名称）/ Host service point, by its directory name.")
@click.option("--place", default="", help="地点（不填则用服务点名称和地址）/ Place (default: the point's name and address).")
@click.option("--volunteers", type=click.IntRange(min=0), default=0, help="需要的志愿者人数 / Volunteers needed.")
@click.option("--description", default="", help="活动介绍 / Description.")
@click.option("--allow-past", is_flag=True, help="允许开始时间已过（补录过去的活动）/ Allow a start in the past (to record one).")
@click.pass_obj
def add(state, title, category, start, end, capacity, deadline, point_name, place, volunteers,
        description, allow_past) -> None:
    """新建活动，打印活动编号 / Add an activity and print its number.
    \f
    Refuses (exit 1, Chinese message) a start already past unless ``--allow-past``, a capacity
    below 1 and an empty category; checks are in :func:`models.activities.add_activity`.
    """
    from sqlalchemy import select

    from models.activities import add_activity
    from models.directory import ServicePoint

    services = state.services
    tz = services.tz
    starts_at = _parse_local(start, tz, "--start")
    ends_at = _parse_local(end, tz, "--end")
    deadline_at = _parse_local(deadline, tz, "--deadline")
    with services.db.session() as s:
        point_id = None
        if point_name:
            points = list(s.scalars(select(ServicePoint).where(ServicePoint.name == point_name.strip())))
            if not points:
                raise click.ClickException(f"服务点「{point_name}」不存在，请用 taoyuan directory export 导出名录查看名称")
            if len(points) > 1:
                raise click.ClickException(f"有 {len(points)} 个服务点叫「{point_name}」，请改用 --place")
            point_id = points[0].id
        try:
            act = add_activity(s, title=title, category=category, starts_at=starts_at,
                               ends_at=ends_at, capacity=capacity, deadline=deadline_at,
                               volunteers_needed=volunteers, place=place, point_id=point_id,
                               description=description, allow_past=allow_past)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        number = act.number
    click.echo(f"已新建活动 {number}：{title}（签到二维码场景值 checkin:{number}）", err=True)
    click.echo(number)


@activities.command("list")
@click.option("--all", "show_all", is_flag=True, help="包括已结束、已截止、已取消的活动 / Include past, closed and cancelled ones.")
@click.pass_obj
def list_(state, show_all: bool) -> None:
    """列出近期活动 / List upcoming activities (--all: every activity)."""
    from sqlalchemy import select

    from models.activities import STATUS_LABELS, Activity, signup_counts
    from models.base import utcnow

    services = state.services
    tz = services.tz
    with services.db.session() as s:
        stmt = select(Activity).order_by(Activity.starts_at, Activity.number)
        if not show_all:
            stmt = stmt.where(Activity.starts_at > utcnow(), Activity.status.in_(("open", "full")))
        rows = list(s.scalars(stmt))
        if not rows:
            click.echo("没有活动 (no activities)")
            return
        click.echo("编号  开始时间          状态     已确认/名额  候补  类别  名称")
        for a in rows:
            c = signup_counts(s, a)["participant"]
            seats = "不限" if a.capacity is None else str(a.capacity)
            label = STATUS_LABELS.get(a.status, a.status)
            click.echo(f"{a.number:>4}  {_fmt(a.starts_at, tz)}  {label:<5}  "
                       f"{c['confirmed'] + c['attended']:>4}/{seats:<5}  {c['waiting']:>4}  "
                       f"{a.category}  {a.title}")


@activities.command("show")
@click.argument("number", type=int)
@click.pass_obj
def show(state, number: int) -> None:
    """查看活动 N：确认、候补、签到人数 / Show activity N with confirmed, waiting and attended counts."""
    from models.activities import STATUS_LABELS, signup_counts

    services = state.services
    tz = services.tz
    with services.db.session() as s:
        a = _activity_or_fail(s, number)
        counts = signup_counts(s, a)
        click.echo(f"活动 {a.number}：{a.title}（{a.category}）")
        click.echo(f"时间：{_fmt(a.starts_at, tz)} 至 {_fmt(a.ends_at, tz)}　报名截止：{_fmt(a.signup_deadline(), tz)}")
        place = a.place
        if not place and a.point_id is not None:
            from models.directory import ServicePoint

            point = s.get(ServicePoint, a.point_id)
            place = f"{point.name} {point.address}".strip() if point else ""
        click.echo(f"地点：{place or '-'}　状态：{STATUS_LABELS.get(a.status, a.status)}　名额：{'不限' if a.capacity is None else a.capacity}"
                   f"　志愿者：{a.volunteers_needed}")
        for role, label in (("participant", "参加者"), ("volunteer", "志愿者")):
            c = counts[role]
            click.echo(f"{label}：已报名 {c['confirmed']}  候补 {c['waiting']}  "
                       f"已签到 {c['attended']}  已取消 {c['cancelled']}")
        click.echo(f"签到二维码场景值：checkin:{a.number}")


@activities.command("close")
@click.argument("number", type=int)
@click.pass_obj
def close(state, number: int) -> None:
    """截止活动 N 的报名 / Close signups for activity N (signups already made stay)."""
    from models.activities import ActivityCancelled, ActivityNotFound, close_activity

    services = state.services
    with services.db.write_session() as s:
        try:
            a = close_activity(s, number)
        except ActivityNotFound:
            raise _not_found(number) from None
        except ActivityCancelled:
            raise click.ClickException(f"活动 {number} 已取消，不能再截止报名") from None
        title = a.title
    click.echo(f"活动 {number}「{title}」已截止报名")


@activities.command("seats")
@click.argument("number", type=int)
@click.option("--capacity", type=click.IntRange(min=0), default=None, help="新的名额 / New number of seats.")
@click.option("--unlimited", is_flag=True, help="名额改为不限 / Unlimited seats.")
@click.option("--volunteers", type=click.IntRange(min=0), default=None, help="新的志愿者人数 / New number of volunteers needed.")
@click.pass_obj
def seats(state, number: int, capacity, unlimited: bool, volunteers) -> None:
    """修改活动 N 的名额；增加的名额按顺序给候补并通知她们 / Change activity N's seats; the waiting list moves up and is told."""
    from bot.wechat.notifier import notifier_for
    from handlers.activities import tell_promoted_after_commit
    from models.activities import ActivityCancelled, ActivityNotFound, set_capacity

    services = state.services
    kwargs = {}
    if unlimited:
        kwargs["capacity"] = None
    elif capacity is not None:
        kwargs["capacity"] = capacity
    if volunteers is not None:
        kwargs["volunteers_needed"] = volunteers
    if not kwargs:
        raise click.UsageError("请给出 --capacity、--unlimited 或 --volunteers")
    with services.db.write_session() as s:
        try:  # the promoted women are told right after this commit
            activity, promoted = set_capacity(s, number, **kwargs)
            tell_promoted_after_commit(services, s, activity, promoted)
        except ActivityNotFound:
            raise _not_found(number) from None
        except ActivityCancelled:
            raise click.ClickException(f"活动 {number} 已取消，不能修改名额") from None
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        count = len(promoted)
    notifier_for(services).wait()  # the outbox worker tells them before the command ends
    click.echo(f"活动 {number} 名额已更新；{count} 位候补转为确认并已通知")


@activities.command("cancel")
@click.argument("number", type=int)
@click.option("--reason", default="", help="取消原因（会告诉已报名的群众）/ Reason, told to those signed up.")
@click.option("--yes", is_flag=True, help="不再确认 / Do not ask for confirmation.")
@click.pass_obj
def cancel(state, number: int, reason: str, yes: bool) -> None:
    """取消活动 N，并通知已报名和候补的群众 / Cancel activity N and tell everyone signed up or waiting.

    48 小时内发客服消息，否则记入待发通知 / Inside 48 hours a 客服消息, otherwise a pending notice.
    """
    from models.activities import ActivityCancelled, ActivityNotFound, cancel_activity
    from handlers.activities import notify
    from models.notice import KIND_ACTIVITY_CANCELLED

    services = state.services
    tz = services.tz
    with services.db.session() as s:
        a = _activity_or_fail(s, number)
        if a.status == "cancelled":
            raise click.ClickException(f"活动 {number} 已经取消过了，报名者已收到通知")
        title = a.title
    if not yes:
        click.confirm(f"确定取消活动 {number}「{title}」并通知报名者吗？", abort=True)
    with services.db.write_session() as s:
        try:
            a, affected = cancel_activity(s, number)
        except ActivityNotFound:
            raise _not_found(number) from None
        except ActivityCancelled:
            raise click.ClickException(f"活动 {number} 已经取消过了，报名者已收到通知") from None
        openids = sorted({x.openid for x in affected})
        text = (f"很抱歉，您报名的活动「{a.title}」（{_fmt(a.starts_at, tz)}）已取消。"
                + (f"原因：{reason}。" if reason else "") + "回复「活动」看看其他活动。")
    sent = queued = 0
    with services.db.session() as s:
        for openid in openids:
            outcome = notify(services, s, openid, KIND_ACTIVITY_CANCELLED, text)
            sent += outcome == "sent"
            queued += outcome == "queued"
    click.echo(f"活动 {number}「{title}」已取消；通知 {sent} 人，{queued} 人待发（超出 48 小时）")


@activities.command("qr")
@click.argument("number", type=int)
@click.option("--days", type=click.IntRange(1, 30), default=30, show_default=True,
              help="二维码有效天数（临时二维码最长 30 天）/ Days the QR code is valid (at most 30).")
@click.pass_obj
def qr(state, number: int, days: int) -> None:
    """生成活动 N 的签到二维码（场景值 checkin:N）/ Make activity N's check-in QR code (temporary, scene checkin:N)."""
    services = state.services
    with services.db.session() as s:
        a = _activity_or_fail(s, number)
        scene = a.checkin_scene
    try:
        result = services.wechat.create_qrcode(scene, expire_seconds=days * 86400)
    except Exception as exc:  # noqa: BLE001 - WeChatAPIError or network: tell staff plainly
        raise click.ClickException(f"生成二维码失败：{exc}") from None
    click.echo(f"活动 {number} 签到二维码（{days} 天内有效，场景值 {scene}）：")
    click.echo(result.get("show_url", ""))
    if services.config.dry_run:
        click.echo("（试运行模式：未真正调用微信接口，请求已记入发件箱）", err=True)


@activities.group("recurring")
def recurring() -> None:
    """每月固定活动（如每月17日爱心义剪）/ Recurring monthly activities (the 17th's haircuts)."""


@recurring.command("list")
@click.pass_obj
def recurring_list(state) -> None:
    """列出每月固定活动 / List recurring activities."""
    from sqlalchemy import select

    from models.activities_recurring import RecurringActivity, default_seats

    svc = state.services
    seats = default_seats(svc.config)
    with svc.db.session() as s:
        rows = list(s.scalars(select(RecurringActivity).order_by(RecurringActivity.id)))
        if not rows:
            click.echo("还没有每月固定活动。用 taoyuan activities recurring add 新建。")
            return
        click.echo("编号\t名称\t时间\t名额\t状态\t已生成到")
        for r in rows:
            cap = r.capacity if r.capacity is not None else f"{seats}（按配置）"
            made = f"已生成到 {r.made_through}" if r.made_through else "尚未生成"
            click.echo(f"{r.id}\t{r.title}\t每月{r.day}日 {r.start_time}\t名额 {cap}\t"
                       f"{'启用' if r.active else '停用'}\t{made}")


@recurring.command("add")
@click.option("--title", required=True, help="活动名称 / Title.")
@click.option("--day", type=click.IntRange(1, 31), required=True, help="每月几号 / Day of the month.")
@click.option("--time", "start_time", default="09:00", show_default=True, help="开始时间 / Start time, HH:MM.")
@click.option("--minutes", type=int, default=120, show_default=True, help="时长（分钟）/ Length in minutes.")
@click.option("--capacity", type=int, default=None, help="名额（不填=按配置 haircut_seats）/ Seats.")
@click.option("--place", default="", help="地点 / Place.")
@click.option("--category", default="", help="类别（默认同名称）/ Category (default: the title).")
@click.pass_obj
def recurring_add(state, title, day, start_time, minutes, capacity, place, category) -> None:
    """新建每月固定活动，打印编号 / Add a recurring activity and print its id."""
    from models.activities_recurring import RecurringError, add_recurring

    with state.services.db.session() as s:
        try:
            row = add_recurring(s, title=title, day=day, start_time=start_time, minutes=minutes,
                                capacity=capacity, place=place, category=category)
        except RecurringError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"已新建每月固定活动 {row.id}：{row}", err=True)
        click.echo(row.id)


@recurring.command("make")
@click.argument("recurring_id", type=int)
@click.option("--month", default=None, help="月份 YYYY-MM（默认：下一次，本月已过则下月）/ Month (default: the next one).")
@click.pass_obj
def recurring_make(state, recurring_id: int, month: str | None) -> None:
    """现在生成某月的活动（已有则不重复）/ Make a month's activity now (idempotent)."""
    from models.activities_recurring import RecurringError, create_month, default_seats, next_month_for

    svc = state.services
    with svc.db.write_session() as s:
        try:
            month = month or next_month_for(s, recurring_id, tz=svc.tz)
            result = create_month(s, recurring_id, month, tz=svc.tz,
                                  default_seats=default_seats(svc.config))
        except (RecurringError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        act = result.activity
        verb = "已生成" if result.created else "已有"
        click.echo(f"{verb} {month} 的活动 {act.number}：{act.title} {_fmt(act.starts_at, svc.tz)}",
                   err=True)
        click.echo(act.number)


@recurring.command("run")
@click.pass_obj
def recurring_run(state) -> None:
    """运行每日任务：提前生成到期的每月活动 / Run the daily job now."""
    from scheduler.activities import make_recurring

    made = make_recurring(state.services)
    for r in made:
        click.echo(f"已生成 {r.month} 的活动 {r.activity.number}：{r.activity.title}")
    if not made:
        click.echo("没有需要生成的活动。")
