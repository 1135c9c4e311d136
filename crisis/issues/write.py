"""Writing a logged issue: its row, its evidence links and its "issue.created" event, and, when asked, its
duplicate candidates, in one statement on PostgreSQL (logging is the busiest write)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import String, bindparam, exists, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from crisis.errors import NotFound
from crisis.i18n import lazy_gettext as _l
from crisis.issues.checks import NewIssue
from crisis.issues.duplicates import (
    candidate_params,
    find_duplicates,
    normalise_title,
    ranked,
    same_link_candidates,
    same_unit_candidates,
)
from crisis.issues.models import Issue, IssueEvidence
from crisis.timeline import service as timeline
from crisis.timeline.models import TimelineEvent
from crisis.units import service as units
from crisis.units.models import Unit

_INSERT_ISSUE = insert(Issue.__table__).returning(Issue.__table__.c.id)
_INSERT_EVIDENCE = insert(IssueEvidence.__table__).returning(IssueEvidence.__table__.c.id, sort_by_parameter_order=True)


def write_issue(session: Session, new: NewIssue, *, duplicates: bool) -> tuple[Issue, list[Issue]]:
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
            session=session,
            kind="issue.created",
            subject_type="issue",
            subject_id=issue_id,
            actor_id=actor.id,
            unit_id=row["unit_id"],
            data=new.event,
            now=now,
        )
        issue = _hand_over(session, issue_id, row, unit, evidence_rows, evidence_ids)
        if not duplicates:
            return issue, []
        found = find_duplicates(
            session=session,
            actor=actor,
            unit_id=issue.unit_id,
            title=issue.title,
            evidence_urls=[url for url, _key in new.links],
            now=now,
            exclude_id=issue.id,
        )
        return issue, found
    params = {f"issue_{name}": value for name, value in row.items()}
    params.update(urls=[url for url, _key in new.links], keys=[key for _url, key in new.links], event_data=new.event)
    everywhere = False
    if duplicates:
        scope = units.visible_scope(session=session, user=actor)  # where links are looked for
        everywhere = scope.everything
        params.update(candidate_params(now=now, exclude_id=None, keys=keys, scope=scope, unit_id=row["unit_id"]))
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
    return issue, ranked(session, same_link, titled, row["title"] if by_title else None)


def _evidence_rows(new: NewIssue, issue_id: int) -> list[dict[str, Any]]:
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
    its unit's columns and, per shape, the duplicate candidates (same_link_candidates,
    same_unit_candidates; the new issue is not among them, being written by the same statement).

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
    issues, links_table, events, unit_table = (
        Issue.__table__,
        IssueEvidence.__table__,
        TimelineEvent.__table__,
        Unit.__table__,
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
    new_event = (
        insert(events)
        .from_select(
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
        )
        .cte("new_event")
    )
    link_ids = select(func.array_agg(aggregate_order_by(new_links.c.id, new_links.c.id))).scalar_subquery()
    columns = [new_issue.c.id, link_ids.label("link_ids")]
    columns += [column.label(f"unit_{column.name}") for column in unit_table.c]
    source = new_issue.join(unit_table, unit_table.c.id == new_issue.c.unit_id)
    if links:
        found = same_link_candidates(everywhere=everywhere, postgresql=True, excluding=False).subquery()
        newest_first = aggregate_order_by(found.c.id, found.c.created_at.desc(), found.c.id.desc())
        same_link = select(func.array_agg(newest_first).label("ids")).subquery("same_link")
        columns.append(same_link.c.ids.label("same_link_ids"))
        source = source.join(same_link, literal(True))
    if titles:
        found = same_unit_candidates(excluding=False).subquery()
        # Two aggregates of one select take the same rows in the same order: ids and titles pair up
        # without sorting them (an ORDER BY in each would sort the 500 rows twice).
        titled = select(func.array_agg(found.c.id).label("ids"), func.array_agg(found.c.title).label("titles"))
        titled = titled.subquery("titled")
        columns += [titled.c.ids.label("title_ids"), titled.c.titles.label("titles")]
        source = source.join(titled, literal(True))
    return select(*columns).select_from(source).add_cte(new_event)
