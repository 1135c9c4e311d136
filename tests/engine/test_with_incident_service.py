"""The incident workflow calls the engine's hooks in its own transactions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crisis.escalation.models import Timer
from crisis.incidents import service as incidents
from crisis.notify.models import Notice
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import close_required, escalate, log_issue

T0 = FIXED_NOW


def _open(db, org):
    incident = escalate(db.session, org, log_issue(db.session, org, now=T0), now=T0)
    db.session.commit()
    return incident


def test_escalating_an_issue_plans_timers_and_completing_the_stage_cancels_them(db, org, smtp):
    incident = _open(db, org)
    first = incident.stage_runs[0]
    planned = db.session.scalars(select(Timer).where(Timer.stage_run_id == first.id, Timer.state == "pending")).all()
    assert {t.kind for t in planned} == {"stage_due", "escalation_step"}
    assert db.session.scalar(select(Timer).where(Timer.kind == "update_due", Timer.state == "pending"))
    step = min(t.fire_at for t in planned)
    tick(db.session, step)
    assert smtp.messages and all(n.status == "sent" for n in db.session.scalars(select(Notice)))
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    close_required(db.session, officer, first, now=step)
    incidents.complete_stage(session=db.session, actor=officer, stage_run_id=first.id, now=step)
    db.session.commit()
    assert (
        db.session.scalars(
            select(Timer).where(Timer.stage_run_id == first.id, Timer.state.in_(("pending", "claimed")))
        ).all()
        == []
    )
    second = incident.stage_runs[1]
    assert db.session.scalars(select(Timer).where(Timer.stage_run_id == second.id, Timer.state == "pending")).all()


def test_cancelling_a_false_alarm_through_the_workflow_leaves_no_timer(db, org):
    incident = _open(db, org)
    incidents.cancel(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "head")],
        incident_id=incident.id,
        reason="Bukan hoaks: sumber resmi.",
        now=T0 + timedelta(minutes=5),
    )
    db.session.commit()
    assert db.session.scalars(select(Timer).where(Timer.state.in_(("pending", "claimed")))).all() == []
