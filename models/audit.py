"""The audit log: who changed what, when, in the console or with a staff command."""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import AwareDateTime, Base, utcnow

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_phone(text: str | None) -> str:
    """Mask mainland mobile numbers in ``text``: 13812341234 -> 138****1234."""
    return _PHONE.sub(r"\1****\2", text or "")


class AuditEntry(Base):
    """One change: ``actor`` (a staff username, or ``cli``), ``action`` (create, update,
    delete, login, login_failed, preview, send, import, try ...), the ``target`` table and id,
    and a short ``summary`` with phone numbers masked."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


def record(session: Session, actor: str, action: str, target: str = "", target_id: object = "",
           summary: str = "", *, ip: str = "", now: datetime | None = None) -> AuditEntry:
    """Add an audit entry to ``session`` (committed with the change it describes).

    ``summary`` is cut to 2000 characters and its phone numbers are masked.
    """
    entry = AuditEntry(at=now or utcnow(), actor=(actor or "?")[:64], action=action[:32],
                       target=(target or "")[:64], target_id=str(target_id or "")[:64],
                       summary=mask_phone(summary)[:2000], ip=(ip or "")[:64])
    session.add(entry)
    return entry
