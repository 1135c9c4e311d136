"""Evaluation over JSON: the dashboard's tables, CSV, KPI targets and monthly reports."""

from __future__ import annotations

from typing import Any

from flask import Response, abort

from crisis.auth.identity import authenticated, bearer_user
from crisis.extensions import db
from crisis.http import Blueprint
from crisis.reports import monthly, service
from crisis.reports import schemas as s
from crisis.reports import tasks as report_tasks

blp = Blueprint("reports_api", __name__, url_prefix="/api/v1", description="Evaluation across incidents")


def _board(query: dict[str, Any]) -> Any:
    user = bearer_user()
    filters = service.filters_for(
        session=db.session,
        user=user,
        start=query.get("from_"),
        end=query.get("to"),
        unit_id=query.get("unit"),
        playbook=query.get("playbook"),
        severity=query.get("severity"),
        zone=query.get("zone") or user.timezone,
    )
    return service.build_dashboard(session=db.session, filters=filters, lang=user.language)


@blp.route("/evaluation")
@authenticated
@blp.arguments(s.DashboardQuery, location="query")
@blp.response(200, s.EvaluationOut)
def evaluation(query: dict[str, Any]) -> Any:
    """Every table of the dashboard as rows of named columns (seconds, percentages)."""
    board = _board(query)
    first, last = service.first_and_last_day(board.filters)
    answer = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "zone": board.filters.zone,
        "tables": {
            name: [dict(zip(headers, row, strict=True)) for row in rows]
            for name, (headers, rows) in service.tables(board).items()
        },
    }
    db.session.commit()  # the measures it brought up to date (after reading the board: a commit expires it)
    return answer


@blp.route("/evaluation/<table>.csv")
@authenticated
@blp.arguments(s.DashboardQuery, location="query")
@blp.response(200, {"type": "string"}, content_type="text/csv")
def evaluation_csv(query: dict[str, Any], table: str) -> Any:
    tables = service.tables(_board(query))
    if table not in tables:
        abort(404)
    body = service.to_csv(*tables[table])
    db.session.commit()  # the measures it brought up to date (after reading the board: a commit expires it)
    return Response(body, content_type="text/csv; charset=utf-8")


@blp.route("/units/<int:unit_id>/kpi-targets", methods=["PUT"])
@authenticated
@blp.arguments(s.TargetIn)
@blp.response(200, s.TargetOut)
def put_target(data: dict[str, Any], unit_id: int) -> Any:
    """Create or change the unit's target for one measure (heads of the unit or above)."""
    target = service.set_target(session=db.session, actor=bearer_user(), unit_id=unit_id, **data)
    db.session.commit()
    return target


@blp.route("/kpi-targets")
@authenticated
@blp.response(200, s.TargetOut(many=True))
def list_targets() -> Any:
    return service.list_targets(session=db.session, user=bearer_user())


@blp.route("/kpi-targets/<int:target_id>", methods=["DELETE"])
@authenticated
@blp.response(204)
def delete_target(target_id: int) -> Any:
    service.delete_target(session=db.session, actor=bearer_user(), target_id=target_id)
    db.session.commit()
    return None


@blp.route("/units/<int:unit_id>/monthly-reports", methods=["POST"])
@authenticated
@blp.arguments(s.MonthIn)
@blp.response(202, s.ReportOut)
def request_report(data: dict[str, Any], unit_id: int) -> Any:
    """Build the unit's evaluation for a month (YYYY-MM) now; poll the report for its status.

    Needs a role that acts in the unit (observers only read reports): a build replaces the report."""
    report = monthly.request_monthly(session=db.session, actor=bearer_user(), unit_id=unit_id, month=data["month"])
    db.session.commit()
    report_tasks.enqueue_builds([report.id])
    db.session.refresh(report)
    return report


@blp.route("/monthly-reports/<int:report_id>")
@authenticated
@blp.response(200, s.ReportOut)
def get_report(report_id: int) -> Any:
    return monthly.get_report(session=db.session, user=bearer_user(), report_id=report_id)


@blp.route("/monthly-reports/<int:report_id>.pdf")
@authenticated
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
def report_pdf(report_id: int) -> Any:
    report = monthly.get_report(session=db.session, user=bearer_user(), report_id=report_id)
    if not report.pdf:
        abort(404)
    return Response(report.pdf, content_type="application/pdf")
