"""``taoyuan reminders list|preview NAME|run NAME --now|set NAME ...`` and ``taoyuan scheduler``."""
from __future__ import annotations

import json
import signal
import threading

import click


def register(main: click.Group) -> None:
    """Add ``reminders`` and ``scheduler`` to ``main``."""
    main.add_command(reminders)
    main.add_command(scheduler_command)


def _mask(openid: str) -> str:
    return openid[:6] + "…" if len(openid) > 6 else openid


@click.group()
def reminders() -> None:
    """定时提醒（爱心义剪、活动提醒、待发通知）/ Scheduled reminders."""


@reminders.command("list")
@click.pass_obj
def list_reminders(state) -> None:
    """列出提醒：时间表、对象、下次发送时间 / List reminders with their schedule and next fire."""
    from sqlalchemy import select

    from models.reminders import Reminder, ReminderRun, ensure_default_reminders
    from scheduler.reminders import describe_next

    services = state.services
    with services.db.session() as s:
        ensure_default_reminders(s)
        rows = list(s.scalars(select(Reminder).order_by(Reminder.id)))
        for r in rows:
            last = s.scalar(select(ReminderRun).where(ReminderRun.reminder_id == r.id)
                            .order_by(ReminderRun.started_at.desc()).limit(1))
            flag = "启用" if r.enabled else "停用"
            click.echo(f"{r.name}  [{r.kind}, {flag}]")
            if r.schedule:
                click.echo(f"  时间表 {r.schedule}（{services.config.app['timezone']}）  "
                           f"活动日偏移 {r.event_offset_days} 天  周末规则 {r.weekend}")
                click.echo(f"  下次发送 {describe_next(services, r)}")
            if r.audience:
                click.echo(f"  对象 {r.audience}")
            if last is not None:
                click.echo(f"  上次 {last.occurrence}: {last.status}，已发 {last.sent}，失败 {last.failed}，"
                           f"跳过 {last.skipped} {last.note}")


@reminders.command("preview")
@click.argument("name")
@click.option("--limit", default=20, show_default=True, help="最多显示几位收件人 / How many recipients to show.")
@click.pass_obj
def preview(state, name: str, limit: int) -> None:
    """预览：谁会收到什么（渲染后的内容）/ Preview who would get what, rendered."""
    from datetime import timedelta

    from models.followers import Follower
    from models.reminders import KIND_SCHEDULED, ReminderError, ensure_default_reminders, get_reminder
    from scheduler.reminders import audience_openids, build_message, scheduled_values
    from scheduler.timing import next_fire

    from models.base import utcnow
    from scheduler.reminders import spec_for

    services = state.services
    now = utcnow()
    try:
        with services.db.session() as s:
            ensure_default_reminders(s)
            r = get_reminder(s, name)
            if r.kind != KIND_SCHEDULED:
                raise ReminderError(f"「{name}」按活动/通知逐条发送，请用 taoyuan activities / reminders run 查看")
            fire = next_fire(spec_for(r, services.tz), now) if r.schedule else None
            event_date = fire.event_date if fire else now.astimezone(services.tz).date() + timedelta(
                days=r.event_offset_days or 0)
            message = build_message(services, r, scheduled_values(s, r, event_date))
            openids = audience_openids(s, r.audience)
            head = f"提醒「{r.name}」"
            if fire:
                head += f"  下次发送：{fire.at.astimezone(services.tz):%Y-%m-%d %H:%M}"
            click.echo(head)
            click.echo(f"模板消息：{message.template_id or '（未配置 wechat.templates.' + r.template + '）'}")
            if message.template_id:
                click.echo("  字段：" + json.dumps(message.template_data, ensure_ascii=False))
            if message.subscribe_id:
                click.echo(f"订阅通知：{message.subscribe_id} "
                           + json.dumps(message.subscribe_data, ensure_ascii=False))
            click.echo("客服消息（48小时内）：\n  " + message.text.replace("\n", "\n  "))
            click.echo(f"收件人 {len(openids)} 位：")
            for openid in openids[:limit]:
                f = s.get(Follower, openid)
                channels = message.channels(bool(f and f.in_service_window(now)))
                click.echo(f"  {_mask(openid)}  {' → '.join(channels) or '无可用渠道（跳过）'}")
            if len(openids) > limit:
                click.echo(f"  …… 另有 {len(openids) - limit} 位")
    except ReminderError as exc:
        raise click.ClickException(str(exc)) from None


@reminders.command("run")
@click.argument("name")
@click.option("--now", "now_flag", is_flag=True, required=True, help="立即发送（必填，防止误操作）/ Send now (required, against slips).")
@click.option("--occurrence", default=None,
              help="本次的键（默认 manual:<今天>；同一键不会重复发送，中断后再运行只补发未发的）/ "
                   "Occurrence key (default manual:<today>); a key is never sent twice.")
@click.pass_obj
def run(state, name: str, now_flag: bool, occurrence: str | None) -> None:
    """立即发送一个提醒 / Send reminder NAME now."""
    from models.reminders import ReminderError
    from scheduler.reminders import run_reminder_now

    try:
        result = run_reminder_now(state.services, name, occurrence=occurrence)
    except ReminderError as exc:
        raise click.ClickException(str(exc)) from None
    results = result if isinstance(result, list) else [result]
    if not results:
        click.echo("没有需要发送的内容。")
    for r in results:
        label = {"done": "完成", "stopped": "已暂停", "already_done": "此前已发完，未重复发送",
                 "busy": "另一进程正在发送"}.get(r.status, r.status)
        click.echo(f"{r.occurrence}: {label}；共 {r.total} 人，已发 {r.sent}，失败 {r.failed}，"
                   f"跳过 {r.skipped}，待发 {r.pending}；{r.elapsed:.1f} 秒 {r.note}")


@reminders.command("set")
@click.argument("name")
@click.option("--schedule", help="cron 5段：分 时 日 月 周，例如 \"0 18 16 * *\" / Five-field cron: minute hour day month weekday.")
@click.option("--weekend", type=click.Choice(["keep", "skip", "friday", "monday"]),
              help="活动日逢周末：不变、跳过、改到周五或周一 / When the day falls on a weekend.")
@click.option("--audience", help="对象，如 topic:haircut、town:桃城镇、activity:3 / Audience.")
@click.option("--text", help="客服消息文字，可用 {title} {when} {place} / Text of the 客服消息.")
@click.option("--enable/--disable", default=None, help="启用或停用 / Enable or disable it.")
@click.pass_obj
def set_reminder(state, name, schedule, weekend, audience, text, enable) -> None:
    """修改提醒 / Edit a reminder (the scheduler picks it up within a minute)."""
    from models.reminders import (ReminderError, ensure_default_reminders, get_reminder,
                                  save_reminder)

    services = state.services
    changes = {k: v for k, v in (("schedule", schedule), ("weekend", weekend),
                                 ("audience", audience), ("text", text), ("enabled", enable))
               if v is not None}
    try:
        with services.db.session() as s:
            ensure_default_reminders(s)
            save_reminder(s, get_reminder(s, name), **changes)  # checks every value first
    except ReminderError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已保存「{name}」。")


@click.command("scheduler")
@click.pass_obj
def scheduler_command(state) -> None:
    """运行定时任务进程（只运行一个；多开时其余待命）/ Run the scheduler process."""
    from scheduler.runner import run_scheduler

    state.refuse_unsafe_production()
    services = state.services
    stop = threading.Event()

    def _stop(signum, _frame):
        click.echo(f"收到信号 {signum}，正在停止…", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"桃源姐妹 scheduler (config: {services.config.source})", err=True)
    run_scheduler(services, stop, on_state=lambda st: click.echo(f"scheduler: {st}", err=True))
