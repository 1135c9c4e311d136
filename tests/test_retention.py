"""Reporters' personal data goes when the retention period is over, and nothing else ever does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crisis.extensions import db as _db
from crisis.issues import service as issues
from crisis.issues.models import Issue
from crisis.system import retention
from crisis.system.models import RetentionRun
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.factories import log_issue

NOW = FIXED_NOW
YEAR = timedelta(days=365)
OLD = NOW - 6 * YEAR  # logged six years ago: past a five-year retention period
RECENT = NOW - 4 * YEAR  # logged four years ago: still inside it
MARKER = retention.MARKER
WIB = ZoneInfo("Asia/Jakarta")
# The same instant five calendar years before NOW (5 x 365 days before NOW is a day or two later). A
# 29 February (in UTC) becomes the 28th: five years before a leap year is no leap year.
FIVE_YEARS_AGO = datetime(
    NOW.year - 5,
    NOW.month,
    28 if (NOW.month, NOW.day) == (2, 29) else NOW.day,
    NOW.hour,
    NOW.minute,
    NOW.second,
    NOW.microsecond,
    tzinfo=UTC,
)


@pytest.fixture(autouse=True)
def frozen_clock(clock):
    clock.now = NOW


@pytest.fixture
def config(app):
    """Change settings for one test; the originals come back after it."""
    saved = dict(app.config)

    def _set(**values):
        app.config.update(values)

    yield _set
    app.config.clear()
    app.config.update(saved)


def log(db, org, when, *, person="Budi Santoso", contact="0812-3456-7890", unit="KOTA-SEMARANG", title=None):
    issue = log_issue(
        db.session,
        org,
        now=when,
        unit=unit,
        title=title or f"Keluhan warga soal antrean RSUD ({when:%Y})",
        description="Warga menelepon hotline.",
        channel="hotline",
        category="service_failure",
        first_seen_at=when - timedelta(hours=1),
        reach=1200,
        engagement=40,
        evidence_urls=[],
        source_person=person,
        source_contact=contact,
    )
    db.session.commit()
    return issue


def worked_on(db, org, issue, when):
    """An issue someone corrected (the timeline keeps the old reporter name), watched and annotated."""
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.update(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        expected_version=issue.version,
        now=when,
        changes={"source_person": "Budi S.", "title": "Antrean RSUD enam jam"},
    )
    issues.start_monitoring(session=db.session, actor=officer, issue_id=issue.id, now=when + timedelta(minutes=5))
    issues.add_note(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        body="Sudah ditangani RSUD.",
        now=when + timedelta(minutes=10),
    )
    db.session.commit()
    return db.session.get(Issue, issue.id)


def everything(db):
    """Every row of every table, in primary-key order."""
    db.session.expire_all()
    with db.engine.connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in db.metadata.sorted_tables
        }


def issue_row(db, issue_id):
    with db.engine.connect() as conn:
        return dict(conn.execute(select(Issue.__table__).where(Issue.__table__.c.id == issue_id)).mappings().one())


def events_of(db, issue_id):
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.subject_type == "issue", TimelineEvent.subject_id == issue_id)
            .order_by(TimelineEvent.id)
        )
    )


def test_old_issues_lose_the_reporters_name_and_contact_and_nothing_else(db, org):
    old = worked_on(db, org, log(db, org, OLD), OLD + timedelta(days=1))
    quiet = log(db, org, OLD - YEAR, person="", contact="", title="Hoaks lama tanpa pelapor")
    recent = log(db, org, RECENT, person="Siti Aminah", contact="siti@example.id")
    before = everything(db)
    old_before, old_events_before = issue_row(db, old.id), events_of(db, old.id)

    result = retention.run(db.session, years=5, now=NOW)

    assert [(a.issue_id, a.fields, a.events_redacted) for a in result.anonymised] == [
        (old.id, ["source_person", "source_contact"], 1)
    ]
    old_after = issue_row(db, old.id)
    assert old_after["source_person"] == MARKER and old_after["source_contact"] == MARKER
    assert old_after["anonymised_at"] == NOW and old_after["updated_at"] == NOW
    assert old_after["version"] == old_before["version"] + 1
    untouched = {"source_person", "source_contact", "anonymised_at", "updated_at", "version"}
    assert {k: v for k, v in old_after.items() if k not in untouched} == {
        k: v for k, v in old_before.items() if k not in untouched
    }
    # The correction keeps what changed in the title; only the name is gone from it.
    corrected = next(e for e in events_of(db, old.id) if e.kind == "issue.updated")
    assert corrected.data["before"] == {"source_person": MARKER, "title": f"Keluhan warga soal antrean RSUD ({OLD:%Y})"}
    assert corrected.data["after"] == {"source_person": MARKER, "title": "Antrean RSUD enam jam"}
    assert corrected.data[retention.FLAG] == NOW.isoformat()
    assert corrected.occurred_at == next(e for e in old_events_before if e.kind == "issue.updated").occurred_at
    anonymised = events_of(db, old.id)[-1]
    assert anonymised.kind == "issue.anonymised" and anonymised.occurred_at == NOW and anonymised.actor_id is None
    assert anonymised.data["fields"] == ["source_person", "source_contact"] and anonymised.data["retention_years"] == 5

    after = everything(db)
    # Nothing deleted anywhere, and every other table and issue is exactly as it was.
    assert {name: len(rows) for name, rows in after.items()} == {
        name: len(rows) + (1 if name == "timeline_event" else 0) for name, rows in before.items()
    }
    for name in before:
        if name not in ("issue", "timeline_event"):
            assert after[name] == before[name], name
    by_id = {row[0]: row for row in after["issue"]}
    for issue in (quiet, recent):
        assert by_id[issue.id] == next(row for row in before["issue"] if row[0] == issue.id)
    dump = repr(after)
    for gone in ("Budi Santoso", "Budi S.", "0812-3456-7890"):
        assert gone not in dump
    assert "Siti Aminah" in dump and "siti@example.id" in dump


def test_a_second_run_finds_nothing_to_do(db, org):
    old = worked_on(db, org, log(db, org, OLD), OLD + timedelta(days=1))
    retention.run(db.session, years=5, now=NOW)
    state = everything(db)

    again = retention.run(db.session, years=5, now=NOW + timedelta(days=1))

    assert again.anonymised == [] and everything(db) == state
    assert [e.kind for e in events_of(db, old.id)].count("issue.anonymised") == 1


def test_a_dry_run_lists_the_same_issues_and_changes_nothing(db, org):
    old = worked_on(db, org, log(db, org, OLD), OLD + timedelta(days=1))
    second = log(db, org, OLD + timedelta(days=30), contact="")
    log(db, org, RECENT)
    state = everything(db)

    preview = retention.run(db.session, years=5, now=NOW, dry_run=True)

    assert everything(db) == state
    assert [(a.issue_id, a.fields, a.events_redacted) for a in preview.anonymised] == [
        (old.id, ["source_person", "source_contact"], 1),
        (second.id, ["source_person"], 0),
    ]
    done = retention.run(db.session, years=5, now=NOW)
    assert [a.issue_id for a in done.anonymised] == [a.issue_id for a in preview.anonymised]


def test_the_period_is_counted_in_calendar_years_from_when_the_issue_was_logged(db, org):
    cutoff = FIVE_YEARS_AGO
    just_out = log(db, org, cutoff - timedelta(minutes=1))
    just_in = log(db, org, cutoff + timedelta(minutes=1))
    assert retention.cutoff_for(NOW, 5) == cutoff

    result = retention.run(db.session, years=5, now=NOW)

    assert [a.issue_id for a in result.anonymised] == [just_out.id]
    assert db.session.get(Issue, just_in.id).source_person == "Budi Santoso"
    assert retention.cutoff_for(datetime(2028, 2, 29, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)


def test_a_name_entered_again_after_anonymising_goes_at_the_next_run(db, org):
    old = log(db, org, OLD)
    retention.run(db.session, years=5, now=NOW)
    issue = db.session.get(Issue, old.id)
    issues.update(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "officer")],
        issue_id=old.id,
        expected_version=issue.version,
        changes={"source_contact": "0813-0000-1111"},
        now=NOW + timedelta(hours=1),
    )
    db.session.commit()
    assert not db.session.get(Issue, old.id).reporter_anonymised

    result = retention.run(db.session, years=5, now=NOW + timedelta(days=1))

    assert [(a.issue_id, a.fields, a.events_redacted) for a in result.anonymised] == [(old.id, ["source_contact"], 1)]
    assert "0813-0000-1111" not in repr(everything(db))
    assert db.session.get(Issue, old.id).reporter_anonymised


def test_batches_cover_every_issue_and_the_run_is_recorded(db, org):
    old = [log(db, org, OLD + timedelta(days=i)) for i in range(5)]
    record_id = retention.start_record(db.session, trigger="cli", years=5, now=NOW)
    db.session.commit()

    result = retention.run(db.session, years=5, now=NOW, batch=2, record=db.session.get(RetentionRun, record_id))

    assert sorted(a.issue_id for a in result.anonymised) == [i.id for i in old]
    record = db.session.get(RetentionRun, record_id)
    assert (record.issues_anonymised, record.events_redacted, record.finished_at) == (5, 0, NOW)
    assert record.cutoff == FIVE_YEARS_AGO and record.day is None


@pytest.mark.parametrize(
    "value, years", [(5, 5), ("7", 7), (" 3 ", 3), (0, None), ("0", None), ("", None), (None, None)]
)
def test_the_setting_is_a_number_of_years_or_off(value, years):
    assert retention.configured_years(value) == years


@pytest.mark.parametrize("value", [-1, "abc", 5.5, True, 101, "-2"])
def test_a_bad_setting_is_refused_with_the_variable_named(value):
    with pytest.raises(retention.RetentionSettingInvalid, match="CRISIS_RETENTION_YEARS"):
        retention.configured_years(value)


def test_the_scheduler_runs_it_once_a_day_and_not_when_it_is_off(db, org, config, clock):
    # The first 10:00 WIB (03:00 UTC) from NOW on, so that +10 h is the same day in WIB and +16 h the next.
    morning = NOW.replace(hour=3, minute=0, second=0, microsecond=0)
    morning += timedelta(days=1) if morning < NOW else timedelta(0)
    clock.now = morning
    old = log(db, org, OLD)

    first = retention.daily_sweep(db.session, now=morning)
    later_today = retention.daily_sweep(db.session, now=morning + timedelta(hours=10))  # 20:00 WIB, same day
    tomorrow = retention.daily_sweep(db.session, now=morning + timedelta(hours=16))  # 02:00 WIB the next day

    assert [a.issue_id for a in first.anonymised] == [old.id]
    assert later_today is None and tomorrow is not None and tomorrow.anonymised == []
    runs = db.session.scalars(select(RetentionRun).order_by(RetentionRun.id)).all()
    today = morning.astimezone(WIB).date()
    assert [(r.day, r.trigger, r.issues_anonymised) for r in runs] == [
        (today, "scheduler", 1),
        (today + timedelta(days=1), "scheduler", 0),
    ]

    config(RETENTION_YEARS=0)
    fresh = log(db, org, OLD, person="Ani")
    assert retention.daily_sweep(db.session, now=morning + timedelta(days=3)) is None
    assert db.session.get(Issue, fresh.id).source_person == "Ani"
    assert db.session.query(RetentionRun).count() == 2


def test_the_minutely_job_takes_the_days_retention_pass(app, db, org):
    from workers.scheduler import minutely

    old = log(db, org, OLD)
    minutely(app)

    db.session.expire_all()
    assert db.session.get(Issue, old.id).source_person == MARKER
    assert [r.day for r in db.session.query(RetentionRun)] == [NOW.astimezone(WIB).date()]  # the day in WIB


def test_two_schedulers_at_once_anonymise_each_issue_once(app, db, org, config):
    config(RETENTION_BATCH=3)
    old = [log(db, org, OLD + timedelta(hours=i), person=f"Pelapor {i}") for i in range(12)]
    barrier = threading.Barrier(4)
    failures = []

    def scheduler():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                retention.daily_sweep(_db.session, now=NOW)
            except Exception as error:  # reported below
                failures.append(error)
            finally:
                _db.session.remove()

    def operator():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                retention.run(_db.session, years=5, now=NOW, batch=2)
            except Exception as error:
                failures.append(error)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=t) for t in (scheduler, scheduler, operator, operator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    db.session.expire_all()
    assert all(db.session.get(Issue, i.id).source_person == MARKER for i in old)
    kinds = db.session.scalars(select(TimelineEvent.subject_id).where(TimelineEvent.kind == "issue.anonymised"))
    assert sorted(kinds) == [i.id for i in old]
    assert db.session.query(RetentionRun).count() == 1


def test_pages_and_api_no_longer_show_the_reporter(app, db, org, client, login_as, token_for, clock):
    old = worked_on(db, org, log(db, org, OLD), OLD + timedelta(days=1))
    headers = token_for("officer", "KOTA-SEMARANG")
    # A monitoring tool logged one six years ago with a reporter; its answer was stored for replays.
    clock.now = OLD
    posted = {
        "title": "Aduan hotline: pungli di kantor kelurahan",
        "channel": "hotline",
        "category": "public_complaint",
        "source_person": "Rahmat Hidayat",
        "source_contact": "rahmat@example.id",
    }
    replay = {**headers, "Idempotency-Key": "tool-2020-0001"}
    first = client.post("/api/v1/issues", json=posted, headers=replay)
    assert first.status_code == 201, first.get_data(as_text=True)
    clock.now = NOW
    login_as("officer", "KOTA-SEMARANG")
    pages = (f"/issues/{old.id}", f"/issues/{old.id}/edit")
    for path in pages:
        assert "Budi S." in client.get(path).get_data(as_text=True)  # the check below can fail
    assert client.get(f"/api/v1/issues/{old.id}", headers=headers).get_json()["source_person"] == "Budi S."

    result = retention.run(db.session, years=5, now=NOW)

    assert result.answers_redacted == 1
    replayed = client.post("/api/v1/issues", json=posted, headers=replay)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.get_json()["source_person"] == MARKER and "Rahmat" not in replayed.get_data(as_text=True)
    assert "Rahmat" not in repr(everything(db)) and "rahmat@" not in repr(everything(db))

    for path in pages:
        response = client.get(path)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "Budi" not in page and "0812-3456-7890" not in page
    detail = client.get(f"/issues/{old.id}").get_data(as_text=True)
    assert "Antrean RSUD enam jam" in detail and "Sudah ditangani RSUD." in detail  # the rest is still there
    assert MARKER not in detail and f'datetime="{NOW.isoformat()}"' in detail  # said in words, with when
    body = client.get(f"/api/v1/issues/{old.id}", headers=headers).get_json()
    assert body["source_person"] == MARKER and body["source_contact"] == MARKER
    assert body["anonymised_at"] == NOW.isoformat()
    assert "Budi" not in repr(body) and "0812" not in repr(body)


def test_the_command_prints_what_it_did_without_the_personal_data(app, db, org):
    from workers.cli import main  # the installed `crisis` command: every command

    old = log(db, org, OLD)
    runner = app.test_cli_runner()

    preview = runner.invoke(main, ["retention", "run", "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert f"#{old.id}" in preview.output and "1 issue(s) would be anonymised" in preview.output
    assert "dry run" in preview.output and db.session.query(RetentionRun).count() == 0
    db.session.expire_all()
    assert db.session.get(Issue, old.id).source_person == "Budi Santoso"

    done = runner.invoke(main, ["retention", "run"])
    assert done.exit_code == 0, done.output
    assert "1 issue(s) anonymised" in done.output and f"{FIVE_YEARS_AGO:%Y-%m-%d %H:%M} UTC" in done.output
    assert "Budi" not in preview.output + done.output and "0812" not in preview.output + done.output
    db.session.expire_all()
    assert db.session.get(Issue, old.id).source_person == MARKER
    record = db.session.scalars(select(RetentionRun)).one()
    assert (record.trigger, record.issues_anonymised) == ("cli", 1)

    again = runner.invoke(main, ["retention", "run"])
    assert "0 issue(s) anonymised" in again.output


def test_the_command_refuses_a_bad_setting_and_says_when_it_is_off(app, db, org, config):
    from workers.cli import main  # the installed `crisis` command: every command

    old = log(db, org, OLD)
    runner = app.test_cli_runner()
    config(RETENTION_YEARS="lima")
    refused = runner.invoke(main, ["retention", "run"])
    assert refused.exit_code != 0 and "CRISIS_RETENTION_YEARS" in refused.output
    config(RETENTION_YEARS="")
    off = runner.invoke(main, ["retention", "run"])
    assert off.exit_code == 0 and "retention is off" in off.output
    db.session.expire_all()
    assert db.session.get(Issue, old.id).source_person == "Budi Santoso"
