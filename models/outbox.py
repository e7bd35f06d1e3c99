"""The outbox: what the account would have sent while in dry run (no app_secret configured)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import AwareDateTime, Base, utcnow


class OutboxMessage(Base):
    """One outbound API call not made: ``api`` is the WeChat path (``message/custom/send``),
    ``payload`` its JSON body (personal fields included, so only staff pages show it)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow, index=True)
    api: Mapped[str] = mapped_column(String(128))
    openid: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
