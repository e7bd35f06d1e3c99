"""预约调解: booking a mediation time at a 纠纷化解 point (秀丽个人调解室, 陈秀美个人评理室 ...).

A mediation time is an activity (the activities' signup machinery books it) that is private:
hosted at a 纠纷化解 service point or with a mediation category (the rule is
:func:`models.activities.private_clause`, whose constants are re-exported here). The 「预约调解」
conversation lives in handlers/help.py.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.activities import MEDIATION_CATEGORIES, MEDIATION_PLATFORM, OPEN, Activity, Signup
from models.help import HelpRequest
from models.directory import ServicePoint

__all__ = ["MEDIATION_CATEGORIES", "MEDIATION_PLATFORM", "known_phone", "mediation_points",
           "mediation_slots"]


def mediation_slots(session: Session, now: datetime, *, limit: int = 8) -> list:
    """Bookable mediation times, soonest first: open activities (seats left, before the
    deadline) hosted at a 纠纷化解 service point or with a mediation category.
    Returns ``models.activities.Activity`` rows."""
    points = select(ServicePoint.id).where(ServicePoint.platform == MEDIATION_PLATFORM)
    stmt = (select(Activity).where(Activity.status == OPEN, Activity.starts_at > now,
                                   or_(Activity.point_id.in_(points),
                                       Activity.category.in_(MEDIATION_CATEGORIES)))
            .order_by(Activity.starts_at, Activity.number).limit(limit * 3))
    return [a for a in session.scalars(stmt) if now < a.signup_deadline()][:limit]


def known_phone(session: Session, openid: str) -> str | None:
    """Her latest phone number from her signups or help requests (to offer it again), or None."""
    signup = session.scalars(select(Signup.phone).where(Signup.openid == openid,
                                                        Signup.phone.is_not(None))
                             .order_by(Signup.created_at.desc()).limit(1)).first()
    if signup:
        return signup
    return session.scalars(select(HelpRequest.phone).where(HelpRequest.openid == openid,
                                                           HelpRequest.phone.is_not(None))
                           .order_by(HelpRequest.id.desc()).limit(1)).first()


def mediation_points(session: Session, *, limit: int = 11) -> list:
    """The active 纠纷化解 service points (``models.directory.ServicePoint``), by name."""
    return list(session.scalars(select(ServicePoint).where(
        ServicePoint.platform == MEDIATION_PLATFORM, ServicePoint.active.is_(True))
        .order_by(ServicePoint.name).limit(limit)))
