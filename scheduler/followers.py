"""The followers feature's scheduler jobs: subscribes parked during a database outage.

A subscribe (or unsubscribe) that arrived while the database was down was answered (the
welcome) and parked in Redis (``models.followers.park_event``); ``followers-parked`` records
them every minute once the database answers again, whichever web process parked them.
"""
from __future__ import annotations

#: Seconds between two looks at the parked events.
PARKED_INTERVAL = 60


def register(scheduler, services, existing: dict) -> None:
    """The feature-manifest hook of the scheduler layer (``scheduler.runner.sync_jobs``): add
    the ``followers-parked`` job unless ``existing`` (jobs by id) has it. The job calls
    ``scheduler.runner:job_followers_parked`` (job functions are stored by reference)."""
    if "followers-parked" not in existing:
        scheduler.add_job("scheduler.runner:job_followers_parked", "interval",
                          seconds=PARKED_INTERVAL, id="followers-parked",
                          name="补记停机期间的关注", replace_existing=True)
