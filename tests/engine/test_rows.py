"""The firing's rows read on the driver (`escalation.rows`) are the objects the ORM statements load."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from crisis import prepared
from crisis.auth.models import Membership, User
from crisis.escalation import firing, queries, rows
from crisis.escalation.models import Timer
from crisis.extensions import db as _db
from crisis.incidents.models import Incident, StageRun
from crisis.units.models import Unit
from tests.conftest import FIXED_NOW
from tests.factories import open_incident

NOW = FIXED_NOW
M = timedelta(minutes=1)


def _columns(obj) -> dict:
    return {prop.key: obj.__dict__[prop.key] for prop in obj.__mapper__.column_attrs if prop.key in obj.__dict__}


def _described(incidents, runs, timers) -> dict:
    """What a batch's objects hold: their columns, and those of the objects they lead to."""
    return {
        "incidents": {i.id: _columns(i) for i in incidents.values()},
        "units": {i.id: _columns(i.unit) for i in incidents.values()},
        "commanders": {i.id: _columns(i.commander) for i in incidents.values()},
        "memberships": {
            i.id: [(_columns(m), _columns(m.unit)) for m in i.commander.memberships] for i in incidents.values()
        },
        "runs": {r.id: _columns(r) for r in runs.values()},
        "timers": [_columns(t) for t in timers],
    }


def _claimed(db, org) -> list[int]:
    incidents = [
        open_incident(db.session, org, now=NOW, unit=unit, commander=(unit, "head"), severity=severity)
        for unit in ("KOTA-SEMARANG", "KAB-BANYUMAS")
        for severity in (2, 3)
    ]
    db.session.commit()
    claimed = firing.claim_due(session=db.session, now=NOW + 45 * M, limit=1000)
    db.session.commit()
    wanted = {incident.id for incident in incidents}
    ids = [c.id for c in claimed if db.session.get(Timer, c.id).incident_id in wanted]
    db.session.commit()
    return ids


def _orm(session: Session, ids: list[int]):
    params = {"ids": ids}
    incidents = {i.id: i for i in session.scalars(queries.hot_statement("fire.incidents"), params).unique()}
    runs = {r.id: r for r in session.scalars(queries.hot_statement("fire.runs"), params)}
    timers = [row[0] for row in session.execute(queries.hot_statement("fire.timers.pg.clock"), params)]
    return incidents, runs, timers


def test_the_rows_are_the_objects_the_orm_statements_load(app, db, org):
    ids = _claimed(db, org)
    assert len(ids) >= 8
    engine = _db.engine
    with Session(engine) as orm_session:
        incidents, runs, timers = _orm(orm_session, ids)
        expected = _described(incidents, runs, timers)
        orm_session.rollback()

    queries_seen: list[str] = []

    def seen(conn, cursor, statement, *_rest):
        queries_seen.append(statement)

    with Session(engine) as session:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            incidents, runs, pairs = rows.load_batch(session, ids, with_clock=True)
            got = _described(incidents, runs, [timer for timer, _clock in pairs])
            # Relationships come from the session, without a query: the incident's unit and commander,
            # the membership's unit, the stage run's and the timer's incident.
            assert all(run.incident is incidents[run.incident_id] for run in runs.values())
            assert all(timer.incident is incidents[timer.incident_id] for timer, _clock in pairs)
            assert all(timer.stage_run is runs[timer.stage_run_id] for timer, _clock in pairs if timer.stage_run_id)
            assert queries_seen == []
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert got == expected
        assert all(clock is not None and clock.tzinfo is not None for _timer, clock in pairs)
        # Timestamps are read as the app's type reads them: aware, in UTC.
        assert all(t.fire_at.utcoffset() == timedelta(0) for t, _clock in pairs)
        # The snapshot was not read; asked for, it loads, as the deferred column did.
        incident = next(iter(incidents.values()))
        assert "playbook_snapshot" not in incident.__dict__
        assert incident.playbook_snapshot["stages"]
        session.rollback()


def test_an_object_made_from_a_row_is_written_by_the_session_like_a_loaded_one(app, db, org):
    ids = _claimed(db, org)
    with Session(_db.engine) as session:
        _incidents, _runs, pairs = rows.load_batch(session, ids, with_clock=False)
        assert all(clock is None for _timer, clock in pairs)
        timer = pairs[0][0]
        timer_id = timer.id
        assert timer in session and not session.dirty
        timer.state, timer.cancel_reason = "cancelled", "test"
        assert list(session.dirty) == [timer]
        session.commit()
    db.session.expire_all()
    row = db.session.get(Timer, timer_id)
    assert (row.state, row.cancel_reason) == ("cancelled", "test")


def test_objects_the_session_holds_get_the_rows_values(app, db, org):
    ids = _claimed(db, org)
    session = db.session
    timer = session.get(Timer, ids[0])
    incident = session.get(Incident, timer.incident_id)
    unit = session.get(Unit, incident.unit_id)
    title, unit_name = incident.title, unit.name
    incident.title, unit.name, timer.state = "belum disimpan", "belum disimpan", "pending"  # not flushed
    with session.no_autoflush:
        incidents, runs, pairs = rows.load_batch(session, ids, with_clock=False)
    # The same objects, with what the database holds (as populate_existing gave them).
    assert incidents[incident.id] is incident and incident.title == title
    assert incident.unit is unit and unit.name == unit_name
    assert next(t for t, _clock in pairs if t.id == timer.id) is timer and timer.state == "claimed"
    assert not any(session.is_modified(obj) for obj in (incident, unit, timer))  # nothing left to write
    assert all(isinstance(run, StageRun) for run in runs.values())
    session.rollback()


def test_a_commander_without_units(app, db, org):
    ids = _claimed(db, org)
    other = db.session.get(Incident, db.session.get(Timer, ids[-1]).incident_id)
    other_id = other.id
    loner = User(email="sendiri@example.go.id", name="Tanpa Unit", language="en", password_hash="-")
    db.session.add(loner)
    db.session.flush()
    other.commander_id = loner.id
    db.session.commit()
    db.session.expunge_all()
    with Session(_db.engine) as session:
        incidents, _runs, _pairs = rows.load_batch(session, ids, with_clock=True)
        assert incidents[other_id].commander.memberships == []
        assert incidents[other_id].commander.timezone == "Asia/Jakarta"
        session.rollback()
    # And the firing itself goes on: the batch fires.
    assert firing.fire_timers(session=db.session, timer_ids=ids, now=NOW + 45 * M)
    db.session.commit()
    assert set(db.session.scalars(select(Timer.state).where(Timer.id.in_(ids)))) == {"fired"}


def test_memberships_keep_their_order(app, db, org):
    ids = _claimed(db, org)
    incident = db.session.get(Incident, db.session.get(Timer, ids[0]).incident_id)
    incident_id, commander = incident.id, incident.commander
    extra = Membership(user_id=commander.id, unit_id=org["units"]["JATENG"].id, role="officer")
    db.session.add(extra)
    db.session.commit()
    expected = [m.id for m in commander.memberships]
    assert len(expected) >= 2
    db.session.expunge_all()
    with Session(_db.engine) as session:
        incidents, _runs, _pairs = rows.load_batch(session, ids, with_clock=True)
        assert [m.id for m in incidents[incident_id].commander.memberships] == expected
        session.rollback()


def test_the_writes_on_the_driver_are_what_the_session_path_writes(app, db, org, monkeypatch):
    """The same firing written both ways (`firing._write_on_driver`, and the statements SQLite runs):
    the same timers fired, the same timeline events in the same order, the same notices."""
    from crisis.notify.models import Notice
    from crisis.timeline.models import TimelineEvent

    def group(title: str) -> list[int]:
        made = [
            open_incident(db.session, org, now=NOW, unit=unit, commander=(unit, "officer"), severity=2, title=title)
            for unit in ("KOTA-SEMARANG", "KAB-BANYUMAS")  # Banyumas' empty roster: fallback events too
        ]
        db.session.commit()
        return [incident.id for incident in made]

    groups = {"driver": group("lewat driver"), "session": group("lewat sesi")}
    at = NOW + 45 * M
    claimed = firing.claim_due(session=db.session, now=at, limit=1000)
    db.session.commit()
    owner = dict(db.session.execute(select(Timer.id, Timer.incident_id)).all())
    outcome = {}
    for way, incident_ids in groups.items():
        ids = [c.id for c in claimed if owner[c.id] in incident_ids]
        with monkeypatch.context() as patch:
            if way == "session":
                patch.setattr(prepared, "usable", lambda session: False)
            firing.fire_timers(session=db.session, timer_ids=ids, now=at)
        db.session.commit()
        place = {incident_id: n for n, incident_id in enumerate(incident_ids)}
        events = db.session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.subject_id.in_(incident_ids), TimelineEvent.kind.like("escalation.%"))
            .order_by(TimelineEvent.id)
        ).all()
        notices = db.session.scalars(select(Notice).where(Notice.incident_id.in_(incident_ids))).all()
        states = db.session.scalars(select(Timer.state).where(Timer.id.in_(ids))).all()
        outcome[way] = {
            "events": [
                (place[e.subject_id], e.kind, e.occurred_at, {k: v for k, v in e.data.items() if k != "timer_id"})
                for e in events
            ],
            "notices": sorted(
                (place[n.incident_id], n.channel, n.recipient_user_id, n.status, n.due_at, n.payload["kind"])
                for n in notices
            ),
            "states": sorted(states),
        }
    assert outcome["driver"]["events"] and any(
        kind == "escalation.fallback" for _p, kind, *_r in outcome["driver"]["events"]
    )
    assert outcome["driver"] == outcome["session"]
    assert set(outcome["driver"]["states"]) == {"fired"}
