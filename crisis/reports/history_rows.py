"""The rows of a generated history: stage runs, statements, escalations, reviews and KPI targets
(crisis.reports.cli writes them in batches)."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crisis.escalation.models import Timer
from crisis.notify.models import Notice
from crisis.reports.models import KpiTarget
from crisis.reviews.models import ActionItem, Review
from crisis.units.models import Unit


def insert_rows(session: Session, model: Any, rows: list[dict[str, Any]], returning: bool = False) -> list[int]:
    if not rows:
        return []
    table = model.__table__
    if returning:
        result = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        return [row[0] for row in result]
    session.execute(insert(table), rows)
    return []


def stage_row(
    incident_id: int,
    position: int,
    key: str,
    target: timedelta,
    started: datetime | None,
    completed: datetime | None,
    state: str,
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "position": position,
        "stage_key": key,
        "state": state,
        "target_seconds": int(target.total_seconds()),
        "started_at": started,
        "due_at": started + target if started else None,
        "completed_at": completed,
    }


def statement_row(
    incident_id: int, kind: str, author: int, at: datetime, shares: list[tuple[int, datetime]], unit_id: int
) -> tuple[dict[str, Any], list[tuple[int, datetime]], int]:
    published = at if kind == "holding" else None
    row = {
        "incident_id": incident_id,
        "kind": kind,
        "title": "Pernyataan awal" if kind == "holding" else "Pesan kunci",
        "body": "Kami mengetahui informasi yang beredar dan sedang memverifikasinya.",
        "state": "published" if published else "approved",
        "drafted_by_id": author,
        "drafted_at": at - timedelta(minutes=10),
        "approved_by_id": author,
        "approved_at": at - timedelta(minutes=2) if kind == "holding" else at,
        "published_at": published,
        "version": 1,
    }
    return row, shares, unit_id


def escalation_rows(
    session: Session,
    rng: random.Random,
    escalations: list[Any],
    run_ids: list[int],
    heads: dict[int, int],
    everyone: list[int],
    by_id: dict[int, Unit],
    stages: list[dict[str, Any]],
) -> int:
    timers = []
    for incident_id, _unit, run_index, fire_at, _done in escalations:
        timers.append(
            {
                "incident_id": incident_id,
                "stage_run_id": run_ids[run_index],
                "kind": "escalation_step",
                "step_index": 0,
                "repeat_index": 0,
                "fire_at": fire_at,
                "state": "fired",
                "created_at": fire_at,
                "fired_at": fire_at,
                "cancel_reason": "",
                "attempt": 1,
            }
        )
    timer_ids = insert_rows(session, Timer, timers, returning=True)
    notices = []
    for timer_id, (incident_id, unit, run_index, fire_at, done) in zip(timer_ids, escalations, strict=True):
        stage = stages[run_index]
        # What the engine writes on a step's notice: the pages name the stage from it.
        payload = {
            "kind": "escalation_step",
            "stage_key": stage["stage_key"],
            "stage_position": stage["position"],
            "step_index": 0,
            "repeat_index": 0,
        }
        recipients = {heads.get(unit.id, everyone[0])}
        if unit.parent_id is not None:
            recipients.add(heads.get(unit.parent_id, everyone[0]))
        for user_id in recipients:
            acknowledged = fire_at + timedelta(minutes=rng.lognormvariate(math.log(12), 0.8))
            ack = acknowledged if rng.random() < 0.7 and acknowledged < done else None
            notices.append(
                {
                    "kind": "deadline",
                    "idempotency_key": f"seed:{timer_id}:{user_id}:inapp",
                    "timer_id": timer_id,
                    "incident_id": incident_id,
                    "channel": "inapp",
                    "recipient_user_id": user_id,
                    "payload": payload,
                    "status": "sent",
                    "attempts": 1,
                    "last_error": "",
                    "due_at": fire_at,
                    "queued_at": fire_at,
                    "next_attempt_at": fire_at,
                    "sent_at": fire_at,
                    "acknowledged_at": ack,
                    "acknowledged_by_id": user_id if ack else None,
                }
            )
    insert_rows(session, Notice, notices)
    return len(notices)


def review_rows(
    session: Session, rng: random.Random, plans: list[Any], heads: dict[int, int], fallback: int, now: datetime
) -> tuple[int, int]:
    rows = []
    for incident_id, unit, resolved, due, approved in plans:
        rows.append(
            {
                "incident_id": incident_id,
                "unit_id": unit.id,
                "state": "approved" if approved else "draft",
                "summary": "Respons berjalan sesuai SOP dengan beberapa catatan." if approved else "",
                "went_well": "Koordinasi cepat dengan unit teknis." if approved else "",
                "to_improve": "Percepat verifikasi awal." if approved else "",
                "stage_ratings": {},
                "created_at": resolved,
                "due_at": due,
                "submitted_at": approved - timedelta(hours=3) if approved else None,
                "submitted_by_id": None,
                "approved_at": approved,
                "approved_by_id": heads.get(unit.id, fallback) if approved else None,
                "version": 1,
            }
        )
    review_ids = insert_rows(session, Review, rows, returning=True)
    items = []
    for review_id, (_incident_id, unit, _resolved, _due, approved) in zip(review_ids, plans, strict=True):
        if approved is None:
            continue
        for n in range(rng.choice((0, 1, 1, 2, 3))):
            due_on: date = (approved + timedelta(days=rng.randint(7, 45))).astimezone(ZoneInfo(unit.timezone)).date()
            due_at = datetime.combine(
                due_on + timedelta(days=1), datetime.min.time(), ZoneInfo(unit.timezone)
            ) - timedelta(microseconds=1)
            status = "open"
            done_at = None
            roll = rng.random()
            if due_at < now or roll < 0.5:
                status = "dropped" if roll < 0.05 else ("done" if roll < 0.9 else "open")
                if status == "done":
                    done_at = min(now, due_at + timedelta(days=rng.gauss(-3, 6)))
            items.append(
                {
                    "review_id": review_id,
                    "title": f"Perbaikan {n + 1}: perbarui daftar kontak",
                    "owner_id": heads.get(unit.id, fallback),
                    "due_on": due_on,
                    "due_at": due_at,
                    "status": status,
                    "done_at": done_at,
                    "created_at": approved,
                }
            )
    insert_rows(session, ActionItem, items)
    return len(review_ids), len(items)


def plan_targets(session: Session, units: list[Unit], now: datetime) -> None:
    existing = set(session.execute(select(KpiTarget.unit_id, KpiTarget.measure)).all())
    rows = []
    for unit in units:
        if unit.kind == "regency":
            continue
        for measure, threshold, share in (
            ("time_to_holding_statement", 3600, 0.9),
            ("stage_sla", None, 0.8),
            ("review_on_time", None, 0.9),
        ):
            if (unit.id, measure) not in existing:
                rows.append(
                    {
                        "unit_id": unit.id,
                        "measure": measure,
                        "threshold_seconds": threshold,
                        "comparison": "<=",
                        "target_share": share,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
    insert_rows(session, KpiTarget, rows)
