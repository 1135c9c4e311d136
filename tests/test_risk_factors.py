"""What practitioners weigh in the risk score: each factor just below, at and above its thresholds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crisis.errors import ValidationFailed
from crisis.issues import risk
from crisis.issues import service as issues
from tests.conftest import FIXED_NOW
from tests.factories import log_issue

NOW = FIXED_NOW


def _assess(**overrides):
    values = {
        "reach": 0,
        "engagement": 0,
        "first_seen_at": NOW - timedelta(hours=2),
        "sentiment": "positive",
        "category": "other",
        "now": NOW,
    }
    values.update(overrides)
    return risk.assess(**values)


def _points(assessment, key):
    return next(f.points for f in assessment.factors if f.key == key)


def _keys(assessment):
    return [f.key for f in assessment.factors]


# --- reach beyond a million, and WhatsApp chains ---------------------------------------------


@pytest.mark.parametrize(
    ("reach", "points"),
    [(999_999, 30), (1_000_000, 30), (5_000_000, 33), (9_999_999, 35), (10_000_000, 35), (2_000_000_000, 35)],
)
def test_reach_beyond_a_million_still_counts_up_to_ten_million(reach, points):
    assert _points(_assess(reach=reach), "reach") == points


def test_a_whatsapp_chain_with_no_visible_reach_no_longer_scores_zero():
    assert _points(_assess(), "reach") == 0
    one_group = _assess(whatsapp_groups=1)  # 100 people: 5·log10(101) = 10.02
    assert _points(one_group, "reach") == 10
    one_forward = _assess(whatsapp_forwards=1)  # 10 people: 5·log10(11) = 5.2
    assert _points(one_forward, "reach") == 5
    both = next(f for f in _assess(reach=1_000, whatsapp_groups=20, whatsapp_forwards=300).factors if f.key == "reach")
    assert both.inputs["reach"] == 1_000 + 20 * 100 + 300 * 10 and both.inputs["whatsapp"] == 5_000


# --- news pickup in tiers with an article count ----------------------------------------------


@pytest.mark.parametrize(
    ("tier", "articles", "points"),
    [
        ("none", 0, 0),
        ("none", 60, 0),
        ("local", 0, 3),
        ("regional", 0, 6),
        ("national", 0, 10),
        ("local", 9, 3),
        ("local", 10, 5),
        ("local", 11, 5),
        ("regional", 49, 8),
        ("regional", 50, 10),
        ("national", 51, 14),
    ],
)
def test_news_pickup_by_tier_and_articles(tier, articles, points):
    assert _points(_assess(news_tier=tier, news_articles=articles), "pickup") == points


def test_the_older_yes_no_pickup_reads_as_national_news():
    assert _points(_assess(mainstream_pickup=True), "pickup") == 10
    assert _points(_assess(mainstream_pickup=True, news_tier="local"), "pickup") == 3


# --- sensitivity and who posts or is named: added, capped ------------------------------------


@pytest.mark.parametrize(
    ("chosen", "points"),
    [
        ([], 0),
        (["security"], 8),
        (["politics"], 8),
        (["children"], 8),
        (["sara"], 10),
        (["deaths"], 10),
        (["children", "politics"], 15),  # 16, capped
        (["sara", "deaths", "children", "politics", "security"], 15),
        (["sara", "sara"], 10),  # once each
    ],
)
def test_sensitivity_points(chosen, points):
    assert _points(_assess(sensitivities=chosen), "sensitivity") == points


@pytest.mark.parametrize(
    ("chosen", "points"),
    [
        ([], 0),
        (["influencer"], 6),
        (["religious_figure"], 8),
        (["legislator"], 8),
        (["institution_head"], 10),
        (["influencer", "religious_figure"], 12),  # 14, capped
        (["institution_head", "legislator", "influencer"], 12),
    ],
)
def test_people_posting_or_named(chosen, points):
    assert _points(_assess(actors=chosen), "actors") == points


def test_naming_the_bupati_lifts_a_small_complaint_to_severity_two():
    values = {"reach": 500, "engagement": 20, "first_seen_at": NOW - timedelta(hours=5), "sentiment": "negative"}
    plain = _assess(category="public_complaint", **values)
    named = _assess(category="public_complaint", actors=["institution_head"], **values)
    assert (plain.score, plain.suggested_severity) == (36, 1)
    assert (named.score, named.suggested_severity) == (46, 2)


# --- trend from monitoring notes -------------------------------------------------------------


def _trend(recent_increase, *sentiments):
    """First seen at T, a note at T+10 h with 1,000 interactions (baseline 100 per hour), a note at
    T+11 h with `recent_increase` more."""
    seen = NOW - timedelta(hours=11)
    notes = [
        risk.NotePoint(seen + timedelta(hours=10), 1_000, sentiments[0] if sentiments else None),
        risk.NotePoint(seen + timedelta(hours=11), 1_000 + recent_increase, sentiments[1] if sentiments else None),
    ]
    return next(f for f in _assess(first_seen_at=seen, notes=notes).factors if f.key == "trend")


@pytest.mark.parametrize(("increase", "points"), [(149, 0), (150, 4), (151, 4), (299, 4), (300, 8), (301, 8)])
def test_velocity_against_the_issues_own_baseline(increase, points):
    trend = _trend(increase)
    assert trend.points == points
    assert trend.inputs["baseline_per_hour"] == 100.0


@pytest.mark.parametrize(
    ("before", "after", "points"),
    [("neutral", "negative", 4), ("mixed", "negative", 4), ("negative", "negative", 0), ("negative", "mixed", 0)],
)
def test_sentiment_getting_worse_adds_to_the_trend(before, after, points):
    assert _trend(0, before, after).points == points


def test_the_trend_is_capped_and_needs_two_notes():
    assert _trend(10_000, "positive", "negative").points == 12
    one_note = [risk.NotePoint(NOW - timedelta(hours=1), 5_000, "negative")]
    assert _points(_assess(notes=one_note), "trend") == 0


def test_a_trend_from_no_baseline_counts_as_accelerating():
    seen = NOW - timedelta(hours=3)
    notes = [risk.NotePoint(seen + timedelta(hours=1), 0), risk.NotePoint(seen + timedelta(hours=2), 500)]
    assert _points(_assess(first_seen_at=seen, notes=notes), "trend") == 8


# --- disasters: impact, not posts ------------------------------------------------------------


@pytest.mark.parametrize(("deaths", "points"), [(0, 0), (1, 15), (9, 15), (10, 25), (11, 25), (99, 25), (100, 35)])
def test_disaster_deaths(deaths, points):
    assessment = _assess(category="disaster", deaths=deaths, emergency_status="none", displaced=0 if deaths else 1)
    if deaths:
        assert _points(assessment, "impact") == points
    else:  # no impact figure at all: posts count
        assert "impact" not in _keys(assessment) or _points(assessment, "impact") == 0


@pytest.mark.parametrize(
    ("displaced", "points"), [(99, 0), (100, 5), (999, 5), (1_000, 10), (9_999, 10), (10_000, 15), (10_001, 15)]
)
def test_disaster_displaced(displaced, points):
    assert _points(_assess(category="disaster", displaced=displaced), "impact") == points


@pytest.mark.parametrize(("status", "points"), [("alert", 5), ("response", 10), ("transition", 5)])
def test_disaster_emergency_status(status, points):
    assert _points(_assess(category="disaster", emergency_status=status), "impact") == points


def test_disaster_impact_replaces_reach_and_velocity():
    posts = _assess(category="disaster", reach=1_000_000, engagement=100_000)
    assert _keys(posts)[:2] == ["reach", "velocity"]  # nothing entered yet: the posts count
    impact = _assess(
        category="disaster",
        reach=1_000_000,
        engagement=100_000,
        deaths=120,
        displaced=20_000,
        emergency_status="response",
    )
    assert "reach" not in _keys(impact) and "velocity" not in _keys(impact)
    assert _points(impact, "impact") == 60
    # Another category with deaths entered is scored on its posts; deaths count as a sensitivity.
    assert "impact" not in _keys(_assess(category="hoax", deaths=5))


def test_the_score_stops_at_one_hundred_but_every_factor_keeps_its_points():
    assessment = _assess(
        category="disaster",
        deaths=100,
        displaced=10_000,
        emergency_status="response",
        sentiment="negative",
        news_tier="national",
        news_articles=50,
        sensitivities=["deaths", "children"],
        actors=["institution_head"],
    )
    assert assessment.total == 60 + 15 + 20 + 14 + 15 + 10 + 0
    assert assessment.score == 100 and assessment.to_json()["total"] == assessment.total


# --- explanations in both languages ----------------------------------------------------------


def test_every_new_factor_explains_itself_in_english_and_indonesian(app):
    seen = NOW - timedelta(hours=11)
    stored = _assess(
        first_seen_at=seen,
        reach=1_000,
        whatsapp_groups=3,
        news_tier="regional",
        news_articles=12,
        sensitivities=["sara"],
        actors=["legislator"],
        notes=[
            risk.NotePoint(seen + timedelta(hours=10), 1_000, "mixed"),
            risk.NotePoint(seen + timedelta(hours=11), 1_400, "negative"),
        ],
    ).to_json()
    with app.test_request_context(headers={"Accept-Language": "en"}):
        english = {f["key"]: f["explanation"] for f in risk.stored_factors(stored)}
    with app.test_request_context(headers={"Accept-Language": "id"}):
        indonesian = {f["key"]: f["explanation"] for f in risk.stored_factors(stored)}
    assert "WhatsApp" in english["reach"] and "3 groups" in english["reach"]
    assert "regional news" in english["pickup"] and "12 articles" in english["pickup"]
    assert "SARA" in english["sensitivity"] and "DPR/DPRD" in english["actors"]
    assert "4 times" in english["trend"] and "worsened" in english["trend"]
    for key, sentence in indonesian.items():
        assert sentence != english[key], key  # translated, not the English fallback
    disaster = _assess(category="disaster", deaths=12, emergency_status="response").to_json()
    with app.test_request_context(headers={"Accept-Language": "id"}):
        impact = risk.stored_factors(disaster)[0]
    assert impact["key"] == "impact" and "12" in impact["explanation"] and "tanggap darurat" in impact["explanation"]


# --- through the service ---------------------------------------------------------------------


def _log(db, org, **fields):
    values = {
        "title": "Kabar bohong bansos beredar di grup WA",
        "channel": "whatsapp",
        "category": "hoax",
        "first_seen_at": NOW - timedelta(hours=10),
        "reach": 0,
        "engagement": 0,
        "sentiment": "mixed",
        "evidence_urls": [],
    }
    return log_issue(db.session, org, now=NOW, unit="KOTA-SEMARANG", by="officer", **{**values, **fields})


def test_officer_logs_a_whatsapp_hoax_naming_a_legislator(db, org):
    issue = _log(
        db,
        org,
        whatsapp_groups=40,
        actors=["legislator"],
        sensitivities=["politics"],
        news_tier="local",
        news_articles=3,
    )
    factors = {f["key"]: f for f in issue.risk_factors["factors"]}
    assert factors["reach"]["inputs"]["whatsapp"] == 4_000 and factors["reach"]["points"] == 18
    assert (factors["actors"]["points"], factors["sensitivity"]["points"], factors["pickup"]["points"]) == (8, 8, 3)
    assert issue.mainstream_pickup and issue.news_tier == "local"
    assert issue.risk_score == sum(f["points"] for f in factors.values())


def test_bad_risk_inputs_are_named_field_by_field(db, org):
    with pytest.raises(ValidationFailed) as caught:
        _log(
            db,
            org,
            news_tier="tv",
            sensitivities=["gossip"],
            actors="bupati",
            whatsapp_groups=-1,
            emergency_status="panic",
        )
    assert set(caught.value.errors) == {"news_tier", "sensitivities", "actors", "whatsapp_groups", "emergency_status"}
    with pytest.raises(ValidationFailed) as caught:
        _log(db, org, news_tier="none", news_articles=4)
    assert set(caught.value.errors) == {"news_tier"}


def test_monitoring_notes_with_figures_and_tone_raise_the_trend(db, org):
    issue = _log(db, org)
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    issues.add_note(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        body="Mulai ramai",
        engagement=1_000,
        sentiment="mixed",
        now=NOW,
    )
    before = issue.risk_score
    issues.add_note(
        session=db.session,
        actor=officer,
        issue_id=issue.id,
        body="Makin ramai, nada memburuk",
        engagement=2_000,
        sentiment="negative",
        now=NOW + timedelta(hours=1),
    )
    trend = next(f for f in issue.risk_factors["factors"] if f["key"] == "trend")
    # baseline 1,000 in 10 h = 100 per hour; since then 1,000 in 1 h: 10 times, and worse in tone
    assert trend["points"] == 12 and trend["inputs"]["ratio"] == 10.0
    assert issue.sentiment == "negative" and issue.risk_score > before
    with pytest.raises(ValidationFailed) as caught:
        issues.add_note(
            session=db.session,
            actor=officer,
            issue_id=issue.id,
            body="x",
            sentiment="angry",
            now=NOW + timedelta(hours=2),
        )
    assert set(caught.value.errors) == {"sentiment"}
