"""The documented backup and restore, done once on a copy: what comes back reads the same.

PostgreSQL: `crisis backup` (pg_dump of one snapshot) → a new database → `crisis restore`
(pg_restore) → `crisis db upgrade` → the app started on the copy shows the same rows, the same
incident timeline and the same API answers. SQLite: the same commands, with SQLite's online
backup API. Every database and file made here is removed at the end.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from crisis import backup
from crisis.extensions import db as _db
from tests.conftest import DEMO_PASSWORD, FIXED_NOW, RequestScopedClient, make_app, sign_in
from tests.factories import close_required, designate_spokesperson, log_issue, sign_through
from tests.helpers import crisis_env, invoke_crisis

T0 = FIXED_NOW
M = timedelta(minutes=1)
H = timedelta(hours=1)
END = T0 + 2 * 24 * H


def build_history(session, units, users):
    """A small but complete working history, written through the services: issues logged, watched,
    merged and dismissed; one escalated and run through its SOP with statements, comments,
    escalation notices and an approved review; a KPI target and an API token."""
    from crisis.auth import service as people
    from crisis.escalation import firing
    from crisis.incidents import service as incidents
    from crisis.incidents import statements
    from crisis.issues import service as issues
    from crisis.reports import service as reports
    from crisis.reviews import service as reviews

    officer, supervisor, head = (users[("KOTA-SEMARANG", role)] for role in ("officer", "supervisor", "head"))
    semarang = units["KOTA-SEMARANG"].id

    def log(title, channel="x", url="https://x.com/warga/status/1", **extra):
        return log_issue(
            session,
            {"units": units, "users": users},
            now=T0,
            title=title,
            channel=channel,
            description="Beredar sejak pagi.",
            evidence_urls=[url] if url else [],
            **extra,
        )

    hoax = log(
        "Hoaks: air PDAM tercemar bahan kimia",
        channel="whatsapp",
        url="",
        source_person="Budi Santoso",
        source_contact="0812-3456-7890",
    )
    issues.start_monitoring(session=session, actor=officer, issue_id=hoax.id, now=T0 + M)
    issues.add_note(
        session=session,
        actor=officer,
        issue_id=hoax.id,
        body="Menyebar ke 12 grup.",
        reach=60000,
        engagement=5000,
        now=T0 + 2 * M,
    )
    issues.add_evidence(
        session=session, actor=officer, issue_id=hoax.id, url="https://news.example/pdam", now=T0 + 3 * M
    )
    copy = log("Hoaks air PDAM tercemar bahan kimia!", url="https://x.com/warga/status/2")
    issues.merge(session=session, actor=officer, source_id=copy.id, target_id=hoax.id, now=T0 + 4 * M)
    other = log("Video lama banjir diunggah ulang", url="https://tiktok.com/@a/video/9")
    issues.dismiss(
        session=session, actor=supervisor, issue_id=other.id, reason="Video lama, sudah diklarifikasi.", now=T0 + 5 * M
    )

    incident = incidents.open_from_issue(
        session=session,
        actor=officer,
        issue_id=hoax.id,
        playbook_key="hoax-clarification",
        severity=3,
        commander_id=head.id,
        now=T0 + 6 * M,
    )
    incidents.involve_unit(
        session=session, actor=head, incident_id=incident.id, unit_id=units["KAB-BANYUMAS"].id, now=T0 + 7 * M
    )
    incidents.comment(
        session=session, actor=officer, incident_id=incident.id, body="PDAM sudah dihubungi.", now=T0 + 8 * M
    )
    # The first stage runs late: its timers fire through the real engine and leave notices.
    claimed = firing.claim_due(session=session, now=T0 + 3 * H)
    for timer in claimed:
        firing.fire_timer(session=session, timer_id=timer.id, now=T0 + 3 * H)
    for run in incident.stage_runs:
        close_required(session, officer, run, now=T0 + 4 * H)
        if run.state == "active":
            incidents.complete_stage(session=session, actor=officer, stage_run_id=run.id, now=T0 + 4 * H + M)
    holding = statements.draft(
        session=session,
        actor=officer,
        incident_id=incident.id,
        kind="holding",
        title="Air PDAM aman",
        body="Kami sedang memeriksa kabar yang beredar.",
        now=T0 + H,
    )
    # Severity 3: the supervisor signs, then the Sekda for the Wali Kota; the head speaks for the city.
    sign_through(session, holding, now=T0 + H + 5 * M, first=supervisor)
    designate_spokesperson(session, incident, now=T0 + H + 5 * M, person=head)
    statements.publish(
        session=session,
        actor=officer,
        statement_id=holding.id,
        channel="website",
        url="https://semarangkota.go.id/klarifikasi",
        published_at=T0 + H + 10 * M,
        now=T0 + H + 10 * M,
    )
    incidents.resolve(session=session, actor=head, incident_id=incident.id, now=T0 + 5 * H)
    review = reviews.get_for_incident(session=session, user=head, incident_id=incident.id)
    reviews.update(
        session=session,
        actor=head,
        review_id=review.id,
        summary="Hoaks diklarifikasi dalam 70 menit.",
        went_well="Koordinasi dengan PDAM cepat.",
        to_improve="Pernyataan awal terlambat.",
        now=T0 + 6 * H,
    )
    reviews.add_action_item(
        session=session,
        actor=head,
        review_id=review.id,
        title="Template pernyataan PDAM",
        owner_id=supervisor.id,
        due_on=(T0 + 7 * 24 * H).date().isoformat(),
        now=T0 + 6 * H,
    )
    reviews.submit(session=session, actor=head, review_id=review.id, now=T0 + 7 * H)
    reviews.approve(session=session, actor=head, review_id=review.id, now=T0 + 8 * H)
    reports.set_target(
        session=session,
        actor=head,
        unit_id=semarang,
        measure="time_to_holding_statement",
        target_percent=90,
        threshold_minutes=60,
        now=T0 + 8 * H,
    )
    _token, plaintext = people.create_token(session=session, user=head, name="monitoring")
    session.flush()
    return incident, plaintext


def everything(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order (alembic_version included)."""
    from sqlalchemy import MetaData

    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns or table.columns))
            ]
            for table in metadata.sorted_tables
        }


def printed_counts(output: str) -> dict[str, int]:
    return {name: int(rows.replace(",", "")) for name, rows in re.findall(r"^  (\w+) +([\d,]+)$", output, re.M)}


def timeline_section(page: str) -> str:
    match = re.search(r'<section class="card" id="timeline">.*?</section>', page, re.S)
    assert match, "no timeline on the incident page"
    return match.group(0)


@pytest.fixture
def workdir(tmp_path):
    """Where the backup file goes; emptied at the end (a backup holds personal data)."""
    yield tmp_path
    for path in tmp_path.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()


@pytest.mark.slow  # pg_dump and pg_restore processes
def test_postgresql_backup_restores_into_a_new_database_that_reads_the_same(
    app, db, org, pg_url, scratch_database, workdir, tmp_path_factory
):
    incident, token = build_history(db.session, org["units"], org["users"])
    db.session.commit()
    # Read now: objects of this session must not load themselves while the copy's app is current.
    incident_id = incident.id
    head_email = org["users"][("KOTA-SEMARANG", "head")].email
    officer_id = org["users"][("KOTA-SEMARANG", "officer")].id
    env = crisis_env(CRISIS_INSTANCE_PATH=str(workdir), CRISIS_SECRET_KEY="backup-test")
    dump = workdir / "crisis.dump"

    backed_up = invoke_crisis("backup", str(dump), env={**env, "CRISIS_DATABASE_URL": pg_url})
    assert backed_up.returncode == 0, backed_up.stderr
    assert dump.read_bytes()[:5] == b"PGDMP" and (dump.stat().st_mode & 0o777) == 0o600
    original = everything(db.engine)
    counts = printed_counts(backed_up.stdout)
    assert counts == {name: len(rows) for name, rows in original.items()}
    assert counts["timeline_event"] > 30 and counts["notice"] > 0 and counts["review"] == 1

    copy_url = scratch_database()
    restored = invoke_crisis("restore", str(dump), env={**env, "CRISIS_DATABASE_URL": copy_url})
    assert restored.returncode == 0, restored.stderr
    assert printed_counts(restored.stdout) == counts
    upgraded = invoke_crisis("db", "upgrade", env={**env, "CRISIS_DATABASE_URL": copy_url})
    assert upgraded.returncode == 0, upgraded.stderr

    copy_app = make_app(copy_url, tmp_path_factory)
    app.test_client_class = copy_app.test_client_class = RequestScopedClient
    try:
        with copy_app.app_context():
            assert everything(_db.engine) == original
        # The app on the copy shows the incident as the original does, to the same people.
        pages, answers = [], []
        for application in (app, copy_app):
            application.extensions["clock"] = lambda: END
            client = application.test_client()
            assert sign_in(client, head_email, DEMO_PASSWORD).status_code == 302
            page = client.get(f"/incidents/{incident_id}")
            assert page.status_code == 200
            pages.append(timeline_section(page.get_data(as_text=True)))
            answer = client.get(
                f"/api/v1/incidents/{incident_id}/timeline", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200
            answers.append(answer.get_json())
            application.extensions.pop("clock", None)
        assert answers[0] == answers[1] and len(answers[0]) > 20
        assert pages[0] == pages[1] and pages[0].count("<li>") == len(answers[0])
        # The copy carries on where the original stopped: new rows take new ids.
        with copy_app.app_context():
            from crisis.auth.models import User
            from crisis.issues import service as issues
            from crisis.issues.models import Issue

            officer = _db.session.get(User, officer_id)
            fresh = issues.create(
                session=_db.session,
                actor=officer,
                unit_id=officer.memberships[0].unit_id,
                title="Isu baru setelah pemulihan",
                channel="hotline",
                category="other",
                first_seen_at=None,
                now=END,
            )
            _db.session.commit()
            assert fresh.id == max(row[0] for row in original["issue"]) + 1
            assert _db.session.get(Issue, fresh.id).title == "Isu baru setelah pemulihan"
            _db.session.remove()
    finally:
        with copy_app.app_context():
            _db.engine.dispose()

    # A restore never writes into a database that has tables, and a wrong file is refused.
    before = everything(db.engine)  # signing in above wrote to both databases
    refused = invoke_crisis("restore", str(dump), env={**env, "CRISIS_DATABASE_URL": pg_url})
    assert refused.returncode == 1 and "restore only into a new, empty database" in refused.stderr
    assert everything(db.engine) == before
    with pytest.raises(backup.BackupError, match="never overwritten"):
        backup.backup(db.engine, dump)
    not_a_dump = workdir / "notes.txt"
    not_a_dump.write_text("not a backup")
    other = create_engine(scratch_database())
    try:
        with pytest.raises(backup.BackupError, match="not a pg_dump custom-format file"):
            backup.restore(other, not_a_dump)
        # The file is plain pg_restore input too (the README's commands without crisis).
        libpq = other.url.set(drivername="postgresql").render_as_string(hide_password=False)
        listed = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True)
        assert "TABLE DATA public timeline_event" in listed.stdout
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={libpq}",
                str(dump),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert everything(other) == original
    finally:
        other.dispose()


def test_sqlite_backup_is_a_consistent_copy_and_restores(tmp_path_factory, workdir):
    """The embedded default: SQLite's online backup API, while another connection is mid-write."""
    from flask_migrate import upgrade

    from crisis.auth.models import User
    from crisis.seed import seed_demo_data
    from crisis.units.models import Unit

    source = workdir / "crisis.sqlite3"
    env = crisis_env(
        CRISIS_INSTANCE_PATH=str(workdir), CRISIS_SECRET_KEY="backup-test", CRISIS_DATABASE_URL=f"sqlite:///{source}"
    )
    embedded = make_app(f"sqlite:///{source}", tmp_path_factory)
    with embedded.app_context():
        upgrade()
        seed_demo_data(session=_db.session, now=FIXED_NOW)
        units = {u.code: u for u in _db.session.query(Unit)}
        users = {(u.memberships[0].unit.code, u.memberships[0].role): u for u in _db.session.query(User)}
        build_history(_db.session, units, users)
        _db.session.commit()
        original = everything(_db.engine)
        _db.session.remove()
        _db.engine.dispose()
    assert len(original["timeline_event"]) > 30 and original["notice"]

    # Someone is writing (not yet committed) while the backup runs: the copy has none of it.
    writer = sqlite3.connect(source)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE unit SET name = 'half-written' WHERE code = 'PUSAT'")
        copy_file = workdir / "crisis-backup.sqlite3"
        backed_up = invoke_crisis("backup", str(copy_file), env=env)
        assert backed_up.returncode == 0, backed_up.stderr
    finally:
        writer.rollback()
        writer.close()
    assert copy_file.read_bytes()[:16] == b"SQLite format 3\x00" and (copy_file.stat().st_mode & 0o777) == 0o600
    assert printed_counts(backed_up.stdout) == {name: len(rows) for name, rows in original.items()}

    target = workdir / "restored" / "crisis.sqlite3"
    restored = invoke_crisis("restore", str(copy_file), env={**env, "CRISIS_DATABASE_URL": f"sqlite:///{target}"})
    assert restored.returncode == 0, restored.stderr
    assert printed_counts(restored.stdout) == printed_counts(backed_up.stdout)
    copy = create_engine(f"sqlite:///{target}")
    try:
        assert everything(copy) == original
        with copy.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM unit WHERE code = 'PUSAT'").scalar() != "half-written"
        # Never into a database with tables; never from a file that is not an SQLite backup.
        with pytest.raises(backup.BackupError, match="restore only into a new, empty database"):
            backup.restore(copy, copy_file)
        assert everything(copy) == original
        not_a_backup = workdir / "notes.txt"
        not_a_backup.write_text("not a backup")
        elsewhere = create_engine(f"sqlite:///{workdir / 'other.sqlite3'}")
        with pytest.raises(backup.BackupError, match="is not an SQLite backup"):
            backup.restore(elsewhere, not_a_backup)
        elsewhere.dispose()
        assert not (workdir / "other.sqlite3").exists()
    finally:
        copy.dispose()
