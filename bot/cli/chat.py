"""``taoyuan chat``: play the WeChat server against a running webhook from the terminal."""
from __future__ import annotations

import shlex
import time

import click

from bot.wechat.protocol import AesKey
from bot.simulator import (Simulator, event_fields, http_transport, location_fields, reply_text,
                           text_fields)

HELP = """直接输入文字 = 以粉丝身份发文字消息。命令 / commands:
  /loc 纬度 经度 [地名]     发送位置 (GCJ-02), e.g. /loc 25.32 118.29
  /click KEY               点击菜单 (CLICK), e.g. /click ACTIVITIES
  /select KEY 纬度 经度     菜单发送位置 (location_select)
  /subscribe [SCENE]       关注 (可带二维码场景)     /unsubscribe  取消关注
  /scan SCENE              已关注者扫码 (SCAN), e.g. /scan checkin:3
  /voice 文字               语音消息 (带识别结果)     /image  图片消息
  /as OPENID               换一个粉丝身份            /quit  退出"""


def register(main: click.Group) -> None:
    """Add ``chat`` to ``main``."""
    main.add_command(chat)


def build_fields(line: str, openid: str, account: str) -> dict | str | None:
    """Turn one typed line into push fields; a str result is a new openid (``/as``);
    None = nothing to send. Raises ``click.UsageError`` for a malformed command."""
    if not line.startswith("/"):
        return text_fields(openid, line, account=account)
    parts = shlex.split(line)
    cmd, args = parts[0].lower(), parts[1:]
    try:
        if cmd == "/loc":
            return location_fields(openid, float(args[0]), float(args[1]),
                                   label=" ".join(args[2:]), account=account)
        if cmd == "/click":
            return event_fields(openid, "CLICK", EventKey=args[0], account=account)
        if cmd == "/select":
            return event_fields(openid, "location_select", EventKey=args[0], account=account,
                                SendLocationInfo={"Location_X": args[1], "Location_Y": args[2],
                                                  "Scale": "15", "Label": "", "Poiname": ""})
        if cmd == "/subscribe":
            extra = {"EventKey": f"qrscene_{args[0]}", "Ticket": "sim"} if args else {}
            return event_fields(openid, "subscribe", account=account, **extra)
        if cmd == "/unsubscribe":
            return event_fields(openid, "unsubscribe", account=account)
        if cmd == "/scan":
            return event_fields(openid, "SCAN", EventKey=args[0], Ticket="sim", account=account)
        if cmd == "/voice":
            return {"ToUserName": account, "FromUserName": openid, "CreateTime": int(time.time()),
                    "MsgType": "voice", "MediaId": "sim-voice", "Format": "amr",
                    "Recognition": " ".join(args), "MsgId": int(time.time() * 1000)}
        if cmd == "/image":
            return {"ToUserName": account, "FromUserName": openid, "CreateTime": int(time.time()),
                    "MsgType": "image", "PicUrl": "http://example.invalid/p.jpg",
                    "MediaId": "sim-image", "MsgId": int(time.time() * 1000)}
        if cmd == "/as":
            return args[0]
    except (IndexError, ValueError):
        raise click.UsageError(f"命令格式不对：{line}") from None
    raise click.UsageError(f"不认识的命令：{cmd}（输入 /help 查看）")


@click.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True,
              help="运行中的 webhook 地址（完整的 …/wechat 也行）/ "
                   "Base URL of the running webhook (the full …/wechat URL works too).")
@click.option("--openid", default="oSimulatedFollower0001", show_default=True,
              help="扮演的粉丝 openid / The follower's openid to play.")
@click.option("--mode", type=click.Choice(["plain", "safe", "compat"]), default=None,
              help="消息加解密方式，默认取 wechat.encryption / "
                   "Message mode; default: the configured wechat.encryption.")
@click.pass_obj
def chat(state, url: str, openid: str, mode: str | None) -> None:
    """在终端里扮演微信和粉丝 / Play WeChat and a follower in the terminal.

    每行都像微信服务器那样签名（并加密）后发出，输入 /help 查看命令 /
    Each line is signed (and encrypted) like WeChat does and posted; /help lists the commands.
    """
    wechat = state.config.wechat
    keys = state.config.aes_keys()
    mode = mode or state.config.encryption
    aes = AesKey(keys[0], wechat["app_id"]) if keys and mode != "plain" else None
    if mode != "plain" and aes is None:
        raise click.ClickException("安全模式需要配置 wechat.encoding_aes_key")
    sim = Simulator(token=wechat["token"], aes_key=aes, mode=mode)
    url = url.rstrip("/").removesuffix("/wechat")  # the URL set in WeChat's 服务器配置 works too
    transport = http_transport(url)
    click.echo(f"连接 {url}/wechat（{mode} 模式），身份 {openid}。输入 /help 查看命令。")
    while True:
        try:
            line = input("你> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/help":
            click.echo(HELP)
            continue
        try:
            fields = build_fields(line, openid, wechat["account"])
        except click.UsageError as exc:
            click.echo(exc.format_message())
            continue
        if isinstance(fields, str):
            openid = fields
            click.echo(f"现在的身份：{openid}")
            continue
        try:
            reply = sim.send(transport, fields)
        except Exception as exc:  # noqa: BLE001 - show the problem, keep the session
            click.echo(f"[错误] {exc}")
            continue
        click.echo("桃源姐妹> " + (reply_text(reply) or "(无回复 / success)"))
