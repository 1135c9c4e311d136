"""The pages of drills: "Mulai latihan" (start an exercise), an exercise's page with its
after-action report, its PDF, and a unit's readiness. Thin: parse, call a service, commit, render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crisis import clock
from crisis.errors import ValidationFailed
from crisis.exercises import aar, readiness, scenarios, service
from crisis.extensions import db
from crisis.guards import parse_id
from crisis.http import flash_refusal, select_locale, viewer_zone
from crisis.i18n import _
from crisis.playbooks import service as playbooks
from crisis.units import service as units

bp = Blueprint("exercises", __name__)


def _errors(error: ValidationFailed) -> dict[str, str]:
    return {
        name: (messages[0] if isinstance(messages, list) else str(messages)) for name, messages in error.errors.items()
    }


@bp.route("/exercises/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    """Mulai latihan: a scenario, the leading unit, and the other units taking part."""
    lang = select_locale()
    visible = units.list_visible(session=db.session, user=current_user)
    allowed = service.leading_unit_ids(session=db.session, user=current_user)
    lead_units = [u for u in visible if allowed is None or u.id in allowed]
    form: dict[str, Any] = {"scenario": request.args.get("scenario"), "unit_id": None, "other_unit_ids": []}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {
            "scenario": request.form.get("scenario"),
            "unit_id": parse_id(request.form.get("unit_id")),
            "other_unit_ids": [parse_id(v) for v in request.form.getlist("other_unit_ids")],
        }
        try:
            exercise = service.start(
                session=db.session,
                actor=current_user,
                scenario_key=form["scenario"],
                unit_id=form["unit_id"],
                other_unit_ids=form["other_unit_ids"],
                language=lang,
            )
        except ValidationFailed as error:
            db.session.rollback()
            errors = _errors(error)
        else:
            db.session.commit()
            flash(_("Exercise started. Its injects arrive at their times."), "success")
            return redirect(url_for("exercises.page", exercise_id=exercise.id))
    return render_template(
        "exercises/new.html",
        scenarios=scenarios.list_current(session=db.session),
        lead_units=lead_units,
        all_units=visible,
        form=form,
        errors=errors,
        lang=lang,
        playbook_titles=playbooks.titles(session=db.session, lang=lang),
        exercises=service.list_for_user(session=db.session, user=current_user, limit=30),
        readiness=readiness.for_units(session=db.session, units=lead_units[:20], now=clock.now()),
    ), (422 if errors else 200)


@bp.route("/exercises/<int:exercise_id>")
@login_required
def page(exercise_id: int, field_errors: dict[str, str] | None = None) -> Any:
    exercise = service.get(session=db.session, user=current_user, exercise_id=exercise_id)
    context = aar.context(session=db.session, exercise=exercise, lang=select_locale(), zone=viewer_zone())
    return render_template(
        "exercises/page.html",
        **context,
        can_lead=service.can_lead(session=db.session, user=current_user, unit_id=exercise.unit_id),
        field_errors=field_errors or {},
    )


@bp.route("/exercises/<int:exercise_id>/end", methods=["POST"])
@login_required
def end(exercise_id: int) -> Any:
    try:
        service.end(session=db.session, actor=current_user, exercise_id=exercise_id)
    except ValidationFailed as error:
        db.session.rollback()
        flash_refusal(error)
    else:
        db.session.commit()
        flash(_("Exercise ended. Rate its objectives and write the review."), "success")
    return redirect(url_for("exercises.page", exercise_id=exercise_id, _anchor="evaluate"))


@bp.route("/exercises/<int:exercise_id>/evaluate", methods=["POST"])
@login_required
def evaluate(exercise_id: int) -> Any:
    exercise = service.get(session=db.session, user=current_user, exercise_id=exercise_id)
    ratings = {
        o["key"]: {"rating": request.form.get(f"rating-{o['key']}"), "note": request.form.get(f"note-{o['key']}", "")}
        for o in exercise.objectives
    }
    try:
        service.evaluate(session=db.session, actor=current_user, exercise_id=exercise_id, ratings=ratings)
    except ValidationFailed as error:
        db.session.rollback()
        return page(exercise_id, field_errors=_errors(error)), 422
    db.session.commit()
    flash(_("Ratings saved."), "success")
    return redirect(url_for("exercises.page", exercise_id=exercise_id))


@bp.route("/exercises/<int:exercise_id>/report.pdf")
@login_required
def report_pdf(exercise_id: int) -> Any:
    exercise = service.get(session=db.session, user=current_user, exercise_id=exercise_id)
    lang = select_locale()
    pdf = aar.render_pdf(session=db.session, exercise=exercise, lang=lang, zone=viewer_zone())
    assert exercise.incident is not None  # nosec B101  # get() found one
    name = f"latihan-{exercise.incident.reference}.pdf"
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.route("/units/<int:unit_id>/readiness", methods=["GET"])
@login_required
def unit_readiness(unit_id: int, errors: dict[str, str] | None = None) -> Any:
    """A unit's readiness: last exercise per SOP, exercises this year against its target, open items."""
    unit = units.get(session=db.session, user=current_user, unit_id=unit_id)
    lang = select_locale()
    return render_template(
        "exercises/readiness.html",
        unit=unit,
        readiness=readiness.for_units(session=db.session, units=[unit], now=clock.now()),
        playbook_titles=playbooks.titles(session=db.session, lang=lang),
        is_head=any(m.role == "head" and m.unit_id == unit.id for m in current_user.memberships),
        errors=errors or {},
    )


@bp.route("/units/<int:unit_id>/readiness/target", methods=["POST"])
@login_required
def set_target(unit_id: int) -> Any:
    raw_target = (request.form.get("target") or "").strip()
    raw_year = (request.form.get("year") or "").strip()
    try:
        service.set_target(
            session=db.session,
            actor=current_user,
            unit_id=unit_id,
            year=int(raw_year) if raw_year.isdigit() else raw_year,
            target=int(raw_target) if raw_target.isdigit() else raw_target,
        )
    except ValidationFailed as error:
        db.session.rollback()
        return unit_readiness(unit_id, errors=_errors(error)), 422
    db.session.commit()
    flash(_("Exercise target saved."), "success")
    return redirect(url_for("exercises.unit_readiness", unit_id=unit_id))
