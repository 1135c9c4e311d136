"""Who sees and who may act on an incident, and the small checks and records every action shares."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session, defer, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from crisis.auth.models import ACTING_ROLES, Membership, Role, User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.labels import STATE_LABELS
from crisis.incidents.models import (
    ChecklistEntry,
    Incident,
    InvolvedUnit,
    StageRun,
    Statement,
)
from crisis.links import url_problem
from crisis.playbooks.models import PlaybookVersion
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit

LEAD_ROLES = frozenset({Role.supervisor, Role.head, Role.admin})
MAX_TEXT = 5000


def visible_filter(*, session: Session, user: User) -> Any:
    """The condition on Incident for what the user sees; None when they see everything."""
    return _visible_filter(session=session, user=user)


def _visible_filter(*, session: Session, user: User) -> Any:
    scope = units.visible_scope(session=session, user=user)
    if scope.everything:
        return None
    involved = select(InvolvedUnit.incident_id).where(scope.filter(InvolvedUnit.unit_id))
    return or_(scope.filter(Incident.unit_id), Incident.id.in_(involved))


def get(
    *,
    session: Session,
    user: User,
    incident_id: int,
    lock: bool = False,
    reload_runs: bool = True,
    options: tuple[Any, ...] = (),
) -> Incident:
    """An incident the user may see: of their units' subtree, or one their units are involved in.

    lock: its row is locked and re-read, and so are its stages and checklist entries unless
    reload_runs is False (the caller then re-reads what it changes itself). options: loader
    options for the query (PAGE_LOADING for the incident page)."""
    query = incident_query(session=session, user=user, lock=lock, options=options)
    incident = session.scalar(query.where(Incident.id == incident_id))
    if incident is None:
        raise NotFound(_l("Incident not found."))
    if lock and reload_runs:
        _reload_runs(session=session, incident=incident)
    return incident


def incident_query(*, session: Session, user: User, lock: bool, options: tuple[Any, ...] = ()) -> Any:
    """The incidents the user may see, for get(): add which one."""
    query = select(Incident).options(*options)
    visible = _visible_filter(session=session, user=user)
    if visible is not None:
        query = query.where(visible)
    if lock:
        # Serialises changes to one incident; a second writer waits, then reads the state the
        # first one committed (populate_existing replaces what this session had loaded before).
        query = query.with_for_update().execution_options(populate_existing=True)
    return query


def get_for_page(*, session: Session, user: User, incident_id: int) -> Incident:
    """get() with what the incident page shows: in the incident's own query the owning unit with
    the units above it (hand-over targets and commander candidates) and of the SOP version only its
    number (not its canonical form and YAML); then its stages with their entries, its involved
    units with their units, and its statements with their publications, one query each."""
    incident = get(session=session, user=user, incident_id=incident_id, options=_page_options())
    values = {"incident_id": incident.id}
    for collection, query in _page_collections().items():
        set_committed_value(incident, collection, session.scalars(query, values).unique().all())
    return incident


@functools.cache
def _page_options() -> tuple[Any, ...]:
    """Built once: loader options never change."""
    return (
        joinedload(Incident.unit).joinedload(Unit.parent).joinedload(Unit.parent),
        joinedload(Incident.playbook_version).load_only(PlaybookVersion.number, PlaybookVersion.playbook_id),
    )


@functools.cache
def _page_collections() -> dict[str, Select[Any]]:
    """Built once, the incident a parameter. selectinload built (and keyed) these anew for every
    page, which cost more than running them; as for the order, each is its relationship's."""
    incident = bindparam("incident_id")
    return {
        "stage_runs": select(StageRun)
        .where(StageRun.incident_id == incident)
        .order_by(StageRun.position)
        .options(joinedload(StageRun.entries)),
        "involved": select(InvolvedUnit)
        .where(InvolvedUnit.incident_id == incident)
        .order_by(InvolvedUnit.id)
        .options(joinedload(InvolvedUnit.unit)),
        "statements": select(Statement)
        .where(Statement.incident_id == incident)
        .order_by(Statement.id)
        .options(joinedload(Statement.publications)),
    }


def _reload_runs(*, session: Session, incident: Incident) -> None:
    fresh = {"populate_existing": True}
    session.scalars(select(StageRun).where(StageRun.incident_id == incident.id).execution_options(**fresh)).all()
    session.scalars(
        select(ChecklistEntry).join(StageRun).where(StageRun.incident_id == incident.id).execution_options(**fresh)
    ).all()


def list_for_user(
    *,
    session: Session,
    user: User,
    states: tuple[str, ...] = ("active",),
    unit_id: int | None = None,
    severity: int | None = None,
    limit: int = 200,
    summary_only: bool = False,
    exercises: bool = False,
) -> list[Incident]:
    """summary_only: for pages that list incidents and act on none of them. Each incident comes
    without its SOP snapshot (~9 kB of JSON; read what is shown of it with summaries()) and with
    only its running stage in stage_runs. exercises: the drills instead of the real incidents (a
    list never mixes them)."""
    runs = Incident.stage_runs.and_(StageRun.state == "active") if summary_only else Incident.stage_runs
    query = (
        select(Incident)
        .where(Incident.state.in_(states))
        .where(Incident.exercise_id.is_not(None) if exercises else Incident.exercise_id.is_(None))
        .options(selectinload(runs), selectinload(Incident.unit))
        .order_by(Incident.severity.desc(), Incident.started_at, Incident.id)
        .limit(limit)
    )
    if summary_only:
        query = query.options(defer(Incident.playbook_snapshot))
    visible = _visible_filter(session=session, user=user)
    if visible is not None:
        query = query.where(visible)
    if unit_id is not None:
        query = query.where(Incident.unit_id.in_(sorted(units.subtree_ids(session=session, root_ids={unit_id}))))
    if severity is not None:
        query = query.where(Incident.severity == severity)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Summary:
    """What a list shows of an incident's SOP snapshot."""

    key: str
    settings: dict[str, Any]
    stage_title: dict[str, str] | None  # of the stage running now; None when none is


def summaries(*, session: Session, incidents: list[Incident]) -> dict[int, Summary]:
    """Each incident's Summary, read from the few SOP versions among them instead of every snapshot:
    an incident's snapshot is its version's canonical form, copied when it opened (open_from_issue),
    and a published version never changes (playbooks.models refuses updates)."""
    version_ids = sorted({incident.playbook_version_id for incident in incidents})
    canonical = dict(
        session.execute(
            select(PlaybookVersion.id, PlaybookVersion.canonical).where(PlaybookVersion.id.in_(version_ids))
        ).all()
    )
    found: dict[int, Summary] = {}
    for incident in incidents:
        sop, run = canonical[incident.playbook_version_id], incident.current_stage
        stage_title = sop["stages"][run.position]["title"] if run is not None else None
        found[incident.id] = Summary(key=sop["key"], settings=sop["settings"], stage_title=stage_title)
    return found


def can_act(*, session: Session, user: User, incident: Incident) -> bool:
    """Officers and above of the owning unit's tree, and the commander, run the response."""
    return incident.commander_id == user.id or incident.unit_id in units.acting_scope(session=session, user=user)


def can_lead(*, session: Session, user: User, incident: Incident) -> bool:
    """Supervisors, heads and admins over the owning unit, and the commander, take the big decisions."""
    if incident.commander_id == user.id:
        return True
    lead_units = {m.unit_id for m in user.memberships if m.role in LEAD_ROLES}
    if any(session.get(Unit, uid).kind == "central" for uid in lead_units):
        return True
    return incident.unit_id in units.subtree_ids(session=session, root_ids=lead_units)


def require_act(*, session: Session, user: User, incident: Incident) -> None:
    if not can_act(session=session, user=user, incident=incident):
        raise NotPermitted(_l("Only the owning unit's team and the commander act on this incident."))


def require_lead(*, session: Session, user: User, incident: Incident) -> None:
    if not can_lead(session=session, user=user, incident=incident):
        raise NotPermitted(
            _l("Only the commander, a supervisor, a head or an administrator over the owning unit may do this.")
        )


def require_open(incident: Incident) -> None:
    if incident.state != "active":
        raise Conflict(_l("This incident is %(state)s; it no longer changes.", state=STATE_LABELS[incident.state]))


def check_version(incident: Incident, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != incident.version:
        raise Conflict(
            _l("Someone else changed this incident just now. The page shows the current state; check it and try again.")
        )


def lead_action(*, session: Session, actor: User, incident_id: int, expected_version: int | None = None) -> Incident:
    """The incident locked for a decision by its leads: open, and unchanged since the actor saw it."""
    incident = get(session=session, user=actor, incident_id=incident_id, lock=True)
    require_lead(session=session, user=actor, incident=incident)
    require_open(incident)
    check_version(incident, expected_version)
    return incident


def record(*, session: Session, incident: Incident, actor: User | None, kind: str, now: datetime, **data: Any) -> None:
    timeline.record(
        session=session,
        kind=kind,
        subject_type="incident",
        subject_id=incident.id,
        actor_id=actor.id if actor else None,
        unit_id=incident.unit_id,
        data=data,
        now=now,
    )


def record_entry(
    *, session: Session, incident: Incident, actor: User, entry: ChecklistEntry, kind: str, now: datetime, **data: Any
) -> None:
    record(
        session=session,
        incident=incident,
        actor=actor,
        kind=kind,
        now=now,
        stage=entry.stage_run.stage_key,
        item=entry.item_key,
        **data,
    )


def clean_text(value: str | None, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed({field: str(_l("This is required."))})
    if len(text) > limit:
        raise ValidationFailed({field: str(_l("At most %(n)d characters.", n=limit))})
    return text


def clean_url(value: str | None, field: str) -> str:
    """An optional http(s) link; empty stays empty."""
    url = (value or "").strip()
    if url and (problem := url_problem(url)) is not None:
        raise ValidationFailed({field: str(problem)})
    return url


def commander_candidates(*, session: Session, unit_id: int) -> list[User]:
    """People with an acting role in the unit or its ancestors: who can command there."""
    unit = session.get(Unit, unit_id)
    chain = [unit.id] + [u.id for u in units.ancestors(unit)]
    return list(
        session.scalars(
            select(User)
            .join(Membership)
            .where(
                Membership.unit_id.in_(chain),
                Membership.role.in_([r.value for r in ACTING_ROLES]),
                User.active,
            )
            .order_by(User.name)
            .distinct()
        )
    )
