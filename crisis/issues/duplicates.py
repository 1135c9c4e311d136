"""The duplicate finder: issues that may be the same as one being logged, by evidence link or by title.

A title is compared by difflib's ratio after normalise_title; _similar_titles computes it only
for the candidates whose longest common subsequence with the title lets them reach TITLE_SIMILARITY.
"""

from __future__ import annotations

import difflib
import functools
import re
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Indel
from sqlalchemy import (
    DateTime,
    String,
    and_,
    any_,
    bindparam,
    cast,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from crisis import clock
from crisis.auth.models import User
from crisis.issues.models import Issue, IssueEvidence
from crisis.issues.urls import normalise_url
from crisis.links import url_problem
from crisis.units import service as units

DUPLICATE_WINDOW = timedelta(hours=48)
TITLE_SIMILARITY = 0.8
_THRESHOLD = Fraction(str(TITLE_SIMILARITY))  # 4/5, for exact comparisons


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
    statement = _duplicate_statement(
        links=bool(keys),
        titles=by_title,
        everywhere=scope.everything,
        postgresql=connection.dialect.name == "postgresql",
    )
    params = candidate_params(now=now, exclude_id=exclude_id or 0, keys=keys, scope=scope, unit_id=unit_id)
    # Ids (and the titles to compare) in one round trip; whole issues only for what was found.
    rows = connection.execute(statement, params).all()
    same_link = sorted(((created, issue_id) for kind, issue_id, _t, created in rows if kind == 0), reverse=True)
    titled = [(issue_id, other) for kind, issue_id, other, _created in rows if kind == 1]
    return ranked(session, [issue_id for _created, issue_id in same_link], titled, title if by_title else None)


def ranked(session: Session, same_link: list[int], titled: list[tuple[int, str]], title: str | None) -> list[Issue]:
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


def candidate_params(
    *, now: datetime, exclude_id: int | None, keys: list[str], scope: units.Scope, unit_id: int | None
) -> dict[str, Any]:
    """The parameters of same_link_candidates and same_unit_candidates (exclude_id None: the
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


def same_link_candidates(*, everywhere: bool, postgresql: bool, excluding: bool = True) -> Any:
    """(id, created_at) of the newest 20 candidates sharing a link (dup_keys) in the scope
    (dup_scope, unless the actor sees everywhere). The time as the driver gives it: it only orders."""
    with_link = select(IssueEvidence.issue_id).where(_one_of(IssueEvidence.url_key, "dup_keys", postgresql=postgresql))
    created = type_coerce(Issue.created_at, DateTime(timezone=True))
    same_link = select(Issue.id, created.label("created_at")).where(
        _candidate(excluding=excluding), Issue.id.in_(with_link)
    )
    if not everywhere:
        same_link = same_link.where(_one_of(Issue.unit_id, "dup_scope", postgresql=postgresql))
    return same_link.order_by(Issue.created_at.desc(), Issue.id.desc()).limit(20)


def same_unit_candidates(*, excluding: bool = True) -> Any:
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
    for same_link_candidates, kind 1 for same_unit_candidates with their titles to compare."""
    parts = []
    if links:
        found = same_link_candidates(everywhere=everywhere, postgresql=postgresql).subquery()
        no_title = literal(None, String).label("title")  # these rows are ordered by time only
        parts.append(select(literal(0).label("kind"), found.c.id, no_title, found.c.created_at))
    if titles:
        found = same_unit_candidates().subquery()
        no_time = cast(null(), DateTime(timezone=True))  # these rows are compared by title only
        parts.append(select(literal(1).label("kind"), found.c.id, found.c.title, no_time))
    # Each part keeps its own order and limit inside a subquery (SQLite allows neither in a UNION member).
    return parts[0] if len(parts) == 1 else union_all(*parts)


# The titles of a unit's recent issues come back at every check of that unit: normalised once.
_normalised = functools.lru_cache(maxsize=8192)(normalise_title)


def _similar_titles(title: str, candidates: list[tuple[int, str]]) -> list[tuple[float, int]]:
    """(ratio, id) of the (id, title) candidates at least TITLE_SIMILARITY alike by title_similarity's
    (difflib's) ratio, which is computed only where the longest common subsequence lets it reach
    the threshold: difflib's matching blocks are a common subsequence, so its ratio is at most
    2 * LCS / total (total: both lengths). rapidfuzz's Indel distance is total - 2 * LCS
    (bit-parallel, in C), so a candidate can reach num/den only if den * distance <= (den - num) * total.

    The bound is compared in integers (rapidfuzz's normalised cutoffs are floats and can drop a
    candidate exactly at the threshold); the C pass uses the longest candidate's total, the exact
    test each candidate's own."""
    if not candidates:
        return []
    wanted = normalise_title(title)
    others = [_normalised(other) for _issue_id, other in candidates]
    num, den = _THRESHOLD.numerator, _THRESHOLD.denominator
    size = len(wanted)
    loosest = (den - num) * (size + max(map(len, others))) // den
    passed = process.extract(wanted, others, scorer=Indel.distance, score_cutoff=loosest, limit=None)
    scored = []
    for other, distance, index in passed:
        if den * distance > (den - num) * (size + len(other)):
            continue
        ratio = difflib.SequenceMatcher(None, wanted, other).ratio()
        if ratio >= TITLE_SIMILARITY:
            scored.append((ratio, candidates[index][0]))
    return scored
