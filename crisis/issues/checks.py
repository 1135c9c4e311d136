"""What an issue's fields must be (every bad field reported at once), and a new issue checked and ready to write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crisis import moments
from crisis.auth.models import User
from crisis.errors import ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.issues import risk
from crisis.issues.models import (
    ACTORS,
    CHANNELS,
    EMERGENCY_STATUSES,
    MAX_COUNT,
    NEWS_TIERS,
    RISK_INPUT_DEFAULTS,
    SENSITIVITIES,
    SENTIMENTS,
)
from crisis.issues.urls import normalise_url
from crisis.links import url_problem
from crisis.playbooks.spec import CATEGORIES

MAX_AGE = timedelta(days=366)
MAX_LINKS = 20
TITLE_LENGTH = (3, 300)
MAX_TEXT = 10000
MAX_REASON = 2000
MAX_SOURCE = 200  # issue.source_person / source_contact columns
MAX_EVIDENCE_NOTE = 500  # issue_evidence.note column
# Channels where the source is a call or a private message, so there may be no link to give.
LINKLESS_CHANNELS = ("hotline", "whatsapp")


COUNTS = ("reach", "engagement", "news_articles", "whatsapp_groups", "whatsapp_forwards", "deaths", "displaced")


def _count_problem(value: Any) -> Any | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return _l("Give a whole number.")
    if value < 0:
        return _l("Cannot be negative.")
    if value > MAX_COUNT:
        return _l("At most %(n)s.", n=f"{MAX_COUNT:,}".replace(",", "."))
    return None


def validate(fields: dict[str, Any], *, now: datetime) -> dict[str, list[str]]:
    """Errors of every field present in `fields`, all at once."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: Any) -> None:
        errors.setdefault(field, []).append(str(message))

    if "title" in fields:
        title = fields["title"]
        low, high = TITLE_LENGTH
        if not isinstance(title, str) or not low <= len(title.strip()) <= high:
            add("title", _l("A title of %(low)d to %(high)d characters is required.", low=low, high=high))
    if "description" in fields:
        description = fields["description"]
        if not isinstance(description, str) or len(description) > MAX_TEXT:
            add("description", _l("At most %(n)d characters.", n=MAX_TEXT))
    if "channel" in fields and fields["channel"] not in CHANNELS:
        add("channel", _l("Choose one of: %(values)s.", values=", ".join(CHANNELS)))
    if "category" in fields and fields["category"] not in CATEGORIES:
        add("category", _l("Choose one of: %(values)s.", values=", ".join(CATEGORIES)))
    if "sentiment" in fields and fields["sentiment"] not in SENTIMENTS:
        add("sentiment", _l("Choose one of: %(values)s.", values=", ".join(SENTIMENTS)))
    for name in COUNTS:
        if name in fields:
            problem = _count_problem(fields[name])
            if problem is not None:
                add(name, problem)
    if "mainstream_pickup" in fields and not isinstance(fields["mainstream_pickup"], bool):
        add("mainstream_pickup", _l("Give true or false."))
    if "news_tier" in fields and fields["news_tier"] not in NEWS_TIERS:
        add("news_tier", _l("Choose one of: %(values)s.", values=", ".join(NEWS_TIERS)))
    elif fields.get("news_tier") == "none" and isinstance(fields.get("news_articles"), int) and fields["news_articles"]:
        add("news_tier", _l("Articles were counted: choose the widest news that carries it."))
    if "emergency_status" in fields and fields["emergency_status"] not in EMERGENCY_STATUSES:
        add("emergency_status", _l("Choose one of: %(values)s.", values=", ".join(EMERGENCY_STATUSES)))
    for name, allowed in (("sensitivities", SENSITIVITIES), ("actors", ACTORS)):
        if name in fields:
            chosen = fields[name]
            if not isinstance(chosen, list | tuple) or any(item not in allowed for item in chosen):
                add(name, _l("Choose any of: %(values)s.", values=", ".join(allowed)))
    if "first_seen_at" in fields:
        seen = fields["first_seen_at"]
        if not isinstance(seen, datetime) or seen.tzinfo is None or seen.utcoffset() is None:
            add("first_seen_at", _l("Give a date and time with its zone, e.g. 2026-11-26T10:00:00+07:00."))
        elif seen > now + moments.skew():  # clocks of phones and tools drift a little; config CLOCK_SKEW_SECONDS
            add("first_seen_at", _l("This time is in the future; give the time it actually happened."))
        elif seen < now - MAX_AGE:
            add("first_seen_at", _l("This time is more than a year ago; check the date."))
    for name in ("source_person", "source_contact"):
        if name in fields and (not isinstance(fields[name], str) or len(fields[name]) > MAX_SOURCE):
            add(name, _l("At most %(n)d characters.", n=MAX_SOURCE))
    return errors


def clean_links(urls: Any, errors: dict[str, list[str]], field: str) -> list[tuple[str, str]]:
    """(url, url_key) of each distinct valid link, in the order given; problems go to `errors`."""
    if urls is None:
        urls = []
    if isinstance(urls, str) or not isinstance(urls, list | tuple):
        errors.setdefault(field, []).append(str(_l("Give a list of links.")))
        return []
    if len(urls) > MAX_LINKS:
        errors.setdefault(field, []).append(str(_l("At most %(n)d links at a time.", n=MAX_LINKS)))
        return []
    links: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, url in enumerate(urls, start=1):
        problem = url_problem(url)
        if problem is not None:
            errors.setdefault(field, []).append(str(_l("Link %(n)d: %(problem)s", n=number, problem=problem)))
            continue
        key = normalise_url(url)
        if key not in seen:
            seen.add(key)
            links.append((url.strip(), key))
    return links


def pickup_fields(news_tier: Any, mainstream_pickup: Any) -> dict[str, Any]:
    """news_tier and the yes/no mainstream_pickup kept in step: a tier given wins; without one,
    the older yes means national news."""
    if news_tier is None:
        news_tier = "national" if mainstream_pickup is True else "none"
        return {"news_tier": news_tier, "mainstream_pickup": mainstream_pickup}
    return {"news_tier": news_tier, "mainstream_pickup": news_tier != "none"}


@dataclass(frozen=True)
class NewIssue:
    """An issue checked and ready to write: its row, its normalised links, its "issue.created" event."""

    row: dict[str, Any]
    links: list[tuple[str, str]]
    event: dict[str, Any]
    actor: User
    now: datetime


def new_issue(
    *,
    actor: User,
    unit_id: int,
    title: str,
    description: str = "",
    channel: str,
    category: str,
    first_seen_at: datetime | None,
    reach: int = 0,
    engagement: int = 0,
    sentiment: str = "neutral",
    mainstream_pickup: bool = False,
    news_tier: str | None = None,
    news_articles: int = 0,
    sensitivities: list[str] | tuple[str, ...] = (),
    actors: list[str] | tuple[str, ...] = (),
    whatsapp_groups: int = 0,
    whatsapp_forwards: int = 0,
    deaths: int = 0,
    displaced: int = 0,
    emergency_status: str = "none",
    evidence_urls: list[str] | tuple[str, ...] = (),
    source_person: str = "",
    source_contact: str = "",
    now: datetime,
) -> NewIssue:
    """The row of an issue logged by `actor` in `unit_id` (which the caller has checked they may log in).
    first_seen_at None means "just now". At least one evidence link is required, except for hotline
    and WhatsApp reports, which may have none. ValidationFailed names every bad field at once."""
    first_seen_at = now if first_seen_at is None else first_seen_at
    fields = {
        "title": title,
        "description": description,
        "channel": channel,
        "category": category,
        "first_seen_at": first_seen_at,
        "reach": reach,
        "engagement": engagement,
        "sentiment": sentiment,
        **pickup_fields(news_tier, mainstream_pickup),
        "news_articles": news_articles,
        "sensitivities": sensitivities,
        "actors": actors,
        "whatsapp_groups": whatsapp_groups,
        "whatsapp_forwards": whatsapp_forwards,
        "deaths": deaths,
        "displaced": displaced,
        "emergency_status": emergency_status,
        "source_person": source_person,
        "source_contact": source_contact,
    }
    errors = validate(fields, now=now)
    links = clean_links(evidence_urls, errors, "evidence_urls")
    if not links and "evidence_urls" not in errors and channel not in LINKLESS_CHANNELS:
        errors["evidence_urls"] = [str(_l("Give at least one link to the post, article or report."))]
    if errors:
        raise ValidationFailed(errors)
    row = {
        **fields,
        "unit_id": unit_id,
        "logged_by_id": actor.id,
        "title": title.strip(),
        "description": description.strip(),
        "first_seen_at": first_seen_at.astimezone(UTC),
        "source_person": source_person.strip(),
        "source_contact": source_contact.strip(),
        "sensitivities": list(dict.fromkeys(sensitivities)),
        "actors": list(dict.fromkeys(actors)),
        "anonymised_at": None,
        "state": "new",
        "state_reason": "",
        "merged_into_id": None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    row.update(risk.columns(row, now))
    row["risk_inputs"] = {name: row.pop(name) for name in RISK_INPUT_DEFAULTS}
    event = {
        "title": row["title"],
        "channel": channel,
        "category": category,
        "evidence": len(links),
        "risk_score": row["risk_score"],
        "suggested_severity": row["suggested_severity"],
    }
    return NewIssue(row=row, links=links, event=event, actor=actor, now=now)
