"""Safety: danger words staff add without a deploy (on top of models/data/danger_words.txt).

The matching itself (word file, OpenCC, the reply with hotlines) is ``handlers/safety.py``; an
urgent help request made by a danger word is ``models.help.flag_urgent``. Here: the
table of database additions and the operations that change it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.core.text import compact
from models.base import AwareDateTime, Base, utcnow

#: The kinds of a database danger word: a danger phrase, a self-harm (distress) phrase, or a
#: harmless phrase blanked out before matching.
KINDS = ("danger", "distress", "benign")


class DangerWord(Base):
    """A danger word staff added without a deploy (on top of models/data/danger_words.txt).

    ``kind`` is ``danger``, ``distress`` or ``benign`` (a harmless phrase blanked out before
    matching). ``word`` is stored normalised (NFKC, simplified, no spaces).
    """

    __tablename__ = "help_danger_words"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    word: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="danger")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), default=utcnow)


def add_danger_word(session: Session, word: str, kind: str = "danger") -> DangerWord:
    """Add (or re-activate) a danger word; ``word`` is normalised. Raises ``ValueError`` for an
    empty word or an unknown ``kind``."""
    norm = compact(word)
    if not norm or len(norm) > 32:
        raise ValueError("word must be 1-32 characters")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    row = session.scalars(select(DangerWord).where(DangerWord.word == norm)).first()
    if row is None:
        row = DangerWord(word=norm, kind=kind, active=True, created_at=utcnow())
        session.add(row)
    row.kind, row.active = kind, True
    session.flush()
    return row


def remove_danger_word(session: Session, word: str) -> bool:
    """Deactivate a database danger word; False when there is none (file words stay)."""
    row = session.scalars(select(DangerWord).where(DangerWord.word == compact(word))).first()
    if row is None:
        return False
    row.active = False
    session.flush()
    return True


def active_danger_words(session: Session) -> list[tuple[str, str]]:
    """``[(kind, word), ...]`` of the active database additions."""
    return [(r.kind, r.word) for r in session.scalars(
        select(DangerWord).where(DangerWord.active.is_(True)))]
