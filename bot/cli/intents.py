"""``taoyuan intents test|unmatched|teach|ignore|retrain``: the understanding engine (models/intents.py)."""
from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add ``intents`` to ``main``."""
    main.add_command(intents)


@click.group()
def intents() -> None:
    """理解她的话：试一试、没听懂的话、重新训练 / Understanding free-form messages."""


def _today(svc):
    from models.base import utcnow

    return utcnow().astimezone(svc.tz).date()


def _label(intent: str | None) -> str:
    from models.intents import INTENTS

    if intent is None:
        return "（无）"
    return f"{intent}（{INTENTS.get(intent, intent)}）"


@intents.command("test")
@click.argument("text")
@click.pass_obj
def test(state, text: str) -> None:
    """看看一句话会被理解成什么（意图、把握、前三、要素、危险分）/ Classify one sentence."""
    from models.intents import CONFIDENT, DANGER_THRESHOLD, classify, prepare

    if not prepare(text):
        raise click.UsageError("句子是空的：请在引号里写一句话，例如 taoyuan intents test \"附近有没有调解室\""
                               " / the sentence is empty")
    svc = state.services
    with svc.db.session() as s:
        p = classify(text, today=_today(svc), session=s, kv=svc)
    click.echo(f"意图 / intent: {_label(p.intent)}")
    click.echo(f"把握 / confidence: {p.confidence:.2f}" + ("" if p.confidence >= CONFIDENT else "（不够确定）"))
    click.echo("前三 / top 3: " + "，".join(f"{_label(i)} {c:.2f}" for i, c in p.ranked[:3]))
    slots = {k: v for k, v in vars(p.slots).items() if v is not None}
    names = {"town": "乡镇", "need": "需要", "category": "活动类别", "date_from": "从", "date_to": "到"}
    click.echo("要素 / slots: " + ("，".join(f"{names[k]} {v}" for k, v in slots.items()) or "（无）"))
    alarm = "（会回复求助热线）" if p.danger >= DANGER_THRESHOLD else ""
    click.echo(f"危险分 / danger: {p.danger:.3f}{alarm}")


@intents.command("unmatched")
@click.option("--all", "show_all", is_flag=True, help="包括已处理的 / Include assigned and ignored ones.")
@click.option("--limit", default=50, show_default=True, type=int, help="最多几条 / At most this many.")
@click.pass_obj
def unmatched(state, show_all: bool, limit: int) -> None:
    """没听懂的话（已隐去个人信息），按次数排 / Messages not understood, most frequent first."""
    from models.intents import list_unmatched

    svc = state.services
    status_names = {"open": "待处理", "assigned": "已归类", "ignored": "已忽略"}
    with svc.db.session() as s:
        rows = list_unmatched(s, status=None if show_all else "open", limit=limit)
        if not rows:
            click.echo("没有没听懂的话。")
            return
        click.echo("编号\t次数\t最近\t猜测\t状态\t内容")
        for r in rows:
            last = r.last_seen.astimezone(svc.tz).strftime("%m-%d %H:%M")
            guess = f"{_label(r.guess)} {r.confidence:.2f}" if r.guess else "（无）"
            status = status_names.get(r.status, r.status)
            if r.intent:
                status += f"：{_label(r.intent)}"
            click.echo(f"{r.id}\t{r.count}\t{last}\t{guess}\t{status}\t{r.text}")


@intents.command("teach")
@click.argument("unmatched_id", type=int)
@click.argument("intent")
@click.option("--staff", default="cli", show_default=True, help="谁归的类 / Who taught it.")
@click.pass_obj
def teach_cmd(state, unmatched_id: int, intent: str, staff: str) -> None:
    """把一条没听懂的话归到某个意图 / Assign an unmatched message to an intent."""
    from models.intents import TeachError, teach

    svc = state.services
    try:
        with svc.db.session() as s:
            row = teach(s, unmatched_id, intent, staff=staff, kv=svc)
            text = row.text
    except TeachError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已归类：「{text}」→ {_label(intent)}；各进程一分钟内用上新的理解。")


@intents.command("ignore")
@click.argument("unmatched_id", type=int)
@click.pass_obj
def ignore_cmd(state, unmatched_id: int) -> None:
    """忽略一条没听懂的话 / Mark an unmatched message ignorable."""
    from models.intents import TeachError, teach

    svc = state.services
    try:
        with svc.db.session() as s:
            teach(s, unmatched_id, None, staff="cli", kv=svc)
    except TeachError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("已忽略。")


@intents.command("retrain")
@click.pass_obj
def retrain_cmd(state) -> None:
    """重新训练（各进程一分钟内换用新模型）/ Rebuild the model; every process follows within a minute."""
    from models.intents import retrain

    svc = state.services
    with svc.db.session() as s:
        model = retrain(s, kv=svc)
    click.echo(f"已重新训练：{model.examples} 条例句，用时 {model.build_seconds:.1f} 秒，版本 {model.version}。")
