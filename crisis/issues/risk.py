"""A transparent risk score for an issue: five factors anyone can recompute by hand.

score = reach + velocity + sentiment + category + pickup, an integer 0–100, where

  reach     = min(30, r(5 × log10(reach + 1)))                 5 points per tenfold audience
  velocity  = min(25, r(5 × log10(engagement / hours + 1)))    hours = max(1, hours since first seen)
  sentiment = negative 15 · mixed 9 · neutral 3 · positive 0
  category  = data_leak 20 · disaster 20 · hoax 16 · official_conduct 12 · policy_backlash 10 ·
              service_failure 8 · other 6 · public_complaint 5
  pickup    = 10 when mainstream (news) media carry it, else 0

r() rounds half up. Each factor is capped, the caps add up to 100, so the score needs no clamping
and always equals the sum of the factor points. The suggested severity follows the score:
1 below 40, 2 from 40, 3 from 60, 4 from 80. It is a suggestion; the officer decides.

Examples: 50,000 reached, 5,000 interactions in 2 h, negative, a hoax: 23 + 17 + 15 + 16 + 0 = 71
(severity 3); carried by online news as well: 81 (severity 4). A LAPOR! complaint seen by 500
people with 20 reactions in 5 h, negative: 13 + 3 + 15 + 5 + 0 = 36 (severity 1).

The factors are stored on the issue as plain keys and numbers (`to_json`); their explanations are
rendered in the reader's language when shown (`explain`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babel import numbers
from flask_babel import LazyString, get_locale, get_translations

from crisis.issues.forms import SENTIMENT_LABELS
from crisis.playbooks.labels import CATEGORY_LABELS

FORMULA_VERSION = 1
REACH_MAX = 30
VELOCITY_MAX = 25
SENTIMENT_POINTS = {"negative": 15, "mixed": 9, "neutral": 3, "positive": 0}
CATEGORY_POINTS = {
    "data_leak": 20,
    "disaster": 20,
    "hoax": 16,
    "official_conduct": 12,
    "policy_backlash": 10,
    "service_failure": 8,
    "other": 6,
    "public_complaint": 5,
}
PICKUP_POINTS = 10
# Lowest score of severities 2, 3 and 4.
SEVERITY_THRESHOLDS = (40, 60, 80)
MIN_HOURS = 1.0  # a post seen minutes ago is not divided by minutes: that would inflate velocity


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class RiskFactor:
    key: str
    points: int
    max_points: int
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> LazyString:
        """In the language of whoever reads it, at the moment it is read."""
        return LazyString(explain, self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "points": self.points, "max": self.max_points, "inputs": dict(self.inputs)}


@dataclass(frozen=True)
class RiskAssessment:
    score: int
    suggested_severity: int
    factors: list[RiskFactor]

    def to_json(self) -> dict[str, Any]:
        return {
            "formula": FORMULA_VERSION,
            "score": self.score,
            "suggested_severity": self.suggested_severity,
            "factors": [f.to_json() for f in self.factors],
        }


def severity_for(score: int) -> int:
    return 1 + sum(score >= threshold for threshold in SEVERITY_THRESHOLDS)


def assess(
    *,
    reach: int,
    engagement: int,
    first_seen_at: datetime,
    sentiment: str,
    category: str,
    mainstream_pickup: bool,
    now: datetime,
) -> RiskAssessment:
    """The score of an issue with these figures at `now`; a pure function."""
    reach = max(int(reach), 0)
    engagement = max(int(engagement), 0)
    hours = max((now - first_seen_at).total_seconds() / 3600, MIN_HOURS)
    per_hour = engagement / hours
    factors = [
        RiskFactor("reach", min(REACH_MAX, _round_half_up(5 * math.log10(reach + 1))), REACH_MAX, {"reach": reach}),
        RiskFactor(
            "velocity",
            min(VELOCITY_MAX, _round_half_up(5 * math.log10(per_hour + 1))),
            VELOCITY_MAX,
            {"engagement": engagement, "hours": round(hours, 1), "per_hour": round(per_hour, 1)},
        ),
        RiskFactor(
            "sentiment", SENTIMENT_POINTS.get(sentiment, 0), max(SENTIMENT_POINTS.values()), {"sentiment": sentiment}
        ),
        RiskFactor("category", CATEGORY_POINTS.get(category, 0), max(CATEGORY_POINTS.values()), {"category": category}),
        RiskFactor(
            "pickup", PICKUP_POINTS if mainstream_pickup else 0, PICKUP_POINTS, {"mainstream_pickup": mainstream_pickup}
        ),
    ]
    score = sum(f.points for f in factors)
    return RiskAssessment(score=score, suggested_severity=severity_for(score), factors=factors)


def stored_factors(risk_factors: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The factors kept on an issue (Issue.risk_factors), each with its explanation rendered now."""
    factors = (risk_factors or {}).get("factors", [])
    if not factors:
        return []
    language = Language.current()
    return [{**factor, "explanation": explain(factor, language)} for factor in factors]


@dataclass(frozen=True)
class Language:
    """The request's translations and number format, looked up once for all of an issue's
    sentences: flask_babel looks them up again at every call, the bulk of an explanation's cost."""

    translations: Any
    locale: Any

    @classmethod
    def current(cls) -> Language:
        return cls(get_translations(), get_locale())

    def gettext(self, string: str, **variables: Any) -> str:
        return self.translations.ugettext(string) % variables

    def number(self, value: Any) -> str:
        return numbers.format_decimal(value, locale=self.locale)


def explain(factor: dict[str, Any], language: Language | None = None) -> str:
    """One sentence that says where a factor's points come from, with its numbers."""
    language = language or Language.current()
    gettext, _number = language.gettext, language.number  # the names pybabel extracts and readers know
    key, points, most, inputs = factor["key"], factor["points"], factor.get("max", 0), factor.get("inputs", {})
    if key == "reach":
        return gettext(
            "Reach of %(reach)s people: %(points)d of %(max)d points (5 points for every tenfold audience).",
            reach=_number(inputs.get("reach", 0)),
            points=points,
            max=most,
        )
    if key == "velocity":
        return gettext(
            "%(engagement)s interactions in %(hours)s h since first seen, %(per_hour)s per hour: "
            "%(points)d of %(max)d points (5 points for every tenfold speed; at least 1 h is counted).",
            engagement=_number(inputs.get("engagement", 0)),
            hours=_number(inputs.get("hours", 0)),
            per_hour=_number(inputs.get("per_hour", 0)),
            points=points,
            max=most,
        )
    if key == "sentiment":
        sentiment = inputs.get("sentiment", "")
        return gettext(
            "Sentiment %(sentiment)s: %(points)d of %(max)d points (negative and mixed weigh more).",
            sentiment=SENTIMENT_LABELS.get(sentiment, sentiment),
            points=points,
            max=most,
        )
    if key == "category":
        category = inputs.get("category", "")
        return gettext(
            "Category %(category)s: %(points)d of %(max)d points "
            "(data leaks, disasters and hoaxes are the most sensitive).",
            category=CATEGORY_LABELS.get(category, category),
            points=points,
            max=most,
        )
    if key == "pickup":
        if inputs.get("mainstream_pickup"):
            return gettext("Carried by mainstream news media: %(points)d of %(max)d points.", points=points, max=most)
        return gettext(
            "Not (yet) carried by mainstream news media: %(points)d of %(max)d points.", points=points, max=most
        )
    return f"{key}: {points}"


INPUTS = ("reach", "engagement", "first_seen_at", "sentiment", "category", "mainstream_pickup")


def columns(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """risk_score, suggested_severity and risk_factors of an issue whose INPUTS are in `values`."""
    assessment = assess(**{name: values[name] for name in INPUTS}, now=now)
    return {
        "risk_score": assessment.score,
        "suggested_severity": assessment.suggested_severity,
        "risk_factors": {**assessment.to_json(), "computed_at": now.isoformat()},
    }
