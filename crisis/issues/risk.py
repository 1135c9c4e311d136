"""A transparent risk score for an issue: factors anyone can recompute by hand.

score = min(100, reach + velocity + sentiment + category + pickup + sensitivity + actors + trend)
for a disaster with impact figures: impact takes the place of reach and velocity.

  reach       = min(35, r(5 × log10(people + 1)))              5 points per tenfold audience; a million
                people give 30, ten million the full 35. people = reach + the WhatsApp estimate
                (groups × 100 + forwards × 10: a chain shows no reach of its own)
  velocity    = min(25, r(5 × log10(engagement / hours + 1)))  hours = max(1, hours since first seen)
  sentiment   = negative 15 · mixed 9 · neutral 3 · positive 0
  category    = data_leak 20 · disaster 20 · hoax 16 · official_conduct 12 · policy_backlash 10 ·
                service_failure 8 · other 6 · public_complaint 5
  pickup      = news tier national 10 · regional 6 · local 3 · none 0, plus 2 from 10 articles and
                4 from 50 articles (none: 0 whatever the count); at most 14
  sensitivity = SARA 10 · deaths 10 · children 8 · politics/elections 8 · security 8, added, at most 15
  actors      = the head of the institution 10 · DPR/DPRD member 8 · religious figure 8 ·
                influencer or large account 6, added, at most 12
  trend       = from the monitoring notes: interactions per hour between the last two notes with
                figures against the issue's own baseline before them (first seen → the earlier
                note): 8 from 3 times the baseline, 4 from 1.5 times; plus 4 when the last judged
                sentiment is worse than the one before; at most 12; 0 until two notes carry figures
  impact      = disasters: deaths 1+ 15 · 10+ 25 · 100+ 35; displaced 100+ 5 · 1,000+ 10 ·
                10,000+ 15; emergency status tanggap darurat 10 · siaga or transisi darurat 5; at most 60.
                Until an impact figure is entered, posts count as for any issue.

r() rounds half up. The caps add up to more than 100, so the score is the sum capped at 100; the
factors always show their own points, and the score says when the cap took some. The suggested
severity follows the score: 1 below 40, 2 from 40, 3 from 60, 4 from 80. It is a suggestion; the
officer decides.

Examples: 50,000 reached, 5,000 interactions in 2 h, negative, a hoax: 23 + 17 + 15 + 16 = 71
(severity 3); carried by national news as well: 81 (severity 4). A LAPOR! complaint seen by 500
people with 20 reactions in 5 h, negative: 13 + 3 + 15 + 5 = 36 (severity 1); naming the Bupati
adds 10: 46 (severity 2).

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

from crisis.issues.forms import (
    ACTOR_LABELS,
    EMERGENCY_LABELS,
    NEWS_TIER_LABELS,
    SENSITIVITY_LABELS,
    SENTIMENT_LABELS,
)
from crisis.playbooks.labels import CATEGORY_LABELS

FORMULA_VERSION = 2
REACH_MAX = 35
REACH_PER_TENFOLD = 5
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
NEWS_TIER_POINTS = {"national": 10, "regional": 6, "local": 3, "none": 0}
ARTICLE_STEPS = ((50, 4), (10, 2))  # (at least this many articles, points), highest first
PICKUP_MAX = 14
SENSITIVITY_POINTS = {"sara": 10, "deaths": 10, "children": 8, "politics": 8, "security": 8}
SENSITIVITY_MAX = 15
ACTOR_POINTS = {"institution_head": 10, "legislator": 8, "religious_figure": 8, "influencer": 6}
ACTORS_MAX = 12
WHATSAPP_PER_GROUP = 100  # people an average group chain reaches
WHATSAPP_PER_FORWARD = 10
TREND_STEPS = ((3.0, 8), (1.5, 4))  # (at least this many times the baseline, points)
TREND_WORSENING = 4
TREND_MAX = 12
SENTIMENT_RANK = {"positive": 0, "neutral": 1, "mixed": 2, "negative": 3}
DEATH_STEPS = ((100, 35), (10, 25), (1, 15))
DISPLACED_STEPS = ((10_000, 15), (1_000, 10), (100, 5))
EMERGENCY_POINTS = {"response": 10, "alert": 5, "transition": 5, "none": 0}
IMPACT_MAX = 60
SCORE_MAX = 100
# Lowest score of severities 2, 3 and 4.
SEVERITY_THRESHOLDS = (40, 60, 80)
MIN_HOURS = 1.0  # a post seen minutes ago is not divided by minutes: that would inflate velocity


def _step(value: float, steps: tuple[tuple[float, int], ...]) -> int:
    return next((points for least, points in steps if value >= least), 0)


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

    @property
    def total(self) -> int:
        """The factors' points added up; the score is this, capped at 100."""
        return sum(f.points for f in self.factors)

    def to_json(self) -> dict[str, Any]:
        return {
            "formula": FORMULA_VERSION,
            "score": self.score,
            "total": self.total,
            "suggested_severity": self.suggested_severity,
            "factors": [f.to_json() for f in self.factors],
        }


def severity_for(score: int) -> int:
    return 1 + sum(score >= threshold for threshold in SEVERITY_THRESHOLDS)


@dataclass(frozen=True)
class NotePoint:
    """A monitoring note as the trend sees it: when, the interactions counted then, the tone judged then."""

    at: datetime
    engagement: int | None = None
    sentiment: str | None = None


def whatsapp_estimate(groups: int, forwards: int) -> int:
    return max(int(groups), 0) * WHATSAPP_PER_GROUP + max(int(forwards), 0) * WHATSAPP_PER_FORWARD


def _pickup(tier: str, articles: int) -> RiskFactor:
    tier_points = NEWS_TIER_POINTS.get(tier, 0)
    article_points = _step(articles, ARTICLE_STEPS) if tier_points else 0
    return RiskFactor(
        "pickup", min(PICKUP_MAX, tier_points + article_points), PICKUP_MAX, {"tier": tier, "articles": articles}
    )


def _chosen(key: str, chosen: Any, table: dict[str, int], most: int) -> RiskFactor:
    picked = [item for item in table if item in set(chosen or ())]  # the table's order, each once
    return RiskFactor(key, min(most, sum(table[item] for item in picked)), most, {"chosen": picked})


def _trend(first_seen_at: datetime, notes: Any) -> RiskFactor:
    """Velocity between the last two notes with figures against the baseline before them, and
    whether the tone got worse between the last two notes that judged it."""
    ordered = sorted(notes or (), key=lambda note: note.at)
    counted = [note for note in ordered if note.engagement is not None]
    inputs: dict[str, Any] = {}
    points = 0
    if len(counted) >= 2:
        earlier, last = counted[-2], counted[-1]
        baseline_hours = max((earlier.at - first_seen_at).total_seconds() / 3600, MIN_HOURS)
        baseline = max(earlier.engagement or 0, 0) / baseline_hours
        recent_hours = max((last.at - earlier.at).total_seconds() / 3600, MIN_HOURS)
        recent = max((last.engagement or 0) - (earlier.engagement or 0), 0) / recent_hours
        ratio = recent / baseline if baseline else (float("inf") if recent else 0.0)
        points += _step(ratio, TREND_STEPS)
        inputs.update(
            baseline_per_hour=round(baseline, 1),
            recent_per_hour=round(recent, 1),
            ratio=None if ratio == float("inf") else round(ratio, 2),
        )
    judged = [note.sentiment for note in ordered if note.sentiment in SENTIMENT_RANK]
    if len(judged) >= 2:
        before, now = judged[-2], judged[-1]
        direction = (SENTIMENT_RANK[now] > SENTIMENT_RANK[before]) - (SENTIMENT_RANK[now] < SENTIMENT_RANK[before])
        inputs.update(sentiment_before=before, sentiment_now=now, sentiment_direction=direction)
        if direction > 0:
            points += TREND_WORSENING
    return RiskFactor("trend", min(TREND_MAX, points), TREND_MAX, inputs)


def _impact(deaths: int, displaced: int, emergency_status: str) -> RiskFactor:
    points = _step(deaths, DEATH_STEPS) + _step(displaced, DISPLACED_STEPS) + EMERGENCY_POINTS.get(emergency_status, 0)
    return RiskFactor(
        "impact",
        min(IMPACT_MAX, points),
        IMPACT_MAX,
        {"deaths": deaths, "displaced": displaced, "emergency_status": emergency_status},
    )


def assess(
    *,
    reach: int,
    engagement: int,
    first_seen_at: datetime,
    sentiment: str,
    category: str,
    mainstream_pickup: bool = False,
    news_tier: str | None = None,
    news_articles: int = 0,
    sensitivities: Any = (),
    actors: Any = (),
    whatsapp_groups: int = 0,
    whatsapp_forwards: int = 0,
    deaths: int = 0,
    displaced: int = 0,
    emergency_status: str = "none",
    notes: Any = (),
    now: datetime,
) -> RiskAssessment:
    """The score of an issue with these figures at `now`; a pure function. A news_tier of None
    reads the older yes/no mainstream_pickup as national news."""
    reach = max(int(reach or 0), 0)
    engagement = max(int(engagement or 0), 0)
    tier = news_tier if news_tier is not None else ("national" if mainstream_pickup else "none")
    groups, forwards = max(int(whatsapp_groups or 0), 0), max(int(whatsapp_forwards or 0), 0)
    deaths, displaced = max(int(deaths or 0), 0), max(int(displaced or 0), 0)
    emergency_status = emergency_status or "none"
    factors: list[RiskFactor] = []
    if category == "disaster" and (deaths or displaced or emergency_status != "none"):
        factors.append(_impact(deaths, displaced, emergency_status))
    else:
        whatsapp = whatsapp_estimate(groups, forwards)
        people = reach + whatsapp
        hours = max((now - first_seen_at).total_seconds() / 3600, MIN_HOURS)
        per_hour = engagement / hours
        reach_inputs: dict[str, Any] = {"reach": people, "per_tenfold": REACH_PER_TENFOLD}
        if whatsapp:
            reach_inputs.update(posts_reach=reach, whatsapp=whatsapp, groups=groups, forwards=forwards)
        factors += [
            RiskFactor(
                "reach",
                min(REACH_MAX, _round_half_up(REACH_PER_TENFOLD * math.log10(people + 1))),
                REACH_MAX,
                reach_inputs,
            ),
            RiskFactor(
                "velocity",
                min(VELOCITY_MAX, _round_half_up(5 * math.log10(per_hour + 1))),
                VELOCITY_MAX,
                {"engagement": engagement, "hours": round(hours, 1), "per_hour": round(per_hour, 1)},
            ),
        ]
    factors += [
        RiskFactor(
            "sentiment", SENTIMENT_POINTS.get(sentiment, 0), max(SENTIMENT_POINTS.values()), {"sentiment": sentiment}
        ),
        RiskFactor("category", CATEGORY_POINTS.get(category, 0), max(CATEGORY_POINTS.values()), {"category": category}),
        _pickup(tier, max(int(news_articles or 0), 0)),
        _chosen("sensitivity", sensitivities, SENSITIVITY_POINTS, SENSITIVITY_MAX),
        _chosen("actors", actors, ACTOR_POINTS, ACTORS_MAX),
        _trend(first_seen_at, notes),
    ]
    score = min(SCORE_MAX, sum(f.points for f in factors))
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
        if inputs.get("whatsapp"):
            return gettext(
                "Reach of %(reach)s people, of whom an estimated %(whatsapp)s through WhatsApp "
                "(%(groups)s groups × 100 + %(forwards)s forwards × 10): %(points)d of %(max)d points "
                "(%(per)d points for every tenfold audience).",
                reach=_number(inputs.get("reach", 0)),
                whatsapp=_number(inputs["whatsapp"]),
                groups=_number(inputs.get("groups", 0)),
                forwards=_number(inputs.get("forwards", 0)),
                per=inputs.get("per_tenfold", 5),
                points=points,
                max=most,
            )
        return gettext(
            "Reach of %(reach)s people: %(points)d of %(max)d points (%(per)d points for every tenfold audience).",
            reach=_number(inputs.get("reach", 0)),
            per=inputs.get("per_tenfold", 5),
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
        if "tier" in inputs:
            tier = inputs.get("tier", "none")
            if tier == "none":
                return gettext("Not (yet) in the news: %(points)d of %(max)d points.", points=points, max=most)
            return gettext(
                "Carried by %(tier)s, %(articles)s articles counted: %(points)d of %(max)d points "
                "(national 10, regional 6, local 3; 2 more from 10 articles, 4 from 50).",
                tier=NEWS_TIER_LABELS.get(tier, tier),
                articles=_number(inputs.get("articles", 0)),
                points=points,
                max=most,
            )
        if inputs.get("mainstream_pickup"):
            return gettext("Carried by mainstream news media: %(points)d of %(max)d points.", points=points, max=most)
        return gettext(
            "Not (yet) carried by mainstream news media: %(points)d of %(max)d points.", points=points, max=most
        )
    if key in ("sensitivity", "actors"):
        labels = SENSITIVITY_LABELS if key == "sensitivity" else ACTOR_LABELS
        chosen = ", ".join(str(labels.get(item, item)) for item in inputs.get("chosen", []))
        if key == "sensitivity":
            if not chosen:
                return gettext("No sensitive subject marked: %(points)d of %(max)d points.", points=points, max=most)
            return gettext(
                "Touches %(chosen)s: %(points)d of %(max)d points "
                "(SARA and deaths 10 each, children, politics and security 8 each, added).",
                chosen=chosen,
                points=points,
                max=most,
            )
        if not chosen:
            return gettext(
                "No one of weight marked as posting or named: %(points)d of %(max)d points.", points=points, max=most
            )
        return gettext(
            "Posted by or naming %(chosen)s: %(points)d of %(max)d points "
            "(head of the institution 10, DPR/DPRD member and religious figure 8 each, influencer 6, added).",
            chosen=chosen,
            points=points,
            max=most,
        )
    if key == "trend":
        parts = []
        if "recent_per_hour" in inputs:
            ratio = inputs.get("ratio")
            parts.append(
                gettext(
                    "between the last two monitoring notes %(recent)s interactions per hour against a baseline "
                    "of %(baseline)s (%(ratio)s times)",
                    recent=_number(inputs["recent_per_hour"]),
                    baseline=_number(inputs.get("baseline_per_hour", 0)),
                    ratio=_number(ratio) if ratio is not None else "∞",
                )
            )
        if "sentiment_direction" in inputs:
            before = SENTIMENT_LABELS.get(inputs.get("sentiment_before", ""), inputs.get("sentiment_before", ""))
            after = SENTIMENT_LABELS.get(inputs.get("sentiment_now", ""), inputs.get("sentiment_now", ""))
            direction = inputs["sentiment_direction"]
            if direction > 0:
                parts.append(gettext("sentiment worsened from %(before)s to %(after)s", before=before, after=after))
            elif direction < 0:
                parts.append(gettext("sentiment improved from %(before)s to %(after)s", before=before, after=after))
            else:
                parts.append(gettext("sentiment stayed %(after)s", after=after))
        if not parts:
            return gettext(
                "No trend yet (it needs two monitoring notes with figures or a judged sentiment): "
                "%(points)d of %(max)d points.",
                points=points,
                max=most,
            )
        return gettext(
            "Trend: %(trend)s: %(points)d of %(max)d points (8 from 3 times the baseline, 4 from 1.5 times; "
            "4 when the sentiment worsens).",
            trend="; ".join(parts),
            points=points,
            max=most,
        )
    if key == "impact":
        return gettext(
            "Disaster impact: %(deaths)s deaths, %(displaced)s displaced, %(status)s: %(points)d of %(max)d "
            "points, counted instead of reach and speed (deaths 15/25/35 from 1/10/100; displaced 5/10/15 "
            "from 100/1,000/10,000; tanggap darurat 10, siaga or transisi 5).",
            deaths=_number(inputs.get("deaths", 0)),
            displaced=_number(inputs.get("displaced", 0)),
            status=EMERGENCY_LABELS.get(inputs.get("emergency_status", "none"), inputs.get("emergency_status", "")),
            points=points,
            max=most,
        )
    return f"{key}: {points}"


INPUTS = (
    "reach",
    "engagement",
    "first_seen_at",
    "sentiment",
    "category",
    "mainstream_pickup",
    "news_tier",
    "news_articles",
    "sensitivities",
    "actors",
    "whatsapp_groups",
    "whatsapp_forwards",
    "deaths",
    "displaced",
    "emergency_status",
)


def columns(values: dict[str, Any], now: datetime, notes: Any = ()) -> dict[str, Any]:
    """risk_score, suggested_severity and risk_factors of an issue whose INPUTS are in `values`
    (those missing take their defaults), with its monitoring notes as NotePoints."""
    assessment = assess(**{name: values[name] for name in INPUTS if name in values}, notes=notes, now=now)
    return {
        "risk_score": assessment.score,
        "suggested_severity": assessment.suggested_severity,
        "risk_factors": {**assessment.to_json(), "computed_at": now.isoformat()},
    }
