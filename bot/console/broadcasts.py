"""群发 page: draft → preview to my own WeChat → confirm; town tags; job figures."""
from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from bot.console.auth import client_ip
from bot.console.base import SecureView
from models import audit
from models import broadcasts as bcast
from models.base import utcnow
from models.columns import Article
from models.followers import Follower
from models.stats import YONGCHUN_TOWNS
from models.staff import StaffUser


class BroadcastForm(FlaskForm):
    kind = RadioField("群发内容", choices=list(bcast.KINDS.items()),
                      validators=[InputRequired("请选择群发内容：文字或专栏文章")])
    article_id = SelectField("专栏文章", coerce=int, validators=[Optional()])
    text = TextAreaField("文字内容", validators=[Optional(), Length(max=bcast.TEXT_MAX)])
    town = SelectField("发送对象", default="")


def _services():
    return current_app.extensions["taoyuan"]


def _wechat_error(exc: Exception) -> str:
    code = getattr(exc, "errcode", None)
    return f"微信接口返回错误{f'（{code}）' if code is not None else ''}：{getattr(exc, 'errmsg', '') or exc}"


class BroadcastView(SecureView):
    """List, create, preview and send broadcasts; sync town tags."""

    def _towns(self, s) -> list[tuple[str, str]]:
        known = set(s.scalars(select(Follower.town).where(Follower.town.is_not(None)).distinct()))
        towns = list(YONGCHUN_TOWNS) + sorted(t for t in known if t and t not in YONGCHUN_TOWNS)
        return [("", "全体关注者")] + [(t, t) for t in towns]

    @expose("/")
    def index(self):
        svc = _services()
        with svc.db.session() as s:
            rows = list(s.scalars(select(bcast.Broadcast).order_by(bcast.Broadcast.id.desc()).limit(100)))
            for r in rows:
                _ = r.label  # load article/column while the session is open
            month_count = bcast.sends_this_month(s, None, _now(), svc.tz)
            tags = list(s.scalars(select(bcast.TownTag).order_by(bcast.TownTag.town)))
            return self.render("console/broadcasts.html", rows=rows, month_count=month_count,
                               limit=bcast.MONTHLY_LIMIT, tags=tags, tz=svc.tz)

    @expose("/new", methods=("GET", "POST"))
    def create(self):
        svc = _services()
        with svc.db.session() as s:
            form = BroadcastForm()
            arts = list(s.scalars(select(Article).order_by(Article.published_on.desc(),
                                                           Article.id.desc()).limit(50)))
            form.article_id.choices = [(a.id, f"{a.published_on:%Y-%m-%d} {a.column.title}{a.title}")
                                       for a in arts]
            form.town.choices = self._towns(s)
            if form.validate_on_submit():
                try:
                    bc = bcast.create_broadcast(
                        s, kind=form.kind.data, actor=current_user.username, text=form.text.data or "",
                        article_id=form.article_id.data if form.kind.data == bcast.KIND_ARTICLE else None,
                        town=form.town.data or None)
                except bcast.BroadcastError as exc:
                    flash(str(exc), "error")
                else:
                    audit.record(s, current_user.username, "create", "broadcasts", bc.id,
                                 f"{bcast.KINDS.get(bc.kind, bc.kind)} → {bc.audience}：{bc.label}",
                                 ip=client_ip())
                    s.flush()
                    bid = bc.id
                    flash("草稿已保存。请先预览到自己的微信。", "success")
                    return redirect(url_for(".detail", bid=bid))
            elif request.method == "POST":
                for errors in form.errors.values():
                    for e in errors:
                        flash(str(e), "error")
            return self.render("console/broadcast_new.html", form=form,
                               sizes={t: bcast.audience_size(s, t or None) for t, _ in form.town.choices})

    @expose("/<int:bid>")
    def detail(self, bid: int):
        svc = _services()
        with svc.db.session() as s:
            bc = s.get(bcast.Broadcast, bid)
            if bc is None:
                flash("没有这条群发。", "error")
                return redirect(url_for(".index"))
            msgtype, content = bcast.mass_message(bc)
            count = bcast.sends_this_month(s, bc.town, _now(), svc.tz)
            me = s.get(StaffUser, current_user.id)
            return self.render("console/broadcast_detail.html", bc=bc,
                               msgtype=bcast.MSGTYPE_LABELS.get(msgtype, msgtype),
                               content=content, month_count=count, limit=bcast.MONTHLY_LIMIT,
                               my_openid=me.openid if me else None, tz=svc.tz)

    @expose("/<int:bid>/preview", methods=("POST",))
    def preview(self, bid: int):
        svc = _services()
        me_openid = None
        with svc.db.session() as s:
            me = s.get(StaffUser, current_user.id)
            me_openid = me.openid if me else None
        try:
            with svc.db.write_session() as s:
                bcast.preview_broadcast(s, svc.wechat, bid, me_openid or "", current_user.username)
                audit.record(s, current_user.username, "preview", "broadcasts", bid,
                             "预览到本人微信", ip=client_ip())
            flash("预览已发到您的微信，请查看后再确认群发。", "success")
        except bcast.BroadcastError as exc:
            flash(str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - WeChat API errors are shown to staff
            flash(_wechat_error(exc), "error")
        return redirect(url_for(".detail", bid=bid))

    @expose("/<int:bid>/send", methods=("POST",))
    def send(self, bid: int):
        """「② 确认群发」: first a confirmation page (「将发送给 N 位关注者，确定吗？」); only its
        「确定群发」 button (``confirmed=1``) sends."""
        svc = _services()
        accept = request.form.get("accept_limit") == "1"
        if request.form.get("confirmed") != "1":
            with svc.db.session() as s:
                bc = s.get(bcast.Broadcast, bid)
                if bc is None:
                    flash("没有这条群发。", "error")
                    return redirect(url_for(".index"))
                if bc.status in ("sent", "finished"):
                    flash("这条群发已经发出，不会重复发送。", "error")
                    return redirect(url_for(".detail", bid=bid))
                if bc.previewed_at is None:
                    flash("请先预览到自己的微信，确认无误后再群发", "error")
                    return redirect(url_for(".detail", bid=bid))
                return self.render("console/broadcast_confirm.html", bc=bc, accept=accept,
                                   audience=bcast.audience_size(s, bc.town))
        try:
            with svc.db.write_session() as s:
                bc = bcast.send_broadcast(s, svc.wechat, bid, current_user.username, svc.tz,
                                          accept_limit=accept)
                audit.record(s, current_user.username, "send", "broadcasts", bid,
                             f"群发 → {bc.audience}，"
                             + ("演练，未真正发送" if svc.config.dry_run else f"msg_id {bc.msg_id}"),
                             ip=client_ip())
            if svc.config.dry_run:
                flash("演练：未真正发送。这条群发只记入了「发件箱」，关注者不会收到。", "success")
            else:
                flash("已提交微信群发。发送结果稍后由微信推送，会显示在本页。", "success")
        except bcast.BroadcastError as exc:
            flash(str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - WeChat API errors are shown to staff
            with svc.db.session() as s:  # keep the "failed" mark for the record
                bc = s.get(bcast.Broadcast, bid)
                if bc is not None and bc.status not in ("sent", "finished"):
                    bc.status, bc.error = "failed", str(exc)[:500]
            flash(_wechat_error(exc), "error")
        return redirect(url_for(".detail", bid=bid))

    @expose("/sync-tags", methods=("POST",))
    def sync_tags(self):
        svc = _services()
        try:
            with svc.db.write_session() as s:
                result = bcast.sync_town_tags(s, svc.wechat)
                audit.record(s, current_user.username, "sync", "town_tags", "",
                             f"同步乡镇标签: {result}", ip=client_ip())
            flash(f"乡镇标签已同步：新建标签 {result['tags_created']} 个，打标签 {result['tagged']} 人，"
                  f"移除 {result['untagged']} 人。", "success")
        except Exception as exc:  # noqa: BLE001 - WeChat API errors are shown to staff
            flash(_wechat_error(exc), "error")
        return redirect(url_for(".index"))


def _now():
    return utcnow()


#: Audit-log tables of this feature, in Chinese (``bot.console.audit``).
AUDIT_TARGETS = {"broadcasts": "群发", "town_tags": "乡镇标签"}


def register(admin, session) -> None:
    """The feature-manifest hook of the console (``bot.console.init_app``): add this
    feature's pages to ``admin`` on the scoped ``session``."""
    admin.add_view(BroadcastView(name="群发", category="专栏与群发", endpoint="broadcasts"))
