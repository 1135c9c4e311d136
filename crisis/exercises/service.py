"""Running a drill: start it from a scenario (an issue and an incident marked as an exercise, the
other units involved, the injects planned as timers of the deadline engine), end it (ENDEX), rate
its objectives, and the yearly targets units set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crisis import clock
from crisis.auth.models import User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.escalation.models import Timer
from crisis.escalation.timing import announce
from crisis.exercises import scenarios
from crisis.exercises.models import ExerciseTarget
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import service as incidents
from crisis.incidents.access import commander_candidates, lead_action, record, record_entry
from crisis.incidents.models import EXERCISE_MARK, EXERCISE_RATINGS, Exercise, Incident
from crisis.issues import service as issues
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit, UnitKind

# Who may start, end and evaluate a drill in a unit (or below it): its supervisors, heads, admins.
LEADING_ROLES = frozenset({"supervisor", "head", "admin"})
ENDEX_REASON = "ENDEX"  # the waiver reason of items left open when the drill is ended
MAX_NOTE = 2000
MAX_TARGET = 52


def leading_unit_ids(*, session: Session, user: User) -> set[int] | None:
    """Units where `user` may lead a drill; None: every unit (a central unit's lead)."""
    memberships = [m for m in user.memberships if m.role in LEADING_ROLES]
    if any(m.unit.kind == UnitKind.central for m in memberships):
        return None
    return units.subtree_ids(session=session, root_ids={m.unit_id for m in memberships})


def can_lead(*, session: Session, user: User, unit_id: int) -> bool:
    allowed = leading_unit_ids(session=session, user=user)
    return allowed is None or unit_id in allowed


def start(
    *,
    session: Session,
    actor: User,
    scenario_key: Any,
    unit_id: Any,
    other_unit_ids: list[Any] | None = None,
    commander_id: Any = None,
    language: str = "id",
    now: datetime | None = None,
) -> Exercise:
    """Start a drill: the scenario's current version, an issue and an incident marked as an exercise
    in `unit_id`, the other units taking part involved in it, and one timer per inject."""
    now = now or clock.now()
    errors: dict[str, str] = {}
    version = scenarios.current(session=session, key=scenario_key) if isinstance(scenario_key, str) else None
    if version is None:
        errors["scenario"] = str(_l("Choose a scenario from the library."))
    unit = session.get(Unit, unit_id) if isinstance(unit_id, int) and not isinstance(unit_id, bool) else None
    if unit is None:
        errors["unit_id"] = str(_l("Choose the unit that leads the exercise."))
    elif unit.id not in units.visible_scope(session=session, user=actor):
        raise NotFound(_l("Unit not found."), field="unit_id")
    elif not can_lead(session=session, user=actor, unit_id=unit.id):
        raise NotPermitted(
            _l("Only a supervisor, head or administrator of this unit (or above it) starts its exercises."),
            field="unit_id",
        )
    others: list[Unit] = []
    for value in other_unit_ids or []:
        other = session.get(Unit, value) if isinstance(value, int) and not isinstance(value, bool) else None
        if other is None or (unit is not None and other.id == unit.id):
            errors["other_unit_ids"] = str(_l("Choose other units that take part, not the leading one."))
        elif other not in others:
            others.append(other)
    if commander_id is None:
        commander_id = actor.id
    if unit is not None and "unit_id" not in errors:
        candidates = {u.id for u in commander_candidates(session=session, unit_id=unit.id)}
        if commander_id not in candidates:
            errors["commander_id"] = str(_l("Choose a commander with a role in this unit or above it."))
    if errors:
        raise ValidationFailed(errors)
    assert version is not None and unit is not None  # nosec B101  # type narrowing: errors raised above
    snapshot = version.canonical
    exercise = Exercise(
        unit_id=unit.id,
        scenario_version_id=version.id,
        scenario_key=version.key,
        playbook_key=version.playbook_key,
        scenario_snapshot=snapshot,
        unit_ids=[unit.id, *(o.id for o in others)],
        started_by_id=actor.id,
        started_at=now,
        ratings={},
    )
    session.add(exercise)
    session.flush()
    lang = language if language in ("id", "en") else "id"
    start_issue = snapshot["issue"]
    issue = issues.create(
        session=session,
        actor=actor,
        now=now,
        unit_id=unit.id,
        title=f"{EXERCISE_MARK} {start_issue['title'][lang]}"[:300],
        description=start_issue["description"][lang],
        channel=start_issue["channel"],
        category=start_issue["category"],
        first_seen_at=now,
        reach=start_issue["reach"],
        engagement=start_issue["engagement"],
        evidence_urls=[start_issue["evidence_url"]] if start_issue["evidence_url"] else [],
    )
    incident = incidents.open_from_issue(
        session=session,
        actor=actor,
        issue_id=issue.id,
        playbook_key=version.playbook_key,
        severity=snapshot["severity"],
        commander_id=commander_id,
        now=now,
        exercise_id=exercise.id,
    )
    for other in others:
        incidents.involve_unit(session=session, actor=actor, incident_id=incident.id, unit_id=other.id, now=now)
    timers = [
        Timer(
            incident_id=incident.id,
            kind="inject",
            step_index=position,
            fire_at=now + scenarios.inject_offset(inject),
            state="pending",
        )
        for position, inject in enumerate(snapshot["injects"])
    ]
    session.add_all(timers)
    record(
        session=session,
        incident=incident,
        actor=actor,
        kind="exercise.started",
        now=now,
        exercise_id=exercise.id,
        scenario=version.key,
        scenario_version=version.number,
        units=[u.code for u in (unit, *others)],
        injects=len(timers),
    )
    announce(session, timers, now)
    return exercise


def get(*, session: Session, user: User, exercise_id: int) -> Exercise:
    """An exercise whose incident the user may see (its units' subtree, or a unit involved in it)."""
    exercise = session.get(Exercise, exercise_id)
    if exercise is None or exercise.incident is None:
        raise NotFound(_l("Exercise not found."))
    try:
        incidents.get(session=session, user=user, incident_id=exercise.incident.id, reload_runs=False)
    except NotFound as error:
        raise NotFound(_l("Exercise not found.")) from error
    return exercise


def list_for_user(*, session: Session, user: User, limit: int = 100) -> list[Exercise]:
    query = (
        select(Exercise)
        .options(selectinload(Exercise.incident), selectinload(Exercise.unit))
        .order_by(Exercise.started_at.desc(), Exercise.id.desc())
    )
    scope = units.visible_scope(session=session, user=user)
    if not scope.everything:
        query = query.where(Exercise.unit_id.in_(sorted(scope.unit_ids)))
    return list(session.scalars(query.limit(limit)))


def end(*, session: Session, actor: User, exercise_id: int, now: datetime | None = None) -> Exercise:
    """ENDEX: the controller ends the drill. Required items still open are waived with the reason
    ENDEX (the after-action report shows them so) and the incident is resolved: its review opens and
    the injects not yet sent end (`incident_ended`). A drill resolved or cancelled on its incident's
    own page has ended already."""
    now = now or clock.now()
    exercise = get(session=session, user=actor, exercise_id=exercise_id)
    incident = exercise.incident
    assert incident is not None  # nosec B101  # get() found one
    if not can_lead(session=session, user=actor, unit_id=exercise.unit_id):
        raise NotPermitted(_l("Only a supervisor, head or administrator of the leading unit ends the exercise."))
    if incident.state != "active":
        return exercise
    lead_action(session=session, actor=actor, incident_id=incident.id)
    for _run, entry in incidents.open_required_items(incident):
        entry.waived_at, entry.waived_by_id, entry.waive_reason = now, actor.id, ENDEX_REASON
        record_entry(
            session=session,
            incident=incident,
            actor=actor,
            entry=entry,
            kind="checklist.waived",
            now=now,
            reason=ENDEX_REASON,
        )
    session.flush()
    incidents.resolve(session=session, actor=actor, incident_id=incident.id, now=now)
    return exercise


def incident_ended(*, session: Session, incident: Incident, now: datetime, actor: User | None = None, **_: Any) -> None:
    """Hook (incident resolved or cancelled): a drill's incident ended, so the drill did. Its pending
    injects are cancelled with the incident's other timers (crisis.escalation.planning)."""
    if incident.exercise is None or incident.exercise.ended_at is not None:
        return
    incident.exercise.ended_at = now
    record(
        session=session,
        incident=incident,
        actor=actor,
        kind="exercise.ended",
        now=now,
        exercise_id=incident.exercise_id,
        outcome=incident.state,
    )


def evaluate(*, session: Session, actor: User, exercise_id: int, ratings: Any, now: datetime | None = None) -> Exercise:
    """Rate each objective met / partly / not met, with a note. Every objective needs a rating."""
    now = now or clock.now()
    exercise = get(session=session, user=actor, exercise_id=exercise_id)
    if not can_lead(session=session, user=actor, unit_id=exercise.unit_id):
        raise NotPermitted(_l("Only a supervisor, head or administrator of the leading unit evaluates the exercise."))
    if exercise.ended_at is None:
        raise ValidationFailed({"ratings": str(_l("End the exercise before evaluating it."))})
    if not isinstance(ratings, dict):
        raise ValidationFailed({"ratings": str(_l("Rate every objective."))})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for objective in exercise.objectives:
        key = objective["key"]
        given = ratings.get(key)
        rating = given.get("rating") if isinstance(given, dict) else None
        note = given.get("note", "") if isinstance(given, dict) else ""
        if rating not in EXERCISE_RATINGS:
            errors[f"ratings.{key}.rating"] = str(_l("Choose met, partly met or not met."))
            continue
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            errors[f"ratings.{key}.note"] = str(_l("Write at most %(n)d characters.", n=MAX_NOTE))
            continue
        if rating != "met" and not note.strip():
            errors[f"ratings.{key}.note"] = str(_l("Say what fell short."))
            continue
        clean[key] = {"rating": rating, "note": note.strip()}
    unknown = sorted(set(ratings) - {o["key"] for o in exercise.objectives})
    if unknown:
        errors["ratings"] = str(_l("Unknown objective: %(keys)s", keys=", ".join(map(str, unknown))))
    if errors:
        raise ValidationFailed(errors)
    exercise.ratings = clean
    exercise.evaluated_at, exercise.evaluated_by_id = now, actor.id
    assert exercise.incident is not None  # nosec B101  # get() found one
    record(
        session=session,
        incident=exercise.incident,
        actor=actor,
        kind="exercise.evaluated",
        now=now,
        exercise_id=exercise.id,
        met=sum(1 for r in clean.values() if r["rating"] == "met"),
        partly=sum(1 for r in clean.values() if r["rating"] == "partly"),
        not_met=sum(1 for r in clean.values() if r["rating"] == "not_met"),
    )
    session.flush()
    return exercise


def set_target(
    *, session: Session, actor: User, unit_id: Any, year: Any, target: Any, now: datetime | None = None
) -> ExerciseTarget:
    """A unit head sets how many exercises the unit means to run in a year."""
    now = now or clock.now()
    unit = units.get(session=session, user=actor, unit_id=unit_id)  # out of sight: not found
    if not any(m.role == "head" and m.unit_id == unit.id for m in actor.memberships):
        raise NotPermitted(_l("The unit's head sets its exercise target."))
    errors: dict[str, str] = {}
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        errors["year"] = str(_l("Choose a year."))
    if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target <= MAX_TARGET:
        errors["target"] = str(_l("Write a number of exercises from 0 to %(n)d.", n=MAX_TARGET))
    if errors:
        raise ValidationFailed(errors)
    row = session.scalar(select(ExerciseTarget).where(ExerciseTarget.unit_id == unit.id, ExerciseTarget.year == year))
    if row is None:
        row = ExerciseTarget(unit_id=unit.id, year=year, target=target)
        session.add(row)
    row.target, row.set_by_id, row.set_at = target, actor.id, now
    timeline.record(
        session=session,
        kind="exercise.target_set",
        subject_type="unit",
        subject_id=unit.id,
        unit_id=unit.id,
        actor_id=actor.id,
        now=now,
        data={"year": year, "target": target},
    )
    session.flush()
    return row


@dataclass(frozen=True)
class StageTime:
    key: str
    title: dict[str, str]
    state: str
    started_at: datetime | None
    completed_at: datetime | None
    target_seconds: int
    actual_seconds: int | None
    endex: bool = False  # left unfinished when the drill was ended: not judged on time or late

    @property
    def target(self) -> timedelta:
        return timedelta(seconds=self.target_seconds)

    @property
    def actual(self) -> timedelta | None:
        return None if self.actual_seconds is None else timedelta(seconds=self.actual_seconds)

    @property
    def met(self) -> bool | None:
        if self.actual_seconds is None or self.endex:
            return None
        return self.actual_seconds <= self.target_seconds


def stage_times(incident: Incident) -> list[StageTime]:
    """Each stage's time against its target (the after-action report's "stage times")."""
    rows = []
    for run in incident.stage_runs:
        if run.state == "skipped":
            continue
        actual = None
        if run.started_at is not None and run.completed_at is not None:
            actual = int((run.completed_at - run.started_at).total_seconds())
        rows.append(
            StageTime(
                key=run.stage_key,
                title=run.spec.title.to_canonical(),
                state=run.state,
                started_at=run.started_at,
                completed_at=run.completed_at,
                target_seconds=run.target_seconds,
                actual_seconds=actual,
                endex=any(entry.waive_reason == ENDEX_REASON for entry in run.entries),
            )
        )
    return rows
