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


# ----------------------------------------------------------------------------- log masking

# redact / mask_openid live in bot.core.logging (one place for what logs may show).
