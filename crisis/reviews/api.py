"""Reviews over JSON. Thin: parse, call a service, commit."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from crisis.auth.identity import authenticated, bearer_user
from crisis.extensions import db
from crisis.http import Blueprint
from crisis.reviews import exports, service
from crisis.reviews import schemas as s
from crisis.reviews.views import EXPORT_TYPES

blp = Blueprint("reviews_api", __name__, url_prefix="/api/v1", description="Post-incident reviews")


def _zone() -> str:
    return bearer_user().timezone


def _document(review: Any, lang: str | None) -> dict[str, Any]:
    doc = service.document(session=db.session, review=review)
    return exports.as_dict(doc, lang=lang or bearer_user().language)


@blp.route("/incidents/<int:incident_id>/review")
@authenticated
@blp.arguments(s.LangQuery, location="query")
@blp.response(200, s.ReviewDocumentOut)
def get_review(query: dict[str, Any], incident_id: int) -> Any:
    """The review with every measure: times UTC (ISO 8601), durations in seconds."""
    review = service.get_for_incident(session=db.session, user=bearer_user(), incident_id=incident_id)
    return _document(review, query.get("lang"))


@blp.route("/incidents/<int:incident_id>/review/export")
@authenticated
@blp.arguments(s.ExportQuery, location="query")
@blp.response(200, s.ReviewDocumentOut, content_type="application/json")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/markdown", success=True)
@blp.alt_response(200, schema={"type": "string"}, content_type="text/html", success=True)
@blp.alt_response(200, schema={"type": "string", "format": "binary"}, content_type="application/pdf", success=True)
def export_review(query: dict[str, Any], incident_id: int) -> Any:
    """The review as json, md, html or pdf, in `lang`; times in the caller's zone."""
    review = service.get_for_incident(session=db.session, user=bearer_user(), incident_id=incident_id)
    doc = service.document(session=db.session, review=review)
    lang, fmt = query.get("lang") or bearer_user().language, query["format"]
    if fmt == "json":
        body: Any = json.dumps(exports.as_dict(doc, lang=lang), ensure_ascii=False)
    elif fmt == "md":
        body = exports.render_markdown(doc, lang=lang, zone=_zone())
    elif fmt == "html":
        body = exports.render_html(doc, lang=lang, zone=_zone())
    else:
        body = exports.render_pdf(doc, lang=lang, zone=_zone())
    return Response(body, content_type=EXPORT_TYPES[fmt])


@blp.route("/reviews/<int:review_id>", methods=["PATCH"])
@authenticated
@blp.arguments(s.ReviewPatch)
@blp.response(200, s.ReviewDocumentOut)
def patch_review(data: dict[str, Any], review_id: int) -> Any:
    version = data.pop("version", None)
    review = service.update(
        session=db.session, actor=bearer_user(), review_id=review_id, expected_version=version, **data
    )
    db.session.commit()
    return _document(review, None)


@blp.route("/reviews/<int:review_id>/submit", methods=["POST"])
@authenticated
@blp.arguments(s.ReviewVersionIn)
@blp.response(200, s.ReviewDocumentOut)
def submit_review(data: dict[str, Any], review_id: int) -> Any:
    review = service.submit(
        session=db.session, actor=bearer_user(), review_id=review_id, expected_version=data.get("version")
    )
    db.session.commit()
    return _document(review, None)


@blp.route("/reviews/<int:review_id>/approve", methods=["POST"])
@authenticated
@blp.arguments(s.ReviewVersionIn)
@blp.response(200, s.ReviewDocumentOut)
def approve_review(data: dict[str, Any], review_id: int) -> Any:
    """A head over the owning unit approves; the incident closes."""
    review = service.approve(
        session=db.session, actor=bearer_user(), review_id=review_id, expected_version=data.get("version")
    )
    db.session.commit()
    return _document(review, None)


@blp.route("/reviews/<int:review_id>/return", methods=["POST"])
@authenticated
@blp.arguments(s.ReviewReturnIn)
@blp.response(200, s.ReviewDocumentOut)
def return_review(data: dict[str, Any], review_id: int) -> Any:
    review = service.return_to_draft(
        session=db.session, actor=bearer_user(), review_id=review_id, reason=data["reason"]
    )
    db.session.commit()
    return _document(review, None)


@blp.route("/reviews/<int:review_id>/action-items", methods=["POST"])
@authenticated
@blp.arguments(s.ActionItemIn)
@blp.response(201, s.ActionItemOut)
def add_action_item(data: dict[str, Any], review_id: int) -> Any:
    item = service.add_action_item(session=db.session, actor=bearer_user(), review_id=review_id, **data)
    db.session.commit()
    return item


@blp.route("/action-items/<int:item_id>", methods=["PATCH"])
@authenticated
@blp.arguments(s.ActionItemPatch)
@blp.response(200, s.ActionItemOut)
def patch_action_item(data: dict[str, Any], item_id: int) -> Any:
    item = service.set_action_status(session=db.session, actor=bearer_user(), item_id=item_id, status=data["status"])
    db.session.commit()
    return item


@blp.route("/action-items")
@authenticated
@blp.response(200, s.ActionItemOut(many=True))
def my_action_items() -> Any:
    """The caller's open action items, soonest due first."""
    return service.list_action_items(session=db.session, user=bearer_user(), mine=True)
