"""Post-incident reviews: the draft opened at resolution, its workflow and its action items.

draft -> submitted -> approved (by a head over the owning unit); approval closes the incident.
Plain functions; keyword-only session, actor and now; flush, never commit. Every change writes a
timeline event on the incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crisis import clock, hooks
from crisis.auth.labels import ROLE_LABELS
from crisis.auth.models import ACTING_ROLES, Membership, Role, User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.guards import parse_id
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import service as incidents
from crisis.incidents.models import Incident
from crisis.incidents.models import Incident as _Incident
from crisis.issues.models import SENTIMENTS
from crisis.links import url_problem
from crisis.playbooks.spec import PlaybookSpec
from crisis.reviews import measures
from crisis.reviews.models import RATINGS, ActionItem, Review
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit

MAX_TEXT = 20000
# The written parts of a review, in the order of the document.
TEXTS = (
    "summary",
    "background",
    "legal_basis",
    "dominant_narrative",
    "top_accounts",
    "went_well",
    "to_improve",
    "obstacles",
    "recommendations",
)
COUNTS = ("volume_before", "volume_after", "hoax_reach", "clarification_reach")  # entered by the team
TONES = ("tone_before", "tone_after")
MAX_ATTACHMENTS = 20
MAX_COUNT = 2_000_000_000
MAX_TITLE = 500
MAX_DUE_AHEAD = timedelta(days=366)  # an improvement plan is due within 60 days in practice; a year is a typo
ACTION_STATES = ("open", "done", "dropped")


def _record(*, session: Session, incident: Incident, actor: User | None, kind: str, now: datetime, **data: Any) -> None:
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


def review_due_at(incident: Incident, *, now: datetime) -> datetime:
    """The playbook's review deadline after resolution (the deadline engine's review_due timer);
    counted from `now`, the caller's clock, while the incident has no resolution time."""
    settings = PlaybookSpec.from_canonical(incident.playbook_snapshot).settings
    return (incident.resolved_at or now) + settings.review_due


# --- opening --------------------------------------------------------------------------------------


def open_draft(*, session: Session, incident: Incident, now: datetime, actor: User | None = None) -> Review:
    """Called by incidents.service.resolve in its transaction: the review draft of the incident.
    Idempotent: a second call returns the review already there."""
    existing = session.scalar(select(Review).where(Review.incident_id == incident.id))
    if existing is not None:
        return existing
    review = Review(
        incident_id=incident.id,
        unit_id=incident.unit_id,
        state="draft",
        created_at=now,
        due_at=review_due_at(incident, now=now),
        stage_ratings={},
    )
    session.add(review)
    session.flush()
    _record(
        session=session,
        incident=incident,
        actor=actor,
        kind="review.opened",
        now=now,
        review_id=review.id,
        due_at=review.due_at.isoformat(),
    )
    return review


# --- access ----------------------------------------------------------------------------------------


def get(*, session: Session, user: User, review_id: int) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(_l("Review not found."))
    incidents.get(session=session, user=user, incident_id=review.incident_id)  # 404 when out of sight
    return review


def get_for_incident(*, session: Session, user: User, incident_id: int) -> Review:
    incident = incidents.get(session=session, user=user, incident_id=incident_id)
    review = session.scalar(select(Review).where(Review.incident_id == incident.id))
    if review is None:
        raise NotFound(_l("This incident has no review yet: it is written once the incident is resolved."))
    return review


def can_write(*, session: Session, user: User, review: Review) -> bool:
    """The owning unit's team, the commander and the participants write the review."""
    incident = review.incident
    if incident.commander_id == user.id or any(p.user_id == user.id for p in incident.participants):
        return any(m.role in ACTING_ROLES for m in user.memberships)
    return incident.unit_id in units.acting_scope(session=session, user=user)


def can_approve(*, session: Session, user: User, review: Review) -> bool:
    """A head of the owning unit or of a unit above it (central heads approve everywhere)."""
    head_units = {m.unit_id for m in user.memberships if m.role == Role.head}
    if not head_units:
        return False
    if any(session.get(Unit, uid).kind == "central" for uid in head_units):
        return True
    return review.incident.unit_id in units.subtree_ids(session=session, root_ids=head_units)


def _require_write(*, session: Session, user: User, review: Review) -> None:
    if not can_write(session=session, user=user, review=review):
        raise NotPermitted(_l("Only the owning unit's team, the commander and the participants write the review."))


def _require_state(review: Review, *states: str) -> None:
    if review.state not in states:
        raise Conflict(_l("This review is %(state)s; it cannot do that now.", state=review.state))


def _check_version(review: Review, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != review.version:
        raise Conflict(_l("Someone else changed this review just now; check the current text and try again."))


def _written_figures(given: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The counts, tones and attachment links among `given`, checked; problems go to `errors`."""
    found: dict[str, Any] = {}
    for name in COUNTS:
        if name not in given:
            continue
        value = given[name]
        if value is None or value == "":
            found[name] = None
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            errors[name] = str(_l("Give a whole number from 0, or leave it empty."))
        else:
            found[name] = value
    for name in TONES:
        if name in given and given[name] is not None:
            if given[name] not in ("", *SENTIMENTS):
                errors[name] = str(_l("Choose one of: %(values)s.", values=", ".join(SENTIMENTS)))
            else:
                found[name] = given[name]
    if given.get("attachments") is not None:
        links = given["attachments"]
        if isinstance(links, str) or not isinstance(links, list | tuple):
            errors["attachments"] = str(_l("Give a list of links."))
        elif len(links) > MAX_ATTACHMENTS:
            errors["attachments"] = str(_l("At most %(n)d links.", n=MAX_ATTACHMENTS))
        else:
            cleaned = [link.strip() if isinstance(link, str) else link for link in links]
            cleaned = [link for link in cleaned if link != ""]
            problems = [
                str(_l("Link %(n)d: %(problem)s", n=number, problem=problem))
                for number, link in enumerate(cleaned, start=1)
                if (problem := url_problem(link)) is not None
            ]
            if problems:
                errors["attachments"] = " ".join(problems)
            else:
                found["attachments"] = cleaned
    return found


def _clean(value: Any, field: str, errors: dict[str, str], *, limit: int = MAX_TEXT, required: bool = False) -> str:
    if value is not None and not isinstance(value, str):
        errors[field] = str(_l("Give text."))
        return ""
    text = (value or "").strip()
    if required and not text:
        errors[field] = str(_l("This is required."))
    elif len(text) > limit:
        errors[field] = str(_l("At most %(n)d characters.", n=limit))
    return text


# --- writing ---------------------------------------------------------------------------------------


def update(
    *,
    session: Session,
    actor: User,
    review_id: int,
    summary: str | None = None,
    went_well: str | None = None,
    to_improve: str | None = None,
    stage_ratings: dict[str, str] | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
    **parts: Any,
) -> Review:
    """Change the written parts and the stage ratings of a draft; unknown stages or ratings are refused.
    `parts`: any other of TEXTS, COUNTS (a whole number or None for "not counted"), TONES (a
    sentiment or "") and attachments (a list of http(s) links)."""
    now = now or clock.now()
    review = get(session=session, user=actor, review_id=review_id)
    _require_write(session=session, user=actor, review=review)
    _require_state(review, "draft")
    _check_version(review, expected_version)
    errors: dict[str, str] = {}
    unknown = sorted(set(parts) - {*TEXTS, *COUNTS, *TONES, "attachments"})
    if unknown:
        raise ValidationFailed({name: str(_l("This field cannot be changed.")) for name in unknown})
    given = {**parts, "summary": summary, "went_well": went_well, "to_improve": to_improve}
    texts: dict[str, Any] = {name: _clean(given[name], name, errors) for name in TEXTS if given.get(name) is not None}
    texts.update(_written_figures(given, errors))
    ratings: dict[str, str] | None = None
    if stage_ratings is not None:
        keys = {run.stage_key for run in review.incident.stage_runs}
        ratings = dict(review.stage_ratings or {})
        if not isinstance(stage_ratings, dict):
            errors["stage_ratings"] = str(_l("Give a rating per stage."))
        else:
            for key, rating in stage_ratings.items():
                if key not in keys:
                    errors[f"stage_ratings.{key}"] = str(_l("No such stage in this incident."))
                elif rating in ("", None, "suggested"):
                    ratings.pop(key, None)
                elif rating not in RATINGS:
                    errors[f"stage_ratings.{key}"] = str(
                        _l("Choose performed, some_challenges, major_challenges or not_performed.")
                    )
                else:
                    ratings[key] = rating
    if errors:
        raise ValidationFailed(errors)
    changed = [name for name, text in texts.items() if getattr(review, name) != text]
    for name in changed:
        setattr(review, name, texts[name])
    if ratings is not None and ratings != (review.stage_ratings or {}):
        review.stage_ratings = ratings
        changed.append("stage_ratings")
    if changed:
        session.flush()
        _record(
            session=session,
            incident=review.incident,
            actor=actor,
            kind="review.updated",
            now=now,
            review_id=review.id,
            fields=sorted(changed),
        )
    return review


def submit(
    *, session: Session, actor: User, review_id: int, expected_version: int | None = None, now: datetime | None = None
) -> Review:
    """Hand the draft to the head; the written parts must be there."""
    now = now or clock.now()
    review = get(session=session, user=actor, review_id=review_id)
    _require_write(session=session, user=actor, review=review)
    _require_state(review, "draft")
    _check_version(review, expected_version)
    errors: dict[str, str] = {}
    for name in ("summary", "went_well", "to_improve"):
        if not (getattr(review, name) or "").strip():
            errors[name] = str(_l("Write this before submitting."))
    if errors:
        raise ValidationFailed(errors)
    review.state, review.submitted_at, review.submitted_by_id = "submitted", now, actor.id
    session.flush()
    _record(
        session=session, incident=review.incident, actor=actor, kind="review.submitted", now=now, review_id=review.id
    )
    hooks.run(hooks.REVIEW_SUBMITTED, session=session, review=review, actor=actor, now=now)
    return review


def return_to_draft(
    *, session: Session, actor: User, review_id: int, reason: str, now: datetime | None = None
) -> Review:
    """The head sends a submitted review back with a reason."""
    now = now or clock.now()
    review = get(session=session, user=actor, review_id=review_id)
    if not can_approve(session=session, user=actor, review=review):
        raise NotPermitted(_l("Only a head over the owning unit approves or returns the review."))
    _require_state(review, "submitted")
    errors: dict[str, str] = {}
    reason = _clean(reason, "reason", errors, limit=5000, required=True)
    if errors:
        raise ValidationFailed(errors)
    review.state = "draft"
    session.flush()
    _record(
        session=session,
        incident=review.incident,
        actor=actor,
        kind="review.returned",
        now=now,
        review_id=review.id,
        reason=reason,
    )
    return review


def approve(
    *, session: Session, actor: User, review_id: int, expected_version: int | None = None, now: datetime | None = None
) -> Review:
    """A head over the owning unit approves; the incident closes."""
    now = now or clock.now()
    review = get(session=session, user=actor, review_id=review_id)
    if not can_approve(session=session, user=actor, review=review):
        raise NotPermitted(_l("Only a head over the owning unit approves or returns the review."))
    _require_state(review, "submitted")
    _check_version(review, expected_version)
    review.state, review.approved_at, review.approved_by_id = "approved", now, actor.id
    session.flush()
    _record(
        session=session,
        incident=review.incident,
        actor=actor,
        kind="review.approved",
        now=now,
        review_id=review.id,
        on_time=now <= review.due_at,
    )
    on_approved(session=session, review=review, actor=actor, now=now)
    return review


def on_approved(*, session: Session, review: Review, actor: User | None, now: datetime) -> Incident:
    """The review is approved: the incident closes and nothing about it is reminded any more."""
    incident = session.scalar(
        select(Incident)
        .where(Incident.id == review.incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if incident.state == "closed":
        return incident
    if incident.state != "resolved":
        raise Conflict(_l("Only a resolved incident closes with its review."))
    incident.state, incident.closed_at = "closed", now
    session.flush()
    hooks.run(hooks.INCIDENT_CLOSED, session=session, incident=incident, now=now)
    _record(session=session, incident=incident, actor=actor, kind="incident.closed", now=now, review_id=review.id)
    return incident


# --- action items ----------------------------------------------------------------------------------


def end_of_day(day: date, zone: str) -> datetime:
    """The last instant of a local calendar day, as an aware datetime (compare with <=)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)) - timedelta(microseconds=1)


def _parse_day(value: Any, field: str, errors: dict[str, str]) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors[field] = str(_l("Give a date (YYYY-MM-DD)."))
    return None


def _owner_candidates(*, session: Session, incident: Incident) -> list[User]:
    """People who can own an improvement: the incident's team and the acting people around it."""
    people = {u.id: u for u in incidents.commander_candidates(session=session, unit_id=incident.unit_id)}
    for participant in incident.participants:
        people.setdefault(participant.user_id, participant.user)
    return sorted((u for u in people.values() if u.active), key=lambda u: u.name)


def owner_candidates(*, session: Session, review: Review) -> list[User]:
    return _owner_candidates(session=session, incident=review.incident)


def add_action_item(
    *,
    session: Session,
    actor: User,
    review_id: int,
    title: str,
    owner_id: Any,
    due_on: Any,
    now: datetime | None = None,
) -> ActionItem:
    now = now or clock.now()
    review = get(session=session, user=actor, review_id=review_id)
    _require_write(session=session, user=actor, review=review)
    _require_state(review, "draft", "submitted")
    errors: dict[str, str] = {}
    title = _clean(title, "title", errors, limit=MAX_TITLE, required=True)
    owner = None
    wanted = owner_id if isinstance(owner_id, int) else parse_id(owner_id)
    if wanted is not None:
        owner = next((u for u in owner_candidates(session=session, review=review) if u.id == wanted), None)
    if owner is None:
        errors["owner_id"] = str(_l("Choose an owner from the incident's team or its unit."))
    zone = review.incident.unit.timezone
    day = _parse_day(due_on, "due_on", errors)
    today = now.astimezone(ZoneInfo(zone)).date()
    if day is not None and day < today:
        errors["due_on"] = str(_l("A due date cannot be in the past."))
    elif day is not None and day > today + MAX_DUE_AHEAD:
        errors["due_on"] = str(_l("A due date more than a year ahead is likely a typo; check the year."))
    if errors:
        raise ValidationFailed(errors)
    assert owner is not None and day is not None  # nosec B101  # type narrowing: errors raised above
    item = ActionItem(
        review=review,
        title=title,
        owner_id=owner.id,
        due_on=day,
        due_at=end_of_day(day, zone),
        status="open",
        created_at=now,
        created_by_id=actor.id,
    )
    session.add(item)
    session.flush()
    _record(
        session=session,
        incident=review.incident,
        actor=actor,
        kind="review.action_added",
        now=now,
        review_id=review.id,
        action_item_id=item.id,
        title=title,
        owner=owner.name,
        due_on=day.isoformat(),
    )
    return item


def set_action_status(
    *, session: Session, actor: User, item_id: int, status: str, now: datetime | None = None
) -> ActionItem:
    """The owner, or anyone who writes the review, marks an item done, dropped or open again."""
    now = now or clock.now()
    item = session.get(ActionItem, item_id)
    if item is None:
        raise NotFound(_l("Action item not found."))
    review = get(session=session, user=actor, review_id=item.review_id)
    if item.owner_id != actor.id:
        _require_write(session=session, user=actor, review=review)
    if status not in ACTION_STATES:
        raise ValidationFailed({"status": str(_l("Choose open, done or dropped."))})
    if status == item.status:
        return item
    before = item.status
    item.status = status
    item.done_at = now if status == "done" else None
    session.flush()
    _record(
        session=session,
        incident=review.incident,
        actor=actor,
        kind=f"review.action_{status}",
        now=now,
        review_id=review.id,
        action_item_id=item.id,
        title=item.title,
        before=before,
    )
    return item


def list_action_items(*, session: Session, user: User, mine: bool = False, limit: int = 200) -> list[ActionItem]:
    """Open items the user may see (their units' reviews), or only their own."""
    query = select(ActionItem).join(Review).join(_Incident, _Incident.id == Review.incident_id)
    if mine:
        query = query.where(ActionItem.owner_id == user.id)
    else:
        scope = units.visible_scope(session=session, user=user)
        query = query.where(scope.filter(_Incident.unit_id))
    return list(session.scalars(query.where(ActionItem.status == "open").order_by(ActionItem.due_at).limit(limit)))


def list_reviews(
    *, session: Session, user: User, states: tuple[str, ...] = ("draft", "submitted"), limit: int = 200
) -> list[Review]:
    scope = units.visible_scope(session=session, user=user)
    return list(
        session.scalars(
            select(Review)
            .join(Incident, Incident.id == Review.incident_id)
            .where(Review.state.in_(states), scope.filter(Incident.unit_id))
            .order_by(Review.due_at)
            .limit(limit)
        )
    )


# --- the review document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Someone who acted on the incident, with the role they acted in."""

    user: User
    role: str  # their role over the owning unit (else in an involved unit, else their first): officer ...
    unit_code: str | None  # the unit of that role
    commander: bool
    actions: int  # timeline events, ticks, waivers, statements and publications of theirs

    @property
    def role_label(self) -> str:
        return str(ROLE_LABELS.get(self.role, self.role))


def people_who_acted(*, session: Session, incident: Incident, events: list[Any]) -> list[Person]:
    """Everyone who acted on the incident: the commander and participants, whoever wrote a timeline
    event, ticked or waived an item, drafted, approved, sent back or published a statement. The
    commander first, then the most active."""
    counts: dict[int, int] = {incident.commander_id: 0}
    acted = [event.actor_id for event in events]
    acted += [p.user_id for p in incident.participants]
    for run in incident.stage_runs:
        acted += [who for entry in run.entries for who in (entry.done_by_id, entry.waived_by_id)]
    for statement in incident.statements:
        acted += [statement.drafted_by_id, statement.approved_by_id, statement.returned_by_id]
        acted += [publication.recorded_by_id for publication in statement.publications]
    for user_id in acted:
        if user_id is not None:
            counts[user_id] = counts.get(user_id, 0) + 1
    people = session.scalars(
        select(User)
        .where(User.id.in_(sorted(counts)))
        .options(selectinload(User.memberships).joinedload(Membership.unit))
    ).all()
    owning = [incident.unit_id, *(unit.id for unit in units.ancestors(incident.unit))]
    involved = [row.unit_id for row in incident.involved]
    found = []
    for user in people:
        by_unit = {m.unit_id: m for m in user.memberships}
        membership = next((by_unit[u] for u in (*owning, *involved) if u in by_unit), None)
        membership = membership or (user.memberships[0] if user.memberships else None)
        found.append(
            Person(
                user=user,
                role=membership.role if membership else "",
                unit_code=membership.unit.code if membership else None,
                commander=user.id == incident.commander_id,
                actions=counts[user.id],
            )
        )
    return sorted(found, key=lambda p: (not p.commander, -p.actions, p.user.name))


@dataclass(frozen=True)
class Signatory:
    """A line of the approval block (pengesahan): who prepared or approved the review, as what, when."""

    duty: str  # "prepared" | "approved"
    user: User
    role_label: str
    unit_name: str
    at: datetime | None


def signatories(*, session: Session, review: Review, incident: Incident) -> list[Signatory]:
    """Who submitted the review and who approved it, each with their role over the incident's unit
    (or the unit above it where they sit), from the approval workflow."""
    owning = [incident.unit_id, *(unit.id for unit in units.ancestors(incident.unit))]
    found = []
    for duty, user, at in (
        ("prepared", review.submitted_by, review.submitted_at),
        ("approved", review.approved_by, review.approved_at),
    ):
        if user is None:
            continue
        memberships = session.scalars(
            select(Membership).where(Membership.user_id == user.id).options(selectinload(Membership.unit))
        ).all()
        by_unit = {m.unit_id: m for m in memberships}
        membership = next((by_unit[u] for u in owning if u in by_unit), memberships[0] if memberships else None)
        found.append(
            Signatory(
                duty=duty,
                user=user,
                role_label=str(ROLE_LABELS.get(membership.role, membership.role)) if membership else "",
                unit_name=membership.unit.name if membership else "",
                at=at,
            )
        )
    return found


@dataclass
class ReviewDocument:
    """Everything a review shows or exports: the record, its measures and what people wrote."""

    review: Review
    incident: Incident
    measures: measures.IncidentMeasures
    events: list[Any]
    playbook_key: str
    playbook_version: int
    participants: list[Person]
    signatories: list[Signatory]

    @property
    def stages(self) -> list[measures.StageMeasure]:
        return self.measures.stages


def document(*, session: Session, review: Review) -> ReviewDocument:
    incident = measures.load_incident(session=session, incident_id=review.incident_id)
    measured = measures.measure(session=session, incident=incident)
    chosen = review.stage_ratings or {}
    for stage in measured.stages:
        stage.rating = chosen.get(stage.key, stage.suggested)
    events = incidents.events(session=session, incident=incident)
    return ReviewDocument(
        review=review,
        incident=incident,
        measures=measured,
        events=events,
        playbook_key=incident.playbook_snapshot.get("key", ""),
        playbook_version=incident.playbook_version.number,
        participants=people_who_acted(session=session, incident=incident, events=events),
        signatories=signatories(session=session, review=review, incident=incident),
    )
