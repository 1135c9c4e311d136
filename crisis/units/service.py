"""The unit tree and the one answer to "which units may this user see / act in"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import ColumnElement, func, literal, select, true
from sqlalchemy.orm import Session

from crisis.auth.models import ACTING_ROLES, Membership, Role, User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.timefmt import is_valid_zone
from crisis.timeline import service as timeline
from crisis.units.indonesia import KEMENDAGRI_CODE
from crisis.units.models import Unit, UnitKind

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,31}$")
# Which kind of unit may sit under which parent kind.
ALLOWED_PARENT_KINDS: dict[str, set[str | None]] = {
    UnitKind.central: {None, UnitKind.central},
    UnitKind.province: {UnitKind.central},
    UnitKind.regency: {UnitKind.province},
}


KIND_LABELS = {
    UnitKind.central: _l("Central"),
    UnitKind.province: _l("Province"),
    UnitKind.regency: _l("Regency/city"),
}


@dataclass(frozen=True)
class Scope:
    """A set of unit ids, or every unit. Build queries with `filter(column)`."""

    everything: bool
    unit_ids: frozenset[int] = frozenset()

    def filter(self, column: Any) -> ColumnElement[bool]:
        if self.everything:
            return true()
        return column.in_(sorted(self.unit_ids)) if self.unit_ids else literal(False)

    def __contains__(self, unit_id: object) -> bool:
        return self.everything or unit_id in self.unit_ids


def subtree_ids(*, session: Session, root_ids: set[int]) -> set[int]:
    """The given units and all their descendants, in one recursive query."""
    if not root_ids:
        return set()
    tree = select(Unit.id).where(Unit.id.in_(sorted(root_ids))).cte("tree", recursive=True)
    tree = tree.union(select(Unit.id).join(tree, Unit.parent_id == tree.c.id))
    return set(session.scalars(select(tree.c.id)))


def ancestors(unit: Unit) -> list[Unit]:
    """Parent first, root last."""
    chain: list[Unit] = []
    seen = {unit.id}
    node = unit.parent
    while node is not None and node.id not in seen:
        chain.append(node)
        seen.add(node.id)
        node = node.parent
    return chain


def _scope(*, session: Session, user: User, roles: frozenset[str] | None) -> Scope:
    memberships = [m for m in user.memberships if roles is None or m.role in roles]
    if any(m.unit.kind == UnitKind.central for m in memberships):
        return Scope(everything=True)
    roots = frozenset(m.unit_id for m in memberships)
    # Seeing and acting usually start from the same units (an officer's one unit): one query a request.
    subtrees = request.environ.setdefault("crisis.unit_subtrees", {}) if has_request_context() else {}
    if roots not in subtrees:
        subtrees[roots] = frozenset(subtree_ids(session=session, root_ids=set(roots)))
    return Scope(everything=False, unit_ids=subtrees[roots])


def _cached_scope(*, session: Session, user: User, name: str, roles: frozenset[str] | None) -> Scope:
    # One computation per request (kept on the request, not on g, which can outlive it).
    if not has_request_context():
        return _scope(session=session, user=user, roles=roles)
    cache = request.environ.setdefault("crisis.unit_scopes", {})
    key = (user.id, name)
    if key not in cache:
        cache[key] = _scope(session=session, user=user, roles=roles)
    return cache[key]


def visible_scope(*, session: Session, user: User) -> Scope:
    """Units this user may see: membership units and their descendants; central sees all."""
    return _cached_scope(session=session, user=user, name="view", roles=None)


def acting_scope(*, session: Session, user: User) -> Scope:
    """Units this user may change things in (observers only read)."""
    return _cached_scope(session=session, user=user, name="act", roles=frozenset(ACTING_ROLES))


def admin_scope(*, session: Session, user: User) -> Scope:
    """Units whose tree, users and roles this user administers."""
    return _cached_scope(session=session, user=user, name="admin", roles=frozenset({Role.admin}))


def roster_scope(*, session: Session, user: User) -> Scope:
    """Units whose duty roster this user may plan."""
    roles = frozenset({Role.supervisor, Role.head, Role.admin})
    return _cached_scope(session=session, user=user, name="roster", roles=roles)


def is_admin_anywhere(user: User) -> bool:
    return any(m.role == Role.admin for m in user.memberships)


def list_visible(*, session: Session, user: User) -> list[Unit]:
    scope = visible_scope(session=session, user=user)
    units = list(session.scalars(select(Unit).where(scope.filter(Unit.id)).order_by(Unit.code)))
    return order_as_tree(units)


@dataclass(frozen=True)
class Choice:
    id: int
    code: str
    name: str


def choices_by_province(
    *, session: Session, user: User, selected: int | None = None
) -> list[tuple[Choice | None, list[Choice]]]:
    """The units a person sees, for a filter: (province, its units: itself first, then its
    regencies/cities by code) in code order, with the central units and any others first under None.

    Whoever sees several provinces (a national desk sees over five hundred units) gets the provinces
    and central units only, a province standing for its whole subtree, plus their own units and the
    one selected; a province's people get their province's regencies/cities too. Plain tuples of three
    columns, not rows."""
    scope = visible_scope(session=session, user=user)
    rows = session.execute(
        select(Unit.id, Unit.code, Unit.name, Unit.kind, Unit.parent_id)
        .where(scope.filter(Unit.id))
        .order_by(Unit.code)
    ).all()
    provinces = {row[0]: Choice(row[0], row[1], row[2]) for row in rows if row[3] == UnitKind.province}
    if len(provinces) > 1:
        keep = {m.unit_id for m in user.memberships} | {selected}
        rows = [row for row in rows if row[3] != UnitKind.regency or row[0] in keep]
    groups: dict[int | None, list[Choice]] = {None: []}
    groups.update({province_id: [choice] for province_id, choice in provinces.items()})
    for unit_id, code, name, kind, parent_id in rows:
        if kind == UnitKind.province:
            continue
        group = parent_id if kind == UnitKind.regency and parent_id in provinces else None
        groups[group].append(Choice(unit_id, code, name))
    ordered: list[tuple[Choice | None, list[Choice]]] = [(None, groups[None])] if groups[None] else []
    return ordered + [(provinces[pid], groups[pid]) for pid in sorted(provinces, key=lambda i: provinces[i].code)]


def list_acting(*, session: Session, user: User) -> list[Unit]:
    """list_visible() of the units this user may change things in (acting_scope), in tree order."""
    scope = acting_scope(session=session, user=user)
    return [unit for unit in list_visible(session=session, user=user) if unit.id in scope]


def order_as_tree(units: list[Unit]) -> list[Unit]:
    """Depth-first order, so a list reads as the tree it is; roots are the topmost present."""
    present = {u.id for u in units}
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        parent = unit.parent_id if unit.parent_id in present else None
        children.setdefault(parent, []).append(unit)
    ordered: list[Unit] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        unit = stack.pop()
        ordered.append(unit)
        stack.extend(reversed(children.get(unit.id, [])))
    return ordered


def depth(unit: Unit) -> int:
    return len(ancestors(unit))


def get(*, session: Session, user: User, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or unit.id not in visible_scope(session=session, user=user):
        raise NotFound(_l("Unit not found."))
    return unit


def get_by_code(*, session: Session, code: str) -> Unit | None:
    return session.scalar(select(Unit).where(Unit.code == code))


def _validate(*, session: Session, unit: Unit | None, fields: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: Any) -> None:
        errors.setdefault(field, []).append(str(message))

    code = fields.get("code")
    if "code" in fields:
        if not isinstance(code, str) or not CODE_RE.match(code):
            add("code", _l("Use 2–32 capital letters, digits, '.', '_' or '-', e.g. JATENG."))
        else:
            clash = session.scalar(select(Unit.id).where(func.upper(Unit.code) == code.upper()))
            if clash is not None and (unit is None or clash != unit.id):
                add("code", _l("Another unit already uses this code."))
    area_code = fields.get("area_code")
    if area_code is not None:
        if not isinstance(area_code, str) or not KEMENDAGRI_CODE.match(area_code):
            add("area_code", _l("A Kemendagri code is two digits for a province (33) or 33.74 for a regency/city."))
        else:
            clash = session.scalar(select(Unit.id).where(Unit.area_code == area_code))
            if clash is not None and (unit is None or clash != unit.id):
                add("area_code", _l("Another unit already carries this Kemendagri code."))
    if "name" in fields:
        name = fields["name"]
        if not isinstance(name, str) or not name.strip():
            add("name", _l("A name is required."))
        elif len(name) > 200:
            add("name", _l("At most 200 characters."))
    if "kind" in fields and fields["kind"] not in set(UnitKind):
        add("kind", _l("Choose central, province or regency."))
    if "timezone" in fields and not (isinstance(fields["timezone"], str) and is_valid_zone(fields["timezone"])):
        add(
            "timezone",
            _l("Unknown time zone; use e.g. Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT)."),
        )
    kind = fields.get("kind", unit.kind if unit else None)
    parent_id = fields.get("parent_id", unit.parent_id if unit else None)
    parent: Unit | None = None
    if parent_id is not None:
        parent = session.get(Unit, parent_id)
        if parent is None:
            add("parent_id", _l("No such parent unit."))
        elif unit is not None and parent.id in subtree_ids(session=session, root_ids={unit.id}):
            add("parent_id", _l("A unit cannot be placed under itself or one of its own descendants."))
    if kind in set(UnitKind) and "parent_id" not in errors:
        parent_kind = parent.kind if parent else None
        if parent_kind not in ALLOWED_PARENT_KINDS[kind]:
            add(
                "parent_id",
                _l(
                    "A %(kind)s unit cannot sit under %(parent)s.",
                    kind=KIND_LABELS[kind],
                    parent=KIND_LABELS[parent_kind] if parent_kind else _l("nothing (the root)"),
                ),
            )
    if unit is not None and kind in set(UnitKind):
        for child in unit.children:
            if kind not in ALLOWED_PARENT_KINDS[child.kind]:
                add(
                    "kind",
                    _l(
                        "Unit %(code)s below cannot sit under a %(kind)s unit.", code=child.code, kind=KIND_LABELS[kind]
                    ),
                )
                break
    return errors


def _require_admin_for(*, session: Session, actor: User, parent_id: int | None) -> None:
    scope = admin_scope(session=session, user=actor)
    allowed = scope.everything if parent_id is None else parent_id in scope
    if not allowed:
        raise NotPermitted(_l("You do not administer that part of the organisation."))


def create(
    *,
    session: Session,
    actor: User | None,
    code: str,
    name: str,
    kind: str,
    parent_id: int | None,
    timezone: str,
    area_code: str | None = None,
) -> Unit:
    """actor=None is the command line on the server itself (the first unit of an empty install).
    area_code: the Kemendagri code of the area the unit serves, when its own code is another."""
    if actor is not None:
        _require_admin_for(session=session, actor=actor, parent_id=parent_id)
    fields = {"code": code, "name": name, "kind": kind, "parent_id": parent_id, "timezone": timezone}
    if area_code is not None:
        fields["area_code"] = area_code
    errors = _validate(session=session, unit=None, fields=fields)
    if errors:
        raise ValidationFailed(errors)
    unit = Unit(code=code, name=name.strip(), kind=kind, parent_id=parent_id, timezone=timezone, area_code=area_code)
    session.add(unit)
    session.flush()
    timeline.record(
        session=session,
        kind="unit.created",
        subject_type="unit",
        subject_id=unit.id,
        actor_id=actor.id if actor else None,
        unit_id=unit.id,
        data=fields,
    )
    return unit


def update(*, session: Session, actor: User, unit_id: int, changes: dict[str, Any]) -> Unit:
    unit = get(session=session, user=actor, unit_id=unit_id)
    scope = admin_scope(session=session, user=actor)
    if unit.id not in scope:
        raise NotPermitted(_l("You do not administer this unit."))
    if "parent_id" in changes and changes["parent_id"] != unit.parent_id:
        _require_admin_for(session=session, actor=actor, parent_id=changes["parent_id"])
    changes = {k: v for k, v in changes.items() if getattr(unit, k) != v}
    if not changes:
        return unit
    errors = _validate(session=session, unit=unit, fields=changes)
    if errors:
        raise ValidationFailed(errors)
    before = {k: getattr(unit, k) for k in changes}
    for key, value in changes.items():
        setattr(unit, key, value.strip() if key == "name" else value)
    session.flush()
    timeline.record(
        session=session,
        kind="unit.updated",
        subject_type="unit",
        subject_id=unit.id,
        actor_id=actor.id,
        unit_id=unit.id,
        data={"before": before, "after": changes},
    )
    return unit


def members(*, session: Session, unit_id: int) -> list[Membership]:
    return list(session.scalars(select(Membership).where(Membership.unit_id == unit_id).order_by(Membership.role)))
