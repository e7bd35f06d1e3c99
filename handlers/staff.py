"""Staff binding their own WeChat to their console account: 「绑定 123456」.

「我的账号」 in the console shows a one-time code (``models.staff.issue_bind_code``: 6 digits,
10 minutes, single use). She sends 「绑定 <code>」 to the account from her own WeChat; this
handler gives her staff account her openid (``models.staff.bind_wechat``), so 群发 previews
reach her phone without anyone copying an openid. Or she scans the QR code 「我的账号」 shows
(a temporary parametric code with scene ``bind:<code>``, WeChat doc 生成带参数的二维码 /
扫描带参数二维码事件: SCAN with EventKey ``bind:<code>``, or subscribe with
``qrscene_bind:<code>``). Wrong codes are limited per openid
(:data:`MAX_TRIES` in :data:`TRY_WINDOW` seconds) so the code cannot be guessed.
"""
from __future__ import annotations

import logging

from handlers.router import Context, Router, Stage
from models import audit
from models.staff import BindCodeExpired, BindCodeInvalid, bind_wechat

log = logging.getLogger(__name__)

#: 「绑定 123456」, 「绑定码：123456」 (compact, normalised text).
BIND_PATTERN = r"^绑定(?:码)?[:：]?(\d{6})$"
#: Wrong codes one WeChat may send within :data:`TRY_WINDOW` seconds.
MAX_TRIES = 5
TRY_WINDOW = 600

BOUND = ("绑定成功：您的微信已绑定到后台账号「{name}」。以后在后台点「预览」，群发内容会先发到这个微信。"
         "如不是您本人操作，请告诉管理员。")
INVALID = "绑定码不对或已经用过。请在后台「我的账号」里重新生成绑定码，10 分钟内发送「绑定 六位数字」。"
EXPIRED = "这个绑定码已过期（10 分钟内有效）。请在后台「我的账号」里重新生成，再发送「绑定 六位数字」。"
TOO_MANY = "绑定码输错次数太多，请 10 分钟后再试。"


def _too_many_tries(ctx: Context) -> bool:
    """Count one wrong try for her openid; True once she is over :data:`MAX_TRIES`."""
    key = ctx.services.keys("bindtry", ctx.openid)
    pipe = ctx.services.redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, TRY_WINDOW)
    tries = pipe.execute()[0]
    return int(tries) > MAX_TRIES


#: The QR scene of a binding code: ``bind:<code>``.
SCENE_PREFIX = "bind:"


def bind(ctx: Context) -> str:
    """「绑定 123456」: bind her WeChat to the staff account whose code it is; say what
    happened in Chinese."""
    return _bind(ctx, ctx.match.group(1))


def bind_by_scan(ctx: Context) -> str:
    """She scanned the binding QR code (scene ``bind:<code>``): as 「绑定 <code>」."""
    return _bind(ctx, ctx.update.scene[len(SCENE_PREFIX):])


def _bind(ctx: Context, code: str) -> str:
    key = ctx.services.keys("bindtry", ctx.openid)
    if int(ctx.services.redis.get(key) or 0) >= MAX_TRIES:
        return TOO_MANY
    try:
        row = bind_wechat(ctx.session, code, ctx.openid, now=ctx.now)
    except BindCodeExpired:
        _too_many_tries(ctx)
        return EXPIRED
    except BindCodeInvalid:
        return TOO_MANY if _too_many_tries(ctx) else INVALID
    audit.record(ctx.session, row.username, "bind", "staff_users", row.id,
                 "在微信里发送绑定码，绑定了本人微信", ip="微信", now=ctx.now)
    log.info("staff account %s bound its WeChat", row.id)
    return BOUND.format(name=row.display_name or row.username)


def register(router: Router) -> None:
    """Add the 「绑定 <code>」 rule and the binding QR scene."""
    router.on_text(regex=BIND_PATTERN)(bind)
    router.on_event("scan", key_prefix=SCENE_PREFIX, stage=Stage.QR_SCENE)(bind_by_scan)
    router.on_event("subscribe", key_prefix="qrscene_" + SCENE_PREFIX, stage=Stage.QR_SCENE)(bind_by_scan)
