"""A duty officer logs an issue, watches it, dismisses or merges it; the risk score shows its working."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crisis.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from crisis.issues import risk
from crisis.issues import service as issues
from crisis.issues.models import CHANNELS, SENTIMENTS, Issue, IssueEvidence, MonitoringNote
from crisis.playbooks.spec import CATEGORIES
from crisis.timeline.models import TimelineEvent
from tests.conftest import FIXED_NOW
from tests.factories import log_issue

NOW = FIXED_NOW


def log(db, org, unit="KOTA-SEMARANG", role="officer", now=NOW, **fields):
    """Log an issue as a demo user: a long queue at a hospital, seen on X two hours before."""
    values = {
        "title": "Antrean BPJS di RSUD mengular, warga pingsan",
        "description": "Video antrean panjang di RSUD beredar.",
        "channel": "x",
        "category": "service_failure",
        "first_seen_at": now - timedelta(hours=2),
        "reach": 50_000,
        "engagement": 5_000,
        "evidence_urls": ["https://x.com/warga/status/1"],
    }
    return log_issue(db.session, org, now=now, unit=unit, by=role, **{**values, **fields})


def events(db, issue_id):
    return [
        e.kind
        for e in db.session.query(TimelineEvent)
        .filter_by(subject_type="issue", subject_id=issue_id)
        .order_by(TimelineEvent.id)
    ]


# --- risk ------------------------------------------------------------------------------------


def _assess(**overrides):
    values = {
        "reach": 50_000,
        "engagement": 5_000,
        "first_seen_at": NOW - timedelta(hours=2),
        "sentiment": "negative",
        "category": "hoax",
        "mainstream_pickup": False,
        "now": NOW,
    }
    values.update(overrides)
    return risk.assess(**values)


def test_hoax_seen_by_fifty_thousand_scores_as_computed_by_hand():
    assessment = _assess()
    points = {f.key: f.points for f in assessment.factors}
    # reach 5·log10(50,001) = 23.49 → 23; velocity 2,500/h → 5·log10(2,501) = 16.99 → 17
    assert points == {
        "reach": 23,
        "velocity": 17,
        "sentiment": 15,
        "category": 16,
        "pickup": 0,
        "sensitivity": 0,
        "actors": 0,
        "trend": 0,
    }
    assert assessment.score == 71
    assert assessment.suggested_severity == 3


def test_mainstream_pickup_adds_ten_and_reaches_severity_four():
    assessment = _assess(mainstream_pickup=True)
    assert assessment.score == 81
    assert assessment.suggested_severity == 4


def test_small_lapor_complaint_stays_minimal():
    assessment = _assess(reach=500, engagement=20, first_seen_at=NOW - timedelta(hours=5), category="public_complaint")
    assert [f.points for f in assessment.factors] == [13, 3, 15, 5, 0, 0, 0, 0]
    assert (assessment.score, assessment.suggested_severity) == (36, 1)


def test_every_factor_high_stops_the_score_at_one_hundred():
    assessment = _assess(
        reach=10**9,
        engagement=10**9,
        first_seen_at=NOW,
        category="data_leak",
        news_tier="national",
        news_articles=50,
        sensitivities=["sara", "children"],
        actors=["institution_head", "legislator"],
    )
    assert [f.points for f in assessment.factors][:7] == [f.max_points for f in assessment.factors][:7]
    assert assessment.total > 100 and assessment.score == 100


def test_nothing_much_scores_only_its_category():
    assessment = _assess(reach=0, engagement=0, sentiment="positive", category="public_complaint")
    assert assessment.score == 5


def test_velocity_divides_by_at_least_one_hour():
    fresh = _assess(engagement=100, first_seen_at=NOW - timedelta(minutes=1))
    velocity = next(f for f in fresh.factors if f.key == "velocity")
    assert velocity.inputs["per_hour"] == 100.0
    assert velocity.points == 10  # 5·log10(101)


def test_the_same_engagement_spread_over_a_day_is_slower():
    fast = _assess(first_seen_at=NOW - timedelta(hours=1))
    slow = _assess(first_seen_at=NOW - timedelta(hours=24))
    assert fast.score > slow.score


@pytest.mark.parametrize(
    ("score", "severity"), [(0, 1), (39, 1), (40, 2), (59, 2), (60, 3), (79, 3), (80, 4), (100, 4)]
)
def test_severity_thresholds(score, severity):
    assert risk.severity_for(score) == severity


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    reach=st.integers(min_value=0, max_value=2_000_000_000),
    engagement=st.integers(min_value=0, max_value=2_000_000_000),
    minutes=st.integers(min_value=-5, max_value=60 * 24 * 400),
    sentiment=st.sampled_from(SENTIMENTS),
    category=st.sampled_from(CATEGORIES),
    pickup=st.booleans(),
)
def test_factor_points_always_add_up_to_the_score(reach, engagement, minutes, sentiment, category, pickup):
    assessment = _assess(
        reach=reach,
        engagement=engagement,
        first_seen_at=NOW - timedelta(minutes=minutes),
        sentiment=sentiment,
        category=category,
        mainstream_pickup=pickup,
    )
    assert assessment.score == min(100, sum(f.points for f in assessment.factors))
    assert 0 <= assessment.score <= 100
    assert all(0 <= f.points <= f.max_points for f in assessment.factors)
    assert assessment.suggested_severity == risk.severity_for(assessment.score)


def test_explanations_carry_the_numbers_in_the_readers_language(app):
    stored = _assess().to_json()
    with app.test_request_context(headers={"Accept-Language": "en"}):
        reach = risk.stored_factors(stored)[0]["explanation"]
        assert "50,000" in reach and "23 of 35" in reach
    with app.test_request_context(headers={"Accept-Language": "id"}):
        assert "50.000" in risk.stored_factors(stored)[0]["explanation"]


# --- logging ---------------------------------------------------------------------------------


def test_officer_logs_an_issue_with_its_risk_and_a_timeline_event(db, org):
    issue = log(db, org, category="hoax")
    assert issue.state == "new" and issue.version == 1
    assert issue.risk_score == 71 and issue.suggested_severity == 3
    factors = issue.risk_factors["factors"]
    assert [f["key"] for f in factors] == [
        "reach",
        "velocity",
        "sentiment",
        "category",
        "pickup",
        "sensitivity",
        "actors",
        "trend",
    ]
    assert sum(f["points"] for f in factors) == issue.risk_score
    assert [e.url for e in issue.evidence] == ["https://x.com/warga/status/1"]
    assert issue.evidence[0].url_key == "x.com/warga/status/1"
    assert issue.created_at == NOW and issue.logged_by_id == org["users"][("KOTA-SEMARANG", "officer")].id
    assert events(db, issue.id) == ["issue.created"]


def test_every_bad_field_is_named_and_nothing_is_written(db, org):
    with pytest.raises(ValidationFailed) as caught:
        log(
            db,
            org,
            title="ab",
            channel="telegram",
            category="gossip",
            sentiment="angry",
            reach=-1,
            engagement=3_000_000_000,
            first_seen_at=NOW + timedelta(hours=1),
            evidence_urls=["ftp://files.example/a", "javascript:alert(1)", "https://x.com/" + "a" * 2000],
            mainstream_pickup="yes",
            description="x" * 10001,
        )
    errors = caught.value.errors
    assert set(errors) == {
        "title",
        "channel",
        "category",
        "sentiment",
        "reach",
        "engagement",
        "first_seen_at",
        "evidence_urls",
        "mainstream_pickup",
        "description",
    }
    assert len(errors["evidence_urls"]) == 3
    assert db.session.query(Issue).count() == 0


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "javascript:alert(1)", "x.com/warga", "https://", "https://localhost/x", "https://a b.com"],
)
def test_only_http_links_with_a_host_are_evidence(db, org, url):
    with pytest.raises(ValidationFailed) as caught:
        log(db, org, evidence_urls=[url])
    assert set(caught.value.errors) == {"evidence_urls"}


def test_a_link_longer_than_2000_characters_is_refused(db, org):
    with pytest.raises(ValidationFailed) as caught:
        log(db, org, evidence_urls=["https://news.example/" + "a" * 1990])
    assert "2000" in caught.value.errors["evidence_urls"][0]


def test_first_seen_must_carry_its_zone(db, org):
    with pytest.raises(ValidationFailed) as caught:
        log(db, org, first_seen_at=datetime(2026, 11, 26, 9, 0))
    assert set(caught.value.errors) == {"first_seen_at"}


def test_first_seen_may_be_a_few_minutes_ahead_but_not_more(db, org):
    """Phones drift: up to the clock skew (CRISIS_CLOCK_SKEW_SECONDS, 2 minutes) ahead is accepted."""
    assert log(db, org, first_seen_at=NOW + timedelta(minutes=2)).first_seen_at == NOW + timedelta(minutes=2)
    with pytest.raises(ValidationFailed):
        log(db, org, first_seen_at=NOW + timedelta(minutes=3))


def test_evidence_is_required_except_for_calls_and_private_messages(db, org):
    with pytest.raises(ValidationFailed) as caught:
        log(db, org, evidence_urls=[])
    assert set(caught.value.errors) == {"evidence_urls"}
    assert log(db, org, channel="hotline", evidence_urls=[]).evidence == []


def test_the_same_link_twice_in_one_report_is_kept_once(db, org):
    issue = log(db, org, evidence_urls=["https://x.com/a/status/1", "http://twitter.com/a/status/1/?s=20"])
    assert len(issue.evidence) == 1


def test_observer_cannot_log_an_issue(db, org):
    with pytest.raises(NotPermitted):
        log(db, org, unit="PUSAT", role="observer")
    assert db.session.query(Issue).count() == 0


def test_officer_cannot_log_in_a_sibling_regency(db, org):
    with pytest.raises(NotFound):
        issues.create(
            session=db.session,
            actor=org["users"][("KOTA-SEMARANG", "officer")],
            unit_id=org["units"]["KAB-BANYUMAS"].id,
            title="Jalan rusak",
            channel="hotline",
            category="public_complaint",
            first_seen_at=NOW,
            now=NOW,
        )


def test_without_a_unit_the_issue_goes_to_the_officers_own_unit(db, org):
    issue = issues.create(
        session=db.session,
        actor=org["users"][("KAB-GOWA", "officer")],
        unit_id=None,
        title="Banjir di Sungguminasa",
        channel="whatsapp",
        category="disaster",
        first_seen_at=None,
        now=NOW,
    )
    assert issue.unit_id == org["units"]["KAB-GOWA"].id
    assert issue.first_seen_at == NOW


# --- who sees what -----------------------------------------------------------------------------


def test_sibling_regency_cannot_see_or_touch_the_issue(db, org):
    issue = log(db, org)
    stranger = org["users"][("KAB-BANYUMAS", "officer")]
    with pytest.raises(NotFound):
        issues.get(session=db.session, user=stranger, issue_id=issue.id)
    with pytest.raises(NotFound):
        issues.add_note(session=db.session, actor=stranger, issue_id=issue.id, body="lihat", now=NOW)
    with pytest.raises(NotFound):
        issues.update(
            session=db.session, actor=stranger, issue_id=issue.id, changes={"title": "x" * 10}, expected_version=1
        )
    assert issues.list_for_user(session=db.session, user=stranger) == []


def test_province_and_central_see_regency_issues_other_provinces_do_not(db, org):
    issue = log(db, org)
    for unit, role in (("JATENG", "officer"), ("PUSAT", "observer"), ("PUSAT", "officer")):
        assert issues.get(session=db.session, user=org["users"][(unit, role)], issue_id=issue.id) == issue
    with pytest.raises(NotFound):
        issues.get(session=db.session, user=org["users"][("SULSEL", "head")], issue_id=issue.id)


def test_observer_sees_but_cannot_change(db, org):
    issue = log(db, org)
    observer = org["users"][("PUSAT", "observer")]
    with pytest.raises(NotPermitted):
        issues.start_monitoring(session=db.session, actor=observer, issue_id=issue.id, now=NOW)
    with pytest.raises(NotPermitted):
        issues.dismiss(session=db.session, actor=observer, issue_id=issue.id, reason="bukan isu", now=NOW)
    assert issue.state == "new"


# --- transitions -------------------------------------------------------------------------------


def test_new_issue_is_monitored_with_notes_that_update_the_figures(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.start_monitoring(session=db.session, actor=officer, issue_id=issue.id, now=NOW)
    assert issue.state == "monitoring" and issue.version == 2
    later = NOW + timedelta(hours=1)
    note = issues.add_note(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        body="Sudah diliput dua portal berita.",
        reach=400_000,
        engagement=40_000,
        now=later,
    )
    assert (note.reach, note.engagement, note.created_at) == (400_000, 40_000, later)
    assert (issue.reach, issue.engagement) == (400_000, 40_000)
    reach = next(f for f in issue.risk_factors["factors"] if f["key"] == "reach")
    assert reach["points"] == 28  # 5·log10(400,001) = 28.01
    assert issue.risk_score == sum(f["points"] for f in issue.risk_factors["factors"])
    issues.add_note(session=db.session, actor=officer, issue_id=issue.id, body="Masih ramai.", now=later)
    assert (issue.reach, [n.body for n in issue.notes][-1]) == (400_000, "Masih ramai.")
    assert events(db, issue.id) == ["issue.created", "issue.monitoring_started", "issue.note_added", "issue.note_added"]


def test_monitoring_twice_is_a_conflict(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.start_monitoring(session=db.session, actor=officer, issue_id=issue.id, now=NOW)
    with pytest.raises(Conflict):
        issues.start_monitoring(session=db.session, actor=officer, issue_id=issue.id, now=NOW)


def test_a_note_needs_words_and_sane_figures(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    with pytest.raises(ValidationFailed) as caught:
        issues.add_note(session=db.session, actor=officer, issue_id=issue.id, body="  ", reach=-5, now=NOW)
    assert set(caught.value.errors) == {"body", "reach"}


def test_dismissing_needs_a_reason_and_closes_the_issue(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    with pytest.raises(ValidationFailed) as caught:
        issues.dismiss(session=db.session, actor=officer, issue_id=issue.id, reason="   ", now=NOW)
    assert set(caught.value.errors) == {"reason"}
    issues.dismiss(
        session=db.session, actor=officer, issue_id=issue.id, reason="Akun parodi, sudah klarifikasi.", now=NOW
    )
    assert (issue.state, issue.state_reason) == ("dismissed", "Akun parodi, sudah klarifikasi.")
    for attempt in (
        lambda: issues.add_note(session=db.session, actor=officer, issue_id=issue.id, body="lagi", now=NOW),
        lambda: issues.start_monitoring(session=db.session, actor=officer, issue_id=issue.id, now=NOW),
        lambda: issues.dismiss(session=db.session, actor=officer, issue_id=issue.id, reason="lagi", now=NOW),
        lambda: issues.add_evidence(
            session=db.session, actor=officer, issue_id=issue.id, url="https://news.example/a", now=NOW
        ),
    ):
        with pytest.raises(Conflict):
            attempt()
    assert events(db, issue.id) == ["issue.created", "issue.dismissed"]


def test_evidence_is_added_once_in_any_spelling(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.add_evidence(
        session=db.session, actor=officer, issue_id=issue.id, url="https://news.example/a", note="Berita", now=NOW
    )
    with pytest.raises(ValidationFailed) as caught:
        issues.add_evidence(
            session=db.session,
            actor=officer,
            issue_id=issue.id,
            url="http://www.news.example/a/?utm_source=wa",
            now=NOW,
        )
    assert set(caught.value.errors) == {"url"}
    assert [e.url for e in issue.evidence] == ["https://x.com/warga/status/1", "https://news.example/a"]


def test_update_with_the_version_seen_changes_the_issue(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    before = issue.risk_score
    issues.update(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        changes={"title": "Antrean BPJS RSUD: warga pingsan", "mainstream_pickup": True},
        expected_version=1,
        now=NOW,
    )
    assert issue.title == "Antrean BPJS RSUD: warga pingsan" and issue.version == 2
    assert issue.risk_score == before + 10
    event = db.session.query(TimelineEvent).filter_by(kind="issue.updated").one()
    assert event.data["before"]["mainstream_pickup"] is False and event.data["after"]["mainstream_pickup"] is True


def test_update_with_a_stale_version_is_a_conflict_and_writes_nothing(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.add_note(session=db.session, actor=officer, issue_id=issue.id, body="Dipantau.", now=NOW)
    assert issue.version == 2
    with pytest.raises(issues.StaleIssue) as caught:
        issues.update(
            session=db.session,
            actor=officer,
            issue_id=issue.id,
            changes={"title": "Judul lama yang basi"},
            expected_version=1,
            now=NOW,
        )
    assert caught.value.status == 409 and caught.value.current_version == 2
    assert "version" in caught.value.errors
    assert issue.title != "Judul lama yang basi"


def test_two_editors_at_once_the_second_gets_a_conflict(app, db, org):
    """Both read version 1; the first save wins, the second is refused instead of overwriting."""
    from crisis.auth.models import User
    from crisis.extensions import db as _db

    issue = log(db, org)
    db.session.commit()
    issue_id, officer_id, supervisor_id = (
        issue.id,
        org["users"][("KOTA-SEMARANG", "officer")].id,
        org["users"][("KOTA-SEMARANG", "supervisor")].id,
    )
    first_flushed, first_may_commit = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            actor = _db.session.get(User, officer_id)
            issues.update(
                session=_db.session,
                actor=actor,
                issue_id=issue_id,
                changes={"title": "Versi petugas"},
                expected_version=1,
                now=NOW,
            )
            first_flushed.set()
            first_may_commit.wait(10)
            _db.session.commit()

    def second() -> None:
        with app.app_context():
            actor = _db.session.get(User, supervisor_id)
            first_flushed.wait(10)
            try:
                issues.update(
                    session=_db.session,
                    actor=actor,
                    issue_id=issue_id,
                    changes={"title": "Versi supervisor"},
                    expected_version=1,
                    now=NOW,
                )
                _db.session.commit()
                outcome["second"] = "saved"
            except issues.StaleIssue as error:
                _db.session.rollback()
                outcome["second"] = error.current_version

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_flushed.wait(10)
    first_may_commit.set()  # the second is (or will be) waiting for the row lock
    for thread in threads:
        thread.join(20)
    assert outcome["second"] == 2
    db.session.expire_all()
    stored = db.session.get(Issue, issue_id)
    assert (stored.title, stored.version) == ("Versi petugas", 2)


def test_fields_outside_the_issue_cannot_be_patched(db, org):
    issue = log(db, org)
    with pytest.raises(ValidationFailed) as caught:
        issues.update(
            session=db.session,
            actor=org["users"][("KOTA-SEMARANG", "officer")],
            issue_id=issue.id,
            changes={"state": "escalated", "risk_score": 1},
            expected_version=1,
            now=NOW,
        )
    assert set(caught.value.errors) == {"state", "risk_score"}


def test_escalation_marks_the_issue_and_only_once(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.mark_escalated(session=db.session, issue=issue, incident_id=4242, actor=officer, now=NOW)
    assert issue.state == "escalated"
    event = db.session.query(TimelineEvent).filter_by(kind="issue.escalated").one()
    assert event.data == {"incident_id": 4242} and event.actor_id == officer.id
    with pytest.raises(Conflict):
        issues.mark_escalated(session=db.session, issue=issue, incident_id=4243, actor=officer, now=NOW)
    with pytest.raises(Conflict):
        issues.add_note(session=db.session, actor=officer, issue_id=issue.id, body="tambahan", now=NOW)


def test_a_dismissed_issue_cannot_be_escalated(db, org):
    issue = log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.dismiss(session=db.session, actor=officer, issue_id=issue.id, reason="Hoaks lama", now=NOW)
    with pytest.raises(Conflict):
        issues.mark_escalated(session=db.session, issue=issue, incident_id=1, actor=officer, now=NOW)


def test_observer_cannot_escalate(db, org):
    issue = log(db, org)
    with pytest.raises(NotPermitted):
        issues.mark_escalated(
            session=db.session, issue=issue, incident_id=1, actor=org["users"][("PUSAT", "observer")], now=NOW
        )


# --- duplicates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "same"),
    [
        ("https://x.com/warga/status/1", True),
        ("http://x.com/warga/status/1", True),
        ("https://x.com/warga/status/1/", True),
        ("https://www.x.com/warga/status/1?utm_source=wa&utm_medium=share", True),
        ("https://twitter.com/warga/status/1?s=20&t=abc", True),
        ("https://mobile.twitter.com/warga/status/1#reply", True),
        ("https://X.COM/warga/status/1", True),
        ("https://x.com/warga/status/2", False),
        ("https://x.com/Warga/status/1", False),  # paths are case-sensitive
    ],
)
def test_normalised_links_find_the_same_post(spelling, same):
    assert (issues.normalise_url(spelling) == issues.normalise_url("https://x.com/warga/status/1")) is same


def test_youtube_short_links_match_watch_links():
    assert issues.normalise_url("https://youtu.be/abc123?si=xyz") == issues.normalise_url(
        "https://m.youtube.com/watch?v=abc123&feature=share"
    )


def test_meaningful_query_parameters_are_kept():
    assert issues.normalise_url("https://news.example/read?id=1") != issues.normalise_url(
        "https://news.example/read?id=2"
    )


def test_the_same_evidence_link_is_offered_as_a_duplicate_even_from_another_unit(db, org):
    original = log(db, org, unit="KAB-BANYUMAS", evidence_urls=["https://www.tiktok.com/@warga/video/77"])
    province = org["users"][("JATENG", "officer")]
    found = issues.find_duplicates(
        session=db.session,
        actor=province,
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        title="Sesuatu yang lain sama sekali",
        evidence_urls=["http://tiktok.com/@warga/video/77/?utm_source=copy"],
        now=NOW + timedelta(days=5),
    )
    assert found == [original]
    # A regency cannot be shown an issue of its sibling, even by link.
    assert (
        issues.find_duplicates(
            session=db.session,
            actor=org["users"][("KOTA-SEMARANG", "officer")],
            unit_id=org["units"]["KOTA-SEMARANG"].id,
            title="Sesuatu yang lain",
            evidence_urls=["https://tiktok.com/@warga/video/77"],
            now=NOW,
        )
        == []
    )


def test_a_similar_title_in_the_same_unit_within_48_hours_is_a_duplicate(db, org):
    original = log(db, org, title="Antrean BPJS di RSUD mengular, warga pingsan!")
    officer = org["users"][("KOTA-SEMARANG", "officer")]

    def similar(unit="KOTA-SEMARANG", now=NOW, title="antrean bpjs di rsud  mengular warga pingsan"):
        return issues.find_duplicates(
            session=db.session,
            actor=officer if unit == "KOTA-SEMARANG" else org["users"][("JATENG", "officer")],
            unit_id=org["units"][unit].id,
            title=title,
            evidence_urls=["https://instagram.com/p/other"],
            now=now,
        )

    assert similar() == [original]
    assert similar(title="Antrean BPJS RSUD mengular, warga pingsan") == [original]
    assert similar(now=NOW + timedelta(hours=47)) == [original]
    assert similar(now=NOW + timedelta(hours=49)) == []
    assert similar(unit="KAB-BANYUMAS") == []
    assert similar(title="Jembatan putus di Banyumas") == []


def test_merged_and_long_dismissed_issues_are_not_offered(db, org):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    dismissed = log(db, org, evidence_urls=["https://news.example/a"])
    issues.dismiss(session=db.session, actor=officer, issue_id=dismissed.id, reason="Bukan isu", now=NOW)
    source = log(db, org, title="Sesuatu", evidence_urls=["https://news.example/b"])
    target = log(db, org, title="Hal lain", evidence_urls=["https://news.example/c"])
    issues.merge(session=db.session, actor=officer, source_id=source.id, target_id=target.id, now=NOW)

    def found(url, now):
        return issues.find_duplicates(
            session=db.session,
            actor=officer,
            unit_id=None,
            title="",
            evidence_urls=[url],
            now=now,
        )

    assert found("https://news.example/a", NOW + timedelta(hours=1)) == [dismissed]
    assert found("https://news.example/a", NOW + timedelta(hours=49)) == []
    assert found("https://news.example/b", NOW) == [target]  # the link now lives on the target


# --- merging ---------------------------------------------------------------------------------


def test_merging_keeps_all_evidence_and_notes(db, org):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    target = log(db, org, evidence_urls=["https://x.com/warga/status/1"], reach=1000, engagement=100)
    source = log(
        db,
        org,
        title="Warga pingsan di antrean RSUD",
        description="Laporan dari WhatsApp grup RT.",
        evidence_urls=["https://x.com/warga/status/1?s=20", "https://news.example/rsud"],
        reach=90_000,
        engagement=50,
        mainstream_pickup=True,
        first_seen_at=NOW - timedelta(hours=6),
    )
    issues.add_note(session=db.session, actor=officer, issue_id=source.id, body="Catatan sumber", now=NOW)
    issues.add_note(session=db.session, actor=officer, issue_id=target.id, body="Catatan target", now=NOW)
    merged = issues.merge(session=db.session, actor=officer, source_id=source.id, target_id=target.id, now=NOW)
    assert merged is target
    assert {e.url_key for e in target.evidence} == {"x.com/warga/status/1", "news.example/rsud"}
    assert [n.body for n in target.notes][:2] == ["Catatan sumber", "Catatan target"]
    assert "Laporan dari WhatsApp grup RT." in target.notes[-1].body
    assert (target.reach, target.engagement, target.mainstream_pickup) == (90_000, 100, True)
    assert target.first_seen_at == NOW - timedelta(hours=6)
    assert (source.state, source.merged_into_id) == ("merged", target.id)
    # Nothing is deleted: the duplicate link stays on the source.
    assert db.session.query(IssueEvidence).count() == 3
    assert db.session.query(MonitoringNote).filter_by(issue_id=target.id).count() == 3
    assert events(db, source.id)[-1] == "issue.merged"
    assert events(db, target.id)[-1] == "issue.absorbed"


def test_merge_refusals(db, org):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    first, second = log(db, org), log(db, org, title="Lain")
    with pytest.raises(ValidationFailed):
        issues.merge(session=db.session, actor=officer, source_id=first.id, target_id=first.id, now=NOW)
    sibling = log(db, org, unit="KAB-BANYUMAS")
    with pytest.raises(NotFound):
        issues.merge(session=db.session, actor=officer, source_id=first.id, target_id=sibling.id, now=NOW)
    with pytest.raises(NotPermitted):
        issues.merge(
            session=db.session,
            actor=org["users"][("PUSAT", "observer")],
            source_id=first.id,
            target_id=second.id,
            now=NOW,
        )
    issues.mark_escalated(session=db.session, issue=second, incident_id=1, actor=officer, now=NOW)
    with pytest.raises(Conflict):
        issues.merge(session=db.session, actor=officer, source_id=first.id, target_id=second.id, now=NOW)
    third = log(db, org, title="Ketiga")
    issues.merge(session=db.session, actor=officer, source_id=third.id, target_id=first.id, now=NOW)
    with pytest.raises(Conflict):
        issues.merge(session=db.session, actor=officer, source_id=first.id, target_id=third.id, now=NOW)


def test_province_merges_reports_from_two_of_its_regencies(db, org):
    semarang = log(db, org, unit="KOTA-SEMARANG")
    banyumas = log(db, org, unit="KAB-BANYUMAS", title="Antrean RSUD juga di Banyumas")
    province = org["users"][("JATENG", "supervisor")]
    issues.merge(session=db.session, actor=province, source_id=banyumas.id, target_id=semarang.id, now=NOW)
    assert banyumas.state == "merged"


# --- lists -----------------------------------------------------------------------------------


def test_open_issues_come_riskiest_first_and_closed_ones_not_at_all(db, org):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    low = log(db, org, reach=10, engagement=1, sentiment="positive", title="Kecil")
    high = log(db, org, category="data_leak", mainstream_pickup=True, title="Besar")
    dismissed = log(db, org, title="Dibuang")
    issues.dismiss(session=db.session, actor=officer, issue_id=dismissed.id, reason="bukan isu", now=NOW)
    issues.start_monitoring(session=db.session, actor=officer, issue_id=low.id, now=NOW)
    assert issues.list_open(session=db.session, user=officer) == [high, low]
    central = org["users"][("PUSAT", "head")]
    assert issues.list_open(session=db.session, user=central, unit_id=org["units"]["JATENG"].id) == [high, low]
    assert issues.list_open(session=db.session, user=central, unit_id=org["units"]["SULSEL"].id) == []


def test_list_filters_by_state_unit_and_words(db, org):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    flood = log(db, org, title="Banjir rob di Tanjung Mas", category="disaster")
    queue = log(db, org, title="Antrean 100% penuh")
    other = log(db, org, unit="KAB-BANYUMAS", title="Banjir di Purwokerto")
    issues.dismiss(session=db.session, actor=officer, issue_id=queue.id, reason="selesai", now=NOW)
    province = org["users"][("JATENG", "head")]
    assert set(issues.list_for_user(session=db.session, user=province, q="banjir")) == {flood, other}
    assert issues.list_for_user(session=db.session, user=province, q="banjir tanjung") == [flood]
    assert issues.list_for_user(session=db.session, user=province, q="100%") == [queue]
    assert issues.list_for_user(session=db.session, user=province, state="dismissed") == [queue]
    assert set(issues.list_for_user(session=db.session, user=province, state="open")) == {flood, other}
    banyumas = org["units"]["KAB-BANYUMAS"].id
    assert issues.list_for_user(session=db.session, user=province, unit_id=banyumas) == [other]
    with pytest.raises(NotFound):
        issues.list_for_user(session=db.session, user=officer, unit_id=banyumas)
    with pytest.raises(ValidationFailed):
        issues.list_for_user(session=db.session, user=officer, state="closed")


def test_constants_cover_the_form_choices():
    from crisis.issues.forms import CHANNEL_LABELS

    assert tuple(CHANNEL_LABELS) == CHANNELS
