"""Monthly evaluation reports: due at 08:00 on the 1st in each unit's zone, built as a PDF once per unit
and month (two schedulers create each once), and e-mailed to the unit's heads."""

from __future__ import annotations

import logging
import smtplib
from contextlib import nullcontext
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, render_template
from flask_babel import force_locale, format_date, format_decimal
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis import clock, mail
from crisis.auth.models import Membership, Role, User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.i18n import _
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.media import OUTLET_TYPE_LABELS
from crisis.notify import words
from crisis.reports import charts, dashboard
from crisis.reports.measures import MEASURE_LABELS
from crisis.reports.models import KpiTarget, MonthlyReport
from crisis.reports.service import build_dashboard, describe_target, parse_day
from crisis.timefmt import format_duration
from crisis.timeline import service as timeline
from crisis.units import letterhead as letterheads
from crisis.units import service as units
from crisis.units.models import Unit

log = logging.getLogger(__name__)

REPORT_LEASE = timedelta(minutes=10)  # a report still "building" after this was lost: build again
REPORT_MAX_ATTEMPTS = 5
MONTHLY_HOUR = 8  # local time on the 1st


def previous_month(moment: datetime, zone: str) -> date:
    local = moment.astimezone(ZoneInfo(zone)).date()
    first_this = local.replace(day=1)
    return (first_this - timedelta(days=1)).replace(day=1)


def month_bounds(month: date) -> tuple[date, date]:
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return month, following - timedelta(days=1)


def monthly_due(moment: datetime, zone: str) -> bool:
    """True from 08:00 local on the 1st: the month just ended can be reported on."""
    local = moment.astimezone(ZoneInfo(zone))
    first = datetime.combine(local.date().replace(day=1), time(MONTHLY_HOUR), tzinfo=ZoneInfo(zone))
    return local >= first


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Create the reports not yet there; a row another scheduler created first is skipped (the
    UNIQUE (unit_id, month) constraint decides). Returns the ids this call created."""
    if not rows:
        return []
    table = MonthlyReport.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(rows).on_conflict_do_nothing(index_elements=["unit_id", "month"])
    return list(session.scalars(statement.returning(table.c.id)))


def monthly_sweep(*, session: Session, now: datetime | None = None) -> list[int]:
    """The scheduler's minute job: for every unit where it is past 08:00 on the 1st (its own zone),
    make sure last month's report exists; return the ids to build (new ones, and ones whose build
    was lost). Idempotent: two schedulers create each report once. Flush, not commit: the caller
    commits, then enqueues `reports.build_monthly` for each id."""
    now = now or clock.now()
    wanted: list[dict[str, Any]] = []
    existing = {
        (unit_id, month)
        for unit_id, month in session.execute(
            select(MonthlyReport.unit_id, MonthlyReport.month).where(
                MonthlyReport.month >= previous_month(now, "Asia/Jayapura") - timedelta(days=1)
            )
        )
    }
    for unit_id, zone in session.execute(select(Unit.id, Unit.timezone)):
        if not monthly_due(now, zone):
            continue
        month = previous_month(now, zone)
        if (unit_id, month) not in existing:
            wanted.append(
                {
                    "unit_id": unit_id,
                    "month": month,
                    "status": "building",
                    "requested_at": now,
                    "attempts": 0,
                    "error": "",
                    "recipients": [],
                    "pdf_size": 0,
                }
            )
    created = _insert_ignore(session, wanted)
    stale = list(
        session.scalars(
            select(MonthlyReport.id).where(
                MonthlyReport.status == "building",
                MonthlyReport.requested_at <= now - REPORT_LEASE,
                MonthlyReport.attempts < REPORT_MAX_ATTEMPTS,
                MonthlyReport.id.not_in(created) if created else MonthlyReport.id.is_not(None),
            )
        )
    )
    unsent = list(
        session.scalars(
            select(MonthlyReport.id).where(
                MonthlyReport.status == "built",
                MonthlyReport.built_at <= now - REPORT_LEASE,
                MonthlyReport.attempts < REPORT_MAX_ATTEMPTS,
            )
        )
    )
    for report in session.scalars(select(MonthlyReport).where(MonthlyReport.id.in_(stale))):
        report.requested_at = now  # a fresh lease: the next sweep does not hand it out again at once
    session.flush()
    return created + stale + unsent


def request_monthly(
    *, session: Session, actor: User, unit_id: int, month: Any, now: datetime | None = None
) -> MonthlyReport:
    """Build a unit's report on demand (again, if it exists), for a person who acts in the unit.
    The caller commits and enqueues."""
    now = now or clock.now()
    unit = units.get(session=session, user=actor, unit_id=unit_id)
    if unit.id not in units.acting_scope(session=session, user=actor):
        # A build replaces the unit's report (one that may have gone out by e-mail): observers only read.
        raise NotPermitted(_l("Observers read the reports; building one takes a role in the unit."))
    errors: dict[str, str] = {}
    day = parse_day(month if not isinstance(month, str) or len(month) != 7 else f"{month}-01", "month", errors)
    if day is not None and day.replace(day=1) > now.astimezone(ZoneInfo(unit.timezone)).date():
        errors["month"] = str(_l("A month in the future has nothing to report."))
    if errors or day is None:
        raise ValidationFailed(errors or {"month": str(_l("Give a month (YYYY-MM)."))})
    day = day.replace(day=1)
    created = _insert_ignore(
        session,
        [
            {
                "unit_id": unit.id,
                "month": day,
                "status": "building",
                "requested_at": now,
                "attempts": 0,
                "error": "",
                "recipients": [],
                "pdf_size": 0,
                "requested_by_id": actor.id,
            }
        ],
    )
    report = session.scalar(select(MonthlyReport).where(MonthlyReport.unit_id == unit.id, MonthlyReport.month == day))
    assert report is not None  # nosec B101  # type narrowing: the row was inserted just above
    if not created:
        report.status, report.requested_at, report.requested_by_id = "building", now, actor.id
        report.attempts, report.error = 0, ""
    session.flush()
    timeline.record(
        session=session,
        kind="report.requested",
        subject_type="unit",
        subject_id=unit.id,
        actor_id=actor.id,
        unit_id=unit.id,
        now=now,
        data={"month": day.isoformat()},
    )
    return report


def list_reports(*, session: Session, user: User, limit: int = 100) -> list[MonthlyReport]:
    scope = units.visible_scope(session=session, user=user)
    return list(
        session.scalars(
            select(MonthlyReport)
            .where(scope.filter(MonthlyReport.unit_id))
            .order_by(MonthlyReport.month.desc(), MonthlyReport.unit_id)
            .limit(limit)
        )
    )


def get_report(*, session: Session, user: User, report_id: int) -> MonthlyReport:
    report = session.get(MonthlyReport, report_id)
    if report is None or report.unit_id not in units.visible_scope(session=session, user=user):
        raise NotFound(_l("Report not found."))
    return report


def monthly_filters(*, session: Session, unit: Unit, month: date, now: datetime) -> dashboard.Filters:
    first, last = month_bounds(month)
    zone = ZoneInfo(unit.timezone)
    return dashboard.Filters(
        start=datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC),
        end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC),
        unit_ids=frozenset(units.subtree_ids(session=session, root_ids={unit.id})),
        root_unit_id=unit.id,
        playbook_key=None,
        severity=None,
        zone=unit.timezone,
        now=now,
    )


def render_monthly_pdf(*, session: Session, report: MonthlyReport, now: datetime, lang: str | None = None) -> bytes:
    from crisis.reviews.exports import html_to_pdf

    lang = lang or current_app.config["LANGUAGES"][0]
    unit = report.unit
    filters = monthly_filters(session=session, unit=unit, month=report.month, now=now)
    board = build_dashboard(session=session, filters=filters, lang=lang)
    request_context = nullcontext() if has_request_context() else current_app.test_request_context()
    with force_locale(lang), request_context:
        html = render_template(
            "reports/monthly.html",
            board=board,
            charts=trend_charts(board),
            letterhead=letterheads.get(session=session, unit_id=unit.id),
            unit=unit,
            month=report.month,
            lang=lang,
            zone=unit.timezone,
            **template_helpers(unit.timezone),
        )
    return html_to_pdf(html)


def trend_charts(board: Any) -> list[Any]:
    """The month's trends per local week, as SVG charts for the leadership: incidents, the median
    time to complete the first stage, and the share of stages on time."""
    labels = [week["week"].strftime("%d/%m") for week in board.weekly]
    return [
        charts.bars(_("Incidents per week"), labels, [week["incidents"] for week in board.weekly]),
        charts.line(
            _("Time to complete the first stage, median per week (minutes)"),
            labels,
            [week["tta"] / 60 if week["tta"] is not None else None for week in board.weekly],
            fmt=lambda minutes: f"{minutes:.0f}",
        ),
        charts.line(
            _("Stages completed on time per week (%)"),
            labels,
            [week["stage_sla"] * 100 if week["stage_sla"] is not None else None for week in board.weekly],
            fmt=lambda percent: f"{percent:.0f}",
            top=100,
        ),
    ]


def template_helpers(zone: str) -> dict[str, Any]:
    from crisis.timefmt import format_local, zone_label

    shown: dict[tuple[bool, int], str] = {}  # a page repeats few distinct minutes: format each once

    def dur(seconds: float | None) -> str:
        if seconds is None:
            return "—"
        whole = round(seconds)
        key = (whole < 0, abs(whole) // 60)  # all format_duration shows
        if key not in shown:
            shown[key] = format_duration(timedelta(seconds=whole))
        return shown[key]

    def pct(share: float | None) -> str:
        return f"{format_decimal(round(share * 100), '#,##0')} %" if share is not None else "—"

    def when(moment: datetime | None, fmt: str = "d MMM yyyy HH:mm") -> str:
        return format_local(moment, zone, fmt)

    described: dict[tuple[Any, ...], str] = {}  # many units share a few kinds of target: word each once

    def describe(target: KpiTarget) -> str:
        key = (target.measure, target.threshold_seconds, target.comparison, target.target_share)
        if key not in described:
            described[key] = describe_target(target)
        return described[key]

    return {
        "dur": dur,
        "pct": pct,
        "when": when,
        "zone_name": zone_label(zone),
        "MEASURE_LABELS": MEASURE_LABELS,
        "describe_target": describe,
        "OUTLET_TYPE_LABELS": OUTLET_TYPE_LABELS,
    }


def head_addresses(*, session: Session, unit_id: int) -> list[str]:
    return list(
        session.scalars(
            select(User.email)
            .join(Membership)
            .where(Membership.unit_id == unit_id, Membership.role == Role.head, User.active)
            .order_by(User.email)
        )
    )


def build_monthly(*, session: Session, report_id: int, now: datetime | None = None) -> str | None:
    """Build one report's PDF (a worker): lock the row, skip it when another worker holds it or it
    is done, store the PDF. Returns the status afterwards, or None when skipped. The caller commits,
    then calls `send_monthly`."""
    now = now or clock.now()
    query = select(MonthlyReport).where(MonthlyReport.id == report_id).with_for_update(skip_locked=True)
    report = session.scalar(query.execution_options(populate_existing=True))
    if report is None or report.status != "building":
        return report.status if report is not None else None
    report.attempts += 1
    try:
        pdf = render_monthly_pdf(session=session, report=report, now=now)
    except Exception as error:  # recorded on the row; the sweep tries again after the lease
        log.exception("monthly report %s failed", report_id)
        report.error = f"{type(error).__name__}: {error}"[:2000]
        if report.attempts >= REPORT_MAX_ATTEMPTS:
            report.status = "failed"
        session.flush()
        return report.status
    report.pdf, report.pdf_size, report.built_at, report.status, report.error = pdf, len(pdf), now, "built", ""
    session.flush()
    timeline.record(
        session=session,
        kind="report.built",
        subject_type="unit",
        subject_id=report.unit_id,
        unit_id=report.unit_id,
        now=now,
        data={"month": report.month.isoformat(), "bytes": len(pdf)},
    )
    return "built"


def send_monthly(*, session: Session, report_id: int, now: datetime | None = None) -> str | None:
    """E-mail a built report to the unit's heads, once. Flush, not commit."""
    now = now or clock.now()
    query = select(MonthlyReport).where(MonthlyReport.id == report_id).with_for_update(skip_locked=True)
    report = session.scalar(query.execution_options(populate_existing=True))
    if report is None or report.status != "built":
        return report.status if report is not None else None
    recipients = head_addresses(session=session, unit_id=report.unit_id)
    if recipients and not words.mail_configured():
        # Nothing to send through: said on the reports page with how to set it up, not retried.
        report.error, report.attempts = words.EMAIL_NOT_SET_UP, REPORT_MAX_ATTEMPTS
        session.flush()
        return "built"
    if recipients:
        lang = current_app.config["LANGUAGES"][0]
        with force_locale(lang):
            subject = _(
                "Monthly evaluation %(month)s · %(unit)s",
                month=format_date(report.month, "MMMM yyyy"),
                unit=report.unit.code,
            )
            text = _(
                "The evaluation of %(unit)s for %(month)s is attached as a PDF.",
                unit=report.unit.name,
                month=format_date(report.month, "MMMM yyyy"),
            )
        attachment = mail.Attachment(
            f"evaluation-{report.unit.code}-{report.month:%Y-%m}.pdf", "application/pdf", report.pdf or b""
        )
        # One Message-ID per build: a resend after a lost reply is recognised as the same message.
        built = f"{report.built_at:%Y%m%dT%H%M%S}" if report.built_at else "unbuilt"
        message_id = mail.new_message_id(f"crisis.report.{report.id}.{built}")
        try:
            mail.send(
                mail.compose(to=recipients, subject=subject, text=text, attachments=[attachment], message_id=message_id)
            )
        except (OSError, ValueError, smtplib.SMTPException) as error:  # ValueError: an address mail cannot take
            report.error = f"{type(error).__name__}: {error}"[:2000]
            report.attempts += 1
            session.flush()
            return "built"
    report.status, report.sent_at, report.recipients = "sent", now, recipients
    session.flush()
    timeline.record(
        session=session,
        kind="report.sent",
        subject_type="unit",
        subject_id=report.unit_id,
        unit_id=report.unit_id,
        now=now,
        data={"month": report.month.isoformat(), "to": recipients},
    )
    return "sent"


def problem(report: MonthlyReport, *, zone: str) -> str:
    """What went wrong with a report and what happens next, as a sentence ('' when nothing did), times
    in `zone`. The recorded error stays on the row for administrators."""
    if not report.error:
        return ""
    more = report.attempts < REPORT_MAX_ATTEMPTS
    if report.status in ("building", "failed"):
        if report.status == "building" and more:
            later = words.next_try_sentence(report.requested_at + REPORT_LEASE, zone)
            return _("The report could not be built.") + " " + later
        return _(
            "The report could not be built after %(n)s attempts. Build it again, or ask an administrator "
            "to look at the application log.",
            n=report.attempts,
        )
    if report.status == "built":
        if words.failure_code(report.error) == words.EMAIL_NOT_SET_UP:
            return _("Built, but not e-mailed.") + " " + words.mail_setup_advice()
        text = _("Built, but the e-mail to the unit's heads did not go out.") + " "
        if more:
            return text + words.retry_sentence(report.error, channel="email", next_try=_next_send(report), zone=zone)
        return text + words.explain_failure(report.error) + " " + _("It is not tried again: download the PDF.")
    return ""


def _next_send(report: MonthlyReport) -> datetime | None:
    """The sweep sends a built report again once its build is REPORT_LEASE old (checked every minute)."""
    if report.built_at is None:
        return None
    return max(report.built_at + REPORT_LEASE, clock.now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
