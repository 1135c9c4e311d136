"""Issues: what a duty officer logs, its risk, its duplicates and its way to monitoring, dismissal or an incident.

States: new → monitoring → escalated | dismissed; a duplicate ends as `merged` (pointing at the
issue that absorbed it). escalated, dismissed and merged are closed: they accept no further change.

Access: a user sees the issues of the units in `visible_scope` and changes those in
`acting_scope` (observers only read). An issue out of view is "not found"; one in view that the
user may not change is "not permitted".

Concurrency: every change locks the issue row first (SELECT … FOR UPDATE), so two people adding
notes at once both succeed, one after the other. A change based on what someone *saw* (an edit,
or any call given `expected_version`) is refused with StaleIssue when the issue has moved on; the
mapper's version_id_col is the backstop for writers that skip the lock.

The verbs live here; their parts in the package: checks (field rules, a new issue's row), urls
(evidence link keys), write (the INSERT of a logged issue), duplicates (the duplicate finder).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, object_session, selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from crisis import clock, moments
from crisis.auth.models import ACTING_ROLES, User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.issues import checks, risk
from crisis.issues.checks import MAX_EVIDENCE_NOTE, MAX_REASON, MAX_TEXT, NewIssue, pickup_fields, validate
from crisis.issues.duplicates import find_duplicates as find_duplicates  # one of the verbs, re-exported
from crisis.issues.models import ISSUE_STATES, NEWS_TIERS, Issue, IssueEvidence, MonitoringNote
from crisis.issues.urls import normalise_url
from crisis.issues.write import write_issue
from crisis.links import url_problem
from crisis.timeline import service as timeline
from crisis.units import service as units

OPEN_STATES = ("new", "monitoring")
MERGEABLE_STATES = ("new", "monitoring", "dismissed")
EDITABLE_FIELDS = (
    "title",
    "description",
    "channel",
    "category",
    "first_seen_at",
    "reach",
    "engagement",
    "sentiment",
    "mainstream_pickup",
    "news_tier",
    "news_articles",
    "sensitivities",
    "actors",
    "whatsapp_groups",
    "whatsapp_forwards",
    "deaths",
    "displaced",
    "emergency_status",
    "source_person",
    "source_contact",
)


class StaleIssue(Conflict):
    """The issue changed since the caller read it; carries the id so the caller can show the current state."""

    def __init__(self, issue_id: int, current_version: int | None = None) -> None:
        if current_version is None:
            message = _l(
                "Someone else changed this issue at the same time. Here is its current state; "
                "nothing of yours was saved."
            )
        else:
            message = _l(
                "Someone else changed this issue (it is now at version %(n)d). Here is its current state; "
                "nothing of yours was saved.",
                n=current_version,
            )
        super().__init__(str(message), field="version")
        self.issue_id = issue_id
        self.current_version = current_version


class IssueClosed(Conflict):
    """The transition is not possible from the issue's current state."""

    def __init__(self, issue: Issue, message: Any) -> None:
        super().__init__(str(message), field="state")
        self.issue_id = issue.id


# --- access --------------------------------------------------------------------------------


def _require_unit_id(*, session: Session, actor: User, unit_id: Any) -> int:
    """The id of a unit the actor may log and change issues in. Whether the unit exists is left to
    the write (an INSERT into a missing unit inserts nothing), which then answers NotFound."""
    if (
        not isinstance(unit_id, int)
        or isinstance(unit_id, bool)
        or unit_id not in units.visible_scope(session=session, user=actor)
    ):
        raise NotFound(_l("Unit not found."))
    if unit_id not in units.acting_scope(session=session, user=actor):
        raise NotPermitted(_l("You may read this unit's issues but not log or change them."))
    return unit_id


def default_unit_id(*, session: Session, actor: User) -> int | None:
    """Where a user logs an issue when they do not say: the first unit they act in."""
    for membership in actor.memberships:
        if membership.role in ACTING_ROLES:
            return membership.unit_id
    return None


def can_act(*, session: Session, user: User, issue: Issue) -> bool:
    return issue.unit_id in units.acting_scope(session=session, user=user)


def get(*, session: Session, user: User, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None or issue.unit_id not in units.visible_scope(session=session, user=user):
        raise NotFound(_l("Issue not found."))
    return issue


def _get_for_change(*, session: Session, actor: User, issue_id: int, expected_version: int | None = None) -> Issue:
    """The issue, row-locked and freshly read; NotFound out of view, NotPermitted without an acting role."""
    issue = session.get(Issue, issue_id, with_for_update=True, populate_existing=True)
    if issue is None or issue.unit_id not in units.visible_scope(session=session, user=actor):
        raise NotFound(_l("Issue not found."))
    if issue.unit_id not in units.acting_scope(session=session, user=actor):
        raise NotPermitted(_l("You may read this issue but not change it."))
    if expected_version is not None and expected_version != issue.version:
        raise StaleIssue(issue.id, issue.version)
    return issue


def _require_open(issue: Issue) -> None:
    if issue.state not in OPEN_STATES:
        raise IssueClosed(issue, _closed_message(issue))


def _closed_message(issue: Issue) -> Any:
    if issue.state == "merged":
        return _l("This issue was merged into issue #%(n)d; work on that one.", n=issue.merged_into_id or 0)
    if issue.state == "escalated":
        return _l("This issue has been escalated to an incident; it can no longer be changed here.")
    return _l("This issue has been dismissed; it can no longer be changed.")


def _touch(issue: Issue, now: datetime) -> None:
    """Every change moves the version on, even a note at the same instant: readers see it moved."""
    issue.updated_at = now
    flag_modified(issue, "updated_at")


def _flush(session: Session, issue: Issue) -> None:
    try:
        session.flush()
    except StaleDataError as error:
        raise StaleIssue(issue.id) from error


def _apply_risk(issue: Issue, now: datetime) -> None:
    held = object_session(issue)
    # Loading the notes must not flush the changes made so far: that would count as a second version.
    with held.no_autoflush if held is not None else contextlib.nullcontext():
        notes = [risk.NotePoint(note.created_at, note.engagement, note.sentiment) for note in issue.notes]
    values = {name: getattr(issue, name) for name in risk.INPUTS}
    for name, value in risk.columns(values, now, notes).items():
        setattr(issue, name, value)


def _record(session: Session, issue: Issue, kind: str, actor: User | None, now: datetime, **data: Any) -> None:
    timeline.append(
        session=session,
        kind=kind,
        subject_type="issue",
        subject_id=issue.id,
        actor_id=actor.id if actor else None,
        unit_id=issue.unit_id,
        data=data,
        now=now,
    )


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# --- logging and finding duplicates -----------------------------------------------------------


def create(*, session: Session, actor: User, now: datetime | None = None, **fields: Any) -> Issue:
    """Log an issue in a unit the actor acts in (unit_id None: their first such unit); the fields
    are checks.new_issue's. first_seen_at None means "just now". At least one evidence link is required,
    except for hotline and WhatsApp reports, which may have none. Every bad field is reported at once.
    """
    return write_issue(session, _checked(session=session, actor=actor, now=now, **fields), duplicates=False)[0]


def log(*, session: Session, actor: User, now: datetime | None = None, **fields: Any) -> tuple[Issue, list[Issue]]:
    """create(**fields), and find_duplicates() of what was created: what a duty officer's form and
    the API do. On PostgreSQL both are one statement (logging is the busiest write)."""
    return write_issue(session, _checked(session=session, actor=actor, now=now, **fields), duplicates=True)


MAX_BATCH = 100


def log_batch(
    *, session: Session, actor: User, items: list[dict[str, Any]], now: datetime | None = None
) -> list[tuple[Issue, list[Issue]]]:
    """log() of every item, in order, all or nothing: what a monitoring tool that collects many
    posts sends at once. Every item is checked before anything is written, and a bad item refuses
    the batch, its errors named issues.<index>.<field>. An item sees the items before it as
    possible duplicates, as if they had been logged one by one."""
    now = now or clock.now()
    if not 1 <= len(items) <= MAX_BATCH:
        raise ValidationFailed({"issues": [str(_l("Send 1–%(n)d issues at a time.", n=MAX_BATCH))]})
    checked, errors = [], {}
    for index, fields in enumerate(items):
        try:
            checked.append(_checked(session=session, actor=actor, now=now, **fields))
        except ValidationFailed as error:
            errors.update({f"issues.{index}.{name}": messages for name, messages in error.errors.items()})
        except (NotFound, NotPermitted) as error:
            raise type(error)(error.message, field=f"issues.{index}.unit_id") from error
    if errors:
        raise ValidationFailed(errors)
    logged = []
    for index, new in enumerate(checked):
        try:
            logged.append(write_issue(session, new, duplicates=True))
        except NotFound as error:  # the unit went away since it was checked
            raise NotFound(error.message, field=f"issues.{index}.unit_id") from error
    return logged


def _checked(
    *, session: Session, actor: User, unit_id: int | None, now: datetime | None = None, **fields: Any
) -> NewIssue:
    """checks.new_issue(**fields) in `unit_id`, or the actor's first acting unit when None."""
    now = now or clock.now()
    if unit_id is None:
        unit_id = default_unit_id(session=session, actor=actor)
        if unit_id is None:
            raise ValidationFailed({"unit_id": [str(_l("Choose the unit this issue belongs to."))]})
    unit_id = _require_unit_id(session=session, actor=actor, unit_id=unit_id)
    return checks.new_issue(actor=actor, unit_id=unit_id, now=now, **fields)


# --- monitoring ------------------------------------------------------------------------------


def start_monitoring(
    *,
    session: Session,
    actor: User,
    issue_id: int,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Issue:
    now = now or clock.now()
    issue = _get_for_change(session=session, actor=actor, issue_id=issue_id, expected_version=expected_version)
    if issue.state == "monitoring":
        raise IssueClosed(issue, _l("This issue is already being monitored."))
    _require_open(issue)
    issue.state = "monitoring"
    _touch(issue, now)
    _apply_risk(issue, now)
    _flush(session, issue)
    _record(session, issue, "issue.monitoring_started", actor, now, risk_score=issue.risk_score)
    return issue


def add_note(
    *,
    session: Session,
    actor: User,
    issue_id: int,
    body: str,
    reach: int | None = None,
    engagement: int | None = None,
    sentiment: str | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MonitoringNote:
    """A timestamped observation; new figures and sentiment, when given, replace the issue's and its
    risk is recomputed, its trend from the notes' figures over time."""
    now = now or clock.now()
    issue = _get_for_change(session=session, actor=actor, issue_id=issue_id, expected_version=expected_version)
    _require_open(issue)
    errors: dict[str, list[str]] = {}
    if not isinstance(body, str) or not body.strip():
        errors["body"] = [str(_l("Write what you observed."))]
    elif len(body) > MAX_TEXT:
        errors["body"] = [str(_l("At most %(n)d characters.", n=MAX_TEXT))]
    figures = {
        k: v
        for k, v in (("reach", reach), ("engagement", engagement), ("sentiment", sentiment or None))
        if v is not None
    }
    errors.update(validate(figures, now=now))
    if errors:
        raise ValidationFailed(errors)
    before = issue.risk_score
    note = MonitoringNote(
        issue=issue,
        author_id=actor.id,
        body=body.strip(),
        reach=reach,
        engagement=engagement,
        sentiment=sentiment or None,
        created_at=now,
    )
    session.add(note)
    for name, value in figures.items():
        setattr(issue, name, value)
    _touch(issue, now)
    _apply_risk(issue, now)
    _flush(session, issue)
    _record(
        session,
        issue,
        "issue.note_added",
        actor,
        now,
        note_id=note.id,
        reach=reach,
        engagement=engagement,
        sentiment=sentiment or None,
        risk_before=before,
        risk_score=issue.risk_score,
    )
    return note


def add_evidence(
    *,
    session: Session,
    actor: User,
    issue_id: int,
    url: str,
    note: str = "",
    expected_version: int | None = None,
    now: datetime | None = None,
) -> IssueEvidence:
    now = now or clock.now()
    issue = _get_for_change(session=session, actor=actor, issue_id=issue_id, expected_version=expected_version)
    _require_open(issue)
    errors: dict[str, list[str]] = {}
    problem = url_problem(url)
    if problem is not None:
        errors["url"] = [str(problem)]
    elif normalise_url(url) in {e.url_key for e in issue.evidence}:
        errors["url"] = [str(_l("This link is already part of the evidence."))]
    if not isinstance(note, str) or len(note) > MAX_EVIDENCE_NOTE:
        errors["note"] = [str(_l("At most %(n)d characters.", n=MAX_EVIDENCE_NOTE))]
    if errors:
        raise ValidationFailed(errors)
    evidence = IssueEvidence(
        issue=issue, url=url.strip(), url_key=normalise_url(url), note=note.strip(), added_by_id=actor.id, added_at=now
    )
    session.add(evidence)
    _touch(issue, now)
    _flush(session, issue)
    _record(session, issue, "issue.evidence_added", actor, now, url=evidence.url)
    return evidence


def update(
    *,
    session: Session,
    actor: User,
    issue_id: int,
    changes: dict[str, Any],
    expected_version: int,
    now: datetime | None = None,
) -> Issue:
    """Correct an open issue's facts. `expected_version` is the version the editor saw: if the
    issue changed since, StaleIssue (409) and nothing is written."""
    now = now or clock.now()
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed({name: [str(_l("This field cannot be changed."))] for name in unknown})
    issue = _get_for_change(session=session, actor=actor, issue_id=issue_id, expected_version=expected_version)
    _require_open(issue)
    if "news_tier" in changes or "mainstream_pickup" in changes:
        changes = {**changes, **pickup_fields(changes.get("news_tier"), changes.get("mainstream_pickup"))}
    errors = validate(
        {"news_tier": issue.news_tier, "news_articles": issue.news_articles, **changes}
        if {"news_tier", "news_articles"} & set(changes)
        else changes,
        now=now,
    )
    seen = changes.get("first_seen_at")
    if "first_seen_at" not in errors and isinstance(seen, datetime) and seen > issue.created_at + moments.skew():
        # Nobody logs what they have not seen yet: time to detect would turn negative.
        errors["first_seen_at"] = [
            str(_l("It cannot have been seen first after it was logged; give a time before it was logged."))
        ]
    if errors:
        raise ValidationFailed(errors)
    cleaned = {k: v.strip() if isinstance(v, str) else v for k, v in changes.items()}
    if "first_seen_at" in cleaned:
        cleaned["first_seen_at"] = cleaned["first_seen_at"].astimezone(UTC)
    changed = {k: v for k, v in cleaned.items() if getattr(issue, k) != v}
    if not changed:
        return issue
    before = {k: _jsonable(getattr(issue, k)) for k in changed}
    risk_before = issue.risk_score
    for name, value in changed.items():
        setattr(issue, name, value)
    _touch(issue, now)
    _apply_risk(issue, now)
    _flush(session, issue)
    _record(
        session,
        issue,
        "issue.updated",
        actor,
        now,
        before=before,
        after={k: _jsonable(v) for k, v in changed.items()},
        risk_before=risk_before,
        risk_score=issue.risk_score,
    )
    return issue


def dismiss(
    *,
    session: Session,
    actor: User,
    issue_id: int,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Issue:
    """Not an issue after all; the reason is required and kept."""
    now = now or clock.now()
    issue = _get_for_change(session=session, actor=actor, issue_id=issue_id, expected_version=expected_version)
    _require_open(issue)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed({"reason": [str(_l("Say why this issue is dismissed."))]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed({"reason": [str(_l("At most %(n)d characters.", n=MAX_REASON))]})
    issue.state = "dismissed"
    issue.state_reason = reason.strip()
    _touch(issue, now)
    _flush(session, issue)
    _record(session, issue, "issue.dismissed", actor, now, reason=issue.state_reason)
    return issue


def merge(
    *,
    session: Session,
    actor: User,
    source_id: int,
    target_id: int,
    now: datetime | None = None,
) -> Issue:
    """Fold a duplicate (source) into the issue it repeats (target) and return the target.

    All evidence and notes move to the target (a link the target already has stays behind on the
    source, so nothing is deleted); the source's own text becomes a note on the target. The
    target keeps the higher reach and engagement, the earlier first sighting and any mainstream
    pickup, and its risk is recomputed. The source ends `merged`, pointing at the target.
    Both must be visible and changeable by the actor, and new, monitoring or dismissed.
    """
    now = now or clock.now()
    if source_id == target_id:
        _get_for_change(session=session, actor=actor, issue_id=source_id)  # out of view stays "not found"
        raise ValidationFailed({"target_id": [str(_l("An issue cannot be merged into itself."))]})
    # Lock both rows in id order, so two opposite merges cannot deadlock.
    locked = {
        issue_id: _get_for_change(session=session, actor=actor, issue_id=issue_id)
        for issue_id in sorted((source_id, target_id))
    }
    source, target = locked[source_id], locked[target_id]
    for issue in (source, target):
        if issue.state not in MERGEABLE_STATES:
            raise IssueClosed(issue, _closed_message(issue))
    target_keys = {e.url_key for e in target.evidence}
    moved_evidence = 0
    for evidence in list(source.evidence):
        if evidence.url_key not in target_keys:
            evidence.issue = target
            target_keys.add(evidence.url_key)
            moved_evidence += 1
    moved_notes = len(source.notes)
    for note in list(source.notes):
        note.issue = target
    summary = f"#{source.id} {source.title}" + (f"\n\n{source.description}" if source.description else "")
    session.add(
        MonitoringNote(
            issue=target,
            author_id=actor.id,
            body=str(_l("Merged from issue %(summary)s", summary=summary)),
            reach=source.reach,
            engagement=source.engagement,
            created_at=now,
        )
    )
    risk_before = target.risk_score
    target.reach = max(target.reach, source.reach)
    target.engagement = max(target.engagement, source.engagement)
    target.first_seen_at = min(target.first_seen_at, source.first_seen_at)
    target.mainstream_pickup = target.mainstream_pickup or source.mainstream_pickup
    tiers = list(NEWS_TIERS)
    target.news_tier = max(target.news_tier, source.news_tier, key=tiers.index)
    for name in ("news_articles", "whatsapp_groups", "whatsapp_forwards", "deaths", "displaced"):
        setattr(target, name, max(getattr(target, name), getattr(source, name)))
    target.sensitivities = list(dict.fromkeys([*target.sensitivities, *source.sensitivities]))
    target.actors = list(dict.fromkeys([*target.actors, *source.actors]))
    _touch(target, now)
    _apply_risk(target, now)
    source.state = "merged"
    source.merged_into_id = target.id
    _touch(source, now)
    _flush(session, target)
    session.expire(target, ["notes"])  # read again in their order, the moved ones among them
    _record(session, source, "issue.merged", actor, now, into_id=target.id)
    _record(
        session,
        target,
        "issue.absorbed",
        actor,
        now,
        from_id=source.id,
        evidence_moved=moved_evidence,
        notes_moved=moved_notes,
        risk_before=risk_before,
        risk_score=target.risk_score,
    )
    return target


def mark_escalated(
    *, session: Session, issue: Issue, incident_id: int, actor: User, now: datetime | None = None
) -> None:
    """Called inside the transaction that opens the incident: the issue is now that incident's.

    Only a new or monitored issue escalates (else Conflict); the row lock makes a second,
    simultaneous escalation of the same issue fail here instead of opening two incidents.
    """
    now = now or clock.now()
    locked = _get_for_change(session=session, actor=actor, issue_id=issue.id)
    _require_open(locked)
    locked.state = "escalated"
    _touch(locked, now)
    _flush(session, locked)
    session.expire(locked, ["incident"])  # it has one now (create() said none, for showing a new issue)
    _record(session, locked, "issue.escalated", actor, now, incident_id=incident_id)


# --- lists -----------------------------------------------------------------------------------


def _unit_filter(*, session: Session, user: User, unit_id: int | None) -> Any:
    scope = units.visible_scope(session=session, user=user)
    clause = scope.filter(Issue.unit_id)
    if unit_id is not None:
        unit = units.get(session=session, user=user, unit_id=unit_id)
        clause = clause & Issue.unit_id.in_(sorted(units.subtree_ids(session=session, root_ids={unit.id})))
    return clause


def list_open(*, session: Session, user: User, unit_id: int | None = None, limit: int = 50) -> list[Issue]:
    """New and monitored issues the user can see (unit_id: that unit and those below it), riskiest first."""
    query = (
        select(Issue)
        .where(_unit_filter(session=session, user=user, unit_id=unit_id), Issue.state.in_(OPEN_STATES))
        .options(selectinload(Issue.unit))
        .order_by(Issue.risk_score.desc(), Issue.created_at.desc(), Issue.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def list_for_user(
    *,
    session: Session,
    user: User,
    state: str | None = None,
    unit_id: int | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Issue]:
    """Issues the user can see, newest first. state: one of ISSUE_STATES, "open" (new + monitoring)
    or None (all); unit_id: that unit and those below it; q: words in the title or description."""
    if state not in (None, "open", *ISSUE_STATES):
        raise ValidationFailed({"state": [str(_l("Choose open, %(values)s.", values=", ".join(ISSUE_STATES)))]})
    query = select(Issue).where(_unit_filter(session=session, user=user, unit_id=unit_id))
    if state == "open":
        query = query.where(Issue.state.in_(OPEN_STATES))
    elif state:
        query = query.where(Issue.state == state)
    for word in (q or "").split()[:8]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Issue.title.ilike(pattern, escape="\\"), Issue.description.ilike(pattern, escape="\\")))
    query = (
        query.options(selectinload(Issue.unit))
        .order_by(Issue.created_at.desc(), Issue.id.desc())
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    )
    return list(session.scalars(query))
