"""Figures on the console home page."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from models import help as hr
from models.broadcasts import Broadcast
from models.followers import Follower
from models.outbox import OutboxMessage


def dashboard_figures() -> list[tuple[str, int]]:
    """(Chinese label, number) pairs: followers, outbox size, broadcasts this month..."""
    svc = current_app.extensions["taoyuan"]
    with svc.db.session() as s:
        out = [
            ("当前关注者", s.scalar(select(func.count()).select_from(Follower)
                                   .where(Follower.subscribed.is_(True))) or 0),
            ("群发记录", s.scalar(select(func.count()).select_from(Broadcast)) or 0),
            ("发件箱（未发出的消息）", s.scalar(select(func.count()).select_from(OutboxMessage)) or 0),
        ]
        open_requests = _open_help_requests(s)
        if open_requests is not None:
            out.append(("待答复求助", open_requests))
    return out


def _open_help_requests(s) -> int | None:
    """Help requests waiting for an answer, urgent ones included (the help feature's own
    ``open_request_count``)."""
    return int(hr.open_request_count(s))
