"""Firing and delivering with an injected clock: who is told, on which channel, exactly once."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crisis.escalation import acknowledgement, delivery, firing
from crisis.escalation import inbox as notice_inbox
from crisis.escalation.models import Timer
from crisis.notify import service as notify
from crisis.notify.models import Notice
from crisis.notify.render import short_title
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.engine.drive import tick
from tests.factories import complete_stage, open_incident

NOW = FIXED_NOW  # the suite's clock: any date, any time of day
M = timedelta(minutes=1)


def _clock_text(moment: datetime, zone: str, label: str, language: str = "id") -> str:
    """'10.30 WIB' ('10:30 WIB' in English): the local time of day a reader in `zone` sees, in the
    reader's time notation, with its zone's name."""
    return f"{moment.astimezone(ZoneInfo(zone)):{'%H.%M' if language == 'id' else '%H:%M'}} {label}"


def _email_only(db, org, *keys):
    for key in keys:
        notify.set_preferences(session=db.session, user=org["users"][key], choices={"inapp": False})


def test_late_verification_emails_the_supervisor_in_her_language_and_zone(app, db, org, smtp):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    assert tick(db.session, NOW + 14 * M) == []
    tick(db.session, NOW + 15 * M)
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    assert mail["to"] == [supervisor.email]
    assert (
        mail["subject"] == f"[SEV 2] KOTA-SEMARANG · {incident.reference} Antrean layanan KTP viral · Verifikasi fakta"
    )
    notice = db.session.scalar(select(Notice).where(Notice.channel == "email"))
    assert notice.status == "sent" and notice.sent_at == NOW + 15 * M and notice.lateness_seconds == 0
    assert mail["message_id"].startswith(f"<crisis.notice.{notice.id}.")
    message = mail["message"]
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
    assert message["From"].addresses[0].addr_spec == parseaddr(app.config["MAIL_SENDER"])[1]
    assert message["To"].addresses[0].display_name == supervisor.name
    assert message["Date"].datetime == NOW  # the app's clock
    assert message["Content-Language"] == "id" and message["Auto-Submitted"] == "auto-generated"
    assert mail["notice_id"] == notice.id and mail["key"] == notice.idempotency_key
    text = message.get_body(("plain",)).get_content()
    # The stage is due 30 minutes after it started, shown in Semarang's zone (10:30 WIB at 10:00 WIB).
    assert _clock_text(NOW + 30 * M, "Asia/Jakarta", "WIB") in text
    assert "/ack/" in text
    inbox = db.session.scalar(select(Notice).where(Notice.channel == "inapp"))
    assert inbox.recipient_user_id == supervisor.id and inbox.status == "sent"
    assert notice_inbox.unread_count(db.session, supervisor) == 1
    fired = db.session.scalar(select(Timer).where(Timer.state == "fired"))
    assert fired.lateness_seconds == 0
    assert incident.id == notice.incident_id


def test_a_notice_in_english_for_an_english_reader_in_wita(db, org, smtp):
    head = org["users"][("KOTA-MAKASSAR", "head")]
    head.language = "en"
    incident = open_incident(db.session, org, now=NOW, unit="KOTA-MAKASSAR", commander=("KOTA-MAKASSAR", "officer"))
    db.session.commit()
    tick(db.session, NOW + 45 * M)  # supervisor step falls back; head step fires too
    mail = next(m for m in smtp.messages if m["to"] == [head.email])
    assert (
        mail["subject"] == f"[SEV 2] KOTA-MAKASSAR · {incident.reference} Antrean layanan KTP viral · Verify the facts"
    )
    text = mail["message"].get_body(("plain",)).get_content()
    # The stage is due 30 minutes after it started, in Makassar's zone (11:30 WITA at 10:00 WIB).
    assert _clock_text(NOW + 30 * M, "Asia/Makassar", "WITA", "en") in text and "still not complete" in text


def test_a_supervisor_told_about_two_incidents_at_the_same_stage_tells_them_apart_by_subject(db, org, smtp):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    queue = open_incident(db.session, org, now=NOW, title="Antrean layanan KTP viral di Kecamatan Semarang Tengah")
    flood = open_incident(db.session, org, now=NOW, title="Banjir rob, warga mengeluh lambatnya bantuan")
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    subjects = sorted(m["subject"] for m in smtp.messages if m["to"] == [supervisor.email])
    assert subjects == sorted(
        [
            f"[SEV 2] KOTA-SEMARANG · {queue.reference} Antrean layanan KTP viral di Kecamatan… · Verifikasi fakta",
            f"[SEV 2] KOTA-SEMARANG · {flood.reference} Banjir rob, warga mengeluh lambatnya… · Verifikasi fakta",
        ]
    )
    supervisor.language = "en"
    db.session.commit()
    tick(db.session, NOW + 30 * M)  # the step repeats, now in English
    english = [
        m["subject"] for m in smtp.messages if m["to"] == [supervisor.email] and "Verify the facts" in m["subject"]
    ]
    assert sorted(english) == sorted(subject.replace("Verifikasi fakta", "Verify the facts") for subject in subjects)


def test_a_title_in_a_subject_is_cut_at_a_word_within_forty_characters():
    assert short_title("Antrean layanan KTP viral") == "Antrean layanan KTP viral"
    forty = "Hoaks pemadaman listrik total Jawa Bali."
    assert len(forty) == 40 and short_title(forty) == forty
    assert short_title(forty + " Besok") == "Hoaks pemadaman listrik total Jawa Bali…"  # the "." before "…" goes
    assert short_title("Banjir  rob\n di pesisir utara Semarang, warga mengeluh lambat") == (
        "Banjir rob di pesisir utara Semarang…"
    )
    assert short_title("x" * 60) == "x" * 40 + "…"  # one long word is cut inside it


def test_the_step_repeats_until_someone_acknowledges(db, org, smtp):
    _email_only(db, org, ("KOTA-SEMARANG", "supervisor"))
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    tick(db.session, NOW + 30 * M)  # first repeat (and the stage is due: the commander hears)
    step_mails = [m for m in smtp.messages if "supervisor" in m["key"] or "user:" in m["key"]]
    assert len([m for m in smtp.messages if m["to"] == [org["users"][("KOTA-SEMARANG", "supervisor")].email]]) == 2
    notice = db.session.scalars(select(Notice).where(Notice.channel == "email").order_by(Notice.id)).first()
    acknowledgement.acknowledge(session=db.session, notice_id=notice.id, actor=None, now=NOW + 31 * M)
    db.session.commit()
    before = len(smtp.messages)
    tick(db.session, NOW + 46 * M)  # the second repeat would be due: acknowledged, so no
    supervisor_mails = [m for m in smtp.messages[before:] if m["to"] == [notice.recipient.email]]
    assert supervisor_mails == []
    stopped = db.session.scalars(select(Timer).where(Timer.cancel_reason == "acknowledged")).all()
    assert len(stopped) == 1 and stopped[0].repeat_index == 2
    assert step_mails


def test_repeats_stop_at_their_maximum(db, org, smtp):
    _email_only(db, org, ("KOTA-SEMARANG", "supervisor"), ("KOTA-SEMARANG", "head"), ("KOTA-SEMARANG", "officer"))
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    for minutes in range(15, 200, 15):
        tick(db.session, NOW + minutes * M)
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    assert len([m for m in smtp.messages if m["to"] == [supervisor.email]]) == 4  # the step and 3 repeats
    head = org["users"][("KOTA-SEMARANG", "head")]
    assert len([m for m in smtp.messages if m["to"] == [head.email]]) == 3  # the step and 2 repeats


def test_firing_or_delivering_twice_sends_once(db, org, smtp):
    _email_only(db, org, ("KOTA-SEMARANG", "supervisor"))
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    claimed = firing.claim_due(session=db.session, now=NOW + 15 * M)
    db.session.commit()
    first = firing.fire_timer(session=db.session, timer_id=claimed[0].id, now=NOW + 15 * M)
    db.session.commit()
    second = firing.fire_timer(session=db.session, timer_id=claimed[0].id, now=NOW + 15 * M)
    db.session.commit()
    assert len(first) == 1 and second == []
    for _ in range(2):
        delivery.deliver(session=db.session, notice_id=first[0], now=NOW + 15 * M)
        db.session.commit()
    assert len(smtp.messages) == 1


def test_nobody_in_the_role_falls_back_up_the_tree_and_the_timeline_says_so(db, org, smtp):
    # Kabupaten Banyumas has no supervisor: the step goes to Jawa Tengah's.
    incident = open_incident(db.session, org, now=NOW, unit="KAB-BANYUMAS", commander=("KAB-BANYUMAS", "officer"))
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    province_supervisor = org["users"][("JATENG", "supervisor")]
    assert [m["to"] for m in smtp.messages] == [[province_supervisor.email]]
    event = db.session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "escalation.fallback"))
    assert event.subject_id == incident.id
    assert event.data["selector"] == "supervisor@own"
    assert (event.data["from_unit"], event.data["to_unit"]) == ("KAB-BANYUMAS", "JATENG")
    text = smtp.messages[0]["message"].get_body(("plain",)).get_content()
    assert "KAB-BANYUMAS" in text and "JATENG" in text


def test_on_duty_is_whoever_is_on_duty_when_the_timer_fires(db, org, smtp, clock):
    # Duty shifts run 07:00-19:00 and 19:00-07:00 local: the incident starts at the first 10:00 WIB
    # (03:00 UTC) from the suite's clock on, inside the shifts the demo planned around that clock.
    start = FIXED_NOW.replace(hour=3, minute=0, second=0, microsecond=0)
    if start < FIXED_NOW:
        start += timedelta(days=1)
    clock.now = start
    open_incident(db.session, org, now=start, severity=3)
    db.session.commit()
    incident = db.session.scalars(select(Timer)).first().incident
    # Straight to holding-statement: its second step notifies head@province and on_duty@central.
    complete_stage(db.session, incident.stage_runs[0], now=start)
    complete_stage(db.session, incident.stage_runs[1], now=start)
    db.session.commit()
    day = start + 90 * M  # 11:30 WIB: the central officer's day shift
    night = start + timedelta(hours=10)  # 20:00 WIB: the central supervisor's night shift
    assert f"{day.astimezone(ZoneInfo('Asia/Jakarta')):%H:%M}" == "11:30"
    assert f"{night.astimezone(ZoneInfo('Asia/Jakarta')):%H:%M}" == "20:00"
    tick(db.session, day)
    central_officer = org["users"][("PUSAT", "officer")]
    assert central_officer.email in {m["to"][0] for m in smtp.messages}
    assert org["users"][("JATENG", "head")].email in {m["to"][0] for m in smtp.messages}
    smtp.messages.clear()
    tick(db.session, night)
    assert org["users"][("PUSAT", "supervisor")].email in {m["to"][0] for m in smtp.messages}
    assert central_officer.email not in {m["to"][0] for m in smtp.messages}


def test_a_person_who_turned_email_off_gets_only_the_inbox(db, org, smtp):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    notify.set_preferences(session=db.session, user=supervisor, choices={"email": False})
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    assert smtp.messages == []
    assert [n.channel for n in db.session.scalars(select(Notice))] == ["inapp"]


def test_a_unit_webhook_gets_signed_json(db, org, smtp, webhook):
    admin = org["users"][("JATENG", "admin")]
    hook = notify.create_webhook(
        session=db.session, actor=admin, unit_id=org["units"]["KOTA-SEMARANG"].id, name="Grup piket", url=webhook.url
    )
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    tick(db.session, NOW + 15 * M)
    assert len(webhook.received) == 1
    received = webhook.received[0]
    expected = "sha256=" + hmac.new(hook.secret.encode(), received["body"], hashlib.sha256).hexdigest()
    assert received["headers"]["X-Crisis-Signature"] == expected
    document = received["json"]
    assert document["recipients"] == ["Ratna Sari"] and document["stage"] == "verify"
    assert document["subject"].startswith(f"[SEV 2] KOTA-SEMARANG · {incident.reference} ")
    assert document["ack_url"].startswith("http://127.0.0.1:5000/ack/")


def test_a_failing_receiver_is_retried_with_backoff_then_admins_are_told(db, org, app, webhook):
    _email_only(db, org, ("KOTA-SEMARANG", "supervisor"))
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens: connection refused
    try:
        open_incident(db.session, org, now=NOW)
        db.session.commit()
        tick(db.session, NOW + 15 * M)
        notice = db.session.scalar(select(Notice).where(Notice.channel == "email"))
        assert (notice.status, notice.attempts) == ("queued", 1)
        assert notice.next_attempt_at == NOW + 15 * M + timedelta(seconds=5)
        assert "ConnectionRefused" in notice.last_error
        moment = NOW + 15 * M
        for _ in range(7):
            moment = notice.next_attempt_at
            tick(db.session, moment)
            db.session.refresh(notice)
        assert (notice.status, notice.attempts) == ("failed", 8)
        admins = db.session.scalars(select(Notice).where(Notice.kind == "delivery_failed")).all()
        assert [a.recipient_user_id for a in admins] == [org["users"][("JATENG", "admin")].id]
        assert db.session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "notice.failed"))
    finally:
        app.config.update(SMTP_PORT=25)


def test_a_stage_completed_before_the_notice_left_sends_nothing(db, org, smtp):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    claimed = firing.claim_due(session=db.session, now=NOW + 15 * M)
    db.session.commit()
    notice_ids = firing.fire_timer(session=db.session, timer_id=claimed[0].id, now=NOW + 15 * M)
    db.session.commit()
    complete_stage(db.session, incident.stage_runs[0], now=NOW + 15 * M)
    db.session.commit()
    for notice_id in notice_ids:
        delivery.deliver(session=db.session, notice_id=notice_id, now=NOW + 15 * M)
    db.session.commit()
    assert smtp.messages == []
    assert {n.status for n in db.session.scalars(select(Notice).where(Notice.channel == "email"))} == {"cancelled"}


def test_a_timer_claimed_after_its_stage_completed_is_cancelled_not_fired(db, org, smtp):
    incident = open_incident(db.session, org, now=NOW)
    db.session.commit()
    claimed = firing.claim_due(session=db.session, now=NOW + 15 * M)
    db.session.commit()
    complete_stage(db.session, incident.stage_runs[0], now=NOW + 15 * M)  # cancels claimed timers too
    db.session.commit()
    assert firing.fire_timer(session=db.session, timer_id=claimed[0].id, now=NOW + 15 * M) == []
    db.session.commit()
    assert db.session.get(Timer, claimed[0].id).state == "cancelled"
    assert smtp.messages == []


def test_a_claim_whose_lease_ran_out_is_claimed_again(db, org):
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    first = firing.claim_due(session=db.session, now=NOW + 15 * M, lease=30)
    db.session.commit()
    assert firing.claim_due(session=db.session, now=NOW + 15 * M + timedelta(seconds=29), lease=30) == []
    again = firing.claim_due(session=db.session, now=NOW + 15 * M + timedelta(seconds=31), lease=30)
    db.session.commit()
    assert [c.id for c in again] == [c.id for c in first] and again[0].attempt == 2


def test_after_ten_minutes_without_a_scheduler_every_overdue_timer_fires_once_oldest_first(db, org, smtp):
    for unit in ("KOTA-SEMARANG", "KOTA-MAKASSAR", "KOTA-JAYAPURA"):
        open_incident(
            db.session,
            org,
            now=NOW,
            unit=unit,
            commander=(unit, "officer"),
            started_at=NOW - timedelta(minutes=5 + len(unit)),
        )
    db.session.commit()
    claimed = firing.claim_due(session=db.session, now=NOW + 10 * M + timedelta(minutes=15))
    assert [c.fire_at for c in claimed] == sorted(c.fire_at for c in claimed)
    db.session.rollback()
    restart = NOW + 25 * M
    tick(db.session, restart)
    fired = db.session.scalars(select(Timer).where(Timer.state == "fired").order_by(Timer.fire_at)).all()
    assert len(fired) == len({t.id for t in fired}) >= 3
    assert all(t.lateness_seconds == (restart - t.fire_at).total_seconds() > 0 for t in fired)
    assert len(smtp.keys()) == len(set(smtp.keys()))
    tick(db.session, restart)
    assert len(smtp.keys()) == len(set(smtp.keys()))


def test_two_schedulers_never_claim_the_same_timer(app, db, org):
    from sqlalchemy.orm import Session

    from crisis.extensions import db as _db

    for _ in range(5):
        open_incident(db.session, org, now=NOW)
    db.session.commit()
    with Session(_db.engine) as second:
        mine = firing.claim_due(session=db.session, now=NOW + 50 * M, limit=7)
        theirs = firing.claim_due(session=second, now=NOW + 50 * M, limit=100)  # skips the rows I hold
        second.commit()
    db.session.commit()
    # five incidents, three timers each due by then (step at 15m, stage due at 30m, step at 45m)
    assert len(mine) == 7 and len(theirs) == 15 - 7
    assert not {c.id for c in mine} & {c.id for c in theirs}
