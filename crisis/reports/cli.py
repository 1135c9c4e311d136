"""`crisis seed history --incidents N`: a realistic response history for demos and benchmarks.

Units across the three time zones (the demo organisation, plus generated provinces and regencies
with `--units`), every playbook, stage timings with realistic breaches (some units and some stages
are slower than others, so the heat map shows a pattern), statements and shared key messages,
escalations with acknowledgements, reviews (most on time) and action items. Rows are written in
batches with multi-row INSERTs.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from crisis import clock
from crisis.auth.models import Membership, User
from crisis.incidents.models import (
    MEDIA_OUTLET_TYPES,
    ChecklistEntry,
    Incident,
    InvolvedUnit,
    MediaQuery,
    Participant,
    Publication,
    StageRun,
    Statement,
)
from crisis.playbooks.models import Playbook, PlaybookVersion
from crisis.playbooks.spec import PlaybookSpec, Span, WorkingDays
from crisis.playbooks.workdays import add_working_days, collective_leave
from crisis.reports.history_rows import (
    escalation_rows,
    insert_rows,
    plan_targets,
    review_rows,
    stage_row,
    statement_row,
)
from crisis.reports.service import refresh_measures
from crisis.timeline.models import TimelineEvent
from crisis.units.models import Unit

ZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")
BATCH = 1000
TITLES = (
    "Hoaks bantuan sosial beredar di WhatsApp",
    "Keluhan antrean layanan KTP viral",
    "Banjir: informasi pengungsian",
    "Kebocoran data pemohon izin",
    "Penolakan kebijakan tarif parkir",
    "Video petugas kasar viral",
    "Aduan LAPOR! jalan rusak",
    "Isu pemadaman air PDAM",
    "Hoaks gempa susulan",
    "Keluhan pelayanan puskesmas",
)


def _ensure_units(session: Session, wanted: int, rng: random.Random) -> list[Unit]:
    """At least `wanted` units: generated provinces (about one per 14 units) with regencies below."""
    units = list(session.scalars(select(Unit).order_by(Unit.id)))
    if not units:
        from crisis.seed import seed_demo_data

        seed_demo_data(session=session)
        units = list(session.scalars(select(Unit).order_by(Unit.id)))
    central = next(u for u in units if u.kind == "central")
    missing = wanted - len(units)
    if missing <= 0:
        return units
    provinces = max(1, missing // 14)
    made = 0
    for p in range(provinces):
        zone = ZONES[p % 3]
        province = Unit(
            code=f"PROV-{p + 1:02d}",
            name=f"Diskominfo Provinsi {p + 1:02d}",
            kind="province",
            parent=central,
            timezone=zone,
        )
        session.add(province)
        made += 1
        children = (missing - provinces) // provinces + (1 if p < (missing - provinces) % provinces else 0)
        for r in range(children):
            session.add(
                Unit(
                    code=f"KAB-{p + 1:02d}-{r + 1:02d}",
                    name=f"Diskominfo Kabupaten {p + 1:02d}-{r + 1:02d}",
                    kind="regency",
                    parent=province,
                    timezone=zone,
                )
            )
            made += 1
    session.flush()
    return list(session.scalars(select(Unit).order_by(Unit.id)))


def _people(session: Session) -> tuple[dict[int, int], list[int]]:
    """A commander per unit (its head, else someone above it), and everyone."""
    heads: dict[int, int] = {}
    for unit_id, user_id, role in session.execute(select(Membership.unit_id, Membership.user_id, Membership.role)):
        if role == "head" or unit_id not in heads:
            heads[unit_id] = user_id
    return heads, list(session.scalars(select(User.id)))


def _calendar(span: Span, start: datetime, zone: str, session: Session, leave: set[Any]) -> timedelta:
    """A stage target as calendar time from `start`: working days (`5wd`, SP4N-LAPOR!) end on that
    working day in the unit's zone, as the engine plans them."""
    if isinstance(span, WorkingDays):
        return add_working_days(start, span.days, zone=zone, session=session, leave=leave) - start
    return span


def _commander(unit: Unit, heads: dict[int, int], fallback: int) -> int:
    node: Unit | None = unit
    while node is not None:
        if node.id in heads:
            return heads[node.id]
        node = node.parent
    return fallback


def seed_history(
    *,
    session: Session,
    incidents: int,
    months: int = 12,
    units: int = 0,
    seed: int = 2026,
    now: datetime | None = None,
    echo: Any = None,
    settled: bool = False,
) -> dict[str, int]:
    """Generate `incidents` incidents over the past `months` months, then bring the evaluation's
    precomputed measures up to date. Flushes in batches; the caller commits. `settled`: every
    incident has ended by `now` (a stage that would still run is shortened), as the demo wants: its
    running incidents are made apart, with timers."""
    rng = random.Random(seed)  # noqa: S311  # nosec B311  # demo data, reproducible on purpose; no secret
    # The media desk's questions draw from their own stream: the rest of a seeded history stays as it was.
    press = random.Random(seed + 22)  # noqa: S311  # nosec B311  # as above
    now = now or clock.now()
    all_units = _ensure_units(session, units, rng)
    by_id = {u.id: u for u in all_units}
    heads, everyone = _people(session)
    fallback = everyone[0]
    versions = list(
        session.scalars(
            select(PlaybookVersion).where(
                PlaybookVersion.id.in_(select(func.max(PlaybookVersion.id)).group_by(PlaybookVersion.playbook_id))
            )
        )
    )
    if not versions:
        raise click.ClickException("No SOPs loaded: run `crisis sops load` (or `crisis seed demo`) first.")
    specs = {v.id: PlaybookSpec.from_canonical(v.canonical) for v in versions}
    playbook_keys = dict(session.execute(select(PlaybookVersion.id, Playbook.key).join(Playbook)).all())
    # Some units and some stages are slower: breaches cluster, as they do in practice.
    unit_pace = {u.id: rng.lognormvariate(0, 0.35) for u in all_units}
    stage_pace: dict[str, float] = {}
    for spec in specs.values():
        for stage in spec.stages:
            stage_pace.setdefault(stage.key, rng.lognormvariate(0, 0.3))
    owners = [u for u in all_units if u.kind != "central"] or all_units
    weights = [3 if u.kind == "regency" else 1 for u in owners]
    span = timedelta(days=30 * months)
    # Collective leave days over the whole history, read once: working-day targets (SP4N-LAPOR!) skip them.
    leave = collective_leave(session, (now - span - timedelta(days=31)).date(), (now + timedelta(days=400)).date())
    counts = {"incidents": 0, "stage_runs": 0, "statements": 0, "notices": 0, "reviews": 0, "action_items": 0}

    for batch_start in range(0, incidents, BATCH):
        size = min(BATCH, incidents - batch_start)
        plans = []
        for _ in range(size):
            unit = rng.choices(owners, weights)[0]
            version = rng.choice(versions)
            spec = specs[version.id]
            severity = rng.choices(spec.severities, [4 - abs(s - 2) for s in spec.severities])[0]
            zone = ZoneInfo(unit.timezone)
            # Working hours are busier: pick a day, then an hour drawn around 10:00 local.
            started = now - span * rng.random() ** 1.1
            local = started.astimezone(zone)
            hour = min(23, max(0, int(rng.gauss(11, 4))))
            started = local.replace(hour=hour, minute=rng.randrange(60), second=0, microsecond=0).astimezone(UTC)
            if started >= now:
                started = now - timedelta(minutes=rng.randrange(30, 600))
            plans.append((unit, version, spec, severity, started))
        incident_rows = []
        for unit, version, _spec, severity, started in plans:
            incident_rows.append(
                {
                    "unit_id": unit.id,
                    "title": rng.choice(TITLES),
                    "severity": severity,
                    "state": "active",
                    "commander_id": _commander(unit, heads, fallback),
                    "playbook_version_id": version.id,
                    "playbook_snapshot": version.canonical,
                    "opened_by_id": None,
                    "started_at": started,
                    "state_reason": "",
                    "version": 1,
                }
            )
        ids = insert_rows(session, Incident, incident_rows, returning=True)

        stage_rows, entry_plan, statement_rows, involved_rows, events = [], [], [], [], []
        media_rows: list[dict[str, Any]] = []
        participants, updates, reviews_plan, escalations = [], [], [], []
        for incident_id, (unit, version, spec, severity, started) in zip(ids, plans, strict=True):
            cancelled = rng.random() < 0.04
            moment = started
            ended = True
            first_done = None
            for position, stage in enumerate(spec.stages):
                target = _calendar(stage.target_for(severity), moment, unit.timezone, session, leave)
                if cancelled and position > 0:
                    stage_rows.append(stage_row(incident_id, position, stage.key, target, None, None, "pending"))
                    continue
                pace = unit_pace[unit.id] * stage_pace[stage.key] * (0.85 if severity >= 3 else 1.0)
                actual = target * min(4.0, rng.lognormvariate(math.log(0.62 * pace), 0.5))
                actual = max(actual, timedelta(minutes=2))
                done = moment + actual
                if settled and done > now:
                    done = moment + (now - moment) / 2
                if done > now or (cancelled and position == 0):
                    stage_rows.append(stage_row(incident_id, position, stage.key, target, moment, None, "active"))
                    ended = False
                    for later, rest in enumerate(spec.stages[position + 1 :], start=position + 1):
                        stage_rows.append(
                            stage_row(
                                incident_id,
                                later,
                                rest.key,
                                _calendar(rest.target_for(severity), moment, unit.timezone, session, leave),
                                None,
                                None,
                                "pending",
                            )
                        )
                    break
                stage_rows.append(stage_row(incident_id, position, stage.key, target, moment, done, "completed"))
                if done > moment + target and rng.random() < 0.8:
                    escalations.append((incident_id, unit, len(stage_rows) - 1, moment + target * 1.0, done))
                for item_position, item in enumerate(stage.checklist):
                    waived = item.required and rng.random() < 0.03
                    entry_plan.append((len(stage_rows) - 1, item_position, item, done, waived))
                events.append(
                    {
                        "occurred_at": done,
                        "unit_id": unit.id,
                        "subject_type": "incident",
                        "subject_id": incident_id,
                        "kind": "stage.completed",
                        "data": {
                            "stage": stage.key,
                            "breached": done > moment + target,
                            "late_seconds": max(0, int((done - moment - target).total_seconds())),
                        },
                    }
                )
                first_done = first_done or done
                moment = done
            events.append(
                {
                    "occurred_at": started,
                    "unit_id": unit.id,
                    "subject_type": "incident",
                    "subject_id": incident_id,
                    "kind": "incident.opened",
                    "data": {"playbook": playbook_keys[version.id], "severity": severity},
                }
            )
            participants.append(
                {
                    "incident_id": incident_id,
                    "user_id": _commander(unit, heads, fallback),
                    "role": "commander",
                    "added_at": started,
                }
            )
            # Statements: a holding statement soon after acknowledgement, usually; key messages often.
            author = _commander(unit, heads, fallback)
            first_statement = None
            if not cancelled and first_done is not None and rng.random() < 0.9:
                at = first_done + timedelta(minutes=rng.lognormvariate(math.log(25), 0.7))
                if at < now:
                    statement_rows.append(statement_row(incident_id, "holding", author, at, [], unit.id))
                    first_statement = at
            involved = []
            if not cancelled and rng.random() < 0.35:
                candidates = [u for u in all_units if u.id != unit.id and u.kind != "central"]
                involved = rng.sample(candidates, k=min(len(candidates), rng.randint(1, 3)))
                for other in involved:
                    involved_rows.append({"incident_id": incident_id, "unit_id": other.id, "involved_at": started})
                approved = started + timedelta(hours=rng.uniform(1, 6))
                if approved < now:
                    shares = [
                        (
                            other.id,
                            approved + timedelta(minutes=rng.lognormvariate(math.log(50), 0.8) * unit_pace[other.id]),
                        )
                        for other in involved
                        if rng.random() < 0.85
                    ]
                    statement_rows.append(
                        statement_row(
                            incident_id, "key_messages", author, approved, [s for s in shares if s[1] < now], unit.id
                        )
                    )
            resolved = moment if ended and not cancelled else None
            if not cancelled:
                media_rows += _media_questions(press, incident_id, author, started, resolved, severity, spec, now)
            state = "active"
            if cancelled:
                state = "cancelled"
                updates.append(
                    {
                        "id": incident_id,
                        "state": "cancelled",
                        "cancelled_at": started + timedelta(hours=1),
                        "resolved_at": None,
                        "closed_at": None,
                        "first_statement_at": None,
                        "state_reason": "Bukan isu: sudah diklarifikasi",
                    }
                )
            elif resolved is not None:
                review_due = resolved + spec.settings.review_due
                approved_at = resolved + timedelta(days=rng.lognormvariate(math.log(4), 0.6))
                closed = approved_at < now and rng.random() < 0.9
                state = "closed" if closed else "resolved"
                updates.append(
                    {
                        "id": incident_id,
                        "state": state,
                        "resolved_at": resolved,
                        "closed_at": approved_at if closed else None,
                        "cancelled_at": None,
                        "first_statement_at": first_statement,
                        "state_reason": "",
                    }
                )
                reviews_plan.append((incident_id, unit, resolved, review_due, approved_at if closed else None))
                events.append(
                    {
                        "occurred_at": resolved,
                        "unit_id": unit.id,
                        "subject_type": "incident",
                        "subject_id": incident_id,
                        "kind": "incident.resolved",
                        "data": {},
                    }
                )
            else:
                updates.append(
                    {
                        "id": incident_id,
                        "state": "active",
                        "resolved_at": None,
                        "closed_at": None,
                        "cancelled_at": None,
                        "first_statement_at": first_statement,
                        "state_reason": "",
                    }
                )
        counts["incidents"] += len(ids)

        run_ids = insert_rows(session, StageRun, stage_rows, returning=True)
        counts["stage_runs"] += len(run_ids)
        entry_rows = []
        for run_index, item_position, item, done, waived in entry_plan:
            entry_rows.append(
                {
                    "stage_run_id": run_ids[run_index],
                    "position": item_position,
                    "item_key": item.key,
                    "required": item.required,
                    "owner_role": item.owner,
                    "evidence_expected": item.evidence,
                    "done_at": None if waived else done - timedelta(minutes=1),
                    "note": "",
                    "evidence_url": "https://example.go.id/bukti" if item.evidence and not waived else "",
                    "waived_at": done - timedelta(minutes=1) if waived else None,
                    "waive_reason": "Tidak relevan untuk kasus ini" if waived else "",
                }
            )
        for chunk in range(0, len(entry_rows), 5000):
            insert_rows(session, ChecklistEntry, entry_rows[chunk : chunk + 5000])
        statement_ids = insert_rows(session, Statement, [row for row, _shares, _unit in statement_rows], returning=True)
        counts["statements"] += len(statement_ids)
        publications = []
        for statement_id, (row, shares, owner_unit) in zip(statement_ids, statement_rows, strict=True):
            if row["published_at"] is not None:
                publications.append(
                    {
                        "statement_id": statement_id,
                        "unit_id": owner_unit,
                        "channel": "website",
                        "url": "",
                        "published_at": row["published_at"],
                        "recorded_by_id": row["drafted_by_id"],
                        "recorded_at": row["published_at"],
                    }
                )
            for other_id, at in shares:
                publications.append(
                    {
                        "statement_id": statement_id,
                        "unit_id": other_id,
                        "channel": "instagram",
                        "url": "",
                        "published_at": at,
                        "recorded_by_id": row["drafted_by_id"],
                        "recorded_at": at,
                    }
                )
        insert_rows(session, Publication, publications)
        insert_rows(session, InvolvedUnit, involved_rows)
        insert_rows(session, MediaQuery, media_rows)
        counts["media_queries"] = counts.get("media_queries", 0) + len(media_rows)
        insert_rows(session, Participant, participants)
        insert_rows(session, TimelineEvent, events)
        table = Incident.__table__
        fields = ("state", "resolved_at", "closed_at", "cancelled_at", "first_statement_at", "state_reason")
        session.execute(
            table.update().where(table.c.id == bindparam("b_id")).values({f: bindparam(f"b_{f}") for f in fields}),
            [{f"b_{k}": v for k, v in row.items()} for row in updates],
        )
        counts["notices"] += escalation_rows(session, rng, escalations, run_ids, heads, everyone, by_id, stage_rows)
        r, a = review_rows(session, rng, reviews_plan, heads, fallback, now)
        counts["reviews"] += r
        counts["action_items"] += a
        session.flush()
        if echo:
            echo(f"  {counts['incidents']:>7} incidents")
    plan_targets(session, all_units, now)
    session.flush()
    counts["measured"] = refresh_measures(session=session, now=now)
    return counts


def _media_questions(
    press: random.Random,
    incident_id: int,
    author: int,
    started: datetime,
    resolved: datetime | None,
    severity: int,
    spec: PlaybookSpec,
    now: datetime,
) -> list[dict[str, Any]]:
    """Journalists' questions of one incident: none for most minor ones, a few for the rest; most
    answered within the SOP's target, some late, some declined with the holding line, and a few
    never answered (a miss once the incident is over)."""
    if press.random() > 0.25 + 0.15 * severity:
        return []
    target = spec.settings.media_answer_within_for(severity)
    end = resolved or now
    rows = []
    for _ in range(press.randint(1, 1 + severity)):
        received = started + timedelta(minutes=press.lognormvariate(math.log(60), 0.8))
        if received >= end:
            continue
        answered: datetime | None = received + target * min(3.0, press.lognormvariate(math.log(0.6), 0.6))
        if answered >= now or press.random() < 0.08:
            answered = None
        declined = answered is not None and press.random() < 0.12
        rows.append(
            {
                "incident_id": incident_id,
                "journalist": press.choice(("Rina Wulandari", "Dedi Kurniawan", "Sari Utami", "Andi Saputra")),
                "outlet": press.choice(("Kompas TV", "Tempo.co", "Radar Semarang", "Reuters", "Radio Komunitas")),
                "outlet_type": press.choice(MEDIA_OUTLET_TYPES),
                "channel": press.choice(("phone", "whatsapp", "email", "press_conference")),
                "question": "Apa langkah pemerintah daerah?",
                "received_at": received,
                "due_at": received + target,
                "logged_by_id": author,
                "logged_at": received,
                "state": "open" if answered is None else ("declined" if declined else "answered"),
                "answer_kind": None if answered is None or declined else "text",
                "answer_text": "" if answered is None or declined else "Jawaban yang disetujui.",
                "answered_at": answered,
                "answered_by_id": None if answered is None else author,
                "decline_reason": "Data korban hanya dari BPBD" if declined else "",
                "holding_line": "Pembaruan berikutnya pukul 15.00." if declined else "",
                "version": 1,
            }
        )
    return rows


@click.command("history")
@click.option(
    "--incidents",
    "count",
    default=500,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="How many incidents to generate.",
)
@click.option(
    "--months", default=12, show_default=True, type=click.IntRange(1, 60), help="Spread over this many months."
)
@click.option(
    "--units",
    default=0,
    show_default=True,
    type=click.IntRange(0, 5000),
    help="Create provinces and regencies until there are this many units.",
)
@click.option("--seed", default=2026, show_default=True, type=int, help="Random seed: the same seed, the same history.")
@with_appcontext
def seed_history_command(count: int, months: int, units: int, seed: int) -> None:
    """A realistic response history (incidents, stages, statements, escalations, reviews) to evaluate."""
    from crisis.extensions import db

    click.echo(f"Generating {count} incidents over {months} months...")
    counts = seed_history(session=db.session, incidents=count, months=months, units=units, seed=seed, echo=click.echo)
    db.session.commit()
    click.echo(", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()))
