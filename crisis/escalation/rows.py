"""The rows a firing reads, fetched on the database driver and made into session objects without the
ORM's loading (PostgreSQL with psycopg, as `create_app` configures it).

For a batch of deadlines the ORM's loading of its incidents (with their unit, commander and the
commander's units), stage runs and timers cost a fifth of a deadline's CPU: row processors built
anew for each execution, joined eager loading, and a list of ids written out into the statement's
text for every batch. Here each of the three is one statement whose text never changes (the ids
are one array parameter), prepared by the database, and each row becomes the object the ORM would
have loaded: persistent in the session, its columns loaded, its relationships loaded on access (a
many-to-one is found in the session, as before). The SQL, the locks and their order are the ORM
statements' own (`queries._fire_incidents`, `_fire_runs`, `_fire_timers`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, any_, bindparam, func, inspect, null, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from crisis import prepared
from crisis.auth.models import Membership, User
from crisis.escalation.models import Timer
from crisis.incidents.models import Incident, StageRun
from crisis.notify.models import WebhookEndpoint
from crisis.units.models import Unit

DEFERRED = {Incident: ("playbook_snapshot",)}  # loaded on access, as `defer` left it (snapshot_of caches it)


class _Shape:
    """A model's loaded columns as a statement selects them from `table` (an alias of its table): the
    columns, their attribute keys and result processors, in the mapper's order."""

    def __init__(self, model: Any, table: Any, dialect: Any) -> None:
        self.model = model
        self.mapper = inspect(model)
        self.deferred = DEFERRED.get(model, ())
        self.keys: list[str] = []
        self.columns: list[Any] = []
        self.processors: list[Any] = []
        for prop in self.mapper.column_attrs:
            if prop.key in self.deferred or len(prop.columns) != 1:
                continue
            column = prop.columns[0]
            self.keys.append(prop.key)
            self.columns.append(table.c[column.name])
            self.processors.append(column.type.dialect_impl(dialect).result_processor(dialect, None))
        self.width = len(self.keys)

    def values(self, row: tuple[Any, ...], start: int) -> dict[str, Any] | None:
        cells = row[start : start + self.width]
        if cells[0] is None:  # the primary key (first column) of an outer join that found nothing
            return None
        return {
            key: (process(value) if process is not None and value is not None else value)
            for key, process, value in zip(self.keys, self.processors, cells, strict=True)
        }


class _Statements:
    def __init__(self, dialect: Any) -> None:
        i, u, c = Incident.__table__.alias("i"), Unit.__table__.alias("u"), User.__table__.alias("c")
        m, mu = Membership.__table__.alias("m"), Unit.__table__.alias("mu")
        r, t = StageRun.__table__.alias("r"), Timer.__table__.alias("t")
        self.incident, self.unit = _Shape(Incident, i, dialect), _Shape(Unit, u, dialect)
        self.commander, self.membership = _Shape(User, c, dialect), _Shape(Membership, m, dialect)
        self.member_unit = _Shape(Unit, mu, dialect)
        self.run, self.timer = _Shape(StageRun, r, dialect), _Shape(Timer, t, dialect)
        ids = bindparam("ids", type_=ARRAY(Integer))
        batch = t.c.id == any_(ids)
        shapes = (self.incident, self.unit, self.commander, self.membership, self.member_unit)
        incidents = (
            select(*(column for shape in shapes for column in shape.columns))
            .select_from(
                i.outerjoin(u, u.c.id == i.c.unit_id)
                .outerjoin(c, c.c.id == i.c.commander_id)
                .outerjoin(m, m.c.user_id == c.c.id)
                .outerjoin(mu, mu.c.id == m.c.unit_id)
            )
            .where(i.c.id.in_(select(t.c.incident_id).where(batch)))
            .order_by(i.c.id, m.c.id)
            .with_for_update(read=True, of=i)
        )
        runs = (
            select(*self.run.columns)
            .where(r.c.id.in_(select(t.c.stage_run_id).where(batch)))
            .order_by(r.c.id)
            .with_for_update(read=True, of=r)
        )
        # The timers with the engine's clock read in the same round trip (or not: an injected clock),
        # and SET LOCAL synchronous_commit TO OFF (see queries._fire_timers).
        timers = {
            with_clock: select(
                *self.timer.columns,
                func.clock_timestamp() if with_clock else null(),
                func.set_config("synchronous_commit", "off", True),
            )
            .where(batch)
            .order_by(t.c.fire_at, t.c.id)
            .with_for_update(skip_locked=True, of=t)
            for with_clock in (True, False)
        }
        hooks = WebhookEndpoint.__table__
        self.webhook = _Shape(WebhookEndpoint, hooks, dialect)
        webhooks = (
            select(*self.webhook.columns).where(hooks.c.unit_id == any_(ids), hooks.c.active).order_by(hooks.c.id)
        )
        self.statements = {
            "fire.rows.incidents": incidents,
            "fire.rows.runs": runs,
            "fire.rows.timers.clock": timers[True],
            "fire.rows.timers": timers[False],
            "fire.rows.webhooks": webhooks,
        }
        self.clock_processor = Timer.__table__.c.fire_at.type.dialect_impl(dialect).result_processor(dialect, None)

    def fetch(self, run: prepared.Runner, name: str, ids: list[int]) -> list[tuple[Any, ...]]:
        statement = self.statements[name]
        return run.fetch(name, lambda: statement, {"ids": ids})


_BUILT: dict[tuple[str, str], _Statements] = {}


def _statements(dialect: Any) -> _Statements:
    key = (dialect.name, dialect.driver)
    built = _BUILT.get(key)
    if built is None:
        built = _BUILT[key] = _Statements(dialect)
    return built


class Adopter:
    """Makes rows into persistent objects of one session, as the ORM's loading does (`orm.loading`'s
    `_instance`: the identity, the session, the identity map; the values as committed), each identity
    once. One the session holds already gets the row's values as loaded ones (`populate_existing`)."""

    def __init__(self, session: Session) -> None:
        real = session() if isinstance(session, scoped_session) else session  # the app's is scoped
        self.identity_map = real.identity_map
        self.hash_key = real.hash_key
        self.seen: dict[tuple[Any, Any], Any] = {}

    def __call__(self, shape: _Shape, values: dict[str, Any]) -> Any:
        key = (shape.model, values["id"])
        obj = self.seen.get(key)
        if obj is not None:
            return obj
        identity = shape.mapper.identity_key_from_primary_key((values["id"],))
        obj = self.identity_map.get(identity)
        if obj is not None:
            for name, value in values.items():
                set_committed_value(obj, name, value)
        else:
            obj = shape.mapper.class_manager.new_instance()
            obj.__dict__.update(values)
            state = instance_state(obj)
            state.key, state.identity_token, state.session_id = identity, None, self.hash_key
            self.identity_map._add_unpresent(state, identity)  # noqa: SLF001  # as orm.loading adds a new row
            if shape.deferred:  # loaded on access, in one SELECT, as an expired attribute is
                state.expired_attributes.update(shape.deferred)
        self.seen[key] = obj
        return obj


def load_batch(
    session: Session, ids: list[int], *, with_clock: bool
) -> tuple[dict[int, Incident], dict[int, StageRun], list[tuple[Timer, datetime | None]]]:
    """The batch's incidents (with unit, commander and the commander's memberships and units), stage
    runs, and timers with the database's clock, locked in that order as the ORM statements lock them."""
    built = _statements(session.get_bind().dialect)
    with prepared.runner(session) as run:
        adopt = Adopter(session)
        incidents: dict[int, Incident] = {}
        memberships: dict[int, list[Membership]] = {}
        shapes = (built.incident, built.unit, built.commander, built.membership, built.member_unit)
        for row in built.fetch(run, "fire.rows.incidents", ids):
            start = 0
            found = []
            for shape in shapes:
                values = shape.values(row, start)
                found.append(None if values is None else adopt(shape, values))
                start += shape.width
            incident, unit, commander, membership, member_unit = found
            if incident.id not in incidents:
                # Held by the incident, as a joined load holds them: the session only keeps weak references.
                set_committed_value(incident, "unit", unit)
                set_committed_value(incident, "commander", commander)
                incidents[incident.id] = incident
            if membership is not None:
                set_committed_value(membership, "unit", member_unit)
            if commander is not None:
                listed = memberships.setdefault(commander.id, [])
                if membership is not None and membership not in listed:
                    listed.append(membership)
        for commander_id, listed in memberships.items():
            set_committed_value(adopt.seen[(User, commander_id)], "memberships", listed)
        if not incidents:
            return {}, {}, []
        runs = {
            values["id"]: adopt(built.run, values)
            for values in _values(built.fetch(run, "fire.rows.runs", ids), built.run)
        }
        timers = []
        for row in built.fetch(run, "fire.rows.timers.clock" if with_clock else "fire.rows.timers", ids):
            values = built.timer.values(row, 0)
            assert values is not None  # nosec B101  # type narrowing: a timer row has its id
            moment = row[built.timer.width]
            if moment is not None and built.clock_processor is not None:
                moment = built.clock_processor(moment)
            timers.append((adopt(built.timer, values), moment))
    return incidents, runs, timers


def webhooks(session: Session, unit_ids: list[int]) -> list[WebhookEndpoint]:
    """The active webhooks of these units, by id (`queries` "fire.webhooks"; each one's unit is loaded
    on access, from the session when the firing holds it)."""
    built = _statements(session.get_bind().dialect)
    with prepared.runner(session) as run:
        found = _values(built.fetch(run, "fire.rows.webhooks", unit_ids), built.webhook)
    if not found:
        return []
    adopt = Adopter(session)
    return [adopt(built.webhook, values) for values in found]


def _values(rows: list[tuple[Any, ...]], shape: _Shape) -> list[dict[str, Any]]:
    """Rows of a statement that selects one model's columns, as that model's values."""
    return [values for row in rows if (values := shape.values(row, 0)) is not None]


def warm_up(session: Session) -> None:
    """Build the statements and prepare them on this connection (the first batch would pay for it)."""
    if prepared.usable(session):
        built = _statements(session.get_bind().dialect)
        with prepared.runner(session) as run:
            for name in built.statements:
                built.fetch(run, name, [0])
