"""The review measures what practice asks: time to detect, update cadence, the first public statement."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest

from crisis.errors import ValidationFailed
from crisis.incidents.models import Incident
from crisis.reviews import service as reviews
from crisis.reviews.measures import time_to_detect, update_cadence
from crisis.reviews.models import Review
from tests.conftest import FIXED_NOW
from tests.test_reviews import resolve_a_hoax

T0 = FIXED_NOW
M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.fixture
def resolved(db, org, built_once):
    """The resolved hoax of tests/test_reviews.py, built once for the suite."""
    return db.session.get(Incident, built_once("resolved hoax", lambda: resolve_a_hoax(db, org, FIXED_NOW).id))


def test_the_review_measures_time_to_detect_and_the_update_cadence(db, resolved):
    m = reviews.document(session=db.session, review=db.session.query(Review).one()).measures
    # The issue was first seen 20 minutes before it was escalated.
    assert m.time_to_detect == 20 * M
    # Hoax SOP at severity 3: an update every 12 h. Opened → press release 25 m → holding 10 m → resolved.
    assert m.cadence.every == 12 * H
    assert m.cadence.intervals == [25 * M, 10 * M, 9 * H + 25 * M]
    assert (m.cadence.kept, m.cadence.share) == (3, 1.0)


def _incident(start, end, *published, unit_id=1, first_seen=None):
    statements = [
        SimpleNamespace(publications=[SimpleNamespace(unit_id=unit, published_at=moment) for unit, moment in published])
    ]
    issue = SimpleNamespace(first_seen_at=first_seen) if first_seen is not None else None
    return SimpleNamespace(started_at=start, resolved_at=end, statements=statements, unit_id=unit_id, issue=issue)


def test_an_interval_longer_than_the_sop_says_is_not_kept():
    incident = _incident(
        T0,
        T0 + 30 * H,
        (1, T0 + 6 * H),  # at the limit: kept
        (1, T0 + 12 * H + M),  # one minute over: not kept
        (2, T0 + 13 * H),  # another unit's publication is not the owner's update
    )
    cadence = update_cadence(incident, 6 * H)
    assert cadence.intervals == [6 * H, 6 * H + M, 18 * H - M]
    assert cadence.kept == 1 and round(cadence.share, 2) == 0.33


def test_time_to_detect_needs_an_issue_and_moments_in_order():
    assert time_to_detect(_incident(T0, None, first_seen=T0 - 3 * H)) == 3 * H
    assert time_to_detect(_incident(T0, None)) is None
    assert time_to_detect(_incident(T0, None, first_seen=T0 + M)) is None


def test_the_page_and_exports_name_the_first_public_statement_and_the_internal_acknowledgement(
    db,
    resolved,
    login_as,
):
    client = login_as("officer", "KOTA-SEMARANG")
    markdown = client.get(f"/incidents/{resolved.id}/review.md?lang=en").get_data(as_text=True)
    assert "| Time to detect (issue first seen → incident opened) | 20 min |" in markdown
    assert "Time to complete the first stage (internal acknowledgement)" in markdown
    assert "Time to first public statement" in markdown and "Time to acknowledge" not in markdown
    assert "| Update cadence kept | 3 of 3 intervals within " in markdown
    html = client.get(f"/incidents/{resolved.id}/review").get_data(as_text=True)  # the officer reads Indonesian
    assert "Waktu deteksi (isu pertama terlihat → insiden dibuka)" in html
    assert "Waktu hingga tahap pertama selesai (tanggapan internal)" in html
    assert "Waktu hingga pernyataan publik pertama" in html
    assert "3 dari 3 selang waktu" in html
    data = json.loads(client.get(f"/incidents/{resolved.id}/review.json?lang=en").get_data(as_text=True))
    assert data["measures"]["time_to_detect_seconds"] == 20 * 60
    assert (data["measures"]["update_intervals"], data["measures"]["update_intervals_kept"]) == (3, 3)


# --- the review a bureau files ---------------------------------------------------------------


def _officer(org):
    return org["users"][("KOTA-SEMARANG", "officer")]


def test_the_team_writes_the_bureaus_sections_and_they_show_in_page_markdown_and_json(
    db,
    org,
    resolved,
    login_as,
):
    review = db.session.query(Review).one()
    reviews.update(
        session=db.session,
        actor=_officer(org),
        review_id=review.id,
        background="Pesan berantai tentang air PDAM tercemar beredar sejak pagi.",
        legal_basis="UU 14/2008 tentang KIP; Perwal Semarang tentang SOP komunikasi krisis.",
        volume_before=1_200,
        volume_after=300,
        tone_before="negative",
        tone_after="neutral",
        dominant_narrative="Air PDAM beracun.",
        top_accounts="@infosemarang\n@warga_smg",
        hoax_reach=40_000,
        clarification_reach=30_000,
        obstacles="Hasil uji lab baru keluar sore.",
        recommendations="Siapkan templat klarifikasi air bersih.",
        attachments=["https://semarangkota.go.id/klarifikasi", "https://lab.example/hasil.pdf"],
        now=T0 + 11 * H,
    )
    db.session.commit()
    client = login_as("officer", "KOTA-SEMARANG")
    markdown = client.get(f"/incidents/{resolved.id}/review.md?lang=en").get_data(as_text=True)
    for heading in (
        "## Background",
        "### Legal basis",
        "## Media and social-media analysis",
        "## Communication products issued",
        "## Obstacles",
        "## Recommendations",
        "## Attachments",
        "## Chronology",
        "## Approval (pengesahan)",
    ):
        assert heading in markdown, heading
    assert "| Volume (posts and articles) | 1,200 | 300 |" in markdown
    assert "| Tone | negative | neutral |" in markdown
    assert "The clarification reached 75% of the hoax's audience." in markdown
    assert "UU 14/2008" in markdown and "https://lab.example/hasil.pdf" in markdown
    html = client.get(f"/incidents/{resolved.id}/review").get_data(as_text=True)
    assert "Analisis media dan media sosial" in html and "Pengesahan" in html and "@warga_smg" in html
    data = json.loads(client.get(f"/incidents/{resolved.id}/review.json?lang=en").get_data(as_text=True))
    assert (data["review"]["hoax_reach"], data["review"]["clarification_reach"]) == (40_000, 30_000)


def test_bad_section_input_is_named_field_by_field_and_nothing_changes(db, org, resolved):
    review = db.session.query(Review).one()
    version = review.version
    with pytest.raises(ValidationFailed) as caught:
        reviews.update(
            session=db.session,
            actor=_officer(org),
            review_id=review.id,
            volume_before=-1,
            hoax_reach="banyak",
            tone_after="marah",
            attachments=["javascript:alert(1)"],
            background="Latar",
            now=T0 + 11 * H,
        )
    assert set(caught.value.errors) == {"volume_before", "hoax_reach", "tone_after", "attachments"}
    assert review.background == "" and review.version == version


def test_the_approval_block_names_who_prepared_and_who_approved_with_roles_and_dates(
    db,
    org,
    resolved,
    login_as,
):
    review = db.session.query(Review).one()
    for name in ("summary", "went_well", "to_improve"):
        setattr(review, name, "Ditulis.")
    db.session.flush()
    reviews.submit(session=db.session, actor=_officer(org), review_id=review.id, now=T0 + 12 * H)
    head = org["users"][("KOTA-SEMARANG", "head")]
    reviews.approve(session=db.session, actor=head, review_id=review.id, now=T0 + 13 * H)
    db.session.commit()
    doc = reviews.document(session=db.session, review=review)
    assert [(s.duty, s.user.id, s.at) for s in doc.signatories] == [
        ("prepared", _officer(org).id, T0 + 12 * H),
        ("approved", head.id, T0 + 13 * H),
    ]
    markdown = login_as("officer", "KOTA-SEMARANG").get(f"/incidents/{resolved.id}/review.md?lang=en")
    text = markdown.get_data(as_text=True)
    block = text[text.index("## Approval (pengesahan)") :]
    assert f"| Prepared by | {_officer(org).name} |" in block and f"| Approved by | {head.name} |" in block


# --- the evaluation dashboard ----------------------------------------------------------------


def test_the_dashboard_shows_time_to_detect_cadence_and_clarification_against_hoax_reach(
    db,
    org,
    resolved,
    login_as,
):
    from crisis.reports import service as reports

    review = db.session.query(Review).one()
    reviews.update(
        session=db.session,
        actor=_officer(org),
        review_id=review.id,
        hoax_reach=40_000,
        clarification_reach=10_000,
        now=T0 + 11 * H,
    )
    db.session.commit()
    user = org["users"][("PUSAT", "head")]
    f = reports.filters_for(
        session=db.session,
        user=user,
        start=(T0 - 2 * 24 * H).date().isoformat(),
        end=(T0 + 2 * 24 * H).date().isoformat(),
        now=T0 + 12 * H,
    )
    board = reports.build_dashboard(session=db.session, filters=f, lang="en")
    assert (board.headline["ttd"].n, board.headline["ttd"].p50) == (1, 20 * 60)
    assert (board.cadence.judged, board.cadence.hits) == (3, 3)
    assert board.reach == {"hoax": 40_000, "clarification": 10_000}


def test_a_head_sets_kpi_targets_on_time_to_detect_and_update_cadence(db, org, resolved):
    from crisis.reports import service as reports
    from crisis.reports.measures import MEASURE_LABELS

    assert {"time_to_detect", "update_cadence"} <= set(MEASURE_LABELS)
    head = org["users"][("JATENG", "head")]
    jateng = org["units"]["JATENG"].id
    # Detected within 15 minutes in 80 % of incidents: this one took 20 minutes.
    reports.set_target(
        session=db.session,
        actor=head,
        unit_id=jateng,
        measure="time_to_detect",
        threshold_minutes=15,
        target_percent=80,
        now=T0 + 12 * H,
    )
    reports.set_target(
        session=db.session, actor=head, unit_id=jateng, measure="update_cadence", target_percent=90, now=T0 + 12 * H
    )
    db.session.commit()

    def kpis():
        f = reports.filters_for(
            session=db.session,
            user=head,
            start=(T0 - 2 * 24 * H).date().isoformat(),
            end=(T0 + 2 * 24 * H).date().isoformat(),
            now=T0 + 12 * H,
        )
        board = reports.build_dashboard(session=db.session, filters=f, lang="en")
        return {k["target"].measure: (k["judged"], k["hits"], k["met"]) for k in board.kpis}

    assert kpis() == {"time_to_detect": (1, 0, False), "update_cadence": (3, 3, True)}
    reports.set_target(
        session=db.session,
        actor=head,
        unit_id=jateng,
        measure="time_to_detect",
        threshold_minutes=30,
        target_percent=80,
        now=T0 + 13 * H,
    )
    db.session.commit()
    assert kpis()["time_to_detect"] == (1, 1, True)
    target = next(t for t in reports.list_targets(session=db.session, user=head) if t.measure == "update_cadence")
    assert reports.describe_target(target).startswith("Kepatuhan jadwal pembaruan")
