"""Exercises over JSON: start a drill, read it, end it, rate its objectives. Thin: parse, call a
service, commit."""

from __future__ import annotations

from typing import Any

from crisis.auth.identity import authenticated, bearer_user
from crisis.exercises import schemas as s
from crisis.exercises import service
from crisis.extensions import db
from crisis.http import Blueprint

blp = Blueprint("exercises_api", __name__, url_prefix="/api/v1", description="Exercises (drills)")


@blp.route("/exercises", methods=["POST"])
@authenticated
@blp.arguments(s.ExerciseIn)
@blp.response(201, s.ExerciseOut)
def start(data: dict[str, Any]) -> Any:
    """Start a drill from a scenario of sops/exercises for a unit (and other units taking part): an
    incident marked as an exercise runs the scenario's playbook, and its injects are planned."""
    exercise = service.start(
        session=db.session,
        actor=bearer_user(),
        scenario_key=data["scenario"],
        unit_id=data["unit_id"],
        other_unit_ids=data["other_unit_ids"],
        commander_id=data["commander_id"],
        language=data["language"],
    )
    db.session.commit()
    return exercise


@blp.route("/exercises/<int:exercise_id>")
@authenticated
@blp.response(200, s.ExerciseOut)
def get(exercise_id: int) -> Any:
    return service.get(session=db.session, user=bearer_user(), exercise_id=exercise_id)


@blp.route("/exercises/<int:exercise_id>/end", methods=["POST"])
@authenticated
@blp.response(200, s.ExerciseOut)
def end(exercise_id: int) -> Any:
    """ENDEX: open required items are waived with the reason ENDEX; the incident is resolved."""
    exercise = service.end(session=db.session, actor=bearer_user(), exercise_id=exercise_id)
    db.session.commit()
    return exercise


@blp.route("/exercises/<int:exercise_id>/evaluation", methods=["PUT"])
@authenticated
@blp.arguments(s.EvaluationIn)
@blp.response(200, s.ExerciseOut)
def evaluate(data: dict[str, Any], exercise_id: int) -> Any:
    exercise = service.evaluate(
        session=db.session, actor=bearer_user(), exercise_id=exercise_id, ratings=data["ratings"]
    )
    db.session.commit()
    return exercise
