"""A drill's injects: planned as timers when the exercise starts, fired by the deadline engine at
their times to the roles the scenario names, on their channels, every subject marked [LATIHAN]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crisis.escalation.models import Timer
from crisis.exercises import service as exercises
from crisis.extensions import db as _db
from crisis.notify.models import Notice
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.helpers import wait_until

T0 = FIXED_NOW
M = timedelta(minutes=1)


def _start(session, org, *, now, scenario="hoax-pdam-water"):
    exercise = exercises.start(
        session=session,
        actor=org["users"][("KOTA-SEMARANG", "supervisor")],
        scenario_key=scenario,
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        other_unit_ids=[org["units"]["JATENG"].id],
        now=now,
    )
    session.commit()
    return exercise


def test_starting_a_drill_plans_one_timer_per_inject_at_its_time(db, org):
    exercise = _start(db.session, org, now=T0)
    incident = exercise.incident
    assert incident.exercise_id == exercise.id and incident.title.startswith("[LATIHAN] ")
    injects = db.session.scalars(
        select(Timer).where(Timer.incident_id == incident.id, Timer.kind == "inject").order_by(Timer.step_index)
    ).all()
    assert [t.fire_at - T0 for t in injects] == [10 * M, 25 * M, 40 * M, 60 * M]
    assert [i.unit.code for i in incident.involved] == ["JATENG"]


def test_an_inject_reaches_the_named_roles_at_its_time_marked_latihan(db, org, smtp):
    exercise = _start(db.session, org, now=T0)
    incident = exercise.incident
    tick(db.session, T0 + 9 * M)
    assert not db.session.scalars(select(Notice).where(Notice.kind == "inject")).all()
    tick(db.session, T0 + 10 * M)
    notices = db.session.scalars(select(Notice).where(Notice.kind == "inject", Notice.incident_id == incident.id)).all()
    # +10m names the commander (the supervisor who started it) and the unit's duty officer.
    people = {n.recipient.email for n in notices}
    assert people == {
        org["users"][("KOTA-SEMARANG", "supervisor")].email,
        org["users"][("KOTA-SEMARANG", "officer")].email,
    }
    inbox = [m for m in smtp.messages if "stasiun TV nasional" in m["message"].get_body(("plain",)).get_content()]
    assert inbox and all(m["subject"].startswith("[LATIHAN] ") for m in inbox)
    # Every e-mail of the drill says so, escalations of its stages included.
    tick(db.session, T0 + 70 * M)
    drill = [m for m in smtp.messages]
    assert len(drill) > len(inbox) and all(m["subject"].startswith("[LATIHAN] ") for m in drill)
    head = org["users"][("KOTA-SEMARANG", "head")].email
    assert any(head in m["to"] and "Kantor Bupati" in m["message"].get_body(("plain",)).get_content() for m in drill)


def test_ending_the_drill_cancels_the_injects_not_yet_sent(db, org, smtp):
    exercise = _start(db.session, org, now=T0)
    tick(db.session, T0 + 10 * M)
    exercises.end(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "supervisor")],
        exercise_id=exercise.id,
        now=T0 + 12 * M,
    )
    db.session.commit()
    tick(db.session, T0 + 2 * 60 * M)
    states = db.session.scalars(
        select(Timer.state)
        .where(Timer.incident_id == exercise.incident.id, Timer.kind == "inject")
        .order_by(Timer.step_index)
    ).all()
    assert states == ["fired", "cancelled", "cancelled", "cancelled"]
    assert exercise.incident.state == "resolved"


@pytest.mark.slow
@pytest.mark.real_clock
def test_a_drill_runs_end_to_end_with_injects_arriving_by_email_on_time(stack, org):
    """Real scheduler and worker processes: the drill is started so that its +10m and +25m injects
    fall due 3 and 6 seconds from now; each arrives by e-mail within a second and a half of its time."""
    stack.start()
    now = datetime.now(UTC)
    start = now - 10 * M + timedelta(seconds=3)
    exercise = exercises.start(
        session=_db.session,
        actor=org["users"][("KOTA-SEMARANG", "supervisor")],
        scenario_key="hoax-pdam-water",
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        now=start,
    )
    _db.session.commit()
    first, second = start + 10 * M, start + 25 * M  # the second is 15 minutes later: not in this test
    officer = org["users"][("KOTA-SEMARANG", "officer")].email

    def arrived():
        return [
            m
            for m in stack.smtp.messages
            if officer in m["to"] and "stasiun TV nasional" in m["message"].get_body(("plain",)).get_content()
        ]

    assert wait_until(lambda: arrived(), timeout=30)
    [message] = arrived()
    assert message["subject"].startswith("[LATIHAN] ")
    lateness = message["arrived"] - first.timestamp()
    assert -0.05 <= lateness < 1.5, lateness
    _db.session.expire_all()
    timers = _db.session.scalars(
        select(Timer)
        .where(Timer.incident_id == exercise.incident.id, Timer.kind == "inject")
        .order_by(Timer.step_index)
    ).all()
    assert timers[0].state == "fired" and timers[1].state == "pending" and timers[1].fire_at == second
