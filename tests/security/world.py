"""One regency's worth of records, made through the services: issues with evidence and notes, an
active incident with a comment, statements and a publication, a resolved incident with its review
and an action item, a notice, a webhook, a KPI target, a monthly report, a user and a token.

`build(...)` answers the ids of everything by the name of the path parameter that addresses it,
so generated requests can be pointed at real rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from crisis.auth import service as people
from crisis.escalation.models import Timer
from crisis.exercises import service as exercises
from crisis.incidents import media, statements
from crisis.incidents import service as incidents
from crisis.issues import service as issues
from crisis.notify import service as notify
from crisis.notify.models import Notice
from crisis.reports import monthly
from crisis.reports import service as reports
from crisis.reviews import service as reviews
from crisis.units.models import DutyShift
from tests.factories import designate_spokesperson, log_issue, run_through, sign_through

M = timedelta(minutes=1)


def _issue(session: Any, org: dict[str, Any], code: str, title: str, now: Any) -> Any:
    return log_issue(
        session,
        org,
        now=now,
        unit=code,
        title=title,
        channel="x",
        evidence_urls=[f"https://example.com/{code}/{title[:4].strip()}"],
        source_person="Budi",
        source_contact="0812-0000-0000",
    )


def _tick_everything(session: Any, actor: Any, incident: Any, now: Any) -> None:
    run_through(session, actor, incident, now=now)


def build(session: Any, org: dict[str, Any], code: str, *, admin: Any, now: Any) -> dict[str, list[Any]]:
    """Records of unit `code`; `admin` administers it (its own or a parent unit's admin)."""
    unit = org["units"][code]
    officer, head = org["users"][(code, "officer")], org["users"][(code, "head")]
    ids: dict[str, list[Any]] = defaultdict(list)

    monitored = _issue(session, org, code, "Hoaks bansos Rp 3 juta beredar", now)
    issues.start_monitoring(session=session, actor=officer, issue_id=monitored.id, now=now + M)
    issues.add_note(
        session=session,
        actor=officer,
        issue_id=monitored.id,
        body="Sudah 40 ribu tayangan.",
        reach=45000,
        now=now + 2 * M,
    )
    duplicate = _issue(session, org, code, "Hoaks bansos Rp 3 juta beredar lagi", now + 3 * M)

    active = incidents.open_from_issue(
        session=session,
        actor=officer,
        issue_id=_issue(session, org, code, "Air PDAM tercemar", now).id,
        playbook_key="hoax-clarification",
        severity=3,
        commander_id=head.id,
        now=now + 4 * M,
    )
    incidents.comment(
        session=session, actor=officer, incident_id=active.id, body="Tim sedang verifikasi.", now=now + 5 * M
    )
    first = active.stage_runs[0].entries[0]
    incidents.tick(
        session=session,
        actor=officer,
        entry_id=first.id,
        now=now + 6 * M,
        evidence_url="https://example.com/bukti" if first.evidence_expected else "",
    )
    published = statements.draft(
        session=session,
        actor=officer,
        incident_id=active.id,
        kind="key_messages",
        title="Pesan kunci",
        body="Air PDAM aman diminum.",
        now=now + 7 * M,
    )
    # Severity 3: the head signs, the SOP's chain its institution head too, and a spokesperson speaks.
    sign_through(session, published, now=now + 8 * M, first=head)
    designate_spokesperson(session, active, now=now + 8 * M, person=head)
    statements.publish(
        session=session,
        actor=officer,
        statement_id=published.id,
        channel="website",
        url="https://example.go.id/klarifikasi",
        published_at=now + 9 * M,
        now=now + 9 * M,
    )
    drafted = statements.draft(
        session=session,
        actor=officer,
        incident_id=active.id,
        kind="holding",
        title="Pernyataan awal",
        body="Kami mengetahui pesan yang beredar.",
        now=now + 10 * M,
    )

    question = media.log(
        session=session,
        actor=officer,
        incident_id=active.id,
        fields={
            "journalist": "Rina Wulandari",
            "outlet": "Kompas TV",
            "outlet_type": "national_tv",
            "channel": "phone",
            "question": "Benarkah air PDAM tercemar?",
            "received_at": now + 10 * M,
        },
        now=now + 10 * M,
    )

    timer = Timer(
        incident_id=active.id,
        stage_run_id=active.stage_runs[0].id,
        kind="escalation_step",
        step_index=0,
        fire_at=now + 11 * M,
        state="fired",
        fired_at=now + 11 * M,
    )
    session.add(timer)
    session.flush()
    notice = Notice(
        idempotency_key=f"security:{timer.id}:{head.id}",
        timer_id=timer.id,
        incident_id=active.id,
        channel="inapp",
        recipient_user_id=head.id,
        payload={"kind": "escalation_step", "unit_code": code},
        status="sent",
        attempts=1,
        due_at=timer.fire_at,
        queued_at=timer.fire_at,
        next_attempt_at=timer.fire_at,
        sent_at=timer.fire_at,
    )
    session.add(notice)

    resolved = incidents.open_from_issue(
        session=session,
        actor=officer,
        issue_id=_issue(session, org, code, "Video pungli viral", now).id,
        playbook_key="hoax-clarification",
        severity=2,
        commander_id=head.id,
        now=now + 12 * M,
    )
    _tick_everything(session, officer, resolved, now + 13 * M)
    incidents.resolve(session=session, actor=head, incident_id=resolved.id, now=now + 14 * M)
    review = reviews.open_draft(session=session, incident=resolved, now=now + 14 * M)
    item = reviews.add_action_item(
        session=session,
        actor=head,
        review_id=review.id,
        title="Perbarui FAQ",
        owner_id=officer.id,
        due_on=(now + timedelta(days=7)).date().isoformat(),
        now=now + 15 * M,
    )

    hook = notify.create_webhook(
        session=session, actor=admin, unit_id=unit.id, name="Piket", url=f"https://hooks.example.com/{code.lower()}"
    )
    target = reports.set_target(
        session=session,
        actor=head,
        unit_id=unit.id,
        measure="time_to_holding_statement",
        target_percent=90,
        threshold_minutes=60,
        now=now,
    )
    last_month = monthly.previous_month(now, unit.timezone)  # the world's clock, never a fixed date
    report = monthly.request_monthly(session=session, actor=head, unit_id=unit.id, month=f"{last_month:%Y-%m}", now=now)
    extra = people.create_user(
        session=session,
        actor=admin,
        email=f"staf.{code.lower()}@demo.example",
        name="Staf Tambahan",
        password="Kata-sandi-panjang-2026",
        unit_id=unit.id,
        role="officer",
    )
    token, _plaintext = people.create_token(session=session, user=officer, name="monitoring tool")
    drill = exercises.start(
        session=session, actor=head, scenario_key="hoax-pdam-water", unit_id=unit.id, now=now + 16 * M
    )
    session.flush()

    ids["unit_id"] = [unit.id]
    ids["user_id"] = [officer.id, head.id, extra.id]
    ids["membership_id"] = [m.id for user in (officer, head, extra) for m in user.memberships]
    ids["shift_id"] = list(session.scalars(select(DutyShift.id).where(DutyShift.unit_id == unit.id).limit(3)))
    ids["token_id"] = [token.id]
    ids["issue_id"] = [monitored.id, duplicate.id, active.issue_id, resolved.issue_id]
    ids["incident_id"] = [active.id, resolved.id]
    ids["run_id"] = [run.id for run in active.stage_runs[:2]] + [resolved.stage_runs[-1].id]
    ids["entry_id"] = [entry.id for run in active.stage_runs[:2] for entry in run.entries][:8]
    ids["statement_id"] = [published.id, drafted.id]
    ids["notice_id"] = [notice.id]
    ids["query_id"] = [question.id]
    ids["webhook_id"] = [hook.id]
    ids["review_id"] = [review.id]
    ids["item_id"] = [item.id]
    ids["target_id"] = [target.id]
    ids["report_id"] = [report.id]
    ids["exercise_id"] = [drill.id]
    return dict(ids)
