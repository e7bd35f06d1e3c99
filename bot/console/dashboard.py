"""Figures on the console home page."""
from __future__ import annotations

from typing import NamedTuple

from flask import current_app, url_for
from sqlalchemy import func, select

from models import help as hr
from models.broadcasts import Broadcast
from models.followers import Follower
from models.outbox import OutboxMessage


class Figure(NamedTuple):
    """One card of the console home page: a Chinese label and a number; ``note`` a line under
    it (red when ``alert``), ``url`` where the card leads."""

    label: str
    value: int
    note: str = ""
    url: str = ""
    alert: bool = False


def dashboard_figures() -> list[Figure]:
    """The home page's cards (:class:`Figure`): followers, broadcasts, outbox size, help
    requests waiting for an answer (with the urgent ones, linking to them)."""
    svc = current_app.extensions["taoyuan"]
    with svc.db.session() as s:
        out = [
            Figure("当前关注者", s.scalar(select(func.count()).select_from(Follower)
                                         .where(Follower.subscribed.is_(True))) or 0),
            Figure("群发记录", s.scalar(select(func.count()).select_from(Broadcast)) or 0),
            Figure("发件箱（未发出的消息）", s.scalar(select(func.count()).select_from(OutboxMessage)) or 0),
        ]
        open_requests = _open_help_requests(s)
        if open_requests is not None:
            urgent = int(hr.urgent_open_count(s))
            if urgent:
                out.append(Figure("待答复求助", open_requests, f"其中紧急 {urgent} 条，请先处理",
                                  url_for("help.index_view", urgent_open="1"), alert=True))
            else:
                out.append(Figure("待答复求助", open_requests, "没有紧急求助",
                                  url_for("help.index_view")))
    return out


def _open_help_requests(s) -> int | None:
    """Help requests waiting for an answer, urgent ones included (the help feature's own
    ``open_request_count``)."""
    return int(hr.open_request_count(s))
