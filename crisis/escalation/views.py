"""Pages of the deadline engine: acknowledgement links, the in-app inbox, webhooks, and /metrics."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crisis.errors import DomainError, ValidationFailed
from crisis.escalation import acknowledgement
from crisis.escalation import inbox as notice_inbox
from crisis.escalation.metrics import render_metrics
from crisis.extensions import csrf, db, limiter
from crisis.guards import id_arg, local_path
from crisis.http import select_locale, viewer_zone
from crisis.i18n import _
from crisis.notify import links, words
from crisis.notify import service as notify
from crisis.units import service as units

bp = Blueprint("escalation", __name__)


def _lines(notices: list[Any]) -> list[notice_inbox.NoticeLine]:
    return notice_inbox.notice_lines(session=db.session, notices=notices, lang=select_locale(), zone=viewer_zone())


def _sees_technical_detail() -> bool:
    """Administrators see the recorded error beside its explanation (they are the ones to fix it)."""
    return current_user.is_authenticated and any(m.role == "admin" for m in current_user.memberships)


@bp.app_template_global("incident_notices")
def incident_notices(incident: Any) -> list[notice_inbox.NoticeLine]:
    """Notices of an incident, newest first, in sentences, for templates/escalation/_incident_notices.html."""
    return _lines(notice_inbox.notices_for_incident(session=db.session, incident_id=incident.id))


@bp.app_template_global("sees_technical_detail")
def sees_technical_detail() -> bool:
    return _sees_technical_detail()


@bp.app_template_global("inbox_unread")
def inbox_unread() -> int:
    """Unread in-app notices of the signed-in person, for the header badge (0 when signed out)."""
    return notice_inbox.unread_count(db.session, current_user)


@bp.app_template_global("channel_label")
def channel_label(name: str) -> str:
    return notify.channel_label(name)


def _link_page(notice: Any, token: str, **state: Any) -> dict[str, Any]:
    """What a link's page shows: the recipient it acknowledges for, the incident only as far as that
    recipient may see it, and whether someone else is signed in in this browser."""
    someone_else = current_user.is_authenticated and current_user.id != notice.recipient_user_id
    return {
        "notice": notice,
        "token": token,
        "recipient": acknowledgement.link_recipient_name(notice),
        "show_incident": acknowledgement.link_shows_incident(session=db.session, notice=notice),
        "about": _lines([notice])[0].about,  # "Escalation for stage Verifikasi fakta, step 1"
        "signed_in_as": current_user.name if someone_else else None,
        **state,
    }


@bp.route("/ack/<token>", methods=["GET"])
@limiter.limit("60 per minute")
def ack_confirm(token: str) -> Any:
    """A link followed (perhaps by a mail scanner): show what would be acknowledged, change nothing."""
    try:
        notice = links.notice_for_token(session=db.session, token=token)
    except DomainError as error:
        return render_template("escalation/ack.html", notice=None, error=error.message), error.status
    return render_template("escalation/ack.html", **_link_page(notice, token, done=False))


@bp.route("/ack/<token>", methods=["POST"])
@csrf.exempt  # the signed link is the credential; a forged form cannot know it
@limiter.limit("30 per minute")
def ack_submit(token: str) -> Any:
    try:
        notice = links.notice_for_token(session=db.session, token=token)
    except DomainError as error:
        return render_template("escalation/ack.html", notice=None, error=error.message), error.status
    already = notice.acknowledged_at is not None
    acknowledgement.acknowledge_by_link(session=db.session, notice=notice)
    db.session.commit()
    return render_template("escalation/ack.html", **_link_page(notice, token, done=True, already=already))


@bp.route("/inbox")
@login_required
def inbox() -> Any:
    notices = notice_inbox.inbox(session=db.session, user=current_user)
    return render_template(
        "escalation/inbox.html",
        notices=_lines(notices),
        unread=notice_inbox.unread_count(db.session, current_user),
        preferences=notify.preferences(session=db.session, user=current_user),
        ack_path=links.ack_path,
        mail_ready=words.mail_configured(),
        mail_advice=words.mail_setup_advice(),
    )


@bp.route("/inbox/read", methods=["POST"])
@login_required
def inbox_read() -> Any:
    notice_id = request.form.get("notice_id", type=id_arg)
    notice_inbox.mark_read(session=db.session, user=current_user, notice_id=notice_id)
    db.session.commit()
    return redirect(url_for("escalation.inbox"))


@bp.route("/inbox/<int:notice_id>/ack", methods=["POST"])
@login_required
def inbox_ack(notice_id: int) -> Any:
    acknowledgement.acknowledge_as(session=db.session, notice_id=notice_id, actor=current_user)
    notice_inbox.mark_read(session=db.session, user=current_user, notice_id=notice_id)
    db.session.commit()
    flash(_("Acknowledged."), "success")
    return redirect(local_path(request.form.get("next"), url_for("escalation.inbox")))


@bp.route("/inbox/channels", methods=["POST"])
@login_required
def inbox_channels() -> Any:
    choices = {
        name: request.form.get(name) == "on" for name in notify.preferences(session=db.session, user=current_user)
    }
    notify.set_preferences(session=db.session, user=current_user, choices=choices)
    db.session.commit()
    flash(_("Your notification channels were saved."), "success")
    return redirect(url_for("escalation.inbox"))


@bp.route("/metrics")
@limiter.exempt
def metrics() -> Any:
    """Prometheus metrics. With CRISIS_METRICS_TOKEN set, only a scraper sending it as a bearer
    token is answered (Prometheus: `authorization: {credentials: ...}`)."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response(
                "metrics need the bearer token of CRISIS_METRICS_TOKEN\n",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                content_type="text/plain",
            )
    body, content_type = render_metrics(db.session)
    db.session.rollback()
    if body is None:
        abort(503)
    return Response(body, content_type=content_type)


@bp.route("/admin/units/<int:unit_id>/webhooks", methods=["GET", "POST"])
@login_required
def webhooks(unit_id: int) -> Any:
    """A unit's webhook endpoints (e.g. a chat gateway): add one, pause or resume it. The signing
    secret is shown once, right after the endpoint is added."""
    unit = units.get(session=db.session, user=current_user, unit_id=unit_id)
    hooks = notify.list_webhooks(session=db.session, actor=current_user, unit_id=unit.id)  # admins only
    errors: dict[str, str] = {}
    values = {"name": "", "url": ""}
    if request.method == "POST":
        values = {"name": request.form.get("name", ""), "url": request.form.get("url", "")}
        try:
            hook = notify.create_webhook(session=db.session, actor=current_user, unit_id=unit.id, **values)
        except ValidationFailed as error:
            db.session.rollback()
            errors = {key: " ".join(messages) for key, messages in error.errors.items()}
        else:
            db.session.commit()
            flash(_("Webhook added. Copy its signing secret now: it is not shown again."), "success")
            return render_template(
                "escalation/webhooks.html",
                unit=unit,
                hooks=[*hooks, hook],
                created=hook,
                errors={},
                values={"name": "", "url": ""},
            )
    status = 422 if errors else 200
    return render_template(
        "escalation/webhooks.html", unit=unit, hooks=hooks, created=None, errors=errors, values=values
    ), status


@bp.route("/admin/webhooks/<int:webhook_id>/active", methods=["POST"])
@login_required
def webhook_active(webhook_id: int) -> Any:
    active = request.form.get("active") == "1"
    hook = notify.update_webhook(session=db.session, actor=current_user, webhook_id=webhook_id, active=active)
    db.session.commit()
    flash(_("Webhook resumed.") if active else _("Webhook paused."), "success")
    return redirect(url_for("escalation.webhooks", unit_id=hook.unit_id))
