"""Demonstration data: a realistic organisation across Indonesia's three time zones."""

from __future__ import annotations

import functools
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis import clock
from crisis.auth.models import Membership, User
from crisis.auth.service import hash_password
from crisis.config import resource_dir
from crisis.exercises import scenarios
from crisis.incidents import service as incident_service
from crisis.incidents import statements
from crisis.issues import service as issues
from crisis.playbooks import service as playbooks
from crisis.units.models import DutyShift, Unit

DEMO_PASSWORD = "piket-demo-2026"  # noqa: S105  # nosec B105  # demo accounts only, printed on purpose
DEMO_DOMAIN = "demo.example"

# code, name, kind, parent code, zone, Kemendagri code (Kepmendagri 300.2.2-2L38/2025): the demo's
# units carry their area's code, so `crisis units import-indonesia` finds them instead of adding
# Jawa Tengah (33), Kota Semarang (33.74) and the rest a second time.
UNITS = [
    ("PUSAT", "Desk Nasional Komunikasi Publik", "central", None, "Asia/Jakarta", None),
    ("JATENG", "Diskominfo Provinsi Jawa Tengah", "province", "PUSAT", "Asia/Jakarta", "33"),
    ("KOTA-SEMARANG", "Diskominfo Kota Semarang", "regency", "JATENG", "Asia/Jakarta", "33.74"),
    ("KAB-BANYUMAS", "Diskominfo Kabupaten Banyumas", "regency", "JATENG", "Asia/Jakarta", "33.02"),
    ("SULSEL", "Diskominfo Provinsi Sulawesi Selatan", "province", "PUSAT", "Asia/Makassar", "73"),
    ("KOTA-MAKASSAR", "Diskominfo Kota Makassar", "regency", "SULSEL", "Asia/Makassar", "73.71"),
    ("KAB-GOWA", "Diskominfo Kabupaten Gowa", "regency", "SULSEL", "Asia/Makassar", "73.06"),
    ("PAPUA", "Diskominfo Provinsi Papua", "province", "PUSAT", "Asia/Jayapura", "91"),
    ("KOTA-JAYAPURA", "Diskominfo Kota Jayapura", "regency", "PAPUA", "Asia/Jayapura", "91.71"),
    ("KAB-JAYAPURA", "Diskominfo Kabupaten Jayapura", "regency", "PAPUA", "Asia/Jayapura", "91.03"),
]

# unit code, role, name, language. Statements at severity 3-4 are signed by a legal reviewer (the
# legal section of the regional secretariat, Bagian/Biro Hukum Setda) and by the head of the
# institution's delegate (the Sekretaris Daerah for the Wali Kota, Bupati or Gubernur): they sit in
# the units where the demo's incidents run, as in a real government.
PEOPLE = [
    ("PUSAT", "admin", "Rina Kusumawati", "id"),
    ("PUSAT", "head", "Dr. Bambang Wicaksono", "id"),
    ("PUSAT", "supervisor", "Sari Handayani", "id"),
    ("PUSAT", "officer", "Agus Setiawan", "id"),
    ("PUSAT", "observer", "Maya Anggraini", "en"),
    ("JATENG", "admin", "Hendra Prasetyo", "id"),
    ("JATENG", "head", "Dwi Lestari", "id"),
    ("JATENG", "supervisor", "Yusuf Hidayat", "id"),
    ("JATENG", "officer", "Fitri Rahmawati", "id"),
    ("JATENG", "leader", "Dr. Heri Susanto, M.Si.", "id"),
    ("JATENG", "legal", "Bagus Permana, S.H., M.H.", "id"),
    ("KOTA-SEMARANG", "head", "Joko Santoso", "id"),
    ("KOTA-SEMARANG", "supervisor", "Ratna Sari", "id"),
    ("KOTA-SEMARANG", "officer", "Adi Nugroho", "id"),
    ("KOTA-SEMARANG", "leader", "Drs. Wahyu Hidayat, M.Si.", "id"),
    ("KOTA-SEMARANG", "legal", "Nur Aini, S.H., M.H.", "id"),
    ("KAB-BANYUMAS", "head", "Sri Wahyuni", "id"),
    ("KAB-BANYUMAS", "officer", "Eko Purnomo", "id"),
    ("KAB-BANYUMAS", "leader", "Drs. Tri Wahyudi, M.M.", "id"),
    ("SULSEL", "head", "Andi Baso Mappanyukki", "id"),
    ("SULSEL", "supervisor", "Nurhayati Rahman", "id"),
    ("SULSEL", "officer", "Muh. Ikhsan", "id"),
    ("KOTA-MAKASSAR", "head", "Andi Tenri Ajeng", "id"),
    ("KOTA-MAKASSAR", "officer", "Syamsul Bahri", "id"),
    ("KOTA-MAKASSAR", "leader", "Andi Muh. Yasir, S.STP., M.Si.", "id"),
    ("KOTA-MAKASSAR", "legal", "Andi Fadli Rasyid, S.H.", "id"),
    ("KAB-GOWA", "head", "Haerul Amri", "id"),
    ("KAB-GOWA", "officer", "Sitti Aisyah", "id"),
    ("PAPUA", "head", "Yohanes Wenda", "id"),
    ("PAPUA", "supervisor", "Maria Kambu", "id"),
    ("PAPUA", "officer", "Daniel Yikwa", "id"),
    ("KOTA-JAYAPURA", "head", "Elisabeth Rumbiak", "id"),
    ("KOTA-JAYAPURA", "officer", "Markus Itlay", "id"),
    ("KAB-JAYAPURA", "head", "Petrus Ohee", "id"),
    ("KAB-JAYAPURA", "officer", "Ruth Sawaki", "id"),
]

ROLE_WORDS = {
    "admin": "admin",
    "head": "kepala",
    "supervisor": "supervisor",
    "officer": "petugas",
    "observer": "pemantau",
    "legal": "hukum",
    "leader": "pimpinan",
}


def demo_email(unit_code: str, role: str) -> str:
    return f"{ROLE_WORDS[role]}.{unit_code.lower()}@{DEMO_DOMAIN}"


def demo_accounts() -> list[tuple[str, str, str]]:
    return [(demo_email(code, role), role, code) for code, role, _name, _lang in PEOPLE]


@functools.cache
def _demo_password_hash() -> str:
    """One argon2 hash of the shared demo password per process: hashing is slow by design (about
    a quarter of a second here) and the test suite seeds the demo before most of its tests."""
    return hash_password(DEMO_PASSWORD)


def seed_demo_data(*, session: Session, now: datetime | None = None) -> None:
    now = now or clock.now()
    units: dict[str, Unit] = {}
    for code, name, kind, parent, zone, area_code in UNITS:
        unit = Unit(
            code=code,
            name=name,
            kind=kind,
            parent=units.get(parent) if parent else None,
            timezone=zone,
            area_code=area_code,
        )
        session.add(unit)
        units[code] = unit
    password_hash = _demo_password_hash()
    people: dict[tuple[str, str], User] = {}
    for code, role, name, language in PEOPLE:
        user = User(email=demo_email(code, role), name=name, password_hash=password_hash, language=language)
        user.memberships.append(Membership(unit=units[code], role=role))
        session.add(user)
        people[(code, role)] = user
    session.flush()

    playbooks.load_files(session=session, paths=playbooks.library_files(resource_dir("sops")))
    session.flush()
    scenarios.load_files(
        session=session,
        paths=scenarios.scenario_files(resource_dir("sops")),
        playbooks=playbooks.current_specs(session=session),
    )
    plan_demo_roster(session=session, now=now)


def plan_demo_roster(*, session: Session, now: datetime) -> int:
    """Day duty 07:00–19:00 for the officer, night duty 19:00–07:00 for the supervisor (or head), in
    each demo unit's own zone, from yesterday to a week ahead of `now`. Shifts already planned are
    left alone, so a demo seeded weeks ago and started again today has people on duty today.
    Returns how many shifts were added; units and people that are not the demo's are not touched."""
    codes = [code for code, *_rest in UNITS]
    units = {unit.code: unit for unit in session.scalars(select(Unit).where(Unit.code.in_(codes)))}
    emails = {demo_email(code, role): (code, role) for code, role, *_rest in PEOPLE}
    people = {emails[user.email]: user for user in session.scalars(select(User).where(User.email.in_(emails)))}
    planned = {
        (shift.user_id, shift.starts_at)
        for shift in session.scalars(select(DutyShift).where(DutyShift.unit_id.in_([u.id for u in units.values()])))
    }
    added = 0
    for code, unit in units.items():
        day_person = people.get((code, "officer"))
        night_person = people.get((code, "supervisor")) or people.get((code, "head"))
        zone = ZoneInfo(unit.timezone)
        today = now.astimezone(zone).date()
        for offset in range(-1, 8):
            day = today + timedelta(days=offset)
            morning = datetime.combine(day, time(7), zone)
            evening = datetime.combine(day, time(19), zone)
            for person, starts, ends, note in (
                (day_person, morning, evening, "Piket siang"),
                (night_person, evening, evening + timedelta(hours=12), "Piket malam"),
            ):
                if person is None or (person.id, starts) in planned:
                    continue
                session.add(DutyShift(unit=unit, user=person, starts_at=starts, ends_at=ends, note=note))
                planned.add((person.id, starts))
                added += 1
    session.flush()
    return added


# --- a living desk ------------------------------------------------------------------------------
# What a newcomer sees after `make run`: open issues, two running incidents (one overdue, one with a
# statement waiting for approval), all placed relative to `now` so the demo never goes stale. The
# history behind the dashboard (resolved incidents, approved reviews) is `seed history`'s.

# unit, who logs it, title, channel, category, reach, engagement, sentiment, first seen (hours ago), monitored
OPEN_ISSUES = [
    ("KAB-BANYUMAS", "officer", "Keluhan antrean BPJS di RSUD Banyumas viral", "tiktok", "service_failure",
     48_000, 3_100, "negative", 2, True),
    ("KOTA-JAYAPURA", "officer", "Warga bertanya jadwal pemadaman listrik bergilir", "x", "service_failure",
     6_500, 240, "mixed", 5, False),
    ("KAB-GOWA", "officer", "Hoaks: beras bantuan mengandung plastik", "whatsapp", "hoax",
     0, 0, "negative", 1, False),
    ("JATENG", "officer", "Penolakan kenaikan tarif parkir tepi jalan", "instagram", "policy_backlash",
     22_000, 1_800, "negative", 9, True),
]  # fmt: skip

OVERDUE_TITLE = "Hoaks: air PDAM Semarang tercemar bahan kimia"
AWAITING_TITLE = "Video petugas pelayanan KTP membentak warga viral"


def _person(session: Session, unit_code: str, role: str) -> User:
    return session.scalars(select(User).where(User.email == demo_email(unit_code, role))).one()


def _log_issue(
    session: Session, *, unit_code: str, title: str, channel: str, category: str, seen: datetime, now: datetime,
    reach: int = 0, engagement: int = 0, sentiment: str = "negative",
) -> Any:  # fmt: skip
    unit = session.scalars(select(Unit).where(Unit.code == unit_code)).one()
    slug = "-".join(title.lower().replace(":", "").split()[:5])
    return issues.create(
        session=session,
        actor=_person(session, unit_code, "officer"),
        unit_id=unit.id,
        title=title,
        description=f"{title}. Dipantau petugas piket sejak pertama terlihat.",
        channel=channel,
        category=category,
        first_seen_at=seen,
        reach=reach,
        engagement=engagement,
        sentiment=sentiment,
        evidence_urls=[] if channel in ("whatsapp", "hotline") else [f"https://www.{channel}.com/demo/{slug}"],
        now=now,
    )


def _close_stage(session: Session, *, incident: Any, commander: User, now: datetime) -> None:
    """Tick every item of the current stage (with a link where evidence is expected), then complete it."""
    run = incident.current_stage
    for entry in run.entries:
        if not entry.closed:
            link = "https://ppid.demo.example/bukti" if entry.evidence_expected else ""
            incident_service.tick(session=session, actor=commander, entry_id=entry.id, evidence_url=link, now=now)
    incident_service.complete_stage(session=session, actor=commander, stage_run_id=run.id, now=now)


def _open_incident(
    session: Session, *, unit_code: str, title: str, channel: str, category: str, playbook: str, severity: int,
    started: datetime,
) -> tuple[Any, User]:  # fmt: skip
    issue = _log_issue(
        session, unit_code=unit_code, title=title, channel=channel, category=category,
        seen=started - timedelta(minutes=25), now=started - timedelta(minutes=20), reach=150_000, engagement=12_000,
    )  # fmt: skip
    commander = _person(session, unit_code, "head")
    incident = incident_service.open_from_issue(
        session=session,
        actor=commander,
        issue_id=issue.id,
        playbook_key=playbook,
        severity=severity,
        commander_id=commander.id,
        now=started,
    )
    return incident, commander


def seed_live_desk(*, session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Open issues and two running incidents on the demo organisation, relative to `now`. Returns
    what it made, by name, for the command's summary and the tests."""
    now = now or clock.now()
    logged = []
    for code, _role, title, channel, category, reach, engagement, sentiment, hours, monitored in OPEN_ISSUES:
        seen = now - timedelta(hours=hours)
        issue = _log_issue(
            session, unit_code=code, title=title, channel=channel, category=category, seen=seen,
            now=seen + timedelta(minutes=10), reach=reach, engagement=engagement, sentiment=sentiment,
        )  # fmt: skip
        if monitored:
            issues.start_monitoring(
                session=session, actor=_person(session, code, "officer"), issue_id=issue.id,
                now=seen + timedelta(minutes=30),
            )  # fmt: skip
        logged.append(issue)

    # Overdue: the hoax SOP's first stage closed on time, the second (2 h at severity 3) ran out an hour ago.
    started = now - timedelta(hours=3, minutes=40)
    overdue, commander = _open_incident(
        session, unit_code="KOTA-SEMARANG", title=OVERDUE_TITLE, channel="whatsapp", category="hoax",
        playbook="hoax-clarification", severity=3, started=started,
    )  # fmt: skip
    _close_stage(session, incident=overdue, commander=commander, now=started + timedelta(minutes=40))
    # At severity 3 the SOP asks for a spokesperson before anything is published: the head of the PR unit.
    statements.designate_spokesperson(
        session=session, actor=commander, incident_id=overdue.id, spokesperson_id=commander.id,
        now=started + timedelta(minutes=45),
    )  # fmt: skip
    first_item = overdue.current_stage.entries[0]
    incident_service.tick(
        session=session, actor=commander, entry_id=first_item.id, now=started + timedelta(hours=1, minutes=5),
        evidence_url="https://ppid.demo.example/konfirmasi-pdam",
        note="Hasil uji laboratorium PDAM diterima; menunggu surat resmi.",
    )  # fmt: skip
    incident_service.comment(
        session=session, actor=_person(session, "KOTA-SEMARANG", "officer"), incident_id=overdue.id,
        body="Pesan berantai masih beredar di grup WhatsApp warga Tembalang.", now=now - timedelta(minutes=35),
    )  # fmt: skip

    # Awaiting approval: an officer's holding statement waits for the supervisor or head.
    started = now - timedelta(minutes=55)
    awaiting, commander = _open_incident(
        session, unit_code="KOTA-MAKASSAR", title=AWAITING_TITLE, channel="tiktok", category="official_conduct",
        playbook="official-misconduct-viral", severity=2, started=started,
    )  # fmt: skip
    _close_stage(session, incident=awaiting, commander=commander, now=started + timedelta(minutes=25))
    statement = statements.draft(
        session=session, actor=_person(session, "KOTA-MAKASSAR", "officer"), incident_id=awaiting.id,
        kind="holding", title="Pernyataan awal: video petugas pelayanan KTP",
        body="Pemerintah Kota Makassar menyesalkan kejadian dalam video tersebut. Petugas yang bersangkutan "
        "sedang dimintai keterangan; pembaruan berikutnya kami sampaikan hari ini.",
        now=now - timedelta(minutes=15),
    )  # fmt: skip
    session.flush()
    return {"issues": logged, "overdue": overdue, "awaiting": awaiting, "statement": statement}
