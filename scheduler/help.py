"""Help (求助) jobs: the digest for on-duty staff and the daily retention job.

The scheduler runs :func:`send_digest` at ``[help] digest_times`` and :func:`housekeeping`
daily (scheduler/runner.py); ``taoyuan requests digest`` runs the digest by hand. The digest is
worded here (it goes to staff, never to a woman) and sent through the notifier; which requests
it covers and what it records are model operations (models/help.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.wechat.notifier import notifier_for, short_field
from models import help as hr
from models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestResult:
    """What :func:`send_digest` did: requests reported, how many urgent, staff reached."""

    requests: int
    urgent: int
    staff_reached: int


def send_digest(services, now: datetime | None = None) -> DigestResult:
    """Send on-duty staff one summary of the requests they have not been told about yet
    (``models.help.digest_pending``). Requests are marked notified only when at least
    one staff member was reached (模板消息 with ``[help] staff_template_id``, else 客服消息)."""
    settings = hr.help_settings(services.config)
    now = now or utcnow()
    with services.db.session() as s:
        rows = hr.digest_pending(s, now)
        ids = [r.id for r in rows]
        urgent = sum(1 for r in rows if r.urgent)
        cats: dict[str, int] = {}
        for r in rows:
            label = hr.CATEGORY_LABELS.get(r.category, "其他").split("/")[0]
            cats[label] = cats.get(label, 0) + 1
    if not ids:
        return DigestResult(0, 0, 0)
    if not settings.on_duty_openids:
        log.error("help digest: %s requests waiting but nobody was told: the config key "
                  "[help] on_duty_openids is empty", len(ids))
        return DigestResult(len(ids), urgent, 0)
    summary = " ".join(f"{k}{v}" for k, v in sorted(cats.items(), key=lambda kv: -kv[1]))
    local = now.astimezone(services.tz).strftime("%m-%d %H:%M")
    data = {"first": f"求助留言汇总：新{len(ids)}件", "keyword1": f"新{len(ids)}件，紧急{urgent}件",
            "keyword2": summary, "keyword3": local, "remark": "请登录后台查看并答复"}
    text = (f"求助留言汇总（{local}）：新{len(ids)}件，其中紧急{urgent}件。\n{summary}\n"
            "请登录后台（或 taoyuan requests list）查看并答复。")
    reached = notifier_for(services).send_to_staff(
        settings.on_duty_openids, template_id=settings.staff_template_id,
        data={k: short_field(v) for k, v in data.items()}, text=text,
        msg_key=f"help-digest-{int(now.timestamp())}", url=settings.template_url.replace("{id}", ""))
    if reached:
        with services.db.session() as s:
            hr.mark_staff_notified(s, ids, now)
    log.info("help digest: %s requests (%s urgent), %s staff reached", len(ids), urgent, reached)
    return DigestResult(len(ids), urgent, reached)


def housekeeping(services, now: datetime | None = None) -> int:
    """The daily retention job: ``anonymise_finished`` with ``[help] retention_days``.
    Returns how many requests were anonymised."""
    days = hr.help_settings(services.config).retention_days
    with services.db.session() as s:
        return hr.anonymise_finished(s, retention_days=days, now=now)


def register(scheduler, services, existing: dict) -> None:
    """The feature-manifest hook of the scheduler layer (``scheduler.runner.sync_jobs``): add
    the digest at ``[help] digest_times`` (one ``help-digest:HH:MM`` job each, stale ones
    removed) and the daily retention job (``help-housekeeping``, 03:30) to ``scheduler``;
    ``existing``: its jobs by id. The jobs call ``scheduler.runner:job_help_digest`` and
    ``job_help_housekeeping`` (names kept in the job store)."""
    try:
        fields = hr.digest_cron_fields(services.config)
    except Exception:  # noqa: BLE001 - a bad [help] section is reported by that feature
        log.exception("help digest times unreadable; digest not scheduled")
        fields = []
    wanted = {f"help-digest:{f['hour']:02d}:{f['minute']:02d}": f for f in fields}
    for job_id in existing:
        if job_id.startswith("help-digest:") and job_id not in wanted:
            scheduler.remove_job(job_id)
    for job_id, f in wanted.items():
        if job_id not in existing:
            scheduler.add_job("scheduler.runner:job_help_digest", "cron", timezone=services.tz,
                              id=job_id, name="求助汇总", replace_existing=True, **f)
    if "help-housekeeping" not in existing:
        scheduler.add_job("scheduler.runner:job_help_housekeeping", "cron", hour=3, minute=30,
                          timezone=services.tz, id="help-housekeeping", name="求助到期匿名化",
                          replace_existing=True)
