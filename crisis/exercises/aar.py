"""The after-action report of an exercise (HSEEP style): objectives rated, what was done (the
timeline), stage times against targets, strengths and areas for improvement (the review's), the
improvement plan (the review's action items: owner, due date), as a page and a PDF on the unit's
letterhead."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.escalation.models import Timer
from crisis.exercises import scenarios
from crisis.exercises.service import stage_times
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.models import Exercise
from crisis.reviews import exports
from crisis.reviews import service as reviews
from crisis.reviews.models import Review
from crisis.units import letterhead as letterheads

RATING_WORDS = {"met": _l("Met"), "partly": _l("Partly met"), "not_met": _l("Not met")}


def context(*, session: Session, exercise: Exercise, lang: str, zone: str) -> dict[str, Any]:
    incident = exercise.incident
    assert incident is not None  # nosec B101  # every exercise has its incident
    review = session.scalar(select(Review).where(Review.incident_id == incident.id))
    if review is not None:  # its timeline, measures, strengths, improvements and action items
        review_context = exports.context(reviews.document(session=session, review=review), lang=lang, zone=zone)
    else:  # still running: the schedule and the stages so far
        review_context = {
            "letterhead": letterheads.get(session=session, unit_id=incident.unit_id),
            **exports._zone_formatters(zone),  # noqa: SLF001  # the review's own formatters
        }
    timers = {
        t.step_index: t
        for t in session.scalars(select(Timer).where(Timer.incident_id == incident.id, Timer.kind == "inject"))
    }
    injects = [
        {
            "at": inject["at"],
            "offset": scenarios.inject_offset(inject),
            "text": inject["text"][lang] if lang in inject["text"] else inject["text"]["id"],
            "notify": inject["notify"],
            "timer": timers.get(position),
        }
        for position, inject in enumerate(exercise.injects)
    ]
    stages = stage_times(incident)
    by_stage = {stage.key: stage for stage in stages}
    objectives = [
        {
            "key": o["key"],
            "text": o["text"][lang] if lang in o["text"] else o["text"]["id"],
            "stage": by_stage.get(o.get("stage") or ""),  # the stage it is measured against: target, actual
            "rating": (exercise.ratings or {}).get(o["key"], {}).get("rating"),
            "note": (exercise.ratings or {}).get(o["key"], {}).get("note", ""),
        }
        for o in exercise.objectives
    ]
    return {
        **review_context,
        "exercise": exercise,
        "incident": incident,
        "review": review,
        "lang": lang,
        "scenario_title": exercise.scenario_snapshot["title"].get(lang) or exercise.scenario_snapshot["title"]["id"],
        "objectives": objectives,
        "injects": injects,
        "stages": stages,
        "RATING_WORDS": RATING_WORDS,
    }


def render_html(*, session: Session, exercise: Exercise, lang: str, zone: str, for_pdf: bool = False) -> str:
    with force_locale(lang):
        return render_template(
            "exercises/report.html",
            for_pdf=for_pdf,
            **context(session=session, exercise=exercise, lang=lang, zone=zone),
        )


def render_pdf(*, session: Session, exercise: Exercise, lang: str, zone: str) -> bytes:
    return exports.html_to_pdf(render_html(session=session, exercise=exercise, lang=lang, zone=zone, for_pdf=True))
