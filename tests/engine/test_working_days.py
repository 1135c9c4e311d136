"""Targets in working days (`3wd`): weekends, Indonesian public holidays and the collective leave
days (cuti bersama) an administrator enters are skipped, in the owning unit's zone. The dates are
data, and the engine runs on them through `now=` (never the real clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis.audit.models import AuditEvent
from crisis.escalation.models import Timer
from crisis.incidents import service as incidents
from crisis.playbooks import service as playbooks
from crisis.playbooks import workdays
from crisis.playbooks.spec import WorkingDays, format_duration_words
from tests.factories import escalate, log_issue

FIXTURE = Path(__file__).resolve().parents[1] / "playbooks" / "fixtures" / "working-days.yaml"
# Wednesday 23 December 2026, 10.00 WIB. Thursday 24th: cuti bersama (entered below); Friday 25th:
# Christmas (a public holiday in the `holidays` package); 26th-27th: the weekend.
WEDNESDAY = datetime(2026, 12, 23, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def lapor(db, org, clock):
    clock.now = WEDNESDAY
    playbooks.publish(session=db.session, actor=None, text=FIXTURE.read_text(), filename=FIXTURE.name)
    db.session.flush()
    return org


def _stage_due(db, incident):
    return db.session.scalars(
        select(Timer).where(Timer.incident_id == incident.id, Timer.kind == "stage_due", Timer.state == "pending")
    ).one()


def test_a_working_day_target_skips_the_weekend_a_public_holiday_and_an_entered_cuti_bersama(db, lapor):
    workdays.add_leave(session=db.session, day=date(2026, 12, 24), name="Cuti bersama Natal")
    issue = log_issue(db.session, lapor, now=WEDNESDAY - timedelta(minutes=30))
    incident = escalate(db.session, lapor, issue, now=WEDNESDAY, playbook="working-days", severity=2)
    db.session.commit()
    run = incident.stage_runs[0]
    # 3 working days from Wednesday: Monday 28th, Tuesday 29th, Wednesday 30th, at 10.00 WIB.
    assert run.due_at == WEDNESDAY + 7 * DAY
    assert _stage_due(db, incident).fire_at == WEDNESDAY + 7 * DAY
    assert run.target_seconds == int((7 * DAY).total_seconds())
    # At severity 4 the target is 1 working day: Monday 28th, re-planned from the stage's start.
    incidents.change_severity(
        session=db.session,
        actor=lapor["users"][("KOTA-SEMARANG", "head")],
        incident_id=incident.id,
        severity=4,
        reason="Viral",
        now=WEDNESDAY + timedelta(hours=1),
    )
    db.session.commit()
    assert run.due_at == WEDNESDAY + 5 * DAY and _stage_due(db, incident).fire_at == WEDNESDAY + 5 * DAY


def test_without_the_cuti_bersama_entry_thursday_is_a_working_day(db, lapor):
    end = workdays.add_working_days(WEDNESDAY, 1, zone="Asia/Jakarta", session=db.session)
    assert end == WEDNESDAY + DAY
    workdays.add_leave(session=db.session, day=date(2026, 12, 24), name="Cuti bersama Natal")
    assert workdays.add_working_days(WEDNESDAY, 1, zone="Asia/Jakarta", session=db.session) == WEDNESDAY + 5 * DAY


def test_working_days_are_counted_in_the_units_zone(db, lapor):
    # Friday 23.30 WIB is already Saturday 01.30 WIT: one working day later is Monday, not Monday in WIB terms.
    friday_night = datetime(2026, 12, 18, 16, 30, tzinfo=UTC)  # Fri 23.30 WIB, Sat 01.30 WIT
    assert workdays.add_working_days(friday_night, 1, zone="Asia/Jakarta", session=db.session) == friday_night + 3 * DAY
    assert (
        workdays.add_working_days(friday_night, 1, zone="Asia/Jayapura", session=db.session) == friday_night + 2 * DAY
    )


def test_entering_cuti_bersama_refuses_a_weekend_a_duplicate_and_an_empty_name(db, lapor):
    from crisis.errors import ValidationFailed

    workdays.add_leave(session=db.session, day=date(2026, 12, 24), name="Cuti bersama Natal")
    for day, name, field in (
        (date(2026, 12, 26), "Sabtu", "day"),
        (date(2026, 12, 24), "Lagi", "day"),
        (date(2026, 12, 31), "  ", "name"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            workdays.add_leave(session=db.session, day=day, name=name)
        assert field in refused.value.errors


def test_the_holidays_command_enters_lists_and_removes_cuti_bersama(app, db, lapor):
    from workers.cli import main

    runner = app.test_cli_runner()
    added = runner.invoke(main, ["holidays", "add", "2026-12-24", "Cuti bersama Natal"])
    assert added.exit_code == 0, added.output
    assert "2026-12-24  Cuti bersama Natal" in runner.invoke(main, ["holidays", "list", "--year", "2026"]).output
    again = runner.invoke(main, ["holidays", "add", "2026-12-24", "Cuti bersama Natal"])
    assert again.exit_code == 2 and "sudah tercatat sebagai cuti bersama" in again.output
    assert runner.invoke(main, ["holidays", "remove", "2026-12-24"]).exit_code == 0
    assert workdays.list_leave(session=db.session, year=2026) == []


def test_working_days_read_as_hari_kerja():
    assert format_duration_words(WorkingDays(5), "id") == "5 hari kerja"
    assert format_duration_words(WorkingDays(1), "en") == "1 working day"


def test_the_target_of_a_working_day_stage_reads_hari_kerja_on_an_indonesian_page(app):
    from flask_babel import force_locale

    from crisis.timefmt import format_duration

    with app.test_request_context(), force_locale("id"):
        assert format_duration(WorkingDays(3)) == "3 hari kerja"
    with app.test_request_context(), force_locale("en"):
        assert format_duration(WorkingDays(1)) == "1 working day"


def test_an_administrator_enters_cuti_bersama_on_its_page_and_a_bad_date_is_refused_next_to_it(login_as, db):
    from tests.conftest import form_post

    client = login_as("admin", "PUSAT")
    refused = form_post(client, "/playbooks/holidays", {"day": "24-12-2026", "name": "Cuti bersama Natal"})
    assert refused.status_code == 422
    assert 'id="day-msg"' in refused.get_data(as_text=True) and workdays.list_leave(session=db.session) == []
    added = form_post(
        client, "/playbooks/holidays", {"day": "2026-12-24", "name": "Cuti bersama Natal", "action": "add"}
    )
    assert added.status_code == 302
    page = client.get("/playbooks/holidays?year=2026").get_data(as_text=True)
    assert "24 Des 2026" in page and "Cuti bersama Natal" in page  # a date in words, never ISO in prose
    entered = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "collective_leave.added")).all()
    assert [(e.target, e.detail["name"], e.actor_email) for e in entered] == [
        ("day:2026-12-24", "Cuti bersama Natal", "admin.pusat@demo.example")
    ]


def test_only_an_administrator_of_a_central_unit_opens_the_cuti_bersama_page(login_as):
    assert login_as("head", "PUSAT").get("/playbooks/holidays").status_code == 403


def test_the_review_says_a_working_day_target_in_working_days_not_hours(db, lapor):
    from crisis.reviews import exports
    from crisis.reviews import service as reviews
    from crisis.reviews.models import Review
    from tests.factories import run_through

    issue = log_issue(db.session, lapor, now=WEDNESDAY - timedelta(minutes=30))
    incident = escalate(db.session, lapor, issue, now=WEDNESDAY, playbook="working-days", severity=2)
    head = lapor["users"][("KOTA-SEMARANG", "head")]
    run_through(db.session, head, incident, now=WEDNESDAY + DAY)
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=WEDNESDAY + 2 * DAY)
    db.session.commit()
    review = db.session.scalars(select(Review).where(Review.incident_id == incident.id)).one()
    doc = reviews.document(session=db.session, review=review)
    respond, close = doc.measures.stages
    assert respond.working_days == WorkingDays(3) and close.working_days is None
    markdown = exports.render_markdown(doc, lang="id", zone="Asia/Jakarta")
    assert "| 1. Tindak lanjut | 3 hari kerja |" in markdown
    assert "| 2. Tutup | 14 hari |" in markdown
    assert exports.as_dict(doc, lang="en")["stages"][0]["target_working_days"] == 3
