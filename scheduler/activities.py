"""Activities jobs: make each month's activity of a recurring one ahead of time.

The scheduler runs :func:`make_recurring` daily (``recurring-activities``, 06:10 local) and in
its catch-up at every start (scheduler/runner.py ``job_catch_up``); ``taoyuan activities
recurring run`` runs it by hand. Which months are due and the once-per-month rule are model
operations (models/activities_recurring.py); nothing is sent to anyone.
"""
from __future__ import annotations

import logging
from datetime import datetime

from models import activities_recurring as recurring
from models.base import utcnow

log = logging.getLogger(__name__)

JOB_ID = "recurring-activities"


def make_recurring(services, now: datetime | None = None) -> list[recurring.MonthResult]:
    """Make the due months of every active recurring activity
    (:func:`models.activities_recurring.create_due`, seats of an empty capacity from
    ``[activities] haircut_seats``). Returns what was made (empty when nothing was due)."""
    with services.db.write_session() as s:
        made = recurring.create_due(s, tz=services.tz, now=now or utcnow(),
                                    default_seats=recurring.default_seats(services.config))
        for r in made:
            log.info("recurring activity %s: activity %s made for %s", r.recurring.id,
                     r.activity.number, r.month)
        return made


def register(scheduler, services, existing: dict) -> None:
    """The feature-manifest hook of the scheduler layer (``scheduler.runner.sync_jobs``): add
    the daily ``recurring-activities`` job (06:10 local; the scheduler's catch-up at start runs
    it too, so a fresh install has the next one at once) calling
    ``scheduler.runner:job_recurring_activities``; ``existing``: the jobs by id."""
    if JOB_ID not in existing:
        scheduler.add_job("scheduler.runner:job_recurring_activities", "cron", hour=6, minute=10,
                          timezone=services.tz, id=JOB_ID, name="生成每月固定活动",
                          replace_existing=True)
