"""Firing in batches: the same notices as one by one, for a handful of queries per batch."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from crisis import mail, prepared
from crisis.escalation import delivery, firing, planning, queries, rows
from crisis.escalation.models import Timer
from crisis.extensions import db as _db
from crisis.notify.models import Notice
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.factories import open_incident

NOW = FIXED_NOW
M = timedelta(minutes=1)
UNITS = [
    ("KOTA-SEMARANG", ("KOTA-SEMARANG", "officer")),
    ("KOTA-MAKASSAR", ("KOTA-MAKASSAR", "officer")),
    ("KAB-BANYUMAS", ("KAB-BANYUMAS", "officer")),
]


def _open_group(db, org, title: str) -> list[int]:
    ids = []
    for unit, commander in UNITS:
        for severity in (2, 3):
            incident = open_incident(
                db.session, org, now=NOW, unit=unit, commander=commander, severity=severity, title=title
            )
            ids.append(incident.id)
    db.session.commit()
    return ids


def _claim(db, incident_ids: list[int], at) -> list[int]:
    claimed = firing.claim_due(session=db.session, now=at, limit=1000)
    db.session.commit()
    wanted = set(incident_ids)
    mine = set(db.session.scalars(select(Timer.id).where(Timer.incident_id.in_(wanted))))
    return [c.id for c in claimed if c.id in mine]


def _outcome(db, incident_ids: list[int]) -> Counter:
    """What the firing produced, independent of row ids: (unit, kind, step, repeat, recipient, channel)."""
    rows = db.session.execute(
        select(
            Notice.incident_id,
            Timer.kind,
            Timer.step_index,
            Timer.repeat_index,
            Notice.recipient_user_id,
            Notice.webhook_id,
            Notice.channel,
            Notice.status,
        )
        .join(Timer, Timer.id == Notice.timer_id)
        .where(Notice.incident_id.in_(incident_ids))
    ).all()
    position = {incident_id: index for index, incident_id in enumerate(incident_ids)}
    produced = Counter((position[r[0]], *r[1:]) for r in rows)
    events = db.session.execute(
        select(TimelineEvent.subject_id, TimelineEvent.kind).where(
            TimelineEvent.subject_id.in_(incident_ids), TimelineEvent.kind.like("escalation.%")
        )
    ).all()
    produced.update(("event", position[subject], kind) for subject, kind in events)
    following = db.session.execute(
        select(Timer.incident_id, Timer.kind, Timer.step_index, Timer.repeat_index, Timer.fire_at).where(
            Timer.incident_id.in_(incident_ids), Timer.state == "pending"
        )
    ).all()
    produced.update(("pending", position[r[0]], *r[1:]) for r in following)
    return produced


def test_a_batch_fires_exactly_what_firing_one_by_one_fires(db, org):
    one_by_one = _open_group(db, org, "satu per satu")
    batched = _open_group(db, org, "sekaligus")
    at = NOW + 45 * M  # stage due, supervisor and head steps (with fallbacks in Banyumas' empty roster)
    due = _claim(db, one_by_one + batched, at)
    singles = [t for t in due if db.session.get(Timer, t).incident_id in one_by_one]
    together = [t for t in due if t not in singles]
    assert len(singles) == len(together) >= 12

    for timer_id in singles:
        firing.fire_timer(session=db.session, timer_id=timer_id, now=at)
        db.session.commit()
    queued = firing.fire_timers(session=db.session, timer_ids=together, now=at)
    db.session.commit()

    expected, got = _outcome(db, one_by_one), _outcome(db, batched)
    assert got == expected
    assert sum(n for key, n in got.items() if key[0] == "event" and key[2] == "escalation.fallback") > 0
    assert len(queued) == sum(
        n for key, n in got.items() if key[0] != "event" and key[0] != "pending" and key[6] != "inapp"
    )
    # A second delivery of the same batch (a redelivered message) does nothing.
    assert firing.fire_timers(session=db.session, timer_ids=together, now=at) == []


def test_a_batch_costs_the_same_queries_whatever_its_size(app, db, org):
    small = _open_group(db, org, "kecil")
    large = [incident for n in range(5) for incident in _open_group(db, org, f"besar {n}")]
    at = NOW + 45 * M
    due = _claim(db, small + large, at)
    owner = dict(db.session.execute(select(Timer.id, Timer.incident_id).where(Timer.id.in_(due))).all())
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = _db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        counts = []
        for group in (small, large):
            ids = [t for t in due if owner[t] in group]
            statements.clear()
            firing.fire_timers(session=db.session, timer_ids=ids, now=at)
            db.session.commit()
            counts.append((len(ids), len(statements)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    (small_timers, small_queries), (large_timers, large_queries) = counts
    assert large_timers >= 5 * small_timers
    # Lookups per unit and role are made once per batch: five times the timers in the same units
    # cost no more queries.
    assert large_queries <= small_queries + 2, counts


def test_subjects_are_encoded_words_that_read_back_and_cannot_inject_headers(app):
    subject = "[SEV 4] KAB-BANYUMAS · Pernyataan “siaga” — terlambat " * 6 + "\r\nBcc: eve@example.org"
    with app.app_context():
        sealed = mail.envelope(
            mail.compose(to=[("Sri\r\nBcc: eve@example.org", "a@example.org")], subject=subject, text="body")
        )
    head = sealed.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"=?utf-8?" in head  # RFC 2047 encoded words
    message = email.message_from_bytes(sealed.data, policy=email.policy.default)
    assert message["Bcc"] is None and sealed.recipients == ("a@example.org",)
    assert str(message["Subject"]) == " ".join(subject.splitlines())  # every space kept
    assert message["To"].addresses[0].display_name == "Sri Bcc: eve@example.org"
    for short in ("[SEV 2] KOTA-SEMARANG · Verifikasi fakta", "plain ascii subject"):
        with app.app_context():
            data = mail.envelope(mail.compose(to=["a@example.org"], subject=short, text="body")).data
        assert str(email.message_from_bytes(data, policy=email.policy.default)["Subject"]) == short
    assert b"\r\nSubject: plain ascii subject\r\n" in b"\r\n" + data  # ASCII as it is


def _bulk(incident, count: int, start, kind: str = "stage_due") -> list[dict]:
    run = incident.stage_runs[0]
    return [
        {"incident_id": incident.id, "stage_run_id": run.id, "kind": kind, "fire_at": start + i * M}
        for i in range(count)
    ]


def test_many_timers_are_written_at_once_and_claimed_like_any_other(db, org):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Timer))
    written = planning.schedule_timers(session=db.session, timers=_bulk(incident, 500, NOW + 60 * M), now=NOW)
    db.session.commit()
    assert written == 500
    assert db.session.scalar(select(func.count()).select_from(Timer)) == before + 500
    claimed = firing.claim_due(session=db.session, now=NOW + 70 * M, limit=1000)
    assert len([c for c in claimed if c.fire_at >= NOW + 60 * M]) == 11  # 60..70 minutes


def test_a_bad_timer_in_a_bulk_write_names_it_and_writes_none(db, org):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Timer))
    timers = _bulk(incident, 3, NOW + 60 * M)
    timers[2]["kind"] = "someday"
    with pytest.raises(ValueError, match=r"timers\[2\]\.kind"):
        planning.schedule_timers(session=db.session, timers=timers, now=NOW)
    timers[2] = {**timers[1], "fire_at": (NOW + 61 * M).replace(tzinfo=None)}
    with pytest.raises(ValueError, match=r"timers\[2\]\.fire_at"):
        planning.schedule_timers(session=db.session, timers=timers, now=NOW)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Timer)) == before


def test_the_bulk_write_works_on_the_embedded_sqlite_too(tmp_path, tmp_path_factory):
    from flask_migrate import upgrade

    from crisis.auth.models import User
    from crisis.seed import seed_demo_data
    from crisis.units.models import Unit
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'crisis.sqlite3'}", tmp_path_factory)
    with app.app_context():
        upgrade()
        session = _db.session
        seed_demo_data(session=session)
        session.commit()
        org = {
            "units": {u.code: u for u in session.query(Unit)},
            "users": {(u.memberships[0].unit.code, u.memberships[0].role): u for u in session.query(User)},
        }
        incident = open_incident(session, org, now=NOW)
        session.commit()
        assert planning.schedule_timers(session=session, timers=_bulk(incident, 40, NOW + 60 * M), now=NOW) == 40
        session.commit()
        claimed = firing.claim_due(session=session, now=NOW + 64 * M, limit=1000)
        assert len([c for c in claimed if c.fire_at >= NOW + 60 * M]) == 5
        session.remove()
        _db.engine.dispose()


def _fire_prepared(db, org, at, incidents: int = 1):
    from crisis.notify import service as notify

    for key in (("KOTA-SEMARANG", "supervisor"), ("KOTA-SEMARANG", "officer")):
        notify.set_preferences(session=db.session, user=org["users"][key], choices={"inapp": False})
    incident = [open_incident(db.session, org, now=NOW, title=f"Kejadian {n}") for n in range(incidents)][0]
    db.session.commit()
    claimed = firing.claim_due(session=db.session, now=at)
    db.session.commit()
    ids = firing.fire_timers(session=db.session, timer_ids=[c.id for c in claimed], now=at)
    prepared = delivery.prepare_notices(session=db.session, notice_ids=ids)
    db.session.commit()
    return incident, prepared


def test_a_notice_rendered_while_firing_is_sent_once_after_the_commit(db, org, smtp):
    _incident, prepared = _fire_prepared(db, org, NOW + 15 * M)
    assert len(prepared) == 1 and prepared[0].channel == "email"
    assert smtp.messages == []  # nothing leaves before the firing committed
    assert delivery.deliver_prepared(session=db.session, prepared=prepared[0], now=NOW + 15 * M) == "sent"
    db.session.commit()
    assert delivery.deliver_prepared(session=db.session, prepared=prepared[0], now=NOW + 15 * M) is None
    db.session.commit()
    [mail] = smtp.messages
    notice = db.session.get(Notice, prepared[0].notice_id)
    assert notice.status == "sent" and notice.attempts == 1 and notice.sent_at == NOW + 15 * M
    assert mail["message_id"].startswith(f"<crisis.notice.{notice.id}.")


def test_a_stage_completed_between_the_firing_and_the_send_sends_nothing(db, org, smtp):
    from tests.factories import complete_stage

    incident, prepared = _fire_prepared(db, org, NOW + 15 * M)
    complete_stage(db.session, incident.stage_runs[0], now=NOW + 15 * M)
    db.session.commit()
    assert delivery.deliver_prepared(session=db.session, prepared=prepared[0], now=NOW + 15 * M) == "cancelled"
    db.session.commit()
    assert smtp.messages == []
    assert db.session.get(Notice, prepared[0].notice_id).last_error == "stage_completed"


def test_a_batch_is_sent_with_one_commit_and_a_failed_send_is_retried_while_the_others_stay_sent(db, org, smtp):
    import dataclasses

    _incident, prepared = _fire_prepared(db, org, NOW + 15 * M, incidents=2)
    assert len(prepared) == 2
    broken = dataclasses.replace(prepared[0], message=None)  # its channel cannot transmit this
    batch = delivery.deliver_batch(session=db.session, prepared=[broken, prepared[1]], now=NOW + 15 * M)
    db.session.commit()
    failed, sent = (db.session.get(Notice, item.notice_id) for item in prepared)
    assert batch.status == {failed.id: "queued", sent.id: "sent"} and batch.unclaimed == []
    assert [m["message_id"].split(".")[2] for m in smtp.messages] == [str(sent.id)]
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at == NOW + 15 * M
    assert failed.status == "queued" and failed.attempts == 1 and failed.sent_at is None
    assert failed.next_attempt_at > NOW + 15 * M and "Error" in failed.last_error
    # Sent again (a redelivered task): nothing is claimed; `deliver` then says why or sends.
    again = delivery.deliver_batch(session=db.session, prepared=prepared, now=NOW + 15 * M)
    assert again.status == {} and again.unclaimed == [failed.id, sent.id]
    db.session.rollback()
    assert len(smtp.messages) == 1


def test_a_prepared_notice_whose_server_is_down_is_retried_later(app, db, org, smtp):
    _incident, prepared = _fire_prepared(db, org, NOW + 15 * M)
    app.config["SMTP_PORT"] = 1  # nothing listens there
    try:
        assert delivery.deliver_prepared(session=db.session, prepared=prepared[0], now=NOW + 15 * M) == "queued"
        db.session.commit()
    finally:
        app.config["SMTP_PORT"] = smtp.port
    notice = db.session.get(Notice, prepared[0].notice_id)
    assert notice.status == "queued" and notice.attempts == 1 and notice.sent_at is None
    assert notice.next_attempt_at > NOW + 15 * M and "Error" in notice.last_error


def test_warm_up_compiles_every_hot_statement_and_writes_nothing(app, db, org):
    before = (db.session.query(Timer).count(), db.session.query(Notice).count())
    queries._STATEMENTS.clear()
    prepared._TEXT.clear()
    rows._BUILT.clear()
    queries.warm_up(session=db.session)
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        # What runs on the driver, prepared on the connection the pool hands to the first task: the
        # firing's reads (escalation.rows) and writes, and the claim of each notice it sends itself.
        statements = db.session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
        assert sum("FOR SHARE OF i" in sql or "FOR SHARE OF r" in sql for sql in statements) == 2
        assert sum("FOR UPDATE OF t SKIP LOCKED" in sql for sql in statements) == 2
        assert sum(sql.startswith("WITH fired AS") for sql in statements) == 1
        assert sum(sql.startswith("UPDATE notice SET status") for sql in statements) == 1
    db.session.rollback()
    expected = {
        name for name in queries._BUILDERS if (postgres or ".pg" not in name) and name not in queries._ON_DRIVER
    }
    assert set(queries._STATEMENTS) == expected
    assert (db.session.query(Timer).count(), db.session.query(Notice).count()) == before


# --- as a worker sends them: the database's clock, the claim on the driver's own connection ----------


def _fire_prepared_now(db, org, incidents: int = 1):
    """`_fire_prepared` on the real clock (a worker's firing task): timers 16 minutes overdue."""
    from datetime import UTC, datetime

    from crisis.notify import service as notify

    now = datetime.now(UTC)
    for key in (("KOTA-SEMARANG", "supervisor"), ("KOTA-SEMARANG", "officer")):
        notify.set_preferences(session=db.session, user=org["users"][key], choices={"inapp": False})
    opened = [
        open_incident(db.session, org, now=now, started_at=now - 16 * M, title=f"Kejadian {n}")
        for n in range(incidents)
    ]
    db.session.commit()
    claimed = firing.claim_due(session=db.session)
    db.session.commit()
    ids = firing.fire_timers(session=db.session, timer_ids=[c.id for c in claimed])
    prepared = delivery.prepare_notices(session=db.session, notice_ids=ids)
    db.session.commit()
    return opened, prepared


@pytest.mark.real_clock
def test_a_worker_sends_each_prepared_notice_once_and_commits_it_alone(db, org, smtp):
    _opened, prepared = _fire_prepared_now(db, org, incidents=2)
    assert [item.channel for item in prepared] == ["email", "email"]
    assert delivery.send_prepared(session=db.session, prepared=prepared) == []
    sent = [db.session.get(Notice, item.notice_id) for item in prepared]
    assert [(n.status, n.attempts, n.last_error) for n in sent] == [("sent", 1, ""), ("sent", 1, "")]
    assert all(n.sent_at is not None and n.sent_at >= n.queued_at for n in sent)
    assert sorted(int(m["message_id"].split(".")[2]) for m in smtp.messages) == sorted(n.id for n in sent)
    # The same task delivered twice: nothing is claimed again, nothing sent; `deliver` says why.
    db.session.rollback()
    assert delivery.send_prepared(session=db.session, prepared=prepared) == [n.id for n in sent]
    assert len(smtp.messages) == 2


@pytest.mark.real_clock
def test_a_worker_records_a_failed_send_as_an_attempt_and_still_sends_the_others(db, org, smtp):
    import dataclasses

    _opened, prepared = _fire_prepared_now(db, org, incidents=2)
    broken = dataclasses.replace(prepared[0], message=None)  # its channel cannot transmit this
    assert delivery.send_prepared(session=db.session, prepared=[broken, prepared[1]]) == []
    db.session.rollback()
    failed, sent = (db.session.get(Notice, item.notice_id) for item in prepared)
    assert sent.status == "sent" and sent.attempts == 1
    assert failed.status == "queued" and failed.attempts == 1 and failed.sent_at is None
    assert failed.next_attempt_at > failed.queued_at and "Error" in failed.last_error and failed.enqueued_at is None
    assert [int(m["message_id"].split(".")[2]) for m in smtp.messages] == [sent.id]


@pytest.mark.real_clock
def test_a_worker_sends_nothing_for_a_stage_completed_after_the_firing(db, org, smtp):
    from datetime import UTC, datetime

    from tests.factories import complete_stage

    [incident], prepared = _fire_prepared_now(db, org)
    complete_stage(db.session, incident.stage_runs[0], now=datetime.now(UTC))
    db.session.commit()
    assert delivery.send_prepared(session=db.session, prepared=prepared) == [prepared[0].notice_id]
    assert smtp.messages == []
    assert db.session.get(Notice, prepared[0].notice_id).status == "queued"  # `deliver` then cancels it
