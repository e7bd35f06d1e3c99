"""「没听懂的话」 page: what the bot did not understand (masked, counted), one click to teach it
an intent or ignore it, and a 试一试 box showing how a sentence is understood."""
from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user

from bot.console.auth import client_ip
from bot.console.base import SecureView, local_today
from models import audit
from models.intents import (CONFIDENT, DANGER_THRESHOLD, INTENTS, STATUS_OPEN, TeachError,
                            classify, list_unmatched, teach)

#: Slot names shown in 试一试.
SLOT_LABELS = {"town": "乡镇", "need": "需要", "category": "活动类别", "date_from": "日期从",
               "date_to": "日期到"}
STATUS_LABELS = {"open": "待处理", "assigned": "已归类", "ignored": "已忽略"}


def try_sentence(services, text: str, today) -> dict:
    """How ``text`` is understood, for the page: Chinese label, confidence, top three, slots,
    and whether the safety net would answer with the hotlines."""
    with services.db.session() as s:
        p = classify(text, today=today, session=s, kv=services)
    return {
        "label": INTENTS.get(p.intent, "（无）") if p.intent else "（无）",
        "intent": p.intent or "",
        "confidence": p.confidence,
        "confident": p.confidence >= CONFIDENT,
        "top": [(INTENTS.get(i, i), c) for i, c in p.ranked[:3]],
        "slots": [(SLOT_LABELS[k], str(v)) for k, v in vars(p.slots).items() if v is not None],
        "danger": p.danger,
        "alarm": p.danger >= DANGER_THRESHOLD,
    }


class IntentsView(SecureView):
    """The list (open messages, most frequent first; ``?all=1`` for every status), the teach
    and ignore buttons (POST ``/assign``) and 试一试 (POST ``/try``)."""

    @expose("/")
    def index(self):
        return self._page()

    def _page(self, text: str = "", result: dict | None = None):
        svc = current_app.extensions["taoyuan"]
        show_all = request.args.get("all") == "1"
        with svc.db.session() as s:
            rows = [dict(id=r.id, text=r.text, count=r.count, status=r.status,
                         status_label=STATUS_LABELS.get(r.status, r.status),
                         guess=INTENTS.get(r.guess, "") if r.guess else "",
                         guess_intent=r.guess or "", confidence=r.confidence,
                         intent=INTENTS.get(r.intent, "") if r.intent else "",
                         last_seen=r.last_seen.astimezone(svc.tz).strftime("%m-%d %H:%M"))
                    for r in list_unmatched(s, status=None if show_all else STATUS_OPEN, limit=200)]
        choices = [(k, v) for k, v in INTENTS.items() if k != "danger"] + [("danger", INTENTS["danger"])]
        return self.render("console/intents.html", rows=rows, choices=choices, text=text,
                           result=result, show_all=show_all)

    @expose("/assign", methods=("POST",))
    def assign(self):
        svc = current_app.extensions["taoyuan"]
        try:
            row_id = int(request.form.get("id") or 0)
        except ValueError:
            row_id = 0
        ignore = request.form.get("action") == "ignore"
        intent = None if ignore else (request.form.get("intent") or "").strip()
        if not ignore and not intent:
            flash("请先选一个意图。", "error")
            return redirect(url_for(".index"))
        try:
            with svc.db.session() as s:
                row = teach(s, row_id, intent, staff=current_user.username, kv=svc)
                summary = (f"忽略「{row.text}」" if ignore
                           else f"「{row.text}」归为「{INTENTS[intent]}」")
                audit.record(s, current_user.username, "ignore" if ignore else "teach",
                             "intent_unmatched", row_id, summary, ip=client_ip())
        except TeachError as exc:
            flash(str(exc), "error")
            return redirect(url_for(".index"))
        flash("已忽略。" if ignore else f"已归为「{INTENTS[intent]}」，一分钟内生效。", "success")
        return redirect(url_for(".index"))

    @expose("/try", methods=("GET", "POST"))
    def try_view(self):
        text = (request.form.get("text") or request.args.get("text") or "").strip()[:200]
        result = try_sentence(current_app.extensions["taoyuan"], text, local_today()) if text else None
        return self._page(text=text, result=result)


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"intent_unmatched": "没听懂的话"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's page to ``admin``."""
    admin.add_view(IntentsView(name="没听懂的话", endpoint="intents"))
