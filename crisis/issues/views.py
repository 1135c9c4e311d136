"""Issue pages: the list, the short phone-first log form, duplicates, and the issue itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_login import current_user, login_required
from wtforms import SelectChoice

from crisis import clock
from crisis.auth.views import apply_form_errors
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.guards import id_arg
from crisis.http import viewer_zone
from crisis.i18n import _, lazy_gettext
from crisis.issues import checks, risk, service
from crisis.issues.forms import (
    ACTOR_LABELS,
    CHANNEL_LABELS,
    EMERGENCY_LABELS,
    NEWS_TIER_LABELS,
    SENSITIVITY_LABELS,
    SENTIMENT_LABELS,
    STATE_LABELS,
    ActionForm,
    DismissForm,
    EvidenceForm,
    IssueEditForm,
    IssueForm,
    MergeForm,
    NoteForm,
)
from crisis.issues.models import ISSUE_STATES, Issue
from crisis.playbooks.labels import CATEGORY_LABELS, SEVERITY_LABELS
from crisis.timeline import service as timeline
from crisis.units import service as units

bp = Blueprint("issues", __name__)

EVENT_LABELS = {
    "issue.created": lazy_gettext("Logged"),
    "issue.monitoring_started": lazy_gettext("Monitoring started"),
    "issue.note_added": lazy_gettext("Monitoring note added"),
    "issue.evidence_added": lazy_gettext("Evidence added"),
    "issue.updated": lazy_gettext("Details corrected"),
    "issue.dismissed": lazy_gettext("Dismissed"),
    "issue.merged": lazy_gettext("Merged into another issue"),
    "issue.absorbed": lazy_gettext("Another issue merged into this one"),
    "issue.escalated": lazy_gettext("Escalated to an incident"),
    "issue.anonymised": lazy_gettext("Reporter's personal data anonymised (retention period over)"),
}
FACTOR_LABELS = {
    "reach": lazy_gettext("Reach"),
    "velocity": lazy_gettext("Velocity"),
    "sentiment": lazy_gettext("Sentiment"),
    "category": lazy_gettext("Category"),
    "pickup": lazy_gettext("News pickup"),
    "sensitivity": lazy_gettext("Sensitivity"),
    "actors": lazy_gettext("Who posts or is named"),
    "trend": lazy_gettext("Trend"),
    "impact": lazy_gettext("Disaster impact"),
}
STATE_FILTERS = ("open", *ISSUE_STATES, "all")


def _labels() -> dict[str, Any]:
    return {
        "CHANNEL_LABELS": CHANNEL_LABELS,
        "SENTIMENT_LABELS": SENTIMENT_LABELS,
        "STATE_LABELS": STATE_LABELS,
        "CATEGORY_LABELS": CATEGORY_LABELS,
        "SEVERITY_LABELS": SEVERITY_LABELS,
        "EVENT_LABELS": EVENT_LABELS,
        "FACTOR_LABELS": FACTOR_LABELS,
        "NEWS_TIER_LABELS": NEWS_TIER_LABELS,
        "SENSITIVITY_LABELS": SENSITIVITY_LABELS,
        "ACTOR_LABELS": ACTOR_LABELS,
        "EMERGENCY_LABELS": EMERGENCY_LABELS,
        "number": format_decimal,
    }


def _local_input(moment: datetime) -> datetime:
    """An aware time as the naive wall-clock time a datetime-local input shows in the viewer's zone."""
    return moment.astimezone(ZoneInfo(viewer_zone())).replace(tzinfo=None, second=0, microsecond=0)


def _from_local_input(value: datetime) -> datetime:
    return value.replace(tzinfo=ZoneInfo(viewer_zone()))


@bp.route("/issues")
@login_required
def issue_list() -> Any:
    state = request.args.get("state") or "open"
    unit_id = request.args.get("unit", type=id_arg)
    q = (request.args.get("q") or "").strip()[:200]
    if state not in STATE_FILTERS:
        abort(400)
    issues = service.list_for_user(
        session=db.session, user=current_user, state=None if state == "all" else state, unit_id=unit_id, q=q or None
    )
    return render_template(
        "issues/list.html",
        issues=issues,
        state=state,
        unit_id=unit_id,
        q=q,
        state_filters=STATE_FILTERS,
        visible_units=units.list_visible(session=db.session, user=current_user),
        can_log=bool(units.list_acting(session=db.session, user=current_user)),  # units to log issues in
        depth=units.depth,
        **_labels(),
    )


def _risk_inputs(form: IssueForm) -> dict[str, Any]:
    """What the form says about the news, sensitivity, people, WhatsApp chains and a disaster's impact."""
    return {
        "news_tier": form.news_tier.data or "none",
        "news_articles": form.news_articles.data or 0,
        "sensitivities": list(form.sensitivities.data or []),
        "actors": list(form.actors.data or []),
        "whatsapp_groups": form.whatsapp_groups.data or 0,
        "whatsapp_forwards": form.whatsapp_forwards.data or 0,
        "deaths": form.deaths.data or 0,
        "displaced": form.displaced.data or 0,
        "emergency_status": form.emergency_status.data or "none",
    }


@bp.route("/issues/new", methods=["GET", "POST"])
@login_required
def issue_new() -> Any:
    loggable = units.list_acting(session=db.session, user=current_user)  # units to log issues in
    if not loggable:
        abort(403)
    form = IssueForm()
    form.unit_id.choices = [SelectChoice(u.id, "\u2003" * units.depth(u) + f"{u.code} · {u.name}") for u in loggable]
    if request.method == "GET":
        form.unit_id.data = service.default_unit_id(session=db.session, actor=current_user) or loggable[0].id
        form.first_seen_at.data = _local_input(clock.now())
    if form.validate_on_submit():
        now = clock.now()
        links = [line.strip() for line in (form.evidence_urls.data or "").splitlines() if line.strip()]
        try:
            issue, duplicates = service.log(
                session=db.session,
                actor=current_user,
                unit_id=form.unit_id.data,
                title=form.title.data or "",
                description=form.description.data or "",
                channel=form.channel.data,
                category=form.category.data,
                first_seen_at=_from_local_input(form.first_seen_at.data),
                reach=form.reach.data or 0,
                engagement=form.engagement.data or 0,
                sentiment=form.sentiment.data,
                **_risk_inputs(form),
                evidence_urls=links,
                source_person=form.source_person.data or "",
                source_contact=form.source_contact.data or "",
                now=now,
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        else:
            db.session.commit()
            flash(_("Issue #%(n)d logged: risk %(score)d of 100.", n=issue.id, score=issue.risk_score), "success")
            if duplicates:
                return redirect(url_for("issues.duplicates", issue_id=issue.id))
            return redirect(url_for("issues.issue_detail", issue_id=issue.id))
    elif form.is_submitted() and "csrf_token" not in form.errors:
        _check_the_rest(form)
    return render_template(
        "issues/new.html", form=form, several_units=len(loggable) > 1, zone=viewer_zone(), **_labels()
    )


def _check_the_rest(form: IssueForm) -> None:
    """A form refused for a field's type (a missing title, a letter in a count) still shows what
    the service would refuse in the other fields: every field's errors in one round."""
    fields: dict[str, Any] = {}
    for name in ("title", "description", "channel", "category", "sentiment", "source_person", "source_contact"):
        if not getattr(form, name).errors and getattr(form, name).data:
            fields[name] = getattr(form, name).data
    for name in ("reach", "engagement"):
        if not getattr(form, name).errors and getattr(form, name).data is not None:
            fields[name] = getattr(form, name).data
    if not form.first_seen_at.errors and form.first_seen_at.data:
        fields["first_seen_at"] = _from_local_input(form.first_seen_at.data)
    errors = checks.validate(fields, now=clock.now())
    links = [line.strip() for line in (form.evidence_urls.data or "").splitlines() if line.strip()]
    checks.clean_links(links, errors, "evidence_urls")
    for name, messages in errors.items():
        field = getattr(form, name, None)
        if field is not None and not field.errors:
            field.errors = list(field.errors) + list(messages)


@bp.route("/issues/<int:issue_id>/duplicates")
@login_required
def duplicates(issue_id: int) -> Any:
    """Possible duplicates of a freshly logged issue: merge it into one of them, or keep it."""
    issue = service.get(session=db.session, user=current_user, issue_id=issue_id)
    candidates = service.find_duplicates(
        session=db.session,
        actor=current_user,
        unit_id=issue.unit_id,
        title=issue.title,
        evidence_urls=[e.url for e in issue.evidence],
        now=clock.now(),
        exclude_id=issue.id,
    )
    if not candidates:
        return redirect(url_for("issues.issue_detail", issue_id=issue.id))
    can_act = service.can_act(session=db.session, user=current_user, issue=issue)
    return render_template(
        "issues/duplicates.html",
        issue=issue,
        candidates=candidates,
        can_act=can_act and issue.state in service.MERGEABLE_STATES,
        mergeable=service.MERGEABLE_STATES,
        evidence_keys={e.url_key for e in issue.evidence},
        **_labels(),
    )


def _detail(issue: Issue, status: int = 200, **forms: Any) -> Any:
    can_act = service.can_act(session=db.session, user=current_user, issue=issue)
    edit_form = forms.get("edit_form")
    defaults = {
        "note_form": NoteForm(formdata=None),
        "evidence_form": EvidenceForm(formdata=None),
        "dismiss_form": DismissForm(formdata=None),
        "merge_form": MergeForm(formdata=None),
        "action_form": ActionForm(formdata=None),
    }
    defaults.update({k: v for k, v in forms.items() if k != "edit_form"})
    events = timeline.list_for_subject(session=db.session, subject_type="issue", subject_id=issue.id)
    page = render_template(
        "issues/detail.html",
        issue=issue,
        can_act=can_act,
        is_open=issue.state in service.OPEN_STATES,
        factors=risk.stored_factors(issue.risk_factors),
        notes=sorted(issue.notes, key=lambda note: (note.created_at, note.id)),
        events=events,
        edit_form=edit_form,
        **defaults,
        **_labels(),
    )
    return page, status


@bp.route("/issues/<int:issue_id>")
@login_required
def issue_detail(issue_id: int) -> Any:
    return _detail(service.get(session=db.session, user=current_user, issue_id=issue_id))


def _after_conflict(issue_id: int, error: Exception) -> Any:
    """The loser of a race sees why and the issue as it is now."""
    db.session.rollback()
    flash(str(getattr(error, "message", error)), "error")
    return _detail(service.get(session=db.session, user=current_user, issue_id=issue_id), status=409)


def _act(issue_id: int, form: Any, form_name: str, action: Any, success: str) -> Any:
    """Validate a detail-page form, run the service action, commit, and go back to the issue."""
    issue = service.get(session=db.session, user=current_user, issue_id=issue_id)
    if not form.validate_on_submit():
        if form.errors.get("csrf_token"):
            abort(400)
        return _detail(issue, **{form_name: form})
    try:
        result = action()
    except ValidationFailed as error:
        db.session.rollback()
        apply_form_errors(form, error)
        issue = service.get(session=db.session, user=current_user, issue_id=issue_id)
        return _detail(issue, **{form_name: form})
    except (service.StaleIssue, service.IssueClosed) as error:
        return _after_conflict(issue_id, error)
    db.session.commit()
    flash(success, "success")
    target = result.id if isinstance(result, Issue) else issue_id
    return redirect(url_for("issues.issue_detail", issue_id=target))


@bp.route("/issues/<int:issue_id>/monitor", methods=["POST"])
@login_required
def issue_monitor(issue_id: int) -> Any:
    form = ActionForm()
    return _act(
        issue_id,
        form,
        "action_form",
        lambda: service.start_monitoring(session=db.session, actor=current_user, issue_id=issue_id),
        _("Monitoring started."),
    )


@bp.route("/issues/<int:issue_id>/notes", methods=["POST"])
@login_required
def issue_note(issue_id: int) -> Any:
    form = NoteForm()
    return _act(
        issue_id,
        form,
        "note_form",
        lambda: service.add_note(
            session=db.session,
            actor=current_user,
            issue_id=issue_id,
            body=form.body.data or "",
            reach=form.reach.data,
            engagement=form.engagement.data,
            sentiment=form.sentiment.data or None,
        ),
        _("Note added."),
    )


@bp.route("/issues/<int:issue_id>/evidence", methods=["POST"])
@login_required
def issue_evidence(issue_id: int) -> Any:
    form = EvidenceForm()

    def action() -> None:
        try:
            service.add_evidence(
                session=db.session,
                actor=current_user,
                issue_id=issue_id,
                url=form.url.data or "",
                note=form.evidence_note.data or "",
            )
        except ValidationFailed as error:
            # The service names the note "note"; on this page the field is evidence_note.
            raise ValidationFailed(
                {("evidence_note" if k == "note" else k): v for k, v in error.errors.items()}
            ) from error

    return _act(issue_id, form, "evidence_form", action, _("Evidence added."))


@bp.route("/issues/<int:issue_id>/dismiss", methods=["POST"])
@login_required
def issue_dismiss(issue_id: int) -> Any:
    form = DismissForm()
    return _act(
        issue_id,
        form,
        "dismiss_form",
        lambda: service.dismiss(
            session=db.session, actor=current_user, issue_id=issue_id, reason=form.reason.data or ""
        ),
        _("Issue dismissed."),
    )


@bp.route("/issues/<int:issue_id>/merge", methods=["POST"])
@login_required
def issue_merge(issue_id: int) -> Any:
    form = MergeForm()
    return _act(
        issue_id,
        form,
        "merge_form",
        lambda: service.merge(
            session=db.session, actor=current_user, source_id=issue_id, target_id=form.target_id.data
        ),
        _("Merged: the evidence and notes are now on this issue."),
    )


@bp.route("/issues/<int:issue_id>/edit", methods=["GET", "POST"])
@login_required
def issue_edit(issue_id: int) -> Any:
    issue = service.get(session=db.session, user=current_user, issue_id=issue_id)
    if not service.can_act(session=db.session, user=current_user, issue=issue):
        abort(403)
    form = IssueEditForm(obj=issue)
    if request.method == "GET":
        form.first_seen_at.data = _local_input(issue.first_seen_at)
        form.version.data = str(issue.version)
    if form.validate_on_submit():
        changes = {
            "title": form.title.data or "",
            "description": form.description.data or "",
            "channel": form.channel.data,
            "category": form.category.data,
            "first_seen_at": _from_local_input(form.first_seen_at.data),
            "reach": form.reach.data or 0,
            "engagement": form.engagement.data or 0,
            "sentiment": form.sentiment.data,
            **_risk_inputs(form),
            "source_person": form.source_person.data or "",
            "source_contact": form.source_contact.data or "",
        }
        try:
            expected = int(form.version.data)
        except (TypeError, ValueError):
            abort(400)
        try:
            service.update(
                session=db.session, actor=current_user, issue_id=issue.id, changes=changes, expected_version=expected
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        except (service.StaleIssue, service.IssueClosed) as error:
            return _after_conflict(issue_id, error)
        else:
            db.session.commit()
            flash(_("Issue #%(n)d saved.", n=issue_id), "success")
            return redirect(url_for("issues.issue_detail", issue_id=issue_id))
    return render_template("issues/edit.html", form=form, issue=issue, zone=viewer_zone(), **_labels())
