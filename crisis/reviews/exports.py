"""A review as print-ready HTML, PDF (WeasyPrint), Markdown and JSON, in Indonesian or English.

Every export is rendered from the same ReviewDocument; times are written in one zone with its
label (the viewer's, or the owning unit's when there is no viewer).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import flask_babel
from babel.numbers import format_decimal
from flask import current_app, render_template
from flask_babel import force_locale

from crisis.extensions import db
from crisis.i18n import lazy_gettext
from crisis.incidents import presenters
from crisis.incidents.labels import (
    CHANNEL_LABELS,
    EMERGENCY_LABELS,
    EVENT_LABELS,
    SIGNER_LABELS,
    STATE_LABELS,
    STATEMENT_LABELS,
)
from crisis.incidents.media import MEDIA_CHANNEL_LABELS, MEDIA_STATE_LABELS, OUTLET_TYPE_LABELS
from crisis.issues.forms import SENTIMENT_LABELS
from crisis.notify import words
from crisis.playbooks.labels import SEVERITY_LABELS
from crisis.reviews.measures import EscalationRow
from crisis.reviews.service import ReviewDocument
from crisis.timefmt import format_duration, format_local, zone_label
from crisis.units import letterhead as letterheads

LANGUAGES = ("id", "en")
SIGNATORY_LABELS = {"prepared": lazy_gettext("Prepared by"), "approved": lazy_gettext("Approved by")}


def reach_ratio(review: Any) -> float | None:
    """People the clarification reached per person the hoax reached, when the team entered both."""
    if review.hoax_reach and review.clarification_reach is not None:
        return review.clarification_reach / review.hoax_reach
    return None


RATING_LABELS = {
    "performed": lazy_gettext("Performed"),
    "some_challenges": lazy_gettext("Performed with some challenges"),
    "major_challenges": lazy_gettext("Performed with major challenges"),
    "not_performed": lazy_gettext("Not performed"),
}
REVIEW_STATE_LABELS = {
    "draft": lazy_gettext("Draft"),
    "submitted": lazy_gettext("Submitted"),
    "approved": lazy_gettext("Approved"),
}
ACTION_STATE_LABELS = {
    "open": lazy_gettext("Open"),
    "done": lazy_gettext("Done"),
    "dropped": lazy_gettext("Dropped"),
}
# The PDF's own small stylesheet: WeasyPrint lays out every element against every rule, so the
# screen stylesheet (and its hundreds of rules) stays out of it. The timeline has no list numbers
# (each entry starts with its time): WeasyPrint places every outside marker as an absolutely
# positioned box, which long timelines pay for heavily.
PDF_CSS = """
.letterhead { display: flex; align-items: center; } .letterhead-logo { max-height: 22mm; max-width: 30mm;
        margin-right: 5mm; } .letterhead-institution { font-weight: bold; font-size: 13pt; margin: 0;
        text-transform: uppercase; } .letterhead-address { margin: 0; }
.letterhead-rule { border: 0; border-top: 3px double #000; margin: 3pt 0 8pt; }
.chart { width: 100%; height: auto; margin: 4pt 0 8pt; }
@page { size: A4; margin: 16mm 14mm 18mm; @bottom-right { content: counter(page) " / " counter(pages);
        font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", "Noto Sans", sans-serif; font-size: 9pt; line-height: 1.35; color: #111; }
h1 { font-size: 15pt; margin: 0 0 4pt; } h2 { font-size: 11.5pt; margin: 12pt 0 4pt; border-bottom: 1px solid #999; }
h3 { font-size: 10pt; margin: 8pt 0 3pt; }
table { width: 100%; border-collapse: collapse; margin: 4pt 0; }
th, td { border: 0.5pt solid #999; padding: 2pt 3pt; text-align: left; vertical-align: top; }
th { background: #eee; } tr { page-break-inside: avoid; }
.muted { color: #555; } .warn { color: #9a3412; } .ok { color: #166534; }
dl.facts { display: block; } dl.facts dt { font-weight: bold; float: left; width: 34%; clear: left; }
dl.facts dd { margin: 0 0 2pt 35%; }
.prewrap { white-space: pre-wrap; } .noprint, form, button { display: none; }
ol.timeline { list-style: none; padding-left: 0; } ol.timeline li { margin: 0 0 1pt; }
"""


@dataclass(frozen=True)
class EscalationLine:
    """A notice of the review's escalation table, in sentences."""

    row: EscalationRow
    about: str
    to: str
    channel: str
    status: str


def _zone_formatters(zone: str) -> dict[str, Any]:
    def when(moment: datetime | None, fmt: str = "d MMM yyyy HH:mm") -> str:
        return format_local(moment, zone, fmt)

    def dur(delta: timedelta | None) -> str:
        return format_duration(delta) if delta is not None else "—"

    def day(value: date | None) -> str:  # a due date in prose ('8 Des 2026'), never ISO
        return flask_babel.format_date(value, "d MMM yyyy") if value is not None else "—"

    return {"when": when, "dur": dur, "day": day, "zone": zone, "zone_name": zone_label(zone)}


def context(doc: ReviewDocument, *, lang: str, zone: str) -> dict[str, Any]:
    """What the review templates read: the document, labels, and time formatters for one zone."""
    describe = presenters.Describer(doc.incident, lang=lang, zone=zone, labels=STATEMENT_LABELS, session=db.session)
    names = describe.names()
    timeline = [(event, describe(event)) for event in doc.events]
    escalations = [
        EscalationLine(
            row=row,
            about=words.about(row.notice, names) if row.notice is not None else "",
            to=words.recipient(row.notice, names) if row.notice is not None else row.who,
            channel=names.notice_channel(row.channel),
            status=words.status(row.notice, names) if row.notice is not None else "",
        )
        for row in doc.measures.escalations
    ]
    return {
        "doc": doc,
        "review": doc.review,
        "incident": doc.incident,
        "m": doc.measures,
        "lang": lang,
        "timeline": timeline,
        "escalations": escalations,
        "item_text": describe.item,
        "unit_name": describe.unit,
        "STATE_LABELS": STATE_LABELS,
        "SEVERITY_LABELS": SEVERITY_LABELS,
        "RATING_LABELS": RATING_LABELS,
        "REVIEW_STATE_LABELS": REVIEW_STATE_LABELS,
        "ACTION_STATE_LABELS": ACTION_STATE_LABELS,
        "STATEMENT_LABELS": STATEMENT_LABELS,
        "CHANNEL_LABELS": CHANNEL_LABELS,
        "SENTIMENT_LABELS": SENTIMENT_LABELS,
        "SIGNATORY_LABELS": SIGNATORY_LABELS,
        "OUTLET_TYPE_LABELS": OUTLET_TYPE_LABELS,
        "MEDIA_CHANNEL_LABELS": MEDIA_CHANNEL_LABELS,
        "MEDIA_STATE_LABELS": MEDIA_STATE_LABELS,
        "share": lambda figures: (
            "—"
            if figures.on_time_share is None
            else f"{format_decimal(round(figures.on_time_share * 100), locale=lang)} %"
        ),
        "seconds": lambda value: "—" if value is None else format_duration(timedelta(seconds=round(value))),
        "SIGNER_LABELS": SIGNER_LABELS,
        "EMERGENCY_LABELS": EMERGENCY_LABELS,
        "count": lambda value: "—" if value is None else format_decimal(value, locale=lang),
        "reach_ratio": reach_ratio(doc.review),
        "letterhead": letterheads.get(session=db.session, unit_id=doc.incident.unit_id),
        **_zone_formatters(zone),
    }


def _percent(share: float | None, lang: str) -> str:
    return "—" if share is None else f"{format_decimal(round(share * 100), locale=lang)} %"


def render_html(doc: ReviewDocument, *, lang: str, zone: str, for_pdf: bool = False) -> str:
    with force_locale(lang):
        return render_template("reviews/print.html", for_pdf=for_pdf, **context(doc, lang=lang, zone=zone))


def render_markdown(doc: ReviewDocument, *, lang: str, zone: str) -> str:
    with force_locale(lang):
        return render_template("reviews/review.md", **context(doc, lang=lang, zone=zone))


# Documents laid out lately, by a digest of what went in: the same HTML and stylesheet give the same
# PDF, so a report downloaded again (by its reader, or by a colleague who is shown the same page) is
# not laid out again. WeasyPrint takes 0.3-0.7 s of CPU a document; the HTML, made first, is cheap.
# The key is the whole document, data and language included: a change of any of it is a new entry.
PDF_CACHE_BYTES = 32 * 1024 * 1024
_pdfs: OrderedDict[str, bytes] = OrderedDict()
_pdfs_lock = threading.Lock()


def html_to_pdf(html: str, *, css: str = PDF_CSS) -> bytes:
    from weasyprint import CSS, HTML

    base = current_app.static_folder or "."
    key = hashlib.sha256("\0".join((base, css, html)).encode()).hexdigest()
    with _pdfs_lock:
        made = _pdfs.get(key)
        if made is not None:
            _pdfs.move_to_end(key)
            return made
    made = HTML(string=html, base_url=base).write_pdf(stylesheets=[CSS(string=css)])
    with _pdfs_lock:
        _pdfs[key] = made
        held = sum(len(pdf) for pdf in _pdfs.values())
        while held > PDF_CACHE_BYTES and len(_pdfs) > 1:
            held -= len(_pdfs.popitem(last=False)[1])
    return made


def render_pdf(doc: ReviewDocument, *, lang: str, zone: str) -> bytes:
    return html_to_pdf(render_html(doc, lang=lang, zone=zone, for_pdf=True))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds(delta: timedelta | None) -> int | None:
    return int(delta.total_seconds()) if delta is not None else None


def as_dict(doc: ReviewDocument, *, lang: str) -> dict[str, Any]:
    """The review as JSON: times in UTC (ISO 8601), durations in seconds, titles in `lang`."""
    review, incident, m = doc.review, doc.incident, doc.measures
    with force_locale(lang):
        zone = incident.unit.timezone
        describe = presenters.Describer(incident, lang=lang, zone=zone, labels=STATEMENT_LABELS, session=db.session)
        return {
            "language": lang,
            "review": {
                "id": review.id,
                "state": review.state,
                "summary": review.summary,
                "went_well": review.went_well,
                "to_improve": review.to_improve,
                **{
                    name: getattr(review, name)
                    for name in (
                        "background",
                        "legal_basis",
                        "volume_before",
                        "volume_after",
                        "tone_before",
                        "tone_after",
                        "dominant_narrative",
                        "top_accounts",
                        "hoax_reach",
                        "clarification_reach",
                        "obstacles",
                        "recommendations",
                    )
                },
                "attachments": list(review.attachments or []),
                "due_at": _iso(review.due_at),
                "submitted_at": _iso(review.submitted_at),
                "submitted_by": review.submitted_by.name if review.submitted_by else None,
                "approved_at": _iso(review.approved_at),
                "approved_by": review.approved_by.name if review.approved_by else None,
                "on_time": review.approved_at <= review.due_at if review.approved_at else None,
                "version": review.version,
            },
            "incident": {
                "id": incident.id,
                "reference": incident.reference,
                "title": incident.title,
                "severity": incident.severity,
                "state": incident.state,
                "unit": incident.unit.code,
                "playbook": doc.playbook_key,
                "playbook_title": incident.playbook_snapshot["title"][lang],
                "playbook_version": doc.playbook_version,
                "commander": incident.commander.name,
                "spokesperson": incident.spokesperson.name if incident.spokesperson else None,
                "emergency_status": incident.emergency_status,
                "emergency_since": _iso(incident.emergency_since),
                "participants": [
                    {"name": p.user.name, "role": p.role, "unit": p.unit_code, "commander": p.commander}
                    for p in doc.participants
                ],
                "involved_units": [i.unit.code for i in incident.involved],
                "started_at": _iso(incident.started_at),
                "resolved_at": _iso(incident.resolved_at),
                "closed_at": _iso(incident.closed_at),
            },
            "measures": {
                "media_queries": _media_measures(m),
                "time_to_detect_seconds": _seconds(m.time_to_detect),
                "time_to_acknowledge_seconds": _seconds(m.time_to_acknowledge),
                "update_every_seconds": _seconds(m.cadence.every) if m.cadence else None,
                "update_intervals": len(m.cadence.intervals) if m.cadence else 0,
                "update_intervals_kept": m.cadence.kept if m.cadence else 0,
                "time_to_holding_statement_seconds": _seconds(m.time_to_holding_statement),
                "time_to_first_statement_seconds": _seconds(m.time_to_first_statement),
                "time_to_resolve_seconds": _seconds(m.time_to_resolve),
                "stages_met": m.stages_met,
                "stages": len(m.stages),
                "checklist_items": m.items_total,
                "checklist_done": m.items_done,
                "checklist_waived": m.items_waived,
                "checklist_open": m.items_open,
                "escalations": m.escalation_count,
                "escalations_acknowledged": m.escalations_acknowledged,
            },
            "stages": [
                {
                    "key": s.key,
                    "title": s.title[lang],
                    "target_seconds": _seconds(s.target),
                    "target_working_days": s.working_days.days if s.working_days else None,
                    "started_at": _iso(s.started_at),
                    "due_at": _iso(s.due_at),
                    "completed_at": _iso(s.completed_at),
                    "actual_seconds": _seconds(s.actual),
                    "performed": s.performed,
                    "met": s.met,
                    "late_seconds": _seconds(s.late),
                    "suggested_rating": s.suggested,
                    "rating": s.rating,
                    "checklist": {"items": s.items_total, "done": s.items_done, "waived": s.items_waived},
                }
                for s in m.stages
            ],
            "waivers": [
                {
                    "stage": stage.key,
                    "item": entry.item_key,
                    "required": entry.required,
                    "reason": entry.waive_reason,
                    "waived_at": _iso(entry.waived_at),
                    "waived_by": entry.waived_by.name if entry.waived_by else None,
                }
                for stage, entry in m.waivers
            ],
            "escalations": [
                {
                    "recipient": e.who,
                    "unit": e.unit,
                    "kind": e.kind,
                    "stage": e.stage_key,
                    "channel": e.channel,
                    "status": e.status,
                    "sent_at": _iso(e.sent_at),
                    "acknowledged_at": _iso(e.acknowledged_at),
                    "acknowledged_by": e.acknowledged_by,
                }
                for e in m.escalations
            ],
            "statements": [
                {
                    "id": st.id,
                    "kind": st.kind,
                    "title": st.title,
                    "state": st.state,
                    "drafted_at": _iso(st.drafted_at),
                    "approved_at": _iso(st.approved_at),
                    "published_at": _iso(st.published_at),
                    "publications": [
                        {
                            "unit_id": p.unit_id,
                            "channel": p.channel,
                            "url": p.url,
                            "published_at": _iso(p.published_at),
                            "spokesperson": p.spokesperson.name if p.spokesperson else None,
                        }
                        for p in st.publications
                    ],
                    "signatures": [
                        {"step": sig.step, "role": sig.role, "by": sig.signed_by.name, "at": _iso(sig.signed_at)}
                        for sig in st.current_signatures
                    ],
                }
                for st in m.statements
            ],
            "key_message_lag": [
                {
                    "statement_id": row.statement.id,
                    "unit": row.unit.code,
                    "published_at": _iso(row.published_at),
                    "lag_seconds": _seconds(row.lag),
                }
                for row in m.lags
            ],
            "media_queries": [
                {
                    "id": q.id,
                    "journalist": q.journalist,
                    "outlet": q.outlet,
                    "outlet_type": q.outlet_type,
                    "channel": q.channel,
                    "question": q.question,
                    "received_at": _iso(q.received_at),
                    "due_at": _iso(q.due_at),
                    "state": q.state,
                    "answer_kind": q.answer_kind,
                    "statement_id": q.statement_id,
                    "answer_text": q.answer_text,
                    "decline_reason": q.decline_reason,
                    "holding_line": q.holding_line,
                    "answered_at": _iso(q.answered_at),
                    "on_time": q.on_time,
                }
                for q in m.media_queries
            ],
            "action_items": [
                {
                    "id": a.id,
                    "title": a.title,
                    "owner": a.owner.name,
                    "due_on": a.due_on.isoformat(),
                    "status": a.status,
                    "done_at": _iso(a.done_at),
                }
                for a in review.action_items
            ],
            "timeline": [
                {
                    "at": _iso(e.occurred_at),
                    "kind": e.kind,
                    "label": str(EVENT_LABELS.get(e.kind, "")),
                    "text": describe(e),
                    "actor": e.actor.name if e.actor else None,
                    "data": e.data,
                }
                for e in doc.events
            ],
        }


def _media_measures(m: Any) -> dict[str, Any]:
    def one(figures: Any) -> dict[str, Any]:
        median = figures.median_seconds
        return {
            "received": figures.received,
            "answered": figures.closed,
            "answered_on_time": figures.on_time,
            "median_seconds_to_answer": None if median is None else round(median),
        }

    if m.media is None:
        return {}
    return {**one(m.media), "by_outlet_type": {kind: one(row) for kind, row in m.media_by_outlet.items()}}


def filename(doc: ReviewDocument, lang: str, extension: str) -> str:
    return f"review-{doc.incident.reference}-{lang}.{extension}"
