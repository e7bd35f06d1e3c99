"""Logging for every entry point, with a safety net that masks personal data.

Code never logs names, phone numbers or message contents on purpose; :class:`MaskingFilter`
masks mainland mobile numbers (138****1234) and ID-card numbers in any record that slips through.
"""
from __future__ import annotations

import logging
import re
import sys

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_CARD = re.compile(r"(?<![0-9])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9])")
_OPENID_PARAM = re.compile(r"((?:openid|touser|FromUserName)=)([\w-]{6})[\w-]+")


_SECRET_PARAM = re.compile(r"(access_token|secret)=[^&\s'\"]+")


def redact(text: str) -> str:
    """``text`` with ``access_token=...`` and ``secret=...`` query values replaced by ``***``."""
    return _SECRET_PARAM.sub(r"\1=***", text)


def mask_openid(openid: str | None) -> str:
    """``oAbC****wXyZ``: enough to tell followers apart in a log, not enough to message one."""
    if not openid:
        return "-"
    if len(openid) <= 8:
        return "****"
    return f"{openid[:4]}****{openid[-4:]}"


def mask_personal(text: str) -> str:
    """Mask mobile numbers, ID-card numbers, openids and secrets in query strings in ``text``."""
    text = redact(_OPENID_PARAM.sub(r"\1\2…", text))
    return _MOBILE.sub(r"\1****\2", _ID_CARD.sub(r"\1********\2", text))


class MaskingFilter(logging.Filter):
    """A handler filter that rewrites each record's message with :func:`mask_personal`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        masked = mask_personal(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at ``level`` with personal data masked; safe to call more than once."""
    root = logging.getLogger()
    if not any(getattr(h, "_taoyuan", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(MaskingFilter())
        handler._taoyuan = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
