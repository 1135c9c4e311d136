"""The evaluation over HTTP and the monthly reports: scoping per role, CSV, the API, the monthly job
that runs once per unit per month with two schedulers, and its PDF by e-mail. (Reminders:
tests/test_reviews.py.)"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from email.utils import parseaddr

import pytest
from babel.dates import format_date

from crisis.reports import monthly
from crisis.reports import tasks as report_tasks
from crisis.reports.models import MonthlyReport
from tests.conftest import FIXED_NOW, form_post, sign_in
from tests.helpers import race
from tests.test_evaluation import END, MON, START, history  # noqa: F401  the hand-built history

PERIOD = f"from={START}&to={END}"  # the history's period, planned from the suite's clock
HISTORY_MONTH = MON.date().replace(day=1)  # the month of incident A (KOTA-SEMARANG, 10:00 WIB on MON)
# The first of the month after the suite's clock, and the month the monthly job reports on then.
NEXT_FIRST = (FIXED_NOW.date().replace(day=1) + timedelta(days=32)).replace(day=1)
REPORTED_MONTH = (NEXT_FIRST - timedelta(days=1)).replace(day=1)


def _csv(response):
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_dashboard_page_draws_charts_from_data_without_inline_script(db, org, history, login_as):  # noqa: F811
    client = login_as("head", "PUSAT")
    page = client.get(f"/evaluation?{PERIOD}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('data-chart="') == 3 and "vendor/chart/chart.umd.min.js" in html
    assert "<script>" not in html and " style=" not in html
    assert "KOTA-MAKASSAR" in html and "KOTA-JAYAPURA" in html
    rows = _csv(client.get(f"/evaluation/per_unit.csv?{PERIOD}"))
    assert {r["unit"] for r in rows} == {"KOTA-SEMARANG", "KOTA-MAKASSAR", "KOTA-JAYAPURA"}
    semarang = next(r for r in rows if r["unit"] == "KOTA-SEMARANG")
    assert (semarang["incidents"], semarang["tta_median_seconds"], semarang["stages_met_percent"]) == (
        "1",
        "1800",
        "50.0",
    )


def test_a_regency_sees_only_its_own_incidents(db, org, history, login_as):  # noqa: F811
    client = login_as("officer", "KOTA-SEMARANG")
    rows = _csv(client.get(f"/evaluation/per_unit.csv?{PERIOD}"))
    assert [r["unit"] for r in rows] == ["KOTA-SEMARANG"]
    outside = org["units"]["KOTA-MAKASSAR"].id
    assert client.get(f"/evaluation?{PERIOD}&unit={outside}").status_code == 404
    bad = client.get(f"/evaluation?from={END}&to={START}&severity=9")
    assert bad.status_code == 422 and "has-error" in bad.get_data(as_text=True)


def test_a_head_sets_a_target_on_the_page_and_sees_it_met(db, org, history, login_as):  # noqa: F811
    client = login_as("head", "JATENG")
    response = form_post(
        client,
        "/evaluation/targets",
        {
            "unit_id": org["units"]["JATENG"].id,
            "measure": "time_to_holding_statement",
            "comparison": "<=",
            "threshold_minutes": "60",
            "target_percent": "90",
            "next": f"/evaluation?{PERIOD}",
        },
        page="/evaluation",
    )
    assert response.status_code == 302
    rows = _csv(client.get(f"/evaluation/kpi.csv?{PERIOD}"))
    assert [(r["unit"], r["measure"], r["actual_percent"], r["met"]) for r in rows] == [
        ("JATENG", "time_to_holding_statement", "100.0", "yes")
    ]


def test_the_api_answers_tables_and_problems(db, org, history, token_for, client):  # noqa: F811
    headers = token_for("head", "SULSEL")
    data = client.get(f"/api/v1/evaluation?{PERIOD}", headers=headers).get_json()
    assert [r["unit"] for r in data["tables"]["per_unit"]] == ["KOTA-MAKASSAR"]
    assert data["tables"]["outcomes"][3] == {
        "measure": "escalations_acknowledged",
        "judged": 2,
        "on_time": 1,
        "percent": "50.0",
    }
    problem = client.get("/api/v1/evaluation?severity=9", headers=headers)
    assert problem.status_code == 422 and problem.mimetype == "application/problem+json"
    assert "severity" in problem.get_json()["errors"]
    refused = client.put(
        f"/api/v1/units/{org['units']['SULSEL'].id}/kpi-targets",
        headers=headers,
        json={"measure": "stage_sla", "target_percent": 150},
    )
    assert refused.status_code == 422 and set(refused.get_json()["errors"]) == {"target_percent"}


def test_the_monthly_job_starts_at_eight_in_each_units_zone(db, org, clock):
    # The 1st, 00:30 UTC: 07:30 WIB (not yet), 08:30 WITA, 09:30 WIT.
    clock.now = datetime.combine(NEXT_FIRST, time(0, 30), UTC)
    ids = monthly.monthly_sweep(session=db.session, now=clock.now)
    db.session.commit()
    made = {r.unit.code for r in db.session.query(MonthlyReport).filter(MonthlyReport.id.in_(ids))}
    assert made == {"SULSEL", "KOTA-MAKASSAR", "KAB-GOWA", "PAPUA", "KOTA-JAYAPURA", "KAB-JAYAPURA"}
    assert {r.month for r in db.session.query(MonthlyReport)} == {REPORTED_MONTH}


def test_two_schedulers_create_each_monthly_report_once(app, db, org, clock):
    moment = clock.now = datetime.combine(NEXT_FIRST, time(1, 30), UTC)  # 08:30 WIB: every unit is due

    def sweep(session):
        made = monthly.monthly_sweep(session=session, now=moment)
        session.commit()
        return made

    handed_out = race(app, sweep)
    assert len(handed_out) == 2
    first, second = handed_out
    assert len(first) + len(second) == 10 and not set(first) & set(second)
    assert db.session.query(MonthlyReport).count() == 10
    assert monthly.monthly_sweep(session=db.session, now=moment + timedelta(minutes=1)) == []


def test_the_monthly_report_is_built_as_a_pdf_and_mailed_to_the_heads(app, db, org, history):  # noqa: F811
    from pypdf import PdfReader

    from tests.engine.sinks import SmtpSink

    sink = SmtpSink().start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    try:
        jateng = org["units"]["JATENG"]
        db.session.add(MonthlyReport(unit_id=jateng.id, month=HISTORY_MONTH, status="building", requested_at=FIXED_NOW))
        db.session.commit()
        report_id = db.session.query(MonthlyReport.id).scalar()
        # .run: the task body in this app (the suite builds other apps, and Celery binds to the newest)
        status = report_tasks.build_monthly.run(report_id)
        assert status == "sent", db.session.get(MonthlyReport, report_id).error
        assert report_tasks.build_monthly.run(report_id) == "sent"  # a duplicate message changes nothing
    finally:
        sink.stop()
        app.config.update(saved)
    db.session.expire_all()
    report = db.session.get(MonthlyReport, report_id)
    assert report.status == "sent" and report.recipients == [org["users"][("JATENG", "head")].email]
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(report.pdf)).pages)
    month_in_words = format_date(HISTORY_MONTH, "MMMM yyyy", locale="id")  # "November 2026", never ISO
    assert "Diskominfo Provinsi Jawa Tengah" in text and month_in_words in text
    assert "Identifikasi dan pelabelan" in text and "KOTA-SEMARANG" in text
    messages = sink.messages
    assert len(messages) == 1 and messages[0]["to"] == [org["users"][("JATENG", "head")].email]
    message = messages[0]["message"]
    assert messages[0]["subject"] == f"Evaluasi bulanan {month_in_words} · JATENG"
    assert message["From"].addresses[0].addr_spec == parseaddr(app.config["MAIL_SENDER"])[1]
    assert message["Date"].datetime == FIXED_NOW  # the app's clock
    assert messages[0]["message_id"].startswith(f"<crisis.report.{report_id}.")
    assert "Diskominfo Provinsi Jawa Tengah" in message.get_body(("plain",)).get_content()
    attachment = next(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"evaluation-JATENG-{HISTORY_MONTH:%Y-%m}.pdf"
    assert attachment.get_content() == report.pdf


@pytest.mark.parametrize("role", ["head", "officer"])
def test_monthly_reports_page_builds_on_demand(db, org, history, login_as, role, app, monkeypatch):  # noqa: F811
    monkeypatch.setattr(report_tasks, "enqueue_builds", lambda ids: [report_tasks.build_monthly.run(i) for i in ids])
    saved = app.config["SMTP_PORT"]
    app.config.update(SMTP_PORT=1)  # nobody listens: the report is built, the mail waits for the sweep
    try:
        client = login_as(role, "KOTA-SEMARANG")
        response = form_post(
            client,
            "/evaluation/reports",
            {"unit_id": org["units"]["KOTA-SEMARANG"].id, "month": f"{HISTORY_MONTH:%Y-%m}"},
            page="/evaluation/reports",
        )
        assert response.status_code == 302
        report = db.session.query(MonthlyReport).one()
        assert report.status == "built" and report.pdf_size > 1000
        pdf = client.get(f"/evaluation/reports/{report.id}.pdf")
        assert pdf.status_code == 200 and pdf.data[:4] == b"%PDF"
    finally:
        app.config.update(SMTP_PORT=saved)


def test_observers_download_monthly_reports_and_never_build_them(
    app,
    db,
    org,
    history,  # noqa: F811
    login_as,
    monkeypatch,
):
    """A build replaces the report (which may have gone out by e-mail): reading it is all an observer does."""
    monkeypatch.setattr(report_tasks, "enqueue_builds", lambda ids: [report_tasks.build_monthly.run(i) for i in ids])
    semarang = org["units"]["KOTA-SEMARANG"].id
    head = login_as("head", "KOTA-SEMARANG")
    form_post(
        head,
        "/evaluation/reports",
        {"unit_id": semarang, "month": f"{HISTORY_MONTH:%Y-%m}"},
        page="/evaluation/reports",
    )
    report = db.session.query(MonthlyReport).one()
    built_at = report.built_at
    observer = app.test_client()
    assert sign_in(observer, org["users"][("PUSAT", "observer")].email).status_code == 302
    page = observer.get("/evaluation/reports")
    assert page.status_code == 200 and 'name="month"' not in page.get_data(as_text=True)
    # The form a browser could still send (the token from any page): refused, nothing rebuilt.
    refused = form_post(
        observer, "/evaluation/reports", {"unit_id": semarang, "month": f"{HISTORY_MONTH:%Y-%m}"}, page="/"
    )
    assert refused.status_code == 403
    db.session.expire_all()
    assert db.session.query(MonthlyReport).one().built_at == built_at
    assert observer.get(f"/evaluation/reports/{report.id}.pdf").data[:4] == b"%PDF"
