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
"""

from __future__ import annotations

import difflib
import functools
import re
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import (
    DateTime,
    String,
    and_,
    any_,
    bindparam,
    cast,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import flag_modified, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from crisis import clock
from crisis.auth.models import ACTING_ROLES, User
from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.issues import risk
from crisis.issues.models import CHANNELS, ISSUE_STATES, SENTIMENTS, Issue, IssueEvidence, MonitoringNote
from crisis.links import MAX_URL_LENGTH, url_problem
from crisis.playbooks.spec import CATEGORIES
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit

OPEN_STATES = ("new", "monitoring")
MERGEABLE_STATES = ("new", "monitoring", "dismissed")
DUPLICATE_WINDOW = timedelta(hours=48)
TITLE_SIMILARITY = 0.8
_THRESHOLD = Fraction(str(TITLE_SIMILARITY))  # 4/5, for exact comparisons
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks of phones and tools drift a little
MAX_AGE = timedelta(days=366)
MAX_COUNT = 2_000_000_000  # the columns are 32-bit integers; no post reaches more people than this
MAX_LINKS = 20
TITLE_LENGTH = (3, 300)
MAX_TEXT = 10000
MAX_REASON = 2000
MAX_SOURCE = 200  # issue.source_person / source_contact columns
MAX_EVIDENCE_NOTE = 500  # issue_evidence.note column
# Channels where the source is a call or a private message, so there may be no link to give.
LINKLESS_CHANNELS = ("hotline", "whatsapp")
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


# --- evidence links ------------------------------------------------------------------------

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "igshid",
        "igsh",
        "mibextid",
        "si",
        "feature",
        "ref_src",
        "ref_url",
        "_gl",
        "mc_cid",
        "mc_eid",
        "share_id",
        "share_app_id",
        "is_from_webapp",
        "sender_device",
    }
)
HOST_ALIASES = {
    "twitter.com": "x.com",
    "mobile.twitter.com": "x.com",
    "mobile.x.com": "x.com",
    "fb.com": "facebook.com",
}
HOST_TRACKING_PARAMS = {"x.com": frozenset({"s", "t"})}


def normalise_url(url: str) -> str:
    """The key two spellings of one link share: no scheme, no `www.`/`m.`, no tracking parameters,
    no fragment, no trailing slash; host aliases (twitter.com → x.com) resolved; youtu.be expanded."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    for prefix in ("www.", "m.", "mobile."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    host = HOST_ALIASES.get(host, host)
    port = parts.port
    if port is not None and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    if host == "youtu.be" and len(path) > 1:
        host, query, path = "youtube.com", [*query, ("v", path.strip("/"))], "/watch"
    drop = HOST_TRACKING_PARAMS.get(host, frozenset())
    query = sorted(
        (k, v) for k, v in query if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS | drop
    )
    path = path.rstrip("/") or ""
    key = host + path
    if query:
        key += "?" + urlencode(query)
    return key[:MAX_URL_LENGTH]


def _clean_links(urls: Any, errors: dict[str, list[str]], field: str) -> list[tuple[str, str]]:
    """(url, url_key) of each distinct valid link, in the order given; problems go to `errors`."""
    if urls is None:
        urls = []
    if isinstance(urls, str) or not isinstance(urls, list | tuple):
        errors.setdefault(field, []).append(str(_l("Give a list of links.")))
        return []
    if len(urls) > MAX_LINKS:
        errors.setdefault(field, []).append(str(_l("At most %(n)d links at a time.", n=MAX_LINKS)))
        return []
    links: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, url in enumerate(urls, start=1):
        problem = url_problem(url)
        if problem is not None:
            errors.setdefault(field, []).append(str(_l("Link %(n)d: %(problem)s", n=number, problem=problem)))
            continue
        key = normalise_url(url)
        if key not in seen:
            seen.add(key)
            links.append((url.strip(), key))
    return links


# --- validation ----------------------------------------------------------------------------


def _count_problem(value: Any) -> Any | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return _l("Give a whole number.")
    if value < 0:
        return _l("Cannot be negative.")
    if value > MAX_COUNT:
        return _l("At most %(n)s.", n=f"{MAX_COUNT:,}".replace(",", "."))
    return None


def _validate(fields: dict[str, Any], *, now: datetime) -> dict[str, list[str]]:
    """Errors of every field present in `fields`, all at once."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: Any) -> None:
        errors.setdefault(field, []).append(str(message))

    if "title" in fields:
        title = fields["title"]
        low, high = TITLE_LENGTH
        if not isinstance(title, str) or not low <= len(title.strip()) <= high:
            add("title", _l("A title of %(low)d to %(high)d characters is required.", low=low, high=high))
    if "description" in fields:
        description = fields["description"]
        if not isinstance(description, str) or len(description) > MAX_TEXT:
            add("description", _l("At most %(n)d characters.", n=MAX_TEXT))
    if "channel" in fields and fields["channel"] not in CHANNELS:
        add("channel", _l("Choose one of: %(values)s.", values=", ".join(CHANNELS)))
    if "category" in fields and fields["category"] not in CATEGORIES:
        add("category", _l("Choose one of: %(values)s.", values=", ".join(CATEGORIES)))
    if "sentiment" in fields and fields["sentiment"] not in SENTIMENTS:
        add("sentiment", _l("Choose one of: %(values)s.", values=", ".join(SENTIMENTS)))
    for name in ("reach", "engagement"):
        if name in fields:
            problem = _count_problem(fields[name])
            if problem is not None:
                add(name, problem)
    if "mainstream_pickup" in fields and not isinstance(fields["mainstream_pickup"], bool):
        add("mainstream_pickup", _l("Give true or false."))
    if "first_seen_at" in fields:
        seen = fields["first_seen_at"]
        if not isinstance(seen, datetime) or seen.tzinfo is None or seen.utcoffset() is None:
            add("first_seen_at", _l("Give a date and time with its zone, e.g. 2026-11-26T10:00:00+07:00."))
        elif seen > now + FUTURE_TOLERANCE:
            add("first_seen_at", _l("This time is in the future."))
        elif seen < now - MAX_AGE:
            add("first_seen_at", _l("This time is more than a year ago; check the date."))
    for name in ("source_person", "source_contact"):
        if name in fields and (not isinstance(fields[name], str) or len(fields[name]) > MAX_SOURCE):
            add(name, _l("At most %(n)d characters.", n=MAX_SOURCE))
    return errors


# --- access --------------------------------------------------------------------------------


def _require_unit_id(*, session: Session, actor: User, unit_id: Any) -> int:
    """The id of a unit the actor may log and change issues in. Whether the unit exists is left to
    the write (an INSERT into a missing unit inserts nothing), which then answers NotFound."""
    if not isinstance(unit_id, int) or isinstance(unit_id, bool) or unit_id not in units.visible_scope(
        session=session, user=actor
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


RISK_INPUTS = ("reach", "engagement", "first_seen_at", "sentiment", "category", "mainstream_pickup")


def _risk_columns(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """risk_score, suggested_severity and risk_factors of an issue with these RISK_INPUTS."""
    assessment = risk.assess(**{name: values[name] for name in RISK_INPUTS}, now=now)
    return {
        "risk_score": assessment.score,
        "suggested_severity": assessment.suggested_severity,
        "risk_factors": {**assessment.to_json(), "computed_at": now.isoformat()},
    }


def _apply_risk(issue: Issue, now: datetime) -> None:
    for name, value in _risk_columns({name: getattr(issue, name) for name in RISK_INPUTS}, now).items():
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
    are _checked's. first_seen_at None means "just now". At least one evidence link is required,
    except for hotline and WhatsApp reports, which may have none. Every bad field is reported at once.
    """
    return _write(session, _checked(session=session, actor=actor, now=now, **fields), duplicates=False)[0]


def log(*, session: Session, actor: User, now: datetime | None = None, **fields: Any) -> tuple[Issue, list[Issue]]:
    """create(**fields), and find_duplicates() of what was created: what a duty officer's form and
    the API do. On PostgreSQL both are one statement (logging is the busiest write)."""
    return _write(session, _checked(session=session, actor=actor, now=now, **fields), duplicates=True)


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
            logged.append(_write(session, new, duplicates=True))
        except NotFound as error:  # the unit went away since it was checked
            raise NotFound(error.message, field=f"issues.{index}.unit_id") from error
    return logged


@dataclass(frozen=True)
class _NewIssue:
    """An issue checked and ready to write: its row, its normalised links, its "issue.created" event."""

    row: dict[str, Any]
    links: list[tuple[str, str]]
    event: dict[str, Any]
    actor: User
    now: datetime


def _checked(
    *,
    session: Session,
    actor: User,
    unit_id: int | None,
    title: str,
    description: str = "",
    channel: str,
    category: str,
    first_seen_at: datetime | None,
    reach: int = 0,
    engagement: int = 0,
    sentiment: str = "neutral",
    mainstream_pickup: bool = False,
    evidence_urls: list[str] | tuple[str, ...] = (),
    source_person: str = "",
    source_contact: str = "",
    now: datetime | None = None,
) -> _NewIssue:
    now = now or clock.now()
    if unit_id is None:
        unit_id = default_unit_id(session=session, actor=actor)
        if unit_id is None:
            raise ValidationFailed({"unit_id": [str(_l("Choose the unit this issue belongs to."))]})
    unit_id = _require_unit_id(session=session, actor=actor, unit_id=unit_id)
    first_seen_at = now if first_seen_at is None else first_seen_at
    fields = {
        "title": title,
        "description": description,
        "channel": channel,
        "category": category,
        "first_seen_at": first_seen_at,
        "reach": reach,
        "engagement": engagement,
        "sentiment": sentiment,
        "mainstream_pickup": mainstream_pickup,
        "source_person": source_person,
        "source_contact": source_contact,
    }
    errors = _validate(fields, now=now)
    links = _clean_links(evidence_urls, errors, "evidence_urls")
    if not links and "evidence_urls" not in errors and channel not in LINKLESS_CHANNELS:
        errors["evidence_urls"] = [str(_l("Give at least one link to the post, article or report."))]
    if errors:
        raise ValidationFailed(errors)
    row = {
        **fields,
        "unit_id": unit_id,
        "logged_by_id": actor.id,
        "title": title.strip(),
        "description": description.strip(),
        "first_seen_at": first_seen_at.astimezone(UTC),
        "source_person": source_person.strip(),
        "source_contact": source_contact.strip(),
        "anonymised_at": None,
        "state": "new",
        "state_reason": "",
        "merged_into_id": None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    row.update(_risk_columns(row, now))
    event = {
        "title": row["title"],
        "channel": channel,
        "category": category,
        "evidence": len(links),
        "risk_score": row["risk_score"],
        "suggested_severity": row["suggested_severity"],
    }
    return _NewIssue(row=row, links=links, event=event, actor=actor, now=now)


_INSERT_ISSUE = insert(Issue.__table__).returning(Issue.__table__.c.id)
_INSERT_EVIDENCE = insert(IssueEvidence.__table__).returning(IssueEvidence.__table__.c.id, sort_by_parameter_order=True)


def _write(session: Session, new: _NewIssue, *, duplicates: bool) -> tuple[Issue, list[Issue]]:
    """INSERT the issue, its links and its "issue.created" event straight away, then hand the
    session the Issue as if just loaded: logging is the busiest write, and the unit of work's flush
    cost more than the INSERTs. Every column is set, so reading the issue back needs no query.
    With `duplicates`, also find_duplicates() of the new issue.

    PostgreSQL does it all in one statement (_write_statement), which also reads the unit (NotFound
    when there is none: nothing was inserted) and the duplicate candidates. SQLite sends the
    statements one by one."""
    connection = session.connection()
    row, actor, now = new.row, new.actor, new.now
    keys = [key for _url, key in new.links] if duplicates else []
    by_title = duplicates and bool(normalise_title(row["title"]))
    if connection.dialect.name != "postgresql":
        unit = session.get(Unit, row["unit_id"])
        if unit is None:
            raise NotFound(_l("Unit not found."))
        issue_id = connection.execute(_INSERT_ISSUE, row).scalar_one()
        evidence_rows = _evidence_rows(new, issue_id)
        evidence_ids = list(connection.execute(_INSERT_EVIDENCE, evidence_rows).scalars()) if evidence_rows else []
        timeline.append(
            session=session, kind="issue.created", subject_type="issue", subject_id=issue_id, actor_id=actor.id,
            unit_id=row["unit_id"], data=new.event, now=now,
        )
        issue = _hand_over(session, issue_id, row, unit, evidence_rows, evidence_ids)
        if not duplicates:
            return issue, []
        found = find_duplicates(session=session, actor=actor, unit_id=issue.unit_id, title=issue.title,
                                evidence_urls=[url for url, _key in new.links], now=now, exclude_id=issue.id)
        return issue, found
    params = {f"issue_{name}": value for name, value in row.items()}
    params.update(urls=[url for url, _key in new.links], keys=[key for _url, key in new.links], event_data=new.event)
    everywhere = False
    if duplicates:
        scope = units.visible_scope(session=session, user=actor)  # where links are looked for
        everywhere = scope.everything
        params.update(_candidate_params(now=now, exclude_id=None, keys=keys, scope=scope, unit_id=row["unit_id"]))
    statement = _write_statement(links=bool(keys), titles=by_title, everywhere=everywhere)
    result = connection.execute(statement, params).one_or_none()
    if result is None:  # no such unit: the INSERT selected nothing to insert
        raise NotFound(_l("Unit not found."))
    values = result._mapping
    unit = _unit_as_loaded(session, {column.name: values[f"unit_{column.name}"] for column in Unit.__table__.c})
    evidence_ids = values["link_ids"] or []  # array_agg of no links is NULL
    issue = _hand_over(session, values["id"], row, unit, _evidence_rows(new, values["id"]), evidence_ids)
    if not duplicates:
        return issue, []
    same_link = (values["same_link_ids"] or []) if keys else []  # array_agg of no rows is NULL too
    titled = list(zip(values["title_ids"] or [], values["titles"] or [], strict=True)) if by_title else []
    return issue, _ranked(session, same_link, titled, row["title"] if by_title else None)


def _evidence_rows(new: _NewIssue, issue_id: int) -> list[dict[str, Any]]:
    return [
        {"issue_id": issue_id, "url": url, "url_key": key, "note": "", "added_by_id": new.actor.id, "added_at": new.now}
        for url, key in new.links
    ]


def _hand_over(
    session: Session,
    issue_id: int,
    row: dict[str, Any],
    unit: Unit,
    evidence_rows: list[dict[str, Any]],
    evidence_ids: list[int],
) -> Issue:
    """The written issue, in the session as if just loaded, with everything showing it reads."""
    evidence = []
    for evidence_id, values in zip(evidence_ids, evidence_rows, strict=True):
        item = IssueEvidence(id=evidence_id, **values)
        make_transient_to_detached(item)
        evidence.append(item)
    issue = Issue(id=issue_id, **row)
    make_transient_to_detached(issue)
    session.add(issue)
    for item in evidence:
        session.add(item)
        set_committed_value(item, "issue", issue)
    set_committed_value(issue, "unit", unit)  # showing the issue reads nothing more
    set_committed_value(issue, "evidence", evidence)
    set_committed_value(issue, "notes", [])  # a new issue has none
    set_committed_value(issue, "incident", None)  # just logged: not escalated
    return issue


def _unit_as_loaded(session: Session, columns: dict[str, Any]) -> Unit:
    """The unit the session already holds, or one made from its columns as a load would."""
    held = session.identity_map.get(session.identity_key(Unit, columns["id"]))
    if held is not None:
        return held
    unit = Unit(**columns)
    make_transient_to_detached(unit)
    session.add(unit)
    return unit


@functools.cache
def _write_statement(*, links: bool, titles: bool, everywhere: bool) -> Any:
    """PostgreSQL: the issue, its links and its "issue.created" event in one statement (one round
    trip instead of five), answering one row: the issue's id, its links' ids in the order given,
    its unit's columns and, per shape, the duplicate candidates (_same_link_candidates,
    _same_unit_candidates; the new issue is not among them, being written by the same statement).

        WITH new_issue AS (INSERT INTO issue ... SELECT :issue_... WHERE EXISTS (unit) RETURNING id, unit_id),
             new_links AS (INSERT INTO issue_evidence ... SELECT new_issue.id, link.url, link.url_key, ...
                           FROM new_issue, unnest(:urls, :keys) WITH ORDINALITY AS link ORDER BY n RETURNING id),
             new_event AS (INSERT INTO timeline_event ... SELECT ..., new_issue.id, ... FROM new_issue)
        SELECT new_issue.id, (SELECT array_agg(id ORDER BY id) FROM new_links), unit.*,
               same_link.ids, titled.ids, titled.titles
        FROM new_issue JOIN unit ON unit.id = new_issue.unit_id
             CROSS JOIN (SELECT array_agg(id ORDER BY created_at DESC, id DESC) AS ids FROM ...) AS same_link
             CROSS JOIN (SELECT array_agg(id) AS ids, array_agg(title) AS titles FROM ...) AS titled
    """
    from sqlalchemy import exists, func
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    from crisis.timeline.models import TimelineEvent

    issues, links_table, events, unit_table = (
        Issue.__table__, IssueEvidence.__table__, TimelineEvent.__table__, Unit.__table__
    )
    # Parameters are named issue_<column> (an INSERT reserves the plain column names).
    names = [c.name for c in issues.c if c.name != "id"]
    values = {c.name: bindparam(f"issue_{c.name}", type_=c.type) for c in issues.c if c.name != "id"}
    unit_exists = exists().where(unit_table.c.id == values["unit_id"])
    new_issue = (
        insert(issues)
        .from_select(names, select(*(values[name] for name in names)).where(unit_exists))
        .returning(issues.c.id, issues.c.unit_id)
        .cte("new_issue")
    )
    link = (
        func.unnest(bindparam("urls", type_=ARRAY(String)), bindparam("keys", type_=ARRAY(String)))
        .table_valued("url", "url_key", with_ordinality="n")
        .render_derived()
    )
    logged_by, created = values["logged_by_id"], values["created_at"]
    new_links = (
        insert(links_table)
        .from_select(
            ["issue_id", "url", "url_key", "note", "added_by_id", "added_at"],
            select(new_issue.c.id, link.c.url, link.c.url_key, literal(""), logged_by, created)
            .select_from(new_issue)
            .join(link, literal(True))
            .order_by(link.c.n),
        )
        .returning(links_table.c.id)
        .cte("new_links")
    )
    new_event = insert(events).from_select(
        ["occurred_at", "actor_id", "unit_id", "subject_type", "subject_id", "kind", "data"],
        select(
            created,
            logged_by,
            values["unit_id"],
            literal("issue"),
            new_issue.c.id,
            literal("issue.created"),
            bindparam("event_data", type_=events.c.data.type),
        ).select_from(new_issue),
    ).cte("new_event")
    link_ids = select(func.array_agg(aggregate_order_by(new_links.c.id, new_links.c.id))).scalar_subquery()
    columns = [new_issue.c.id, link_ids.label("link_ids")]
    columns += [column.label(f"unit_{column.name}") for column in unit_table.c]
    source = new_issue.join(unit_table, unit_table.c.id == new_issue.c.unit_id)
    if links:
        found = _same_link_candidates(everywhere=everywhere, postgresql=True, excluding=False).subquery()
        newest_first = aggregate_order_by(found.c.id, found.c.created_at.desc(), found.c.id.desc())
        same_link = select(func.array_agg(newest_first).label("ids")).subquery("same_link")
        columns.append(same_link.c.ids.label("same_link_ids"))
        source = source.join(same_link, literal(True))
    if titles:
        found = _same_unit_candidates(excluding=False).subquery()
        # Two aggregates of one select take the same rows in the same order: ids and titles pair up
        # without sorting them (an ORDER BY in each would sort the 500 rows twice).
        titled = select(func.array_agg(found.c.id).label("ids"), func.array_agg(found.c.title).label("titles"))
        titled = titled.subquery("titled")
        columns += [titled.c.ids.label("title_ids"), titled.c.titles.label("titles")]
        source = source.join(titled, literal(True))
    return select(*columns).select_from(source).add_cte(new_event)


def normalise_title(title: str) -> str:
    """Case, punctuation and spacing do not make two titles different."""
    return " ".join(re.sub(r"[\W_]+", " ", title.casefold()).split())


def title_similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, normalise_title(a), normalise_title(b)).ratio()


def find_duplicates(
    *,
    session: Session,
    actor: User,
    unit_id: int | None,
    title: str,
    evidence_urls: list[str] | tuple[str, ...] = (),
    now: datetime | None = None,
    exclude_id: int | None = None,
) -> list[Issue]:
    """Issues that may be the same as this one, strongest first.

    - the same evidence link (after normalise_url) in any unit the actor can see, or
    - a title at least 80 % similar (difflib ratio after normalise_title) in the same unit,
      logged within the last 48 hours.

    Candidates are live issues (new, monitoring) and escalated ones (so the officer sees that an
    incident already runs), plus issues dismissed within the last 48 hours (a re-report of
    something just judged harmless deserves a look). Merged issues never are: their evidence
    and notes live on the issue that absorbed them.
    """
    now = now or clock.now()
    scope = units.visible_scope(session=session, user=actor)
    keys = sorted({normalise_url(u) for u in (evidence_urls or []) if url_problem(u) is None})
    by_title = unit_id is not None and unit_id in scope and isinstance(title, str) and bool(normalise_title(title))
    if not keys and not by_title:
        return []
    connection = session.connection()
    statement = _duplicate_statement(links=bool(keys), titles=by_title, everywhere=scope.everything,
                                     postgresql=connection.dialect.name == "postgresql")
    params = _candidate_params(now=now, exclude_id=exclude_id or 0, keys=keys, scope=scope, unit_id=unit_id)
    # Ids (and the titles to compare) in one round trip; whole issues only for what was found.
    rows = connection.execute(statement, params).all()
    same_link = sorted(((created, issue_id) for kind, issue_id, _t, created in rows if kind == 0), reverse=True)
    titled = [(issue_id, other) for kind, issue_id, other, _created in rows if kind == 1]
    return _ranked(session, [issue_id for _created, issue_id in same_link], titled, title if by_title else None)


def _ranked(session: Session, same_link: list[int], titled: list[tuple[int, str]], title: str | None) -> list[Issue]:
    """The issues found: those sharing a link (newest first), then those whose title is similar
    enough to `title` (most similar first; None: titles were not compared)."""
    found = list(same_link)
    if title is not None:
        scored = _similar_titles(title, titled)
        seen = set(found)
        matches = [issue_id for _ratio, issue_id in sorted(scored, key=lambda pair: (-pair[0], -pair[1]))]
        found.extend(issue_id for issue_id in matches if issue_id not in seen)
    if not found:
        return []
    loaded = {issue.id: issue for issue in session.scalars(select(Issue).where(Issue.id.in_(found)))}
    return [loaded[issue_id] for issue_id in found]


def _candidate_params(
    *, now: datetime, exclude_id: int | None, keys: list[str], scope: units.Scope, unit_id: int | None
) -> dict[str, Any]:
    """The parameters of _same_link_candidates and _same_unit_candidates (exclude_id None: the
    write's, which test no id)."""
    params: dict[str, Any] = {"dup_recent": now - DUPLICATE_WINDOW, "dup_now": now}
    if exclude_id is not None:
        params["dup_exclude"] = exclude_id
    if keys:
        params["dup_keys"] = keys
        if not scope.everything:
            params["dup_scope"] = sorted(scope.unit_ids)
    params["dup_unit"] = unit_id
    return params


# Constants in the text, not parameters: an IN list of parameters is rendered again at every execution.
_LIVE_STATES = tuple(literal_column(f"'{state}'") for state in ("new", "monitoring", "escalated"))


def _candidate(*, excluding: bool) -> Any:
    """Issues that may be duplicates: live, escalated, or dismissed within the window; not merged.
    With `excluding`, not the issue dup_exclude either (the write statement needs no such test:
    what it inserts is not visible to it)."""
    dismissed_lately = (Issue.state == literal_column("'dismissed'")) & (Issue.updated_at >= bindparam("dup_recent"))
    candidate = or_(Issue.state.in_(_LIVE_STATES), dismissed_lately)
    return and_(Issue.id != bindparam("dup_exclude"), candidate) if excluding else candidate


def _one_of(column: Any, name: str, *, postgresql: bool) -> Any:
    """column is one of the list parameter `name`. PostgreSQL compares with = ANY(array): the
    statement's text stays the same whatever the list's length, so it is compiled, converted by
    the driver and planned once. SQLite has no arrays: an IN list, rendered at each execution."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _same_link_candidates(*, everywhere: bool, postgresql: bool, excluding: bool = True) -> Any:
    """(id, created_at) of the newest 20 candidates sharing a link (dup_keys) in the scope
    (dup_scope, unless the actor sees everywhere). The time as the driver gives it: it only orders."""
    with_link = select(IssueEvidence.issue_id).where(
        _one_of(IssueEvidence.url_key, "dup_keys", postgresql=postgresql)
    )
    created = type_coerce(Issue.created_at, DateTime(timezone=True))
    same_link = select(Issue.id, created.label("created_at")).where(
        _candidate(excluding=excluding), Issue.id.in_(with_link)
    )
    if not everywhere:
        same_link = same_link.where(_one_of(Issue.unit_id, "dup_scope", postgresql=postgresql))
    return same_link.order_by(Issue.created_at.desc(), Issue.id.desc()).limit(20)


def _same_unit_candidates(*, excluding: bool = True) -> Any:
    """(id, title) of the newest 500 candidates of the unit (dup_unit) logged within the window."""
    return (
        select(Issue.id, Issue.title)
        .where(
            _candidate(excluding=excluding),
            Issue.unit_id == bindparam("dup_unit"),
            Issue.created_at >= bindparam("dup_recent"),
            Issue.created_at <= bindparam("dup_now"),
        )
        .order_by(Issue.created_at.desc())
        .limit(500)
    )


@functools.cache
def _duplicate_statement(*, links: bool, titles: bool, everywhere: bool, postgresql: bool) -> Any:
    """The duplicate check's query, built once per shape: rows (kind, id, title, created_at), kind 0
    for _same_link_candidates, kind 1 for _same_unit_candidates with their titles to compare."""
    parts = []
    if links:
        found = _same_link_candidates(everywhere=everywhere, postgresql=postgresql).subquery()
        no_title = literal(None, String).label("title")  # these rows are ordered by time only
        parts.append(select(literal(0).label("kind"), found.c.id, no_title, found.c.created_at))
    if titles:
        found = _same_unit_candidates().subquery()
        no_time = cast(null(), DateTime(timezone=True))  # these rows are compared by title only
        parts.append(select(literal(1).label("kind"), found.c.id, found.c.title, no_time))
    # Each part keeps its own order and limit inside a subquery (SQLite allows neither in a UNION member).
    return parts[0] if len(parts) == 1 else union_all(*parts)


# One bit per character seen in a title, numbered in order of first sight (so an emoji costs one
# bit, not one at its code point); the lock keeps two threads from giving two characters one bit.
_CHAR_BITS: dict[str, int] = {}
_CHAR_BITS_LOCK = threading.Lock()


def _char_bit(char: str) -> int:
    bit = _CHAR_BITS.get(char)
    if bit is None:
        with _CHAR_BITS_LOCK:
            bit = _CHAR_BITS.setdefault(char, 1 << len(_CHAR_BITS))
    return bit


# Levels packed into one integer, LEVEL_WIDTH bits per level, for titles whose characters all have
# bits below it: the characters two titles have in common are then one AND and one bit count.
LEVEL_WIDTH = 256


@functools.lru_cache(maxsize=8192)
def _title_letters(title: str) -> tuple[str, tuple[int, ...], int | None]:
    """A title normalised, and how often each character occurs in it as bit masks by level: the
    character's bit (_char_bit) is set in the k-th mask when it occurs at least k times. The
    characters two titles have in common (difflib's quick_ratio) are then the set bits of the masks
    ANDed level by level. Third: the levels packed side by side (None when a character's bit does
    not fit in LEVEL_WIDTH), for the same count in one operation."""
    text = normalise_title(title)
    levels: list[int] = []
    for char, count in Counter(text).items():
        bit = _char_bit(char)
        for level in range(count):
            if level == len(levels):
                levels.append(0)
            levels[level] |= bit
    packed: int | None = 0
    for index, level in enumerate(levels):
        if level >> LEVEL_WIDTH:
            packed = None
            break
        packed |= level << (index * LEVEL_WIDTH)
    return text, tuple(levels), packed


def _positions(text: str) -> dict[str, int]:
    """For each character of text, the bit mask of where it occurs (for _common_subsequence)."""
    masks: dict[str, int] = {}
    for position, char in enumerate(text):
        masks[char] = masks.get(char, 0) | (1 << position)
    return masks


def _common_subsequence(positions: dict[str, int], length: int, other: str) -> int:
    """Length of the longest common subsequence of a text (its _positions and length) and other
    (bit-parallel, Hyyrö 2004). difflib's matching blocks are a common subsequence, so
    2 * this / (len(a) + len(b)) bounds its ratio."""
    full = (1 << length) - 1
    row = full
    for char in other:
        matched = row & positions.get(char, 0)
        row = ((row + matched) | (row - matched)) & full
    return length - row.bit_count()


def _similar_titles(title: str, candidates: list[Any]) -> list[tuple[float, int]]:
    """(ratio, id) of the (id, title) candidates at least TITLE_SIMILARITY alike, by title_similarity's
    ratio. It is computed only where two upper bounds of it reach the threshold: the characters in
    common (difflib's quick_ratio, which also bounds by the lengths) and the longest common
    subsequence. Random titles from one vocabulary pass the first often and the second rarely.

    The bounds are compared in integers, 2 * common / total >= num / den as 2 * den * common >=
    num * total, so no rounding lets a candidate through or keeps one out."""
    wanted, wanted_levels, wanted_packed = _title_letters(title)
    size = len(wanted)
    num, den = _THRESHOLD.numerator, _THRESHOLD.denominator
    twice = 2 * den
    positions: dict[str, int] | None = None  # built for the first candidate that needs it
    letters = _title_letters
    scored = []
    for issue_id, other_title in candidates:
        other, other_levels, other_packed = letters(other_title)
        total = size + len(other)
        if wanted_packed is not None and other_packed is not None:
            common = (wanted_packed & other_packed).bit_count()
        else:
            # zip stops at the fewer levels: a character is common k times only if both have it k times.
            common = sum((mine & theirs).bit_count() for mine, theirs in zip(wanted_levels, other_levels, strict=False))
        if twice * common < num * total:
            continue
        if positions is None:
            positions = _positions(wanted)
        if twice * _common_subsequence(positions, size, other) < num * total:
            continue
        ratio = difflib.SequenceMatcher(None, wanted, other).ratio()
        if ratio >= TITLE_SIMILARITY:
            scored.append((ratio, issue_id))
    return scored


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
    expected_version: int | None = None,
    now: datetime | None = None,
) -> MonitoringNote:
    """A timestamped observation; new figures, when given, replace the issue's and its risk is recomputed."""
    now = now or clock.now()
    issue = _get_for_change(session=session, actor=actor, issue_id=issue_id, expected_version=expected_version)
    _require_open(issue)
    errors: dict[str, list[str]] = {}
    if not isinstance(body, str) or not body.strip():
        errors["body"] = [str(_l("Write what you observed."))]
    elif len(body) > MAX_TEXT:
        errors["body"] = [str(_l("At most %(n)d characters.", n=MAX_TEXT))]
    figures = {k: v for k, v in (("reach", reach), ("engagement", engagement)) if v is not None}
    errors.update(_validate(figures, now=now))
    if errors:
        raise ValidationFailed(errors)
    before = issue.risk_score
    note = MonitoringNote(
        issue=issue, author_id=actor.id, body=body.strip(), reach=reach, engagement=engagement, created_at=now
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
    errors = _validate(changes, now=now)
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
    _touch(target, now)
    _apply_risk(target, now)
    source.state = "merged"
    source.merged_into_id = target.id
    _touch(source, now)
    _flush(session, target)
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
