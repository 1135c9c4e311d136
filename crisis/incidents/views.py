from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crisis import clock
from crisis.auth import roster as duty
from crisis.errors import Conflict, ValidationFailed
from crisis.extensions import db
from crisis.guards import id_arg, parse_id
from crisis.http import flash_refusal, refusal_messages, select_locale, viewer_zone
from crisis.i18n import _
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import console as console_lists
from crisis.incidents import emergency, media, presenters, service, statements
from crisis.incidents.labels import (  # noqa: F401  EVENT_LABELS: re-exported
    CHAIN_STATE_LABELS,
    CHANNEL_LABELS,
    EMERGENCY_LABELS,
    EVENT_LABELS,
    SIGNER_LABELS,
    STATE_LABELS,
    STATEMENT_LABELS,
)
from crisis.incidents.models import EMERGENCY_STATUSES, STATEMENT_KINDS, Incident, StageRun, Statement
from crisis.issues import service as issues
from crisis.playbooks.labels import CATEGORY_LABELS, OWNER_LABELS, SEVERITY_LABELS
from crisis.units import service as units
from crisis.units.models import Unit

bp = Blueprint("incidents", __name__)


@bp.route("/")
@login_required
def console() -> Any:
    """The first page after sign-in: new issues, open incidents and what is due next."""
    now = clock.now()
    unit_id = request.args.get("unit", type=id_arg)
    if unit_id is not None:
        units.get(session=db.session, user=current_user, unit_id=unit_id)
    severity = request.args.get("severity", type=id_arg)
    if severity not in (None, 1, 2, 3, 4):
        abort(400)
    open_incidents, open_total = console_lists.open_page(
        session=db.session, user=current_user, unit_id=unit_id, severity=severity
    )
    drills = service.list_for_user(
        session=db.session, user=current_user, unit_id=unit_id, summary_only=True, exercises=True, limit=20
    )
    due, due_total = console_lists.due_next(session=db.session, user=current_user, unit_id=unit_id, severity=severity)
    # The viewer's own units (not the first of the country's hundreds) with who is on duty there.
    own_units = sorted({m.unit for m in current_user.memberships}, key=lambda unit: unit.code)
    on_duty = duty.on_duty_by_unit(session=db.session, unit_ids=[unit.id for unit in own_units], at=now)
    return render_template(
        "units/console.html",
        now=now,
        unit_choices=units.choices_by_province(session=db.session, user=current_user, selected=unit_id),
        own_units=own_units,
        on_duty=on_duty,
        roster_gaps=duty.gaps_for_head(session=db.session, user=current_user, now=now),
        unit_id=unit_id,
        severity=severity,
        new_issues=issues.list_open(session=db.session, user=current_user, unit_id=unit_id, limit=20),
        incidents=open_incidents,
        exercises=drills,
        incidents_total=open_total,
        due=due,
        due_total=due_total,
    )


def _back(incident_id: int, anchor: str = "") -> Any:
    return redirect(url_for("incidents.page", incident_id=incident_id) + (f"#{anchor}" if anchor else ""))


def _act(incident_id: int, action: Callable[[], Any], done: str, anchor: str = "") -> Any:
    """Run one user action as one transaction; what is wrong with the input or the state comes back
    as messages on the page. A role that may not do it gets 403 (NotPermitted is not caught): the
    page never offers it, so only a stale page or a hand-made request gets there. A form sent by
    htmx gets the live panel back (the page swaps in the parts that changed), with the problems next
    to the item (`anchor`) and status 422; a plain form post gets a redirect and flash messages."""
    partial = request.headers.get("HX-Request") == "true"
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        db.session.rollback()
        if partial:
            # The same messages a redirect would flash, inside the swapped part: app.js places them.
            return _live_panel(incident_id, problems={anchor: refusal_messages(error, target=anchor)}, status=422)
        flash_refusal(error, target=anchor)  # shown next to the item, stage or form it is about
    else:
        db.session.commit()
        if partial:
            return _live_panel(incident_id, said=done)
        flash(done, "success")
    return _back(incident_id, anchor)


def _live_panel(incident_id: int, status: int = 200, **extra: Any) -> Any:
    return render_template("incidents/_live.html", **_page_context(incident_id), **extra), status


def _int(name: str) -> int | None:
    return parse_id(request.form.get(name))


def _local_time(name: str) -> datetime | None:
    """A datetime-local field, read in the viewer's zone."""
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(viewer_zone()))
    except ValueError:
        raise ValidationFailed({name: _("Give a date and time.")}) from None


# --- escalation --------------------------------------------------------------------------------


@bp.route("/issues/<int:issue_id>/escalate", methods=["GET", "POST"])
@login_required
def escalate(issue_id: int) -> Any:
    issue = issues.get(session=db.session, user=current_user, issue_id=issue_id)
    severity = _int("severity") or issue.suggested_severity
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            incident = service.open_from_issue(
                session=db.session,
                actor=current_user,
                issue_id=issue.id,
                playbook_key=request.form.get("playbook_key", ""),
                severity=severity or 0,
                commander_id=_int("commander_id") or 0,
            )
        except (ValidationFailed, Conflict) as error:
            db.session.rollback()
            errors = error.errors or {"_": [error.message]}
        else:
            db.session.commit()
            flash(_("Incident %(ref)s opened; the first stage has started.", ref=incident.reference), "success")
            return redirect(url_for("incidents.page", incident_id=incident.id))
    suggestions = service.suggest_playbooks(session=db.session, category=issue.category, severity=severity)
    return render_template(
        "incidents/escalate.html",
        issue=issue,
        playbooks=suggestions,
        severity=severity,
        errors=errors,
        commanders=service.commander_candidates(session=db.session, unit_id=issue.unit_id),
        chosen_playbook=request.form.get("playbook_key") or (suggestions[0].key if suggestions else ""),
        chosen_commander=_int("commander_id") or current_user.id,
        lang=select_locale(),
        CATEGORY_LABELS=CATEGORY_LABELS,
        SEVERITY_LABELS=SEVERITY_LABELS,
    )


# --- reading ------------------------------------------------------------------------------------


@bp.route("/incidents")
@login_required
def index() -> Any:
    state = request.args.get("state", "active")
    states = {
        "active": ("active",),
        "resolved": ("resolved",),
        "closed": ("closed", "cancelled"),
        "all": ("active", "resolved", "closed", "cancelled"),
    }.get(state)
    if states is None:
        abort(400)
    unit_id = request.args.get("unit", type=id_arg)
    if unit_id is not None:
        units.get(session=db.session, user=current_user, unit_id=unit_id)
    severity = request.args.get("severity", type=id_arg)
    drills = request.args.get("exercises") == "1"  # the drills, apart from the real incidents
    rows = service.list_for_user(
        session=db.session, user=current_user, states=states, unit_id=unit_id, severity=severity, exercises=drills
    )
    return render_template(
        "incidents/list.html",
        incidents=rows,
        exercises=drills,
        state=state,
        unit_id=unit_id,
        severity=severity,
        units=units.list_visible(session=db.session, user=current_user),
        STATE_LABELS=STATE_LABELS,
        SEVERITY_LABELS=SEVERITY_LABELS,
    )


def _units_to_involve(incident: Incident) -> list[Unit]:
    """The units the viewer sees, of which the page offers all but the owner: so none, and no
    query, when the owner is all they see (a regency's own team)."""
    scope = units.visible_scope(session=db.session, user=current_user)
    if not scope.everything and scope.unit_ids <= {incident.unit_id}:
        return []
    return units.list_visible(session=db.session, user=current_user)


def _shows_emergency(incident: Incident) -> bool:
    """Disasters, playbooks whose cycles follow the emergency status, and incidents that have one."""
    snapshot = incident.playbook_snapshot
    follows = any((stage.get("cycle") or {}).get("until") == "emergency_ends" for stage in snapshot["stages"])
    return snapshot["category"] == "disaster" or follows or incident.emergency_since is not None


def _page_context(incident_id: int) -> dict[str, Any]:
    incident = service.get_for_page(session=db.session, user=current_user, incident_id=incident_id)
    events = service.page_events(session=db.session, incident=incident)  # right after: the stamp is made of both
    lang, zone = select_locale(), viewer_zone()  # once per page, not once per timeline event
    rows = presenters.Rows(
        lang=lang, zone=zone, event_data=lambda ids: service.event_data(session=db.session, event_ids=ids)
    )
    can_act = service.can_act(session=db.session, user=current_user, incident=incident)
    can_lead = service.can_lead(session=db.session, user=current_user, incident=incident)
    active = incident.state == "active"
    # Only forms read these: who may own a checklist entry, and the units a lead may draw in.
    team = service.commander_candidates(session=db.session, unit_id=incident.unit_id) if can_act and active else []
    involvable = _units_to_involve(incident) if can_lead and active else []
    settings = statements.settings_of(incident)
    can_designate = active and statements.can_designate_spokesperson(
        session=db.session, user=current_user, incident=incident
    )
    return {
        "incident": incident,
        "lang": lang,
        "stamp": service.page_stamp(incident=incident, events=events),
        "can_act": can_act,
        "can_lead": can_lead,
        "can_approve": lambda s: statements.can_approve(session=db.session, user=current_user, statement=s),
        "can_edit_statement": lambda s: statements.can_edit(session=db.session, user=current_user, statement=s),
        "may_close": service.Closers(user=current_user, incident=incident).may_close,
        "shared_status": statements.shared_status,
        "chain": statements.chain,
        "is_signer": lambda st: statements.is_signer(session=db.session, user=current_user, statement=st),
        "nobody_to_sign": lambda st: statements.nobody_to_sign(session=db.session, statement=st),
        "spokesperson_required": settings.spokesperson_required(incident.severity),
        "can_designate": can_designate,
        "spokesperson_choices": (
            statements.spokesperson_candidates(session=db.session, incident=incident) if can_designate else []
        ),
        "shows_emergency": _shows_emergency(incident),
        "EMERGENCY_STATUSES": EMERGENCY_STATUSES,
        "EMERGENCY_LABELS": presenters.translated(EMERGENCY_LABELS),
        "SIGNER_LABELS": presenters.translated(SIGNER_LABELS),
        "CHAIN_STATE_LABELS": presenters.translated(CHAIN_STATE_LABELS),
        "missing": service.open_required_items(incident),
        "comments": service.page_comments(session=db.session, incident=incident),
        "events": events,
        "team": team,
        "acting_scope": units.acting_scope(session=db.session, user=current_user),
        "all_units": involvable,
        "describe": presenters.Describer(incident, lang=lang, zone=zone, labels=STATEMENT_LABELS, session=db.session),
        "rows": rows,
        "entry_url": presenters.EntryUrls(incident.id),
        "_": presenters.PageGettext(),
        "STATEMENT_LABELS": presenters.translated(STATEMENT_LABELS),
        "STATE_LABELS": presenters.translated(STATE_LABELS),
        "CHANNEL_LABELS": presenters.translated(CHANNEL_LABELS),
        "OWNER_LABELS": presenters.translated(OWNER_LABELS),
        "SEVERITY_LABELS": presenters.translated(SEVERITY_LABELS),
        "STATEMENT_KINDS": STATEMENT_KINDS,
        "PUBLICATION_CHANNELS": statements.PUBLICATION_CHANNELS,
    }


@bp.route("/incidents/<int:incident_id>")
@login_required
def page(incident_id: int) -> Any:
    return render_template("incidents/page.html", **_page_context(incident_id))


@bp.route("/incidents/<int:incident_id>/live")
@login_required
def live(incident_id: int) -> Any:
    """Polled by the page: 204 when nothing changed (htmx keeps the page), else the fresh panel."""
    incident = service.get(session=db.session, user=current_user, incident_id=incident_id)
    if request.args.get("stamp") == service.change_stamp(session=db.session, incident=incident):
        return Response(status=204)
    return render_template("incidents/_live.html", **_page_context(incident_id))


# --- actions ----------------------------------------------------------------------------------


def _entry_action(incident_id: int, entry_id: int, verb: str) -> Any:
    form = request.form
    actions: dict[str, tuple[Callable[[], Any], str]] = {
        "tick": (
            lambda: service.tick(
                session=db.session,
                actor=current_user,
                entry_id=entry_id,
                note=form.get("note", ""),
                evidence_url=form.get("evidence_url", ""),
            ),
            _("Item ticked."),
        ),
        "untick": (
            lambda: service.untick(session=db.session, actor=current_user, entry_id=entry_id),
            _("Item reopened."),
        ),
        "note": (
            lambda: service.annotate(
                session=db.session,
                actor=current_user,
                entry_id=entry_id,
                note=form.get("note"),
                evidence_url=form.get("evidence_url"),
            ),
            _("Note saved."),
        ),
        "waive": (
            lambda: service.waive(
                session=db.session, actor=current_user, entry_id=entry_id, reason=form.get("reason", "")
            ),
            _("Item waived; the reason is on record."),
        ),
        "assign": (
            lambda: service.assign(
                session=db.session, actor=current_user, entry_id=entry_id, assignee_id=_int("assignee_id")
            ),
            _("Owner assigned."),
        ),
    }
    if verb not in actions:
        abort(404)
    action, done = actions[verb]
    return _act(incident_id, action, done, anchor=f"entry-{entry_id}")


@bp.route("/incidents/<int:incident_id>/entries/<int:entry_id>/<verb>", methods=["POST"])
@login_required
def entry_action(incident_id: int, entry_id: int, verb: str) -> Any:
    return _entry_action(incident_id, entry_id, verb)


@bp.route("/incidents/<int:incident_id>/stages/<int:run_id>/complete", methods=["POST"])
@login_required
def complete_stage(incident_id: int, run_id: int) -> Any:
    run = db.session.get(StageRun, run_id)
    if run is None or run.incident_id != incident_id:
        abort(404)
    return _act(
        incident_id,
        lambda: service.complete_stage(session=db.session, actor=current_user, stage_run_id=run_id),
        _("Stage completed."),
        anchor=f"stage-{run_id}",
    )


@bp.route("/incidents/<int:incident_id>/<verb>", methods=["POST"])
@login_required
def incident_action(incident_id: int, verb: str) -> Any:
    form = request.form
    version = _int("version")
    actions: dict[str, tuple[Callable[[], Any], str, str]] = {
        "comment": (
            lambda: service.comment(
                session=db.session, actor=current_user, incident_id=incident_id, body=form.get("body", "")
            ),
            _("Comment added."),
            "comments",
        ),
        "severity": (
            lambda: service.change_severity(
                session=db.session,
                actor=current_user,
                incident_id=incident_id,
                severity=_int("severity") or 0,
                reason=form.get("reason", ""),
                expected_version=version,
            ),
            _("Severity changed."),
            "",
        ),
        "spokesperson": (
            lambda: statements.designate_spokesperson(
                session=db.session,
                actor=current_user,
                incident_id=incident_id,
                spokesperson_id=_int("spokesperson_id"),
                expected_version=version,
            ),
            _("Spokesperson recorded."),
            "spokesperson",
        ),
        "emergency": (
            lambda: emergency.set_status(
                session=db.session,
                actor=current_user,
                incident_id=incident_id,
                status=form.get("status", ""),
                declared_at=_local_time("declared_at"),
                expected_version=version,
            ),
            _("Emergency status recorded."),
            "emergency",
        ),
        "involve": (
            lambda: service.involve_unit(
                session=db.session, actor=current_user, incident_id=incident_id, unit_id=_int("unit_id") or 0
            ),
            _("Unit involved."),
            "units",
        ),
        "release": (
            lambda: service.release_unit(
                session=db.session, actor=current_user, incident_id=incident_id, unit_id=_int("unit_id") or 0
            ),
            _("Unit released."),
            "units",
        ),
        "handover": (
            lambda: service.hand_over(
                session=db.session,
                actor=current_user,
                incident_id=incident_id,
                to=form.get("to", ""),
                expected_version=version,
            ),
            _("Ownership handed over."),
            "",
        ),
        "resolve": (
            lambda: service.resolve(
                session=db.session, actor=current_user, incident_id=incident_id, expected_version=version
            ),
            _("Incident resolved."),
            "",
        ),
        "cancel": (
            lambda: service.cancel(
                session=db.session,
                actor=current_user,
                incident_id=incident_id,
                reason=form.get("reason", ""),
                expected_version=version,
            ),
            _("Incident cancelled as a false alarm."),
            "",
        ),
        "statements": (
            lambda: statements.draft(
                session=db.session,
                actor=current_user,
                incident_id=incident_id,
                kind=form.get("kind", ""),
                title=form.get("title", ""),
                body=form.get("body", ""),
            ),
            _("Draft saved."),
            "statements",
        ),
    }
    if verb not in actions:
        abort(404)
    action, done, anchor = actions[verb]
    return _act(incident_id, action, done, anchor)


def _signs_last(statement_id: int) -> bool:
    """The signature asked for is the chain's last one (before it is given)."""
    statement = db.session.get(Statement, statement_id)
    return statement is None or sum(c.state in ("waiting", "to_come") for c in statements.chain(statement)) <= 1


@bp.route("/incidents/<int:incident_id>/statements/<int:statement_id>/<verb>", methods=["POST"])
@login_required
def statement_action(incident_id: int, statement_id: int, verb: str) -> Any:
    form = request.form
    version = _int("version")
    actions: dict[str, tuple[Callable[[], Any], str]] = {
        "edit": (
            lambda: statements.edit(
                session=db.session,
                actor=current_user,
                statement_id=statement_id,
                title=form.get("title", ""),
                body=form.get("body", ""),
                expected_version=version,
            ),
            _("Draft saved."),
        ),
        "approve": (
            lambda: statements.approve(
                session=db.session, actor=current_user, statement_id=statement_id, expected_version=version
            ),
            _("Statement approved.")
            if verb != "approve" or _signs_last(statement_id)
            else _("Signed; the next signer is told."),
        ),
        "return": (
            lambda: statements.send_back(
                session=db.session,
                actor=current_user,
                statement_id=statement_id,
                reason=form.get("reason", ""),
                expected_version=version,
            ),
            _("Statement sent back to its author with your reason."),
        ),
        "publish": (
            lambda: statements.publish(
                session=db.session,
                actor=current_user,
                statement_id=statement_id,
                channel=form.get("channel", ""),
                url=form.get("url", ""),
                published_at=_local_time("published_at"),
            ),
            _("Publication recorded."),
        ),
        "share": (
            lambda: statements.record_shared_publication(
                session=db.session,
                actor=current_user,
                statement_id=statement_id,
                unit_id=_int("unit_id") or 0,
                channel=form.get("channel", ""),
                url=form.get("url", ""),
                published_at=_local_time("published_at"),
            ),
            _("Publication recorded."),
        ),
    }
    if verb not in actions:
        abort(404)
    action, done = actions[verb]
    return _act(incident_id, action, done, anchor=f"statement-{statement_id}")


# --- the media desk ------------------------------------------------------------------------------

MEDIA_FIELD_LABELS = {
    "journalist": _l("Journalist"),
    "outlet": _l("Outlet"),
    "outlet_type": _l("Kind of outlet"),
    "channel": _l("Came in by"),
    "question": _l("Question"),
    "journalist_deadline": _l("Journalist's deadline"),
    "received_at": _l("Received at"),
    "assignee_id": _l("Answered by"),
    "statement_id": _l("Statement"),
    "answer_text": _l("Answer"),
    "answered_at": _l("Answered at"),
    "decline_reason": _l("Reason"),
    "holding_line": _l("Holding line given"),
}


def _media_fields() -> dict[str, Any]:
    form = request.form
    fields: dict[str, Any] = {name: form.get(name, "") for name in ("journalist", "outlet", "question")}
    fields["outlet_type"], fields["channel"] = form.get("outlet_type") or None, form.get("channel") or None
    received = _local_time("received_at")
    if received is not None:
        fields["received_at"] = received
    fields["journalist_deadline"] = _local_time("journalist_deadline")
    return fields


def _media_act(incident_id: int, action: Callable[[], Any], done: str, anchor: str) -> Any:
    """One action on the media desk, one transaction; refusals come back next to their fields."""
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        db.session.rollback()
        flash_refusal(error, target=anchor, labels=MEDIA_FIELD_LABELS)
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("incidents.media_page", incident_id=incident_id) + f"#{anchor}")


@bp.route("/incidents/<int:incident_id>/media")
@login_required
def media_page(incident_id: int) -> Any:
    """The media desk of an incident: log a question in a few fields, see who owes an answer and by
    when, answer or decline."""
    incident = service.get(session=db.session, user=current_user, incident_id=incident_id)
    queries = media.list_for_incident(session=db.session, user=current_user, incident_id=incident_id)
    can_work = media.can_work(session=db.session, user=current_user, incident=incident)
    answerable = incident.state in ("active", "resolved")
    return render_template(
        "incidents/media.html",
        incident=incident,
        queries=sorted(queries, key=lambda q: (not q.is_open, q.due_at if q.is_open else q.received_at)),
        can_work=can_work,
        answerable=answerable,
        can_approve=lambda q: media.can_approve_answer(session=db.session, user=current_user, query=q),
        people=media.assignable(session=db.session, incident=incident) if can_work else [],
        answers=[s for s in incident.statements if s.state in ("approved", "published")],
        figures=media.figures(queries),
        now=clock.now(),
        lang=select_locale(),
        OUTLET_TYPES=presenters.translated(media.OUTLET_TYPE_LABELS),
        MEDIA_CHANNELS=presenters.translated(media.MEDIA_CHANNEL_LABELS),
        MEDIA_STATES=presenters.translated(media.MEDIA_STATE_LABELS),
        STATEMENT_LABELS=presenters.translated(STATEMENT_LABELS),
    )


@bp.route("/incidents/<int:incident_id>/media", methods=["POST"])
@login_required
def log_media_query(incident_id: int) -> Any:
    return _media_act(
        incident_id,
        lambda: media.log(
            session=db.session,
            actor=current_user,
            incident_id=incident_id,
            fields=_media_fields(),
            assignee_id=_int("assignee_id"),
        ),
        _("Media query logged."),
        anchor="log-query",
    )


@bp.route("/incidents/<int:incident_id>/media/<int:query_id>/<verb>", methods=["POST"])
@login_required
def media_action(incident_id: int, query_id: int, verb: str) -> Any:
    form = request.form
    common = {"session": db.session, "actor": current_user, "query_id": query_id, "expected_version": _int("version")}
    actions: dict[str, tuple[Callable[[], Any], str]] = {
        "assign": (lambda: media.assign(**common, assignee_id=_int("assignee_id")), _("Assigned.")),
        "edit": (lambda: media.edit(**common, fields=_media_fields()), _("Media query corrected.")),
        "answer": (
            lambda: media.answer_with_statement(
                **common, statement_id=_int("statement_id"), answered_at=_local_time("answered_at")
            ),
            _("Answer recorded."),
        ),
        "draft_answer": (
            lambda: media.draft_answer(**common, answer_text=form.get("answer_text", "")),
            _("Answer saved; it waits for approval by a supervisor or head."),
        ),
        "approve_answer": (
            lambda: media.approve_answer(**common, answered_at=_local_time("answered_at")),
            _("Answer approved and recorded."),
        ),
        "decline": (
            lambda: media.decline(
                **common,
                reason=form.get("decline_reason", ""),
                holding_line=form.get("holding_line", ""),
                answered_at=_local_time("answered_at"),
            ),
            _("Declined; the holding line is recorded."),
        ),
    }
    if verb not in actions:
        abort(404)
    action, done = actions[verb]
    return _media_act(incident_id, action, done, anchor=f"query-{query_id}")
