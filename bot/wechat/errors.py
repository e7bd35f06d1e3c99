"""Errors of the WeChat API client: one named exception per errcode the bot handles.

Every one is a :class:`WeChatAPIError`, which is also wechatpy's ``WeChatClientException``
(全局返回码说明: 45015 outside the 48-hour window, 43004 not a follower, 45009 quota ...).
"""
from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

class WeChatAPIError(WeChatClientException):
    """WeChat answered ``errcode != 0`` (or could not be reached: see subclasses).

    ``errcode`` (int, or None for network/HTTP failures), ``errmsg`` (WeChat's English text),
    ``path`` (the API path, e.g. ``message/custom/send``), ``result`` (the decoded JSON answer).
    Subclasses wechatpy's ``WeChatClientException`` so its API classes' own handling still works.
    """

    errcode_class: int | None = None

    def __init__(self, errcode: int | None, errmsg: str, path: str = "", result: dict | None = None):
        super().__init__(errcode, errmsg)
        self.path = path
        self.result = result or {}

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"WeChat error {self.errcode}: {self.errmsg}{where}"


class WeChatNetworkError(WeChatAPIError):
    """WeChat could not be reached, timed out, or answered something that is not its JSON
    (HTTP 5xx, an HTML page). ``errcode`` is None. The send may or may not have happened."""


class NotFollower(WeChatAPIError):
    """43004: the openid does not follow the account (require subscribe)."""
    errcode_class = 43004


class InvalidOpenid(WeChatAPIError):
    """40003: the openid is not valid for this account."""
    errcode_class = 40003


class QuotaExceeded(WeChatAPIError):
    """45009: the daily call quota of this API is used up."""
    errcode_class = 45009


class OutsideServiceWindow(WeChatAPIError):
    """45015: 客服消息 outside the 48 hours after her last message."""
    errcode_class = 45015


class Unauthorized(WeChatAPIError):
    """48001: the account is not authorised for this API."""
    errcode_class = 48001


class SubscriptionRefused(WeChatAPIError):
    """43101: she has not accepted (or has refused) this 订阅通知 template."""
    errcode_class = 43101


class WeChatBusy(WeChatAPIError):
    """-1: WeChat was still busy after every back-off retry."""
    errcode_class = -1


ERRORS: dict[int, type[WeChatAPIError]] = {
    cls.errcode_class: cls
    for cls in (NotFollower, InvalidOpenid, QuotaExceeded, OutsideServiceWindow, Unauthorized,
                SubscriptionRefused, WeChatBusy)
}


def error_for(errcode: int | None, errmsg: str, path: str = "", result: dict | None = None) -> WeChatAPIError:
    """The named exception for ``errcode`` (a plain :class:`WeChatAPIError` if it has no name)."""
    cls = ERRORS.get(errcode, WeChatAPIError) if errcode is not None else WeChatNetworkError
    return cls(errcode, errmsg, path, result)


# ----------------------------------------------------------------------------- Chinese reasons

#: errcode -> what it means, in Chinese, for staff (全局返回码说明 and the 模板消息 / 客服消息 /
#: 订阅通知 / 群发 pages). Never shown to the woman herself.
REASONS: dict[int, str] = {
    -1: "微信系统繁忙，稍后再试",
    40001: "接口凭证（access_token）无效，已自动刷新",
    40003: "openid 无效（不是本公众号的关注者）",
    40007: "素材 media_id 无效",
    40014: "接口凭证（access_token）无效",
    40037: "模板消息的模板 ID 无效",
    40130: "群发对象至少要 2 人",
    40164: "服务器 IP 不在公众号的 IP 白名单里",
    42001: "接口凭证（access_token）已过期",
    43004: "对方已取消关注，不能再发送",
    43101: "对方没有订阅（或已拒收）这条订阅通知",
    45009: "今日接口调用额度已用完，明天再发",
    45015: "对方超过 48 小时没有给公众号发消息，客服消息发不出去；等她再发消息后才能发送",
    45047: "客服消息发送过多，对方回复前不能再发",
    45065: "这条群发已经提交过（相同 clientmsgid），微信不会重复发送",
    45028: "本月群发次数已用完",
    47001: "发送内容格式有误",
    48001: "公众号没有这个接口的权限（需认证或开通）",
}

#: What a network failure (errcode None: timeout, HTTP error, not JSON) is called for staff.
NETWORK_REASON = "连接微信超时或网络出错，不确定对方是否收到"


def reason_for(errcode: int | None) -> str:
    """The Chinese reason of ``errcode`` for staff (console, command line, delivery log):
    :data:`REASONS`, :data:`NETWORK_REASON` for None, else 「微信返回错误码 N」."""
    if errcode is None:
        return NETWORK_REASON
    return REASONS.get(errcode, f"微信返回错误码 {errcode}")


# ----------------------------------------------------------------------------- log masking

# redact / mask_openid live in bot.core.logging (one place for what logs may show).
