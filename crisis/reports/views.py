"""The evaluation dashboard, its CSV tables, KPI targets and monthly reports. Thin: parse, call a
service, commit, render."""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select

from crisis import clock
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.guards import local_path, parse_id
from crisis.http import flash_refusal, select_locale, viewer_zone
from crisis.i18n import _, lazy_gettext
from crisis.playbooks.labels import SEVERITY_LABELS
from crisis.playbooks.models import Playbook
from crisis.reports import monthly, service
from crisis.reports import tasks as report_tasks
from crisis.reports.dashboard import Dashboard
from crisis.reports.measures import MEASURE_LABELS
from crisis.units import service as units
from crisis.units.models import Unit

bp = Blueprint("reports", __name__)

FILTER_ARGS = ("from", "to", "unit", "playbook", "severity")
REPORT_STATE_LABELS = {
    "building": lazy_gettext("Being built"),
    "built": lazy_gettext("Built"),
    "sent": lazy_gettext("Sent"),
    "failed": lazy_gettext("Failed"),
}


def _filters() -> Any:
    args = request.args
    return service.filters_for(
        session=db.session,
        user=current_user,
        start=args.get("from"),
        end=args.get("to"),
        unit_id=args.get("unit"),
        playbook=args.get("playbook"),
        severity=args.get("severity"),
        zone=viewer_zone(),
    )


def _minutes(seconds: float | None) -> float | None:
    return round(seconds / 60, 1) if seconds is not None else None


def chart_data(board: Dashboard) -> dict[str, Any]:
    """Chart.js configurations (data only, no functions): drawn by static/js/charts.js."""
    labels = [format_date(w["week"], "d MMM") for w in board.weekly]  # weeks as the reader writes dates: "7 Des"

    def titled(title: str, y: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"plugins": {"title": {"display": True, "text": title}}, "scales": {"y": y or {}}}

    return {
        "incidents": {
            "type": "bar",
            "data": {
                "labels": labels,
                "datasets": [{"label": _("Incidents per week"), "data": [w["incidents"] for w in board.weekly]}],
            },
            # counts: whole-number ticks only
            "options": titled(_("Incidents per week"), {"beginAtZero": True, "ticks": {"precision": 0}}),
        },
        "times": {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [
                    {
                        "label": _("Time to complete the first stage (median, min)"),
                        "data": [_minutes(w["tta"]) for w in board.weekly],
                    },
                    {
                        "label": _("Time to holding statement (median, min)"),
                        "data": [_minutes(w["ths"]) for w in board.weekly],
                    },
                ],
            },
            "options": titled(_("Median times per week, minutes"), {"beginAtZero": True}),
        },
        "compliance": {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [
                    {
                        "label": _("Stages on time, %"),
                        "data": [
                            round(w["stage_sla"] * 100, 1) if w["stage_sla"] is not None else None for w in board.weekly
                        ],
                    }
                ],
            },
            "options": titled(_("Stages on time per week, percent"), {"min": 0, "max": 100}),
        },
    }


class UnitChoice(NamedTuple):
    """A unit for the page's selects: plain values (500 ORM units per page cost ~2,500 objects the
    garbage collector tracks, and a full collection every few pages)."""

    id: int
    parent_id: int | None
    code: str
    name: str


def _visible_units() -> list[UnitChoice]:
    """units.list_visible as plain rows: the same units in the same (tree) order."""
    scope = units.visible_scope(session=db.session, user=current_user)
    rows = db.session.execute(
        select(Unit.id, Unit.parent_id, Unit.code, Unit.name).where(scope.filter(Unit.id)).order_by(Unit.code)
    )
    return units.order_as_tree([UnitChoice(*row) for row in rows])


def _choices(unit_list: list[Any], chosen: str | None = None) -> Markup:
    """The <option>s of a <select> of units, `chosen` selected: a central view lists ~500 units, twice
    (written here in one pass: the template's loop cost ~3 ms and ~2,000 objects per page)."""
    return Markup("").join(
        Markup('<option value="{0}"{1}>{2}</option>').format(
            unit.id, Markup(" selected") if str(unit.id) == chosen else "", f"{unit.code} · {unit.name}"
        )
        for unit in unit_list
    )


def _target_units(visible: list[Any] | None = None) -> list[Any]:
    if visible is None:
        visible = units.list_visible(session=db.session, user=current_user)
    return service.units_for_targets(session=db.session, user=current_user, candidates=visible)


@bp.route("/evaluation")
@login_required
def dashboard() -> Any:
    board = None
    errors: dict[str, list[str]] = {}
    first_day = last_day = None
    status = 200
    try:
        filters = _filters()
    except ValidationFailed as error:
        errors, status = error.errors, 422
    else:
        board = service.build_dashboard(session=db.session, filters=filters, lang=select_locale())
        first_day, last_day = service.first_and_last_day(filters)
    kept = {k: v for k, v in request.args.items() if k in FILTER_ARGS and v}

    def csv_url(name: str) -> str:
        return url_for("reports.dashboard_csv", table=name) + ("?" + urlencode(kept) if kept else "")

    visible = _visible_units()
    target_units = _target_units(visible)
    target_codes = {u.id: u.code for u in target_units}
    own_targets = [
        (target_codes[t.unit_id], t)
        for t in service.list_targets(session=db.session, user=current_user)
        if t.unit_id in target_codes
    ]
    html = render_template(
        "reports/dashboard.html",
        board=board,
        charts=chart_data(board) if board else None,
        errors=errors,
        args=request.args,
        first_day=first_day,
        last_day=last_day,
        unit_options=_choices(visible, request.args.get("unit")),
        target_options=_choices(target_units),
        playbooks=list(db.session.scalars(select(Playbook).order_by(Playbook.key))),
        lang=select_locale(),
        csv_url=csv_url,
        target_units=target_units,
        own_targets=own_targets,
        MEASURE_LABELS=MEASURE_LABELS,
        SEVERITY_LABELS=SEVERITY_LABELS,
        **{
            k: v
            for k, v in monthly.template_helpers(viewer_zone()).items()
            if k in ("dur", "pct", "describe_target", "OUTLET_TYPE_LABELS")
        },
    )
    # The measures it brought up to date. After rendering: a commit expires every row read, and the
    # page would load each unit again, one query each.
    db.session.commit()
    return html, status


@bp.route("/evaluation/<table>.csv")
@login_required
def dashboard_csv(table: str) -> Any:
    board = service.build_dashboard(session=db.session, filters=_filters(), lang=select_locale())
    tables = service.tables(board)
    if table not in tables:
        abort(404)
    body = service.to_csv(*tables[table])
    db.session.commit()  # the measures it brought up to date (after reading the board: a commit expires it)
    response = Response(body, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="evaluation-{table}.csv"'
    return response


def _next() -> str:
    return local_path(request.form.get("next", ""), url_for("reports.dashboard"))


def _flash_errors(error: Exception, target: str = "") -> None:
    db.session.rollback()
    flash_refusal(error, target=target)  # each by its field's label, shown next to the field


@bp.route("/evaluation/targets", methods=["POST"])
@login_required
def set_target() -> Any:
    form = request.form
    unit_id = parse_id(form.get("unit_id"))
    if unit_id is None:
        abort(400)
    try:
        service.set_target(
            session=db.session,
            actor=current_user,
            unit_id=unit_id,
            measure=form.get("measure", ""),
            target_percent=form.get("target_percent"),
            threshold_minutes=form.get("threshold_minutes"),
            comparison=form.get("comparison", "<="),
        )
    except ValidationFailed as error:  # a role that may not set targets gets 403, like everywhere
        _flash_errors(error, "set-target")
    else:
        db.session.commit()
        flash(_("Target saved."), "success")
    return redirect(_next())


@bp.route("/evaluation/targets/<int:target_id>/delete", methods=["POST"])
@login_required
def delete_target(target_id: int) -> Any:
    service.delete_target(session=db.session, actor=current_user, target_id=target_id)
    db.session.commit()
    flash(_("Target removed."), "success")
    return redirect(_next())


@bp.route("/evaluation/reports")
@login_required
def monthly_list() -> Any:
    now = clock.now()
    last_month = monthly.previous_month(now, viewer_zone())
    return render_template(
        "reports/monthly_list.html",
        reports=monthly.list_reports(session=db.session, user=current_user),
        units=units.list_acting(session=db.session, user=current_user),  # whose report they may build
        default_month=last_month.strftime("%Y-%m"),
        REPORT_STATE_LABELS=REPORT_STATE_LABELS,
        report_problem=lambda report: monthly.problem(report, zone=viewer_zone()),
    )


@bp.route("/evaluation/reports", methods=["POST"])
@login_required
def monthly_request() -> Any:
    unit_id = parse_id(request.form.get("unit_id"))
    if unit_id is None:
        abort(400)
    try:
        report = monthly.request_monthly(
            session=db.session, actor=current_user, unit_id=unit_id, month=request.form.get("month", "")
        )
    except ValidationFailed as error:
        _flash_errors(error)
        return redirect(url_for("reports.monthly_list"))
    db.session.commit()
    report_tasks.enqueue_builds([report.id])
    flash(_("The report is being built; it appears here when ready."), "success")
    return redirect(url_for("reports.monthly_list"))


@bp.route("/evaluation/reports/<int:report_id>.pdf")
@login_required
def monthly_pdf(report_id: int) -> Any:
    report = monthly.get_report(session=db.session, user=current_user, report_id=report_id)
    if report.status not in ("built", "sent") or not report.pdf:
        abort(404)
    response = Response(report.pdf, content_type="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="evaluation-{report.unit.code}-{report.month:%Y-%m}.pdf"'
    )
    return response
