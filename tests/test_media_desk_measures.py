"""The media desk's measures with known figures: the review lists every question with its answer and
counts them (received, answered on time, median time to answer, by kind of outlet); the evaluation
dashboard, its CSV and a head's KPI target add the same across incidents."""

from __future__ import annotations

from datetime import timedelta

from crisis.incidents import media, statements
from crisis.incidents import service as incidents
from crisis.incidents.models import MediaQuery
from crisis.reports import service as reports
from crisis.reviews import exports
from crisis.reviews import service as reviews
from crisis.reviews.models import Review
from tests import factories
from tests.conftest import FIXED_NOW
from tests.factories import run_through
from tests.test_evaluation import END, START, _board, history  # noqa: F401  the hand-built period

M = timedelta(minutes=1)
H = timedelta(hours=1)
NOW = FIXED_NOW


def _question(**fields):
    return {
        "journalist": "Rina",
        "outlet": "Kompas TV",
        "outlet_type": "national_tv",
        "channel": "phone",
        "question": "Benarkah air tercemar?",
        **fields,
    }


def test_the_review_lists_each_question_with_its_answer_and_counts_them_by_outlet(db, org, incident):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    head = org["users"][("KOTA-SEMARANG", "head")]

    def log(minutes, **fields):
        return media.log(
            session=db.session,
            actor=officer,
            incident_id=incident.id,
            fields=_question(received_at=NOW + minutes * M, **fields),
            now=NOW + minutes * M,
        )

    tv_fast, tv_slow = log(1), log(2, journalist="Dewi", outlet="Metro TV")
    local = log(3, journalist="Budi", outlet="Suara Merdeka", outlet_type="regional")
    statement = statements.draft(
        session=db.session,
        actor=officer,
        incident_id=incident.id,
        kind="holding",
        title="Air PDAM aman",
        body="Air aman diminum.",
        now=NOW + 10 * M,
    )
    statements.approve(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "supervisor")],
        statement_id=statement.id,
        now=NOW + 20 * M,
    )
    factories.sign_through(db.session, statement, now=NOW + 30 * M)  # severity 3: the institution head too
    media.answer_with_statement(
        session=db.session, actor=officer, query_id=tv_fast.id, statement_id=statement.id, now=NOW + 61 * M
    )  # 1 hour: on time (the SOP's 2 hours at severity 3)
    media.decline(
        session=db.session,
        actor=officer,
        query_id=tv_slow.id,
        reason="Menunggu hasil lab",
        holding_line="Hasil uji lab diumumkan pukul 15.00 WIB.",
        now=NOW + 5 * H + 2 * M,
    )  # 5 hours: late
    db.session.commit()
    run_through(db.session, head, incident, now=NOW + 6 * H)
    incidents.resolve(session=db.session, actor=head, incident_id=incident.id, now=NOW + 6 * H)
    db.session.commit()
    review = db.session.query(Review).one()
    doc = reviews.document(session=db.session, review=review)
    m = doc.measures
    assert [q.id for q in m.media_queries] == [tv_fast.id, tv_slow.id, local.id]
    assert (m.media.received, m.media.closed, m.media.on_time) == (3, 2, 1)
    assert m.media.median_seconds == (1 * 3600 + 5 * 3600) / 2
    assert {k: (f.received, f.on_time) for k, f in m.media_by_outlet.items()} == {
        "national_tv": (2, 1),
        "regional": (1, 0),
    }
    assert doc.measures.incident.id == incident.id
    from crisis.reviews import measures as review_measures

    rates = review_measures.rates(session=db.session, incident=incident, now=NOW + 7 * H)
    assert (rates["media_on_time"].judged, rates["media_on_time"].hits) == (3, 1)  # the open one missed
    markdown = exports.render_markdown(doc, lang="id", zone="Asia/Jakarta")
    assert "## Pertanyaan media" in markdown
    assert "Pertanyaan diterima: 3 · dijawab tepat waktu: 1 dari 3 (33 %)" in markdown
    assert "Hasil uji lab diumumkan pukul 15.00 WIB." in markdown and "Air PDAM aman" in markdown
    assert "| TV nasional | 2 | 1 (50 %) | 3 jam |" in markdown
    english = exports.render_markdown(doc, lang="en", zone="Asia/Jakarta")
    assert "## Media queries" in english and "| National TV | 2 | 1 (50 %) | 3 h |" in english
    data = exports.as_dict(doc, lang="en")
    assert data["measures"]["media_queries"]["answered_on_time"] == 1
    assert data["measures"]["media_queries"]["by_outlet_type"]["regional"]["answered"] == 0
    assert [q["state"] for q in data["media_queries"]] == ["answered", "declined", "open"]
    pdf = exports.render_pdf(doc, lang="id", zone="Asia/Jakarta")
    assert pdf.startswith(b"%PDF")


def _query(db, incident, kind, received, answered, *, due=4 * H, state=None):
    query = MediaQuery(
        incident_id=incident.id,
        journalist="Wartawan",
        outlet="Media",
        outlet_type=kind,
        channel="phone",
        question="?",
        received_at=received,
        due_at=received + due,
        logged_by_id=incident.commander_id,
        logged_at=received,
        state=state or ("open" if answered is None else "answered"),
        answer_kind=None if answered is None else "text",
        answered_at=answered,
    )
    db.session.add(query)
    db.session.flush()
    return query


def test_the_dashboard_counts_questions_answered_on_time_by_outlet_and_against_a_kpi(db, org, history, login_as):  # noqa: F811
    from crisis.incidents.models import Incident

    by_unit = {i.unit.code: i for i in db.session.query(Incident).filter(Incident.state != "cancelled")}
    a, b, c = by_unit["KOTA-SEMARANG"], by_unit["KOTA-MAKASSAR"], by_unit["KOTA-JAYAPURA"]
    _query(db, a, "national_tv", a.started_at + 10 * M, a.started_at + 70 * M)  # 1 h: on time
    _query(db, a, "national_tv", a.started_at + 20 * M, a.started_at + 5 * H + 20 * M)  # 5 h: late
    _query(db, a, "regional", a.started_at + 30 * M, None)  # never answered, A resolved: a miss
    _query(db, b, "international", b.started_at, b.started_at + 2 * H, state="declined")  # 2 h: on time
    _query(db, c, "regional", c.started_at + 5 * M, None)  # C still active: not judged yet
    db.session.commit()
    board = _board(db, org)
    assert (board.media.judged, board.media.hits) == (4, 2)
    assert board.media_by_outlet == [
        {"outlet_type": "national_tv", "received": 2, "answered": 2, "on_time": 1, "median": 3 * 3600},
        {"outlet_type": "regional", "received": 2, "answered": 0, "on_time": 0, "median": None},
        {"outlet_type": "international", "received": 1, "answered": 1, "on_time": 1, "median": 2 * 3600},
    ]
    semarang = next(row for row in board.per_unit if row["unit"].code == "KOTA-SEMARANG")
    assert (semarang["media"].judged, semarang["media"].hits) == (3, 1)
    tables = reports.tables(board)
    assert ["media_on_time", 4, 2, "50.0"] in tables["outcomes"][1]
    assert tables["media"][1][0] == ["national_tv", 2, 2, 1, "50.0", "10800"]
    db.session.commit()
    reports.set_target(
        session=db.session,
        actor=org["users"][("PUSAT", "head")],
        unit_id=org["units"]["PUSAT"].id,
        measure="media_on_time",
        target_percent=75,
    )
    db.session.commit()
    [kpi] = [k for k in _board(db, org).kpis if k["target"].measure == "media_on_time"]
    assert (kpi["judged"], kpi["hits"], kpi["met"]) == (4, 2, False)
    page = login_as("head", "PUSAT").get(f"/evaluation?from={START.isoformat()}&to={END.isoformat()}")
    html = page.get_data(as_text=True)
    assert 'id="media-queries"' in html and "Pertanyaan media menurut jenis media" in html
    assert "Media internasional" in html and "national_tv" not in html.replace("/evaluation/media.csv", "")
