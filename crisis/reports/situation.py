"""The national situation room: per province (or, on a province's page, per regency/city) the open
incidents by severity, overdue stages, unacknowledged escalations and involved units that have not
yet published the current key messages, each area coloured by its worst state.

Counted in a handful of GROUP BY queries over the whole country, whatever its size; the unit tree
(a few hundred rows) is read once a request to fold units into their areas."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased, selectinload

from crisis.auth.models import User
from crisis.errors import NotFound, NotPermitted
from crisis.escalation.models import Timer
from crisis.exercises import readiness as exercise_readiness
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.models import Incident, InvolvedUnit, Publication, StageRun, Statement
from crisis.units import service as units
from crisis.units.models import Unit, UnitKind

# Worst first; the class names are the CSS colours of static/css/situation.css.
STATES = ("late", "waiting", "open", "calm")
STATE_LABELS = {
    "late": _l("Overdue stages or unacknowledged escalations"),
    "waiting": _l("Key messages not yet published by every involved unit"),
    "open": _l("Open incidents, nothing late"),
    "calm": _l("No open incident"),
}
WHATS = ("open", "sev4", "sev3", "sev2", "sev1", "overdue", "unacked", "keymsg")
WHAT_LABELS = {
    "open": _l("Open incidents"),
    "sev4": _l("Open incidents of severity 4"),
    "sev3": _l("Open incidents of severity 3"),
    "sev2": _l("Open incidents of severity 2"),
    "sev1": _l("Open incidents of severity 1"),
    "overdue": _l("Incidents with an overdue stage"),
    "unacked": _l("Incidents with an escalation nobody has acknowledged"),
    "keymsg": _l("Incidents whose current key messages a unit here has not published"),
}
PAGE_SIZE = 50
# Exercises (drills) never count in the room's figures: their readiness is shown apart.
REAL = Incident.exercise_id.is_(None)


@dataclass
class Area:
    unit: Unit
    by_severity: dict[int, int] = field(default_factory=lambda: dict.fromkeys((4, 3, 2, 1), 0))
    overdue: int = 0
    unacked: int = 0
    keymsg_missing: int = 0

    @property
    def open(self) -> int:
        return sum(self.by_severity.values())

    @property
    def state(self) -> str:
        if self.overdue or self.unacked:
            return "late"
        if self.keymsg_missing:
            return "waiting"
        return "open" if self.open else "calm"


@dataclass
class Room:
    root: Unit | None  # None: the whole country; else a province
    areas: list[Area]
    now: datetime
    # Each area's exercise readiness (crisis.exercises.readiness): drills are shown apart, never counted above.
    readiness: list[Any] = field(default_factory=list)

    @property
    def totals(self) -> Area:
        total = Area(unit=self.root)  # type: ignore[arg-type]
        for area in self.areas:
            for severity, count in area.by_severity.items():
                total.by_severity[severity] += count
            total.overdue += area.overdue
            total.unacked += area.unacked
            total.keymsg_missing += area.keymsg_missing
        return total


def _tree(session: Session) -> dict[int, tuple[int | None, str]]:
    return {row.id: (row.parent_id, row.kind) for row in session.execute(select(Unit.id, Unit.parent_id, Unit.kind))}


def _area_of(tree: dict[int, tuple[int | None, str]], root_id: int | None) -> dict[int, int]:
    """Each unit id → the id of the area it counts in: its province on the country page (central
    units are their own area), the regency/city itself or the province on a province's page."""
    found: dict[int, int] = {}
    for unit_id in tree:
        node, path = unit_id, []
        while node is not None:
            path.append(node)
            parent, kind = tree[node]
            if root_id is None and kind in (UnitKind.province, UnitKind.central):
                found[unit_id] = node
                break
            if root_id is not None and parent == root_id:
                found[unit_id] = node
                break
            if root_id is not None and node == root_id:
                found[unit_id] = root_id
                break
            node = parent
    return found


def can_view(*, session: Session, user: User) -> bool:
    """Central and province units have a situation room."""
    return any(m.unit.kind in (UnitKind.central, UnitKind.province) for m in user.memberships)


def room_root(*, session: Session, user: User, province_id: int | None) -> Unit | None:
    """The area a page is about, checked against the viewer: the country (central only) or a province."""
    if not can_view(session=session, user=user):
        raise NotPermitted(_l("The situation room is for central and province units."))
    scope = units.visible_scope(session=session, user=user)
    if province_id is None:
        if scope.everything:
            return None
        provinces = [m.unit for m in user.memberships if m.unit.kind == UnitKind.province]
        return provinces[0]
    unit = session.get(Unit, province_id)
    if unit is None or unit.kind != UnitKind.province or unit.id not in scope:
        raise NotFound(_l("Unit not found."))
    return unit


def build(*, session: Session, root: Unit | None, now: datetime) -> Room:
    tree = _tree(session)
    area_of = _area_of(tree, root.id if root else None)
    if root is None:
        area_ids = {uid for uid, (_parent, kind) in tree.items() if kind == UnitKind.province}
        area_ids |= {uid for uid, (_parent, kind) in tree.items() if kind == UnitKind.central}
    else:
        area_ids = {uid for uid, (parent, _kind) in tree.items() if parent == root.id} | {root.id}
    area_units = session.scalars(select(Unit).where(Unit.id.in_(sorted(area_ids)))).all()
    areas = {unit.id: Area(unit=unit) for unit in area_units}

    def add(unit_id: int, attribute: str, count: int, severity: int | None = None) -> None:
        area = areas.get(area_of.get(unit_id, -1))
        if area is None:
            return
        if severity is not None:
            area.by_severity[severity] = area.by_severity.get(severity, 0) + count
        else:
            setattr(area, attribute, getattr(area, attribute) + count)

    active = and_(Incident.state == "active", REAL)
    for unit_id, severity, count in session.execute(
        select(Incident.unit_id, Incident.severity, func.count())
        .where(active)
        .group_by(Incident.unit_id, Incident.severity)
    ):
        add(unit_id, "by_severity", count, severity)
    for unit_id, count in session.execute(
        select(Incident.unit_id, func.count())
        .join(StageRun, StageRun.incident_id == Incident.id)
        .where(active, StageRun.state == "active", StageRun.due_at < now)
        .group_by(Incident.unit_id)
    ):
        add(unit_id, "overdue", count)
    for unit_id, count in session.execute(
        select(Incident.unit_id, func.count())
        .join(Timer, Timer.incident_id == Incident.id)
        .where(active, Timer.kind == "escalation_step", Timer.state == "fired", Timer.acknowledged_at.is_(None))
        .group_by(Incident.unit_id)
    ):
        add(unit_id, "unacked", count)
    for unit_id, count in session.execute(_missing_key_messages().group_by(InvolvedUnit.unit_id)):
        add(unit_id, "keymsg_missing", count)
    ordered = sorted(
        areas.values(),
        key=lambda a: (
            a.unit.kind != UnitKind.central,
            a.unit.id != (root.id if root else None),
            a.unit.area_code or a.unit.code,
        ),
    )
    return Room(
        root=root,
        areas=ordered,
        now=now,
        readiness=exercise_readiness.for_units(session=session, units=[a.unit for a in ordered], now=now),
    )


APPROVED = ("approved", "published")


def _current_key_messages() -> Any:
    """The condition that Statement is its incident's current key messages: approved (or published)
    and no later approved ones. A NOT EXISTS per running incident's statements (an index lookup each),
    not a maximum over every incident's statements ever written."""
    newer = aliased(Statement)
    return and_(
        Statement.kind == "key_messages",
        Statement.state.in_(APPROVED),
        ~exists().where(
            newer.incident_id == Statement.incident_id,
            newer.kind == "key_messages",
            newer.state.in_(APPROVED),
            newer.id > Statement.id,
        ),
    )


def _missing_key_messages() -> Any:
    """(involved unit, count) of running incidents whose current key messages that unit has not
    published."""
    published = aliased(Publication)
    return (
        select(InvolvedUnit.unit_id, func.count())
        .join(Incident, and_(Incident.id == InvolvedUnit.incident_id, Incident.state == "active", REAL))
        .join(Statement, and_(Statement.incident_id == Incident.id, _current_key_messages()))
        .outerjoin(published, and_(published.statement_id == Statement.id, published.unit_id == InvolvedUnit.unit_id))
        .where(InvolvedUnit.released_at.is_(None), published.id.is_(None))
    )


def incidents_behind(
    *, session: Session, user: User, area: Unit, what: str, now: datetime, page: int = 1
) -> tuple[list[Incident], int]:
    """The incidents behind one number of an area's tile, a page at a time, and how many in all."""
    scope = units.visible_scope(session=session, user=user)
    if area.id not in scope:
        raise NotFound(_l("Unit not found."))
    subtree = sorted(units.subtree_ids(session=session, root_ids={area.id}))
    if area.kind == UnitKind.central:  # the central desk's own incidents, not the whole country's
        subtree = [area.id]
    query = select(Incident).where(Incident.state == "active", REAL)
    if what == "keymsg":  # incidents anywhere in which a unit of the area has not published
        query = query.where(Incident.id.in_(_keymsg_incidents(subtree)))
    else:
        query = query.where(Incident.unit_id.in_(subtree))
    if what.startswith("sev"):
        query = query.where(Incident.severity == int(what[3:]))
    elif what == "overdue":
        query = query.where(
            Incident.id.in_(select(StageRun.incident_id).where(StageRun.state == "active", StageRun.due_at < now))
        )
    elif what == "unacked":
        query = query.where(
            Incident.id.in_(
                select(Timer.incident_id).where(
                    Timer.kind == "escalation_step", Timer.state == "fired", Timer.acknowledged_at.is_(None)
                )
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(Incident.unit))
        .order_by(Incident.severity.desc(), Incident.started_at, Incident.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return list(rows), total


def _keymsg_incidents(unit_ids: list[int]) -> Any:
    published = aliased(Publication)
    return (
        select(InvolvedUnit.incident_id)
        .join(Statement, and_(Statement.incident_id == InvolvedUnit.incident_id, _current_key_messages()))
        .outerjoin(published, and_(published.statement_id == Statement.id, published.unit_id == InvolvedUnit.unit_id))
        .where(InvolvedUnit.unit_id.in_(unit_ids), InvolvedUnit.released_at.is_(None), published.id.is_(None))
    )
