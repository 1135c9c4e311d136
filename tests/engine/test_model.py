"""A state machine over random interleavings of stage changes, acknowledgements, scheduler ticks,
crashes, redelivered messages and the clock: the e-mails the SMTP server receives are exactly
the ones a simple model of the engine expects, each once."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from sqlalchemy import delete, select

from crisis.escalation import acknowledgement, delivery, firing
from crisis.escalation.models import Timer
from crisis.incidents.models import Incident, StageRun
from crisis.notify.models import ChannelPreference, Notice
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import complete_stage, open_incident

M = timedelta(minutes=1)
LEASE = timedelta(seconds=30)
# viral-service-complaint at severity 2 (the factory's), stages 0 and 1: (after, repeat every, max, selectors)
STEPS = {
    0: [(15 * M, 15 * M, 3, ("supervisor",)), (45 * M, 30 * M, 2, ("head",))],
    1: [(30 * M, 30 * M, 2, ("head",))],
}
TARGET = {0: 30 * M, 1: 60 * M}
UPDATE_EVERY = timedelta(hours=24)

Identity = tuple[Any, ...]  # (stage position | None, kind, step index | None, repeat index)


class Model:
    """What the engine should do, in plain Python."""

    def __init__(self, start: datetime, people: dict[str, int]) -> None:
        self.people = people
        self.stage: int | None = 0
        self.pending: dict[Identity, datetime] = {}
        self.claimed: dict[Identity, datetime] = {}  # claimed, message lost: identity -> claimed at
        self.queued: list[tuple[Identity, int, datetime]] = []  # written, message lost
        self.expected: list[tuple[Identity, int]] = []
        self.acked: set[tuple[int, int]] = set()
        self.starts: dict[int, datetime] = {}
        self._plan_stage(0, start)
        self.pending[(None, "update_due", None, 0)] = start + UPDATE_EVERY

    def _plan_stage(self, stage: int, start: datetime) -> None:
        self.starts[stage] = start
        self.pending[(stage, "stage_due", None, 0)] = start + TARGET[stage]
        for index, (after, _every, _max, _who) in enumerate(STEPS[stage]):
            self.pending[(stage, "escalation_step", index, 0)] = start + after

    def _fire_at(self, identity: Identity) -> datetime:
        stage, kind, step, repeat = identity
        if kind == "escalation_step":
            after, every, _max, _who = STEPS[stage][step]
            return self.starts[stage] + after + every * repeat
        return self.pending.get(identity) or datetime.min

    def _relevant(self, identity: Identity) -> bool:
        return identity[0] is None or identity[0] == self.stage

    def _recipients(self, identity: Identity) -> list[int]:
        stage, kind, step, _repeat = identity
        if kind in ("stage_due", "update_due"):
            return [self.people["commander"]]
        return [self.people[role] for role in STEPS[stage][step][3]]

    def _fire(self, identity: Identity, fire_at: datetime) -> list[tuple[Identity, int]]:
        if not self._relevant(identity):
            return []
        stage, kind, step, repeat = identity
        if kind == "escalation_step":
            _after, every, most, _who = STEPS[stage][step]
            if repeat < most:
                nxt = (stage, kind, step, repeat + 1)
                self.pending[nxt] = self.starts[stage] + STEPS[stage][step][0] + every * (repeat + 1)
        elif kind == "update_due":
            self.pending[(None, kind, None, repeat + 1)] = fire_at + UPDATE_EVERY
        return [(identity, user) for user in self._recipients(identity)]

    def _due(self, now: datetime) -> list[tuple[Identity, datetime]]:
        due = [(i, self.fire_ats[i]) for i, at in self.claimed.items() if at <= now - LEASE]
        due += [(i, at) for i, at in self.pending.items() if at <= now]
        for identity, _ in due:
            self.claimed.pop(identity, None)
            self.pending.pop(identity, None)
        return sorted(due, key=lambda pair: pair[1])

    fire_ats: dict[Identity, datetime]

    def tick(self, now: datetime) -> None:
        for identity, fire_at in self._due(now):
            self.expected += self._fire(identity, fire_at)
        self._deliver_queued(lambda enqueued: enqueued <= now - LEASE)

    def claim_crash(self, now: datetime) -> None:
        for identity, fire_at in self._due(now):
            self.fire_ats[identity] = fire_at
            self.claimed[identity] = now

    def fire_crash(self, now: datetime) -> None:
        for identity, fire_at in self._due(now):
            self.queued += [(i, user, now) for i, user in self._fire(identity, fire_at)]

    def redeliver(self) -> None:
        for identity in sorted(self.claimed, key=lambda i: self.fire_ats[i]):
            self.expected += self._fire(identity, self.fire_ats[identity])
        self.claimed.clear()
        self._deliver_queued(lambda enqueued: True)

    def _deliver_queued(self, ready: Any) -> None:
        keep = []
        for identity, user, enqueued in self.queued:
            if not ready(enqueued):
                keep.append((identity, user, enqueued))
            elif self._relevant(identity):
                self.expected.append((identity, user))
        self.queued = keep

    def complete(self, now: datetime) -> None:
        done = self.stage
        for table in (self.pending, self.claimed):
            for identity in [i for i in table if i[0] == done]:
                del table[identity]
        self.stage = 1 if done == 0 else None
        if self.stage == 1:
            self._plan_stage(1, now)

    def ack(self, stage: int, step: int) -> None:
        self.acked.add((stage, step))
        for table in (self.pending, self.claimed):
            for identity in [i for i in table if i[0] == stage and i[1] == "escalation_step" and i[2] == step]:
                del table[identity]


def test_notices_sent_equal_the_models_expected_set(db, org, smtp):
    from crisis.notify import service as notify

    people = {
        "supervisor": org["users"][("KOTA-SEMARANG", "supervisor")].id,
        "head": org["users"][("KOTA-SEMARANG", "head")].id,
        "commander": org["users"][("KOTA-SEMARANG", "officer")].id,
    }
    session = db.session

    class EngineMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            for table in (Notice, Timer, TimelineEvent, ChannelPreference, StageRun, Incident):
                session.execute(delete(table))
            session.commit()
            for user_id in people.values():  # e-mail only: the SMTP server sees every notice
                notify.set_preferences(
                    session=session,
                    user=session.get(type(org["users"][("PUSAT", "head")]), user_id),
                    choices={"inapp": False},
                )
            smtp.recorder.messages.clear()
            self.now = FIXED_NOW
            self.incident = open_incident(session, org, now=self.now)
            session.commit()
            self.model = Model(self.now, people)
            self.model.fire_ats = {}

        @rule(minutes=st.integers(min_value=1, max_value=40))
        def advance(self, minutes: int) -> None:
            self.now += minutes * M

        @rule()
        def scheduler_tick(self) -> None:
            tick(session, self.now, lease=LEASE.total_seconds())
            self.model.tick(self.now)

        @rule()
        def claim_then_crash(self) -> None:
            firing.claim_due(session=session, now=self.now, lease=LEASE.total_seconds())
            session.commit()
            self.model.claim_crash(self.now)

        @rule()
        def fire_then_crash(self) -> None:
            for claimed in firing.claim_due(session=session, now=self.now, lease=LEASE.total_seconds()):
                session.commit()
                firing.fire_timer(session=session, timer_id=claimed.id, now=self.now)
                session.commit()
            session.commit()
            self.model.fire_crash(self.now)

        @rule()
        def redeliver_everything(self) -> None:
            timers = session.scalars(
                select(Timer.id).where(Timer.state.in_(("claimed", "fired"))).order_by(Timer.fire_at, Timer.id)
            ).all()
            for timer_id in timers:
                for notice_id in firing.fire_timer(session=session, timer_id=timer_id, now=self.now):
                    session.commit()
                    delivery.deliver(session=session, notice_id=notice_id, now=self.now)
                session.commit()
            for notice_id in session.scalars(select(Notice.id).order_by(Notice.id)).all():
                delivery.deliver(session=session, notice_id=notice_id, now=self.now)
                session.commit()
            self.model.redeliver()

        @precondition(lambda self: self.model.stage is not None)
        @rule()
        def complete_current_stage(self) -> None:
            run = self.incident.current_stage
            complete_stage(session, run, now=self.now, start_next=run.position == 0)
            session.commit()
            self.model.complete(self.now)

        @rule(pick=st.integers(min_value=0, max_value=1000))
        def acknowledge(self, pick: int) -> None:
            sent = session.scalars(
                select(Notice)
                .join(Timer, Notice.timer_id == Timer.id)
                .where(Notice.status == "sent", Timer.kind == "escalation_step")
                .order_by(Notice.id)
            ).all()
            if not sent:
                return
            notice = sent[pick % len(sent)]
            acknowledgement.acknowledge(session=session, notice_id=notice.id, actor=None, now=self.now)
            session.commit()
            self.model.ack(notice.timer.stage_run.position, notice.timer.step_index)

        def teardown(self) -> None:
            session.rollback()

        def check(self) -> None:
            received = Counter()
            for message in smtp.messages:
                notice = session.get(Notice, message["notice_id"])
                timer = notice.timer
                position = timer.stage_run.position if timer.stage_run_id else None
                identity = (position, timer.kind, timer.step_index, timer.repeat_index)
                received[(identity, notice.recipient_user_id)] += 1
            assert received == Counter(self.model.expected)

        from hypothesis.stateful import invariant

        @invariant()
        def sent_equals_expected(self) -> None:
            self.check()

    run_state_machine_as_test(
        EngineMachine,
        settings=settings(
            max_examples=int(os.environ.get("CRISIS_MODEL_EXAMPLES", 150)),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
