"""Search from the header: issues, incidents and statements the person may see, grouped by kind.

Every word must appear (in any order, any case) in the title or the text; a reference finds its
thing directly ("INS-2026-00012" or "12" an incident, "#12" an issue). `%` and `_` are matched as
themselves. Each kind shows at most LIMIT results and says when there are more. Scope: issues of the
person's units' subtree (crisis.issues.service), incidents and their statements as
crisis.incidents.access lets them see (their subtree, or involving their units).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session, contains_eager, defer, joinedload

from crisis.auth.models import User
from crisis.errors import NotFound, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents import access
from crisis.incidents.models import Incident, Statement
from crisis.issues import service as issues
from crisis.issues.models import Issue

LIMIT = 20  # results of each kind
MAX_QUERY = 200  # characters
MAX_WORDS = 8
INCIDENT_REF = re.compile(r"^(?:INS-\d{4}-)?0*(\d{1,9})$", re.IGNORECASE)
ISSUE_REF = re.compile(r"^#(\d{1,9})$")


@dataclass(frozen=True)
class Found:
    """One kind's results: at most LIMIT of them, and whether there were more."""

    rows: list[Any]
    more: bool


@dataclass(frozen=True)
class Results:
    query: str
    issues: Found
    incidents: Found
    statements: Found

    @property
    def empty(self) -> bool:
        return not (self.issues.rows or self.incidents.rows or self.statements.rows)


def _pattern(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matches(words: list[str], *columns: Any) -> ColumnElement[bool]:
    """Every word in one of the columns: ILIKE on PostgreSQL, lower() LIKE on SQLite (SQLAlchemy's ilike)."""
    if not words:
        return true()
    return and_(*(or_(*(column.ilike(_pattern(word), escape="\\") for column in columns)) for word in words))


def clean(query: str | None) -> str:
    text = " ".join((query or "").split())
    if len(text) > MAX_QUERY:
        raise ValidationFailed({"q": str(_l("Search for at most %(n)d characters.", n=MAX_QUERY))})
    return text


def _found(rows: list[Any], limit: int) -> Found:
    return Found(rows=rows[:limit], more=len(rows) > limit)


def search(*, session: Session, user: User, query: str | None, limit: int = LIMIT) -> Results:
    text = clean(query)
    if not text:
        return Results(text, Found([], False), Found([], False), Found([], False))
    words = text.split()[:MAX_WORDS]
    return Results(
        query=text,
        issues=_found(_issues(session=session, user=user, text=text, limit=limit + 1), limit),
        incidents=_found(_incidents(session=session, user=user, text=text, words=words, limit=limit + 1), limit),
        statements=_found(_statements(session=session, user=user, words=words, limit=limit + 1), limit),
    )


def _issues(*, session: Session, user: User, text: str, limit: int) -> list[Issue]:
    reference = ISSUE_REF.match(text)
    if reference:
        try:
            return [issues.get(session=session, user=user, issue_id=int(reference.group(1)))]
        except NotFound:  # out of sight or absent: nothing found, as for any other word
            return []
    return issues.list_for_user(session=session, user=user, q=text, limit=limit)


def _incidents(*, session: Session, user: User, text: str, words: list[str], limit: int) -> list[Incident]:
    query = access.incident_query(session=session, user=user, lock=False, options=(joinedload(Incident.unit),))
    query = query.options(defer(Incident.playbook_snapshot))
    reference = INCIDENT_REF.match(text)
    by_words = _matches(words, Incident.title)
    condition = or_(Incident.id == int(reference.group(1)), by_words) if reference else by_words
    return list(
        session.scalars(query.where(condition).order_by(Incident.started_at.desc(), Incident.id.desc()).limit(limit))
    )


def _statements(*, session: Session, user: User, words: list[str], limit: int) -> list[Statement]:
    visible = access.incident_query(session=session, user=user, lock=False).whereclause
    query = (
        select(Statement)
        .join(Incident, Incident.id == Statement.incident_id)
        .where(_matches(words, Statement.title, Statement.body))
        .options(
            contains_eager(Statement.incident).options(joinedload(Incident.unit), defer(Incident.playbook_snapshot)),
            defer(Statement.body),
        )
        .order_by(Statement.drafted_at.desc(), Statement.id.desc())
        .limit(limit)
    )
    if visible is not None:
        query = query.where(visible)
    return list(session.scalars(query))
