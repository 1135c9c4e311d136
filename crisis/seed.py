"""Demonstration data: a realistic organisation across Indonesia's three time zones."""

from __future__ import annotations

import functools
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis import clock
from crisis.auth.models import Membership, User
from crisis.auth.service import hash_password
from crisis.config import resource_dir
from crisis.playbooks import service as playbooks
from crisis.units.models import DutyShift, Unit

DEMO_PASSWORD = "piket-demo-2026"  # noqa: S105  # nosec B105  # demo accounts only, printed on purpose
DEMO_DOMAIN = "demo.example"

# code, name, kind, parent code, zone
UNITS = [
    ("PUSAT", "Desk Nasional Komunikasi Publik", "central", None, "Asia/Jakarta"),
    ("JATENG", "Diskominfo Provinsi Jawa Tengah", "province", "PUSAT", "Asia/Jakarta"),
    ("KOTA-SEMARANG", "Diskominfo Kota Semarang", "regency", "JATENG", "Asia/Jakarta"),
    ("KAB-BANYUMAS", "Diskominfo Kabupaten Banyumas", "regency", "JATENG", "Asia/Jakarta"),
    ("SULSEL", "Diskominfo Provinsi Sulawesi Selatan", "province", "PUSAT", "Asia/Makassar"),
    ("KOTA-MAKASSAR", "Diskominfo Kota Makassar", "regency", "SULSEL", "Asia/Makassar"),
    ("KAB-GOWA", "Diskominfo Kabupaten Gowa", "regency", "SULSEL", "Asia/Makassar"),
    ("PAPUA", "Diskominfo Provinsi Papua", "province", "PUSAT", "Asia/Jayapura"),
    ("KOTA-JAYAPURA", "Diskominfo Kota Jayapura", "regency", "PAPUA", "Asia/Jayapura"),
    ("KAB-JAYAPURA", "Diskominfo Kabupaten Jayapura", "regency", "PAPUA", "Asia/Jayapura"),
]

# unit code, role, name, language
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
    ("KOTA-SEMARANG", "head", "Joko Santoso", "id"),
    ("KOTA-SEMARANG", "supervisor", "Ratna Sari", "id"),
    ("KOTA-SEMARANG", "officer", "Adi Nugroho", "id"),
    ("KAB-BANYUMAS", "head", "Sri Wahyuni", "id"),
    ("KAB-BANYUMAS", "officer", "Eko Purnomo", "id"),
    ("SULSEL", "head", "Andi Baso Mappanyukki", "id"),
    ("SULSEL", "supervisor", "Nurhayati Rahman", "id"),
    ("SULSEL", "officer", "Muh. Ikhsan", "id"),
    ("KOTA-MAKASSAR", "head", "Andi Tenri Ajeng", "id"),
    ("KOTA-MAKASSAR", "officer", "Syamsul Bahri", "id"),
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
    for code, name, kind, parent, zone in UNITS:
        unit = Unit(code=code, name=name, kind=kind, parent=units.get(parent) if parent else None, timezone=zone)
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
