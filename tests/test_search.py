"""Search from the header: issues, incidents and statements, each person seeing only what their
units may see, with `%` and `_` taken literally, references found directly and results bounded;
the same on SQLite, the embedded default."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from crisis.desk import search
from crisis.errors import ValidationFailed
from crisis.incidents import statements
from tests.conftest import FIXED_NOW, make_app
from tests.factories import escalate, log_issue

T0 = FIXED_NOW
M = timedelta(minutes=1)


def _incident_with_statement(db: Any, org: dict[str, Any], unit: str, title: str, statement_title: str) -> Any:
    issue = log_issue(db.session, org, now=T0, unit=unit, title=title)
    incident = escalate(db.session, org, issue, now=T0)
    statements.draft(
        session=db.session,
        actor=org["users"][(unit, "officer")],
        incident_id=incident.id,
        kind="holding",
        title=statement_title,
        body="Kami memantau genangan dan menyiapkan posko.",
        now=T0 + 5 * M,
    )
    return incident


@pytest.fixture
def floods(db, org):
    """A flood in Kota Semarang (Jawa Tengah) and one in Kota Makassar (Sulawesi Selatan), each an
    issue, an incident and a holding statement; and a flood issue in Kabupaten Banyumas."""
    semarang = _incident_with_statement(db, org, "KOTA-SEMARANG", "Banjir rob Tanjung Mas", "Banjir rob: posko dibuka")
    makassar = _incident_with_statement(db, org, "KOTA-MAKASSAR", "Banjir Antang meluas", "Banjir Antang: pengungsian")
    log_issue(db.session, org, now=T0, unit="KAB-BANYUMAS", title="Banjir bandang Sungai Serayu")
    db.session.commit()
    return {"semarang": semarang, "makassar": makassar}


def _titles(results: search.Results) -> dict[str, set[str]]:
    return {
        "issues": {issue.title for issue in results.issues.rows},
        "incidents": {incident.title for incident in results.incidents.rows},
        "statements": {statement.title for statement in results.statements.rows},
    }


def test_a_regency_officer_never_finds_another_provinces_issues_incidents_or_statements(db, org, floods):
    def found(unit: str, role: str = "officer") -> dict[str, set[str]]:
        return _titles(search.search(session=db.session, user=org["users"][(unit, role)], query="banjir"))

    assert found("KOTA-SEMARANG") == {
        "issues": {"Banjir rob Tanjung Mas"},
        "incidents": {"Banjir rob Tanjung Mas"},
        "statements": {"Banjir rob: posko dibuka"},
    }
    assert found("KOTA-MAKASSAR") == {
        "issues": {"Banjir Antang meluas"},
        "incidents": {"Banjir Antang meluas"},
        "statements": {"Banjir Antang: pengungsian"},
    }
    province = found("JATENG")  # its regencies, not Sulawesi's
    assert province["issues"] == {"Banjir rob Tanjung Mas", "Banjir bandang Sungai Serayu"}
    assert province["incidents"] == {"Banjir rob Tanjung Mas"}
    everything = found("PUSAT", "observer")
    assert everything["statements"] == {"Banjir rob: posko dibuka", "Banjir Antang: pengungsian"}
    assert len(everything["issues"]) == 3


def test_a_unit_involved_in_another_provinces_incident_finds_it_and_its_statements(db, org, floods):
    from crisis.incidents import service as incidents

    incidents.involve_unit(
        session=db.session,
        actor=org["users"][("KOTA-MAKASSAR", "head")],
        incident_id=floods["makassar"].id,
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        now=T0 + 10 * M,
    )
    db.session.commit()
    found = _titles(search.search(session=db.session, user=org["users"][("KOTA-SEMARANG", "officer")], query="antang"))
    assert found == {
        "issues": set(),
        "incidents": {"Banjir Antang meluas"},
        "statements": {"Banjir Antang: pengungsian"},
    }


def test_every_word_must_match_in_any_case_and_percent_and_underscore_are_literal(db, org, floods):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    assert _titles(search.search(session=db.session, user=officer, query="TANJUNG rob"))["incidents"] == {
        "Banjir rob Tanjung Mas"
    }
    assert search.search(session=db.session, user=officer, query="rob antang").empty
    assert search.search(session=db.session, user=officer, query="%").empty  # not "everything"
    assert search.search(session=db.session, user=officer, query="_").empty
    log_issue(db.session, org, now=T0, title="Tarif naik 50% di loket_2")
    db.session.commit()
    assert _titles(search.search(session=db.session, user=officer, query="50%"))["issues"] == {
        "Tarif naik 50% di loket_2"
    }
    assert _titles(search.search(session=db.session, user=officer, query="loket_2"))["issues"] == {
        "Tarif naik 50% di loket_2"
    }
    assert search.search(session=db.session, user=officer, query="loketx2").empty


def test_a_reference_finds_its_incident_or_issue_within_scope(db, org, floods):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    semarang, makassar = floods["semarang"], floods["makassar"]
    assert [i.id for i in search.search(session=db.session, user=officer, query=semarang.reference).incidents.rows] == [
        semarang.id
    ]
    assert search.search(session=db.session, user=officer, query=makassar.reference).incidents.rows == []
    issue_ref = f"#{semarang.issue_id}"
    assert [i.id for i in search.search(session=db.session, user=officer, query=issue_ref).issues.rows] == [
        semarang.issue_id
    ]
    assert search.search(session=db.session, user=officer, query=f"#{makassar.issue_id}").issues.rows == []


def test_results_are_bounded_and_say_there_are_more(db, org):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    for n in range(search.LIMIT + 3):
        log_issue(db.session, org, now=T0, title=f"Keluhan antrean samsat {n}")
    db.session.commit()
    results = search.search(session=db.session, user=officer, query="samsat")
    assert len(results.issues.rows) == search.LIMIT and results.issues.more
    with pytest.raises(ValidationFailed) as refused:
        search.search(session=db.session, user=officer, query="x" * (search.MAX_QUERY + 1))
    assert set(refused.value.errors) == {"q"}


def test_the_header_search_shows_results_grouped_by_kind_with_links(db, org, floods, login_as):
    semarang = floods["semarang"]
    client = login_as("officer", "KOTA-SEMARANG")
    console = client.get("/").get_data(as_text=True)
    assert re.search(r'<form class="headsearch" method="get" action="/search"', console)
    page = client.get("/search?q=banjir").get_data(as_text=True)
    incidents = re.search(r'id="search-incidents">(.*?)</section>', page, re.S).group(1)
    assert f'href="/incidents/{semarang.id}"' in incidents and semarang.reference in incidents
    statements_part = re.search(r'id="search-statements">(.*?)</section>', page, re.S).group(1)
    assert f'href="/incidents/{semarang.id}#statement-' in statements_part
    issues_part = re.search(r'id="search-issues">(.*?)</section>', page, re.S).group(1)
    assert f'href="/issues/{semarang.issue_id}"' in issues_part
    assert "Antang" not in page
    too_long = client.get("/search?q=" + "x" * 300)
    assert too_long.status_code == 200 and "Cari paling banyak 200 karakter." in too_long.get_data(as_text=True)
    nothing = client.get("/search?q=gempa").get_data(as_text=True)
    assert "Tidak ada yang cocok dengan “gempa”." in nothing


def test_search_works_the_same_on_sqlite(tmp_path, tmp_path_factory):
    """The embedded default: lower() LIKE instead of ILIKE, the same escaping and scope."""
    from flask_migrate import upgrade

    from crisis.auth.models import User
    from crisis.extensions import db as database
    from crisis.seed import demo_email, seed_demo_data
    from crisis.units.models import Unit

    application = make_app(f"sqlite:///{tmp_path / 'embedded.sqlite3'}", tmp_path_factory)
    application.extensions["clock"] = lambda: T0
    with application.app_context():
        upgrade()
        seed_demo_data(session=database.session, now=T0)
        database.session.commit()
        org = {
            "units": {u.code: u for u in database.session.query(Unit)},
            "users": {
                (code, role): database.session.query(User).filter_by(email=demo_email(code, role)).one()
                for code, role in [
                    ("KOTA-SEMARANG", "officer"),
                    ("KOTA-SEMARANG", "head"),
                    ("KOTA-MAKASSAR", "officer"),
                    ("KOTA-MAKASSAR", "head"),
                ]
            },
        }
        _incident_with_statement(database, org, "KOTA-SEMARANG", "Banjir rob 50% Tanjung_Mas", "Banjir rob: posko")
        _incident_with_statement(database, org, "KOTA-MAKASSAR", "Banjir Antang", "Banjir Antang: pengungsian")
        database.session.commit()
        officer = org["users"][("KOTA-SEMARANG", "officer")]
        found = _titles(search.search(session=database.session, user=officer, query="BANJIR"))
        assert found == {
            "issues": {"Banjir rob 50% Tanjung_Mas"},
            "incidents": {"Banjir rob 50% Tanjung_Mas"},
            "statements": {"Banjir rob: posko"},
        }
        assert _titles(search.search(session=database.session, user=officer, query="50% tanjung_mas"))["incidents"] == {
            "Banjir rob 50% Tanjung_Mas"
        }
        assert search.search(session=database.session, user=officer, query="rob%tanjung").empty  # % is a percent sign
        assert search.search(session=database.session, user=officer, query="tanjungxmas").empty  # _ is an underscore
        database.session.remove()
        database.engine.dispose()
