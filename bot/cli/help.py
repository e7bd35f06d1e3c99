"""``taoyuan requests ...``: staff read and answer help requests (求助/留言) from the terminal.

The group is ``requests`` (not ``help``, which prints the CLI's own help).

``list``, ``show N``, ``reply N TEXT``, ``close N``, ``digest``, ``anonymise`` and ``words``
(danger words kept in the database). The console calls the same model operations
(models/help.py). Contents are printed only by ``show``: the person at the terminal is
staff; nothing here writes contents to the log.
"""
from __future__ import annotations

import click

from handlers import help_messages
from models import help as hr
from models import safety
from scheduler import help as help_jobs
from models.privacy import mask_phone


def register(main: click.Group) -> None:
    """Add the ``requests`` group to ``main``."""
    main.add_command(requests_group)


@click.group("requests")
@click.pass_obj
def requests_group(state) -> None:
    """求助留言：查看、答复、汇总、到期匿名化 / Help requests: list, read, answer, digest, anonymise."""
    from bot.core.config import ConfigError

    try:
        hr.help_settings(state.config)
    except ConfigError as exc:
        raise click.ClickException(f"配置错误 / configuration error: {exc}") from None


def _ref(value: str) -> int:
    request_id = hr.parse_ref(value)
    if request_id is None:
        raise click.BadParameter(f"不是有效的编号: {value}（如 12 或 H00012）")
    return request_id


def _local(services, when) -> str:
    return when.astimezone(services.tz).strftime("%Y-%m-%d %H:%M") if when else "-"


@requests_group.command("list")
@click.option("--status", type=click.Choice(["new", "answered", "closed", "all"]), default="new",
              show_default=True, help="按状态筛选 / Filter by status.")
@click.option("--urgent", is_flag=True, help="只看紧急 / Urgent ones only.")
@click.option("--limit", default=50, show_default=True, type=int, help="最多几条 / At most this many.")
@click.pass_obj
def list_cmd(state, status: str, urgent: bool, limit: int) -> None:
    """列出求助（不显示内容）/ List requests without their contents."""
    services = state.services
    with services.db.session() as s:
        rows = hr.list_requests(s, status=None if status == "all" else status,
                                urgent_only=urgent, limit=limit)
        counts = hr.count_by_status(s)
        waiting = hr.open_request_count(s)  # same figure as the console's 待答复求助
        if not rows:
            click.echo("没有符合条件的求助。")
        for r in rows:
            flag = "【紧急】" if r.urgent else ""
            contact = hr.CONTACT_LABELS.get(r.contact, r.contact)
            if r.phone:
                contact += f" {mask_phone(r.phone)}"
            draft = "（未填完）" if not (r.submitted or r.urgent) and r.status == hr.STATUS_NEW else ""
            click.echo(f"{r.ref}  {_local(services, r.created_at)}  {flag}{r.category_label}  "
                       f"{hr.STATUS_LABELS.get(r.status, r.status)}{draft}  {contact}")
    click.echo(f"待答复 {waiting}（紧急 {counts['urgent_new']}），已答复 {counts['answered']}，"
               f"已关闭 {counts['closed']}")


@requests_group.command("show")
@click.argument("ref")
@click.pass_obj
def show_cmd(state, ref: str) -> None:
    """显示一条求助的全部内容 / Show one request in full."""
    services = state.services
    with services.db.session() as s:
        try:
            r = hr.get_request(s, _ref(ref))
        except hr.RequestNotFound:
            raise click.ClickException(f"没有编号为 {ref} 的求助") from None
        lines = [
            f"编号：{r.ref}{'  【紧急】' if r.urgent else ''}{'  【有轻生念头】' if r.distress else ''}",
            f"类别：{r.category_label}    状态：{hr.STATUS_LABELS.get(r.status, r.status)}",
            f"时间：{_local(services, r.created_at)}    openid：{r.openid or '（已匿名）'}",
            f"联系方式：{hr.CONTACT_LABELS.get(r.contact, r.contact)} {r.phone or ''}".rstrip(),
            "内容：", r.body or "（无文字）",
        ]
        if not (r.submitted or r.urgent) and r.status == hr.STATUS_NEW:
            lines.insert(2, f"提交：{hr.DRAFT_LABEL}")
        for item in r.media_items:
            lines.append(f"  [{item.get('type')}] MediaId {item.get('media_id')}")
        if r.answer is not None:
            lines += [f"答复（{r.answered_by}，{_local(services, r.answered_at)}，"
                      f"送达方式 {hr.DELIVERY_LABELS.get(r.answer_delivery, r.answer_delivery)}，{'已读' if r.answer_seen_at else '未读'}）：",
                      r.answer]
        if r.anonymised_at:
            lines.append(f"内容已于 {_local(services, r.anonymised_at)} 按保存期限匿名化。")
    click.echo("\n".join(lines))


@requests_group.command("reply")
@click.argument("ref")
@click.argument("text", nargs=-1, required=True)
@click.option("--staff", default="cli", show_default=True, help="答复人 / Who answers.")
@click.option("--close", "close_after", is_flag=True, help="答复后关闭 / Close after answering.")
@click.pass_obj
def reply_cmd(state, ref: str, text: tuple[str, ...], staff: str, close_after: bool) -> None:
    """答复一条求助 / Answer a request.

    48小时内发客服消息，否则发模板消息提示她回复「查看回复」/
    Inside 48 hours a 客服消息, otherwise a template message asking her to reply 「查看回复」.
    """
    services = state.services
    request_id = _ref(ref)
    from models.staff import answerer_name  # 答复人 as in the console: display name if any

    with services.db.session() as s:
        staff = answerer_name(s, staff)
    try:
        result = help_messages.answer_and_deliver(services, request_id, " ".join(text), staff=staff)
    except hr.RequestNotFound:
        raise click.ClickException(f"没有编号为 {ref} 的求助") from None
    except hr.EmptyMessage:
        raise click.ClickException("答复内容不能为空") from None
    except hr.RequestAnonymised:
        raise click.ClickException("这条求助已匿名化，不能再答复") from None
    how = {hr.DELIVERY_CUSTOMER_SERVICE: "已用客服消息发给她",
           hr.DELIVERY_TEMPLATE: "她已超过48小时未互动，已发模板消息提示她回复「查看回复」",
           hr.DELIVERY_WAITING: "未能推送（未配置答复模板或发送失败），她回复「查看回复」即可看到"}
    click.echo(f"{result.ref}：{how[result.delivery]}")
    if close_after:
        with services.db.session() as s:
            hr.close_request(s, request_id)
        click.echo(f"{result.ref} 已关闭")


@requests_group.command("close")
@click.argument("ref")
@click.pass_obj
def close_cmd(state, ref: str) -> None:
    """关闭一条求助（保存期限从此开始计算）/ Close a request."""
    with state.services.db.session() as s:
        try:
            row = hr.close_request(s, _ref(ref))
        except hr.RequestNotFound:
            raise click.ClickException(f"没有编号为 {ref} 的求助") from None
        click.echo(f"{row.ref} 已关闭")


@requests_group.command("digest")
@click.pass_obj
def digest_cmd(state) -> None:
    """把尚未通知的新求助汇总发给值班人员 / Send the on-duty digest now."""
    result = help_jobs.send_digest(state.services)
    click.echo(f"汇总：新求助 {result.requests} 件（紧急 {result.urgent}），"
               f"已通知值班人员 {result.staff_reached} 人")


@requests_group.command("anonymise")
@click.option("--days", type=int, default=None, help="保存天数，默认取配置 [help] retention_days / Days to keep.")
@click.pass_obj
def anonymise_cmd(state, days: int | None) -> None:
    """把超过保存期限的已答复、已关闭求助匿名化 / Apply the retention period."""
    services = state.services
    days = days if days is not None else hr.help_settings(services.config).retention_days
    if days < 1:
        raise click.BadParameter("天数至少为 1")
    with services.db.session() as s:
        n = hr.anonymise_finished(s, retention_days=days)
    click.echo(f"已匿名化 {n} 条（保存期限 {days} 天）")


@requests_group.group("words")
def words() -> None:
    """危险词（数据库中的补充词）/ Danger words added by staff."""


@words.command("list")
@click.pass_obj
def words_list(state) -> None:
    """列出数据库中的补充危险词 / List the danger words added by staff."""
    with state.services.db.session() as s:
        rows = safety.active_danger_words(s)
    if not rows:
        click.echo("数据库中没有补充词（内置词表见 models/data/danger_words.txt）。")
    for kind, word in sorted(rows):
        click.echo(f"{kind}\t{word}")


@words.command("add")
@click.argument("word")
@click.option("--kind", type=click.Choice(["danger", "distress", "benign"]), default="danger",
              show_default=True, help="danger 暴力、危险，distress 轻生念头，benign 无害短语 / Kind of word.")
@click.pass_obj
def words_add(state, word: str, kind: str) -> None:
    """添加危险词（1分钟内各进程生效）/ Add a danger word (live within a minute)."""
    try:
        with state.services.db.session() as s:
            row = safety.add_danger_word(s, word, kind)
            click.echo(f"已添加：{row.kind} {row.word}")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@words.command("remove")
@click.argument("word")
@click.pass_obj
def words_remove(state, word: str) -> None:
    """停用数据库中的一个补充词 / Deactivate a word added by staff."""
    with state.services.db.session() as s:
        ok = safety.remove_danger_word(s, word)
    click.echo("已停用" if ok else "数据库中没有这个词（内置词表的词请改 models/data/danger_words.txt）")


@words.command("test")
@click.argument("text")
@click.pass_obj
def words_test(state, text: str) -> None:
    """试一试：这句话会不会触发危险词回复 / Test whether TEXT triggers the danger reply."""
    from handlers.safety import DangerMatcher, load_words

    with state.services.db.session() as s:
        matcher = DangerMatcher(load_words() + safety.active_danger_words(s))
    found = matcher.match(text)
    click.echo(f"命中 {found.kind}: {'、'.join(found.words)}" if found else "未命中")
