"""Personal-data retention: reporters' names and contacts in old issues are replaced by a marker.

UU 27/2022 (Pelindungan Data Pribadi) has personal data deleted or destroyed when its retention
period ends; the period is the unit's to set (CRISIS_RETENTION_YEARS, README "Security"). This is
the only thing the app ever removes, and it removes values, never rows:

- `Issue.source_person` and `Issue.source_contact` (the member of the public behind a report)
  become MARKER, `Issue.anonymised_at` is stamped and an `issue.anonymised` event is recorded;
- earlier values of those two fields kept in the before/after of `issue.updated` timeline events
  become MARKER too, and the event is flagged with FLAG. This is the one change ever made to a
  timeline event (written with a Core UPDATE, past the ORM's append-only guard): the event stays,
  only the personal values go;
- the same two values in API answers stored for Idempotency-Key replays (`idempotency_record`)
  older than the period.

Scope: issues logged (`created_at`) more than N calendar years before now that still hold a
personal value. Free text (titles, descriptions, notes) is not scanned: the form asks officers to
put the reporter in the two fields meant for it.

Idempotent and batched: a pass takes the issues in scope in id order, RETENTION_BATCH at a time,
each batch one transaction. On PostgreSQL the rows are locked FOR UPDATE SKIP LOCKED, so a second
scheduler (or a CLI run) at the same moment skips them, and an issue already anonymised no longer
matches. The scheduler runs it once a day: a UNIQUE `retention_run.day` row decides which
scheduler does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Text, and_, cast, exists, or_, select, update
from sqlalchemy.orm import Session

from crisis import clock
from crisis.idempotency import IdempotencyRecord
from crisis.issues.models import ANONYMISED, Issue
from crisis.system.models import RetentionRun
from crisis.timeline import service as timeline
from crisis.timeline.models import RETENTION_FLAG, TimelineEvent

PERSONAL_FIELDS = ("source_person", "source_contact")
MARKER = ANONYMISED
FLAG = RETENTION_FLAG  # added to timeline data and stored answers whose personal values went
EVENT_KIND = "issue.anonymised"
KINDS_WITH_VALUES = ("issue.updated",)  # timeline events that copy field values (before/after)
DAY_ZONE = ZoneInfo("Asia/Jakarta")  # the scheduler's "once a day" is a day in WIB
MAX_YEARS = 100


class RetentionSettingInvalid(ValueError):
    pass


def configured_years(value: Any) -> int | None:
    """CRISIS_RETENTION_YEARS as a number of years, or None when retention is off (0 or empty)."""
    if isinstance(value, str):
        value = value.strip()
        if value.isdigit():
            value = int(value)
    if value is None or value == "" or (isinstance(value, int) and not isinstance(value, bool) and value == 0):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_YEARS:
        raise RetentionSettingInvalid(
            f"CRISIS_RETENTION_YEARS: give a whole number of years from 1 to {MAX_YEARS}, "
            f"or 0 to keep reporters' personal data for ever (got {value!r})."
        )
    return value


def cutoff_for(now: datetime, years: int) -> datetime:
    """The same instant `years` calendar years earlier (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


@dataclass
class Anonymised:
    issue_id: int
    unit_id: int
    created_at: datetime
    fields: list[str]
    events_redacted: int


@dataclass
class RunResult:
    years: int
    cutoff: datetime
    dry_run: bool
    anonymised: list[Anonymised] = field(default_factory=list)
    answers_redacted: int = 0

    @property
    def events_redacted(self) -> int:
        return sum(item.events_redacted for item in self.anonymised)


def _holds_personal_data() -> Any:
    """SQL: the issue still has a personal value, in its fields or in an unflagged timeline event."""
    in_fields = or_(*[and_(column != "", column != MARKER) for column in (Issue.source_person, Issue.source_contact)])
    in_events = exists().where(
        TimelineEvent.subject_type == "issue",
        TimelineEvent.subject_id == Issue.id,
        TimelineEvent.kind.in_(KINDS_WITH_VALUES),
        _unflagged_with_personal_keys(TimelineEvent.data),
    )
    return or_(in_fields, in_events)


def _scrub(values: dict[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """`values` with personal values replaced; whether it had a personal key, and whether a value
    was actually replaced (an empty value is no personal data)."""
    values = dict(values)
    touched = replaced = False
    for name in PERSONAL_FIELDS:
        if name in values:
            touched = True
            if values[name] not in ("", None, MARKER):
                values[name] = MARKER
                replaced = True
    return values, touched, replaced


def _redact(data: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """Timeline data with the personal values in before/after replaced (None: no personal key at
    all), and whether a value was actually replaced."""
    redacted = dict(data)
    touched = replaced = False
    for part in ("before", "after"):
        if isinstance(data.get(part), dict):
            redacted[part], part_touched, part_replaced = _scrub(data[part])
            touched, replaced = touched or part_touched, replaced or part_replaced
    return (redacted if touched else None), replaced


def _unflagged_with_personal_keys(column: Any) -> Any:
    text_value = cast(column, Text)
    return and_(or_(*[text_value.like(f'%"{name}"%') for name in PERSONAL_FIELDS]), ~text_value.like(f'%"{FLAG}"%'))


def _redact_events(*, session: Session, issue_id: int, now: datetime, dry_run: bool) -> int:
    events = TimelineEvent.__table__
    rows = session.execute(
        select(events.c.id, events.c.data).where(
            events.c.subject_type == "issue",
            events.c.subject_id == issue_id,
            events.c.kind.in_(KINDS_WITH_VALUES),
        )
    ).all()
    replaced_in = 0
    for event_id, data in rows:
        if not isinstance(data, dict) or FLAG in data:
            continue
        redacted, replaced = _redact(data)
        if redacted is None:
            continue
        replaced_in += int(replaced)
        if not dry_run:
            # Flag every examined event (even one whose values were empty) so it no longer matches.
            flagged = {**redacted, FLAG: now.isoformat()}
            session.execute(update(events).where(events.c.id == event_id).values(data=flagged))
    return replaced_in


def anonymise_batch(
    *, session: Session, now: datetime, years: int, after_id: int = 0, limit: int = 500, dry_run: bool = False
) -> tuple[list[Anonymised], int | None]:
    """One batch of issues in scope with an id above `after_id`. Flushes, never commits.

    Returns what was (or, dry run, would be) anonymised and the id to continue after (None: done).
    """
    cutoff = cutoff_for(now, years)
    statement = (
        select(Issue)
        .where(Issue.created_at < cutoff, Issue.id > after_id, _holds_personal_data())
        .order_by(Issue.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if not dry_run and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    issues = list(session.scalars(statement))
    done: list[Anonymised] = []
    for issue in issues:
        fields = [name for name in PERSONAL_FIELDS if getattr(issue, name) not in ("", MARKER)]
        redacted = _redact_events(session=session, issue_id=issue.id, now=now, dry_run=dry_run)
        if not fields and not redacted:
            continue
        done.append(
            Anonymised(
                issue_id=issue.id,
                unit_id=issue.unit_id,
                created_at=issue.created_at,
                fields=fields,
                events_redacted=redacted,
            )
        )
        if dry_run:
            continue
        for name in fields:
            setattr(issue, name, MARKER)
        issue.anonymised_at = now
        issue.updated_at = now
        timeline.record(
            session=session,
            kind=EVENT_KIND,
            subject_type="issue",
            subject_id=issue.id,
            unit_id=issue.unit_id,
            data={
                "fields": fields,
                "events_redacted": redacted,
                "retention_years": years,
                "cutoff": cutoff.isoformat(),
            },
            now=now,
        )
    if not dry_run:
        session.flush()
    return done, (issues[-1].id if len(issues) == limit else None)


def redact_stored_answers(
    *, session: Session, now: datetime, years: int, after_id: int = 0, limit: int = 500, dry_run: bool = False
) -> tuple[int, int | None]:
    """Personal values in API answers stored for Idempotency-Key replays before the cutoff (one
    batch). Returns how many answers had a value replaced and the id to continue after (None: done)."""
    records = IdempotencyRecord.__table__
    statement = (
        select(records.c.id, records.c.response_body)
        .where(
            records.c.created_at < cutoff_for(now, years),
            records.c.id > after_id,
            _unflagged_with_personal_keys(records.c.response_body),
        )
        .order_by(records.c.id)
        .limit(limit)
    )
    if not dry_run and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = session.execute(statement).all()
    replaced_in = 0
    for record_id, body in rows:
        if not isinstance(body, dict):
            continue
        scrubbed, _touched, replaced = _scrub(body)
        replaced_in += int(replaced)
        if not dry_run:
            flagged = {**scrubbed, FLAG: now.isoformat()}
            session.execute(update(records).where(records.c.id == record_id).values(response_body=flagged))
    return replaced_in, (rows[-1][0] if len(rows) == limit else None)


def run(
    session: Session,
    *,
    years: int,
    now: datetime | None = None,
    batch: int = 500,
    dry_run: bool = False,
    record: RetentionRun | None = None,
) -> RunResult:
    """Anonymise every issue in scope, one committed transaction per batch (a dry run writes nothing).
    `record`, when given, is the retention_run row that is kept up to date with the counts."""
    now = now or clock.now()
    result = RunResult(years=years, cutoff=cutoff_for(now, years), dry_run=dry_run)
    after_id: int | None = 0
    while after_id is not None:
        done, after_id = anonymise_batch(
            session=session, now=now, years=years, after_id=after_id, limit=batch, dry_run=dry_run
        )
        result.anonymised.extend(done)
        if dry_run:
            session.rollback()
            continue
        if record is not None:
            record.issues_anonymised += len(done)
            record.events_redacted += sum(item.events_redacted for item in done)
        session.commit()
    after_id = 0
    while after_id is not None:
        redacted, after_id = redact_stored_answers(
            session=session, now=now, years=years, after_id=after_id, limit=batch, dry_run=dry_run
        )
        result.answers_redacted += redacted
        if dry_run:
            session.rollback()
            continue
        if record is not None:
            record.answers_redacted += redacted
        session.commit()
    if record is not None and not dry_run:
        record.finished_at = now
        session.commit()
    return result


def start_record(session: Session, *, trigger: str, years: int, now: datetime, day: date | None = None) -> int | None:
    """Write the retention_run row of a pass and return its id; None when `day` already has one
    (another scheduler took today's pass). Flushes, never commits."""
    table = RetentionRun.__table__
    values = {
        "day": day,
        "trigger": trigger,
        "retention_years": years,
        "cutoff": cutoff_for(now, years),
        "started_at": now,
        "issues_anonymised": 0,
        "events_redacted": 0,
        "answers_redacted": 0,
    }
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(values).on_conflict_do_nothing(index_elements=["day"]).returning(table.c.id)
    return session.scalar(statement)


def daily_sweep(session: Session, now: datetime | None = None) -> RunResult | None:
    """The scheduler's minute job: the day's retention pass, the first time it is called on a day
    (in WIB). None when retention is off or the day's pass was already taken. A pass that failed
    half-way is completed by the next day's (each batch is committed and nothing is done twice)."""
    years = configured_years(current_app.config.get("RETENTION_YEARS"))
    if years is None:
        return None
    now = now or clock.now()
    day = now.astimezone(DAY_ZONE).date()
    if session.scalar(select(RetentionRun.id).where(RetentionRun.day == day)) is not None:
        session.rollback()
        return None
    record_id = start_record(session, trigger="scheduler", years=years, now=now, day=day)
    session.commit()
    if record_id is None:
        return None
    record = session.get(RetentionRun, record_id)
    return run(session, years=years, now=now, batch=int(current_app.config["RETENTION_BATCH"]), record=record)
