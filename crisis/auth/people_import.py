"""People and their roles in bulk, from a CSV: name, email, unit_code, role, phone, language.

A check (dry run) lists every row's problems (row, column, reason) and writes nothing; the import
writes all rows or none, and is idempotent: a person already present (by e-mail) is updated, not
duplicated, and a role already held is kept. One person may have several rows, one per unit."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis.audit import service as audit
from crisis.auth.models import Membership, Role, User
from crisis.auth.service import EMAIL_RE, normalise_email
from crisis.errors import NotPermitted
from crisis.i18n import lazy_gettext as _l
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit

COLUMNS = ("name", "email", "unit_code", "role", "phone", "language")
REQUIRED_COLUMNS = ("name", "email", "unit_code", "role")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{5,30}$")
MAX_ROWS = 10_000
# No password yet: nothing verifies against it (argon2 refuses it as a hash), so the person cannot
# sign in until an administrator gives them one; notices and the roster work at once.
NO_PASSWORD = "!imported"  # noqa: S105  # nosec B105


@dataclass(frozen=True)
class Problem:
    row: int  # the line in the file (the header is line 1)
    column: str
    reason: str


@dataclass(frozen=True)
class PersonRow:
    row: int
    name: str
    email: str
    unit_code: str
    role: str
    phone: str
    language: str


@dataclass
class ImportReport:
    problems: list[Problem] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    roles_added: int = 0
    roles_changed: int = 0
    written: bool = False

    @property
    def rows_ok(self) -> bool:
        return not self.problems


def parse(text: str) -> tuple[list[PersonRow], list[Problem]]:
    """The rows of the file, and every problem the file has on its own (without the database)."""
    problems: list[Problem] = []
    text = text.lstrip("\ufeff")
    # Spreadsheets set to Indonesian write ';' between columns (the comma is the decimal sign).
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        for column in missing:
            problems.append(Problem(1, column, str(_l("The header has no column “%(column)s”.", column=column))))
        return [], problems
    reader.fieldnames = header
    rows: list[PersonRow] = []
    for line, raw in enumerate(reader, start=2):
        if line - 1 > MAX_ROWS:
            problems.append(Problem(line, "", str(_l("At most %(n)d rows in one file.", n=MAX_ROWS))))
            break
        values = {column: (raw.get(column) or "").strip() for column in COLUMNS}
        if not any(values.values()):
            continue  # a blank line
        values["email"] = normalise_email(values["email"])
        values["role"] = values["role"].lower()
        values["language"] = (values["language"] or "id").lower()
        if not values["name"]:
            problems.append(Problem(line, "name", str(_l("A name is required."))))
        elif len(values["name"]) > 200:
            problems.append(Problem(line, "name", str(_l("At most 200 characters."))))
        if not EMAIL_RE.match(values["email"]) or len(values["email"]) > 254:
            problems.append(Problem(line, "email", str(_l("Enter a valid e-mail address."))))
        if not values["unit_code"]:
            problems.append(Problem(line, "unit_code", str(_l("A unit code is required."))))
        if values["role"] not in set(Role):
            problems.append(
                Problem(line, "role", str(_l("Use officer, supervisor, head, admin, observer, legal or leader.")))
            )
        if values["phone"] and not PHONE_RE.match(values["phone"]):
            problems.append(
                Problem(line, "phone", str(_l("Digits, spaces, '-' and '()' only, e.g. +62 812-3456-7890.")))
            )
        if values["language"] not in ("id", "en"):
            problems.append(Problem(line, "language", str(_l("Choose id or en."))))
        rows.append(PersonRow(row=line, **values))
    if not rows and not problems:
        problems.append(Problem(1, "", str(_l("The file has a header but no people."))))
    # One person, one name: several rows of the same e-mail give their roles in several units.
    first: dict[str, PersonRow] = {}
    seen_roles: dict[tuple[str, str], int] = {}
    for row in rows:
        earlier = first.setdefault(row.email, row)
        for column in ("name", "phone", "language"):
            if earlier is not row and getattr(row, column) != getattr(earlier, column) and getattr(row, column):
                problems.append(
                    Problem(
                        row.row,
                        column,
                        str(_l("Differs from row %(row)d of the same e-mail address.", row=earlier.row)),
                    )
                )
        key = (row.email, row.unit_code.upper())
        if key in seen_roles:
            problems.append(
                Problem(
                    row.row,
                    "unit_code",
                    str(_l("This person's role in this unit is already on row %(row)d.", row=seen_roles[key])),
                )
            )
        seen_roles.setdefault(key, row.row)
    return rows, problems


def run(*, session: Session, actor: User | None, text: str, dry_run: bool) -> ImportReport:
    """Check the file against the database; unless dry_run or a problem was found, write it all.
    actor=None is the command line on the server itself."""
    if actor is not None and not units.is_admin_anywhere(actor):
        raise NotPermitted(_l("Only administrators create users."))
    rows, problems = parse(text)
    report = ImportReport(problems=problems)
    codes = {row.unit_code for row in rows}
    by_code = {u.code.upper(): u for u in session.scalars(select(Unit).where(Unit.code.in_(sorted(codes))))}
    if len(by_code) < len({code.upper() for code in codes}):  # codes typed in another case
        by_code.update(
            {u.code.upper(): u for u in session.scalars(select(Unit)) if u.code.upper() in {c.upper() for c in codes}}
        )
    scope = units.admin_scope(session=session, user=actor) if actor is not None else None
    for row in rows:
        unit = by_code.get(row.unit_code.upper())
        if row.unit_code and unit is None:
            report.problems.append(
                Problem(row.row, "unit_code", str(_l("No unit has the code %(code)s.", code=row.unit_code)))
            )
        elif unit is not None and scope is not None and unit.id not in scope:
            report.problems.append(Problem(row.row, "unit_code", str(_l("You do not administer this unit."))))
    emails = sorted({row.email for row in rows})
    present = {u.email: u for u in session.scalars(select(User).where(User.email.in_(emails)))}
    if scope is not None:
        for row in rows:
            user = present.get(row.email)
            # Someone outside the admin's part of the tree is not theirs to rename.
            if user is not None and user.memberships and not any(m.unit_id in scope for m in user.memberships):
                report.problems.append(
                    Problem(row.row, "email", str(_l("This person belongs to units you do not administer.")))
                )
    report.problems.sort(key=lambda p: (p.row, COLUMNS.index(p.column) if p.column in COLUMNS else -1))
    if report.problems:
        return report
    # The check runs the very same writes inside a savepoint and undoes them: what it reports is
    # what the import does.
    savepoint = session.begin_nested()
    _apply(session=session, actor=actor, rows=rows, by_code=by_code, present=present, report=report)
    session.flush()
    if dry_run:
        savepoint.rollback()
        session.expire_all()
    else:
        savepoint.commit()
        report.written = True
    return report


def _apply(
    *,
    session: Session,
    actor: User | None,
    rows: list[PersonRow],
    by_code: dict[str, Unit],
    present: dict[str, User],
    report: ImportReport,
) -> None:
    people: dict[str, User] = {}
    for row in rows:
        if row.email in people:
            continue
        user = present.get(row.email)
        if user is None:
            user = User(
                email=row.email, name=row.name, phone=row.phone, language=row.language, password_hash=NO_PASSWORD
            )
            session.add(user)
            session.flush()
            report.created.append(row.email)
            timeline.record(
                session=session,
                kind="user.created",
                subject_type="user",
                subject_id=user.id,
                actor_id=actor.id if actor else None,
                data={"email": row.email, "source": "import"},
            )
            audit.record(
                session=session,
                kind="user.created",
                actor=actor,
                unit_id=by_code[row.unit_code.upper()].id,
                target=f"user:{user.id}",
                detail={"email": row.email, "source": "import"},
            )
        else:
            wanted = {"name": row.name, "phone": row.phone, "language": row.language}
            changes = {key: value for key, value in wanted.items() if getattr(user, key) != value}
            if changes:
                before = {key: getattr(user, key) for key in changes}
                for key, value in changes.items():
                    setattr(user, key, value)
                report.updated.append(row.email)
                timeline.record(
                    session=session,
                    kind="user.updated",
                    subject_type="user",
                    subject_id=user.id,
                    actor_id=actor.id if actor else None,
                    data={"before": before, "after": changes, "source": "import"},
                )
            else:
                report.unchanged.append(row.email)
        people[row.email] = user
    for row in rows:
        user, unit = people[row.email], by_code[row.unit_code.upper()]
        membership = next((m for m in user.memberships if m.unit_id == unit.id), None)
        if membership is None:
            user.memberships.append(Membership(unit=unit, role=row.role))
            report.roles_added += 1
            kind, data = "membership.added", {"role": row.role, "source": "import"}
        elif membership.role != row.role:
            kind, data = "membership.role_changed", {"before": membership.role, "after": row.role, "source": "import"}
            membership.role = row.role
            report.roles_changed += 1
        else:
            continue
        common = {"session": session, "kind": kind, "unit_id": unit.id}
        timeline.record(
            **common, subject_type="user", subject_id=user.id, actor_id=actor.id if actor else None, data=data
        )
        audit.record(**common, actor=actor, target=f"user:{user.id}", detail={"email": user.email, **data})
