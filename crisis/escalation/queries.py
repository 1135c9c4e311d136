"""The engine's hot statements, built once per process: building a statement with its options
costs more CPU than executing it, and these run for every deadline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Interval,
    String,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session, defer, joinedload

from crisis import clock, prepared
from crisis.auth.models import Membership, User
from crisis.dbtypes import UTCDateTime
from crisis.escalation import rows
from crisis.escalation.models import Timer
from crisis.escalation.timing import is_postgres
from crisis.incidents.models import Incident, StageRun
from crisis.notify import service as notify
from crisis.notify.models import Notice, WebhookEndpoint
from crisis.timeline.models import TimelineEvent

_STATEMENTS: dict[str, Any] = {}


def hot_statement(name: str) -> Any:
    built = _STATEMENTS.get(name)
    if built is None:
        built = _STATEMENTS[name] = _BUILDERS[name]()
    return built


def hot_builder(name: str) -> Callable[[], Any]:
    """What builds the hot statement `name` (crisis.prepared compiles it once per process)."""
    return _BUILDERS[name]


def driver_statement(name: str, dialect: Any) -> tuple[str, dict[str, Any]]:
    """A hot statement as the database driver takes it (crisis.prepared.text_of). Run on the driver's
    own connection, it skips SQLAlchemy's execution, which costs as much CPU as the statement where a
    deadline runs it for each notice."""
    return prepared.text_of(name, hot_builder(name), dialect)


def _ids() -> Any:
    return bindparam("ids", expanding=True)


def _fire_incidents() -> Any:
    return (
        select(Incident)
        .where(Incident.id.in_(select(Timer.incident_id).where(Timer.id.in_(_ids()))))
        .order_by(Incident.id)
        .with_for_update(read=True, of=Incident)
        .options(
            joinedload(Incident.unit),
            # The commander's units too (language, zone): most deadlines tell the commander, and then
            # the batch needs no query of its recipients' units (fire.users).
            joinedload(Incident.commander).joinedload(User.memberships).joinedload(Membership.unit),
            defer(Incident.playbook_snapshot),
        )
        .execution_options(populate_existing=True)
    )


def _fire_runs() -> Any:
    return (
        select(StageRun)
        .where(StageRun.id.in_(select(Timer.stage_run_id).where(Timer.id.in_(_ids()))))
        .order_by(StageRun.id)
        .with_for_update(read=True, of=StageRun)
        .execution_options(populate_existing=True)
    )


def _fire_timers(clock_column: Any, postgres: bool) -> Any:
    columns = [Timer, clock_column]
    if postgres:
        # SET LOCAL synchronous_commit TO OFF in the same round trip: the firing's COMMIT does not
        # wait for the disk. A database crash may lose the last fraction of a second of firings; their
        # claims (committed durably by the scheduler) run out and they are fired again: a resend under
        # the same idempotency key and Message-ID, never a loss (the window `deliver` documents).
        columns.append(func.set_config("synchronous_commit", "off", True))
    return (
        select(*columns)
        .where(Timer.id.in_(_ids()))
        .order_by(Timer.fire_at, Timer.id)
        .with_for_update(skip_locked=True, of=Timer)
        .execution_options(populate_existing=True)
    )


def _deliver_claim(postgres: bool, db_clock: bool, one: bool = False) -> Any:
    """Claim prepared notices for sending: still queued, and their incident (and stage) still open.
    `one`: a single notice by `notice_id`, as a firing task sends them. Its text is the same every time, so
    it is converted once and prepared by the database, where a list of ids is written out anew for
    each execution."""
    table = Notice.__table__
    stage_open = or_(
        Timer.stage_run_id.is_(None),
        exists().where(StageRun.id == Timer.stage_run_id, StageRun.state == "active"),
    )
    still_due = exists().where(
        Timer.id == table.c.timer_id,
        Incident.id == table.c.incident_id,
        or_(
            and_(Timer.kind == "review_due", Incident.state == "resolved"),
            and_(Timer.kind != "review_due", Incident.state == "active", stage_open),
        ),
    )
    returning: list[Any] = [table.c.id]
    if postgres:
        returning.append(func.set_config("synchronous_commit", "off", True))
    sent_at = func.clock_timestamp(type_=UTCDateTime()) if db_clock else bindparam("sent_at", type_=UTCDateTime())
    # A retry not yet due is not sent (a coarse check, as in `deliver`).
    due_by = (
        func.clock_timestamp() + literal(timedelta(seconds=1), Interval())
        if db_clock
        else bindparam("due_by", type_=UTCDateTime())
    )
    return (
        update(table)
        .where(
            table.c.id == bindparam("notice_id") if one else table.c.id.in_(_ids()),
            table.c.status == "queued",
            table.c.next_attempt_at <= due_by,
            still_due,
        )
        .values(status="sent", sent_at=sent_at, attempts=table.c.attempts + 1, last_error="")
        .returning(*returning)
    )


def _fire_notices() -> Any:
    """INSERT a batch's notices from one JSON parameter, typed by the table itself (PostgreSQL). As
    many parameters as columns times notices (a VALUES list) is past what psycopg keeps converted
    (50): it parsed that statement's text again for every firing, a tenth of a deadline's
    instructions (`fire_profile.py`). RETURNING key and id: the caller matches each row to its notice."""
    table = Notice.__table__
    names = [column.name for column in table.columns if column.key != "id"]
    records = func.jsonb_populate_recordset(
        literal_column(f"NULL::{Notice.__tablename__}"), cast(bindparam("rows", type_=String()), JSONB)
    ).table_valued(*names)
    return (
        insert(table)
        .from_select(names, select(*(records.c[name] for name in names)))
        .returning(table.c.idempotency_key, table.c.id)
    )


def _fire_write() -> Any:
    """Everything a firing writes, in one statement (PostgreSQL, on the driver): its timers marked
    fired, its timeline events (from a JSON array, in its order: their ids ascend as they were
    appended) and its notices (`_fire_notices`). Data-modifying CTEs run once, to completion."""
    timers = Timer.__table__
    ids = bindparam("ids", type_=ARRAY(Integer))
    fired = (
        update(timers)
        .where(timers.c.id == any_(ids))
        .values(state="fired", fired_at=bindparam("moment", type_=UTCDateTime()))
        .cte("fired")
    )
    table = TimelineEvent.__table__
    names = [column.name for column in table.columns if column.key != "id"]
    records = func.jsonb_populate_recordset(
        literal_column(f"NULL::{table.name}"), cast(bindparam("events", type_=String()), JSONB)
    ).table_valued(*names, with_ordinality="ordinality")  # PostgreSQL's own name for it
    events = (
        insert(table)
        .from_select(names, select(*(records.c[name] for name in names)).order_by(records.c.ordinality))
        .cte("events")
    )
    return _fire_notices().add_cte(fired, events)


_ON_DRIVER = {"fire.write.pg"}  # run only through crisis.prepared, on psycopg (its ids are an array parameter)

_BUILDERS: dict[str, Callable[[], Any]] = {
    "fire.incidents": _fire_incidents,
    "fire.runs": _fire_runs,
    "fire.timers": lambda: _fire_timers(literal(None), postgres=False),
    "fire.timers.pg": lambda: _fire_timers(literal(None), postgres=True),
    "fire.timers.pg.clock": lambda: _fire_timers(func.clock_timestamp(type_=UTCDateTime()), postgres=True),
    "fire.users": lambda: (
        select(User).where(User.id.in_(_ids())).options(joinedload(User.memberships).joinedload(Membership.unit))
    ),
    "fire.notices.pg": _fire_notices,
    "fire.write.pg": _fire_write,
    "fire.webhooks": lambda: (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.unit_id.in_(_ids()), WebhookEndpoint.active)
        .options(joinedload(WebhookEndpoint.unit))
        .order_by(WebhookEndpoint.id)
    ),
    "deliver.claim": lambda: _deliver_claim(postgres=False, db_clock=False),
    "deliver.claim.pg": lambda: _deliver_claim(postgres=True, db_clock=True),
    "deliver.claim.pg.one": lambda: _deliver_claim(postgres=True, db_clock=True, one=True),
    "deliver.claim.pg_at": lambda: _deliver_claim(postgres=True, db_clock=False),
}


def warm_up(*, session: Session) -> None:
    """Run each hot statement once on ids that do not exist; the caller rolls back. SQLAlchemy
    compiles them, and this process's database backend loads the catalog entries of their tables
    and indexes: otherwise the first deadlines after a worker starts pay for both (benchmarks/engine)."""
    postgres = is_postgres(session)
    for name in _BUILDERS:
        if (".pg" in name and not postgres) or name in _ON_DRIVER:
            continue
        params = (
            {"ids": [0], "rows": "[]"}  # "rows": no notice written
            if name.startswith("fire.")
            else {"ids": [0], "notice_id": 0, "sent_at": clock.now(), "due_by": clock.now()}
        )
        session.execute(hot_statement(name), params).all()
    dialect = session.get_bind().dialect
    if dialect.driver == "psycopg":
        # A firing task's per-notice claim runs on the driver (delivery.send_prepared): its text is
        # converted now, and prepared on this connection, which the pool hands to that task.
        sql, fixed = driver_statement("deliver.claim.pg.one", dialect)
        driver = session.connection().connection.dbapi_connection
        assert driver is not None  # nosec B101  # type narrowing: a connection in use has one
        with driver.cursor() as cursor:
            cursor.execute(sql, {**fixed, "notice_id": 0}, prepare=True)
    notify.channels_for(session, [0])  # the firing's channel preferences, a statement of crisis.notify
    rows.warm_up(session)  # the firing's reads on the driver
    if prepared.usable(session):  # and its writes: nothing, with no ids, events or notices
        params = {"ids": [0], "moment": clock.now(), "events": "[]", "rows": "[]"}
        prepared.fetch(session, "fire.write.pg", _fire_write, params)
