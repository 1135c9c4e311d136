"""The review measures what practice asks: time to detect, update cadence, the first public statement."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

from crisis.reviews import service as reviews
from crisis.reviews.measures import time_to_detect, update_cadence
from crisis.reviews.models import Review
from tests.conftest import FIXED_NOW
from tests.test_reviews import resolved  # noqa: F401  # the fixture: the resolved hoax

T0 = FIXED_NOW
M = timedelta(minutes=1)
H = timedelta(hours=1)


def test_the_review_measures_time_to_detect_and_the_update_cadence(db, resolved):  # noqa: F811
    m = reviews.document(session=db.session, review=db.session.query(Review).one()).measures
    # The issue was first seen 20 minutes before it was escalated.
    assert m.time_to_detect == 20 * M
    # Hoax SOP at severity 3: an update every 24 h. Opened → press release 25 m → holding 10 m → resolved.
    assert m.cadence.every == 24 * H
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
    login_as,  # noqa: F811
):
    client = login_as("officer", "KOTA-SEMARANG")
    markdown = client.get(f"/incidents/{resolved.id}/review.md?lang=en").get_data(as_text=True)
    assert "| Time to detect (issue first seen → incident opened) | 20m |" in markdown
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
