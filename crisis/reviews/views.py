"""Review pages: read, write, submit, approve, action items, and the exports. Thin: parse, call a
service, commit, render."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crisis.errors import Conflict, ValidationFailed
from crisis.extensions import db
from crisis.guards import parse_id
from crisis.http import flash_refusal, select_locale, viewer_zone
from crisis.i18n import _
from crisis.reviews import exports, service
from crisis.reviews.models import RATINGS, ActionItem

bp = Blueprint("reviews", __name__)

EXPORT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}


def _back(incident_id: int, anchor: str = "") -> Any:
    return redirect(url_for("reviews.page", incident_id=incident_id) + (f"#{anchor}" if anchor else ""))


def _act(incident_id: int, action: Callable[[], Any], done: str, anchor: str = "") -> Any:
    """One user action, one transaction; input and state problems come back as messages on the
    page, a role that may not do it gets 403 (the page never offers it)."""
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        db.session.rollback()
        flash_refusal(error, target=anchor)  # shown next to the field or section it is about
    else:
        db.session.commit()
        flash(done, "success")
    return _back(incident_id, anchor)


def _version() -> int | None:
    return parse_id(request.form.get("version"))


@bp.route("/reviews")
@login_required
def index() -> Any:
    return render_template(
        "reviews/list.html",
        reviews=service.list_reviews(session=db.session, user=current_user),
        my_items=service.list_action_items(session=db.session, user=current_user, mine=True),
        REVIEW_STATE_LABELS=exports.REVIEW_STATE_LABELS,
    )


@bp.route("/incidents/<int:incident_id>/review")
@login_required
def page(incident_id: int) -> Any:
    review = service.get_for_incident(session=db.session, user=current_user, incident_id=incident_id)
    doc = service.document(session=db.session, review=review)
    lang = select_locale()
    can_write = service.can_write(session=db.session, user=current_user, review=review)
    context = exports.context(doc, lang=lang, zone=viewer_zone())
    return render_template(
        "reviews/page.html",
        **context,
        can_write=can_write,
        can_approve=service.can_approve(session=db.session, user=current_user, review=review),
        owners=service.owner_candidates(session=db.session, review=review) if can_write else [],
        RATINGS=RATINGS,
        action_forms=lambda item: can_write or item.owner_id == current_user.id,
    )


def _written_parts(form: Any) -> dict[str, Any]:
    """The bureau's sections from the page's form: texts as written, counts as whole numbers (left
    as typed when not one, for the service to name), attachments one link per line."""
    parts: dict[str, Any] = {name: form.get(name) for name in (*service.TEXTS, *service.TONES) if name in form}
    for name in ("summary", "went_well", "to_improve"):  # passed by name
        parts.pop(name, None)
    for name in service.COUNTS:
        if name in form:
            raw = (form.get(name) or "").strip().replace(".", "").replace(",", "")
            parts[name] = int(raw) if raw.isdigit() else (None if raw == "" else form.get(name))
    if "attachments" in form:
        parts["attachments"] = [line for line in (form.get("attachments") or "").splitlines() if line.strip()]
    return parts


@bp.route("/reviews/<int:review_id>/<verb>", methods=["POST"])
@login_required
def review_action(review_id: int, verb: str) -> Any:
    review = service.get(session=db.session, user=current_user, review_id=review_id)
    form = request.form
    common = {"session": db.session, "actor": current_user, "review_id": review.id}
    actions: dict[str, tuple[Callable[[], Any], str, str]] = {
        "edit": (
            lambda: service.update(
                **common,
                summary=form.get("summary"),
                went_well=form.get("went_well"),
                to_improve=form.get("to_improve"),
                **_written_parts(form),
                stage_ratings={
                    key.removeprefix("rating-"): value for key, value in form.items() if key.startswith("rating-")
                },
                expected_version=_version(),
            ),
            _("Review saved."),
            "write",
        ),
        "submit": (
            lambda: service.submit(**common, expected_version=_version()),
            _("Review submitted to the head for approval."),
            "workflow",
        ),
        "approve": (
            lambda: service.approve(**common, expected_version=_version()),
            _("Review approved; the incident is closed."),
            "workflow",
        ),
        "return": (
            lambda: service.return_to_draft(**common, reason=form.get("reason", "")),
            _("Review returned to draft."),
            "workflow",
        ),
        "actions": (
            lambda: service.add_action_item(
                **common, title=form.get("title", ""), owner_id=form.get("owner_id", ""), due_on=form.get("due_on", "")
            ),
            _("Action item added."),
            "action-items",
        ),
    }
    if verb not in actions:
        abort(404)
    action, done, anchor = actions[verb]
    return _act(review.incident_id, action, done, anchor)


@bp.route("/action-items/<int:item_id>/status", methods=["POST"])
@login_required
def action_status(item_id: int) -> Any:
    item = db.session.get(ActionItem, item_id)
    if item is None:
        abort(404)
    review = service.get(session=db.session, user=current_user, review_id=item.review_id)
    return _act(
        review.incident_id,
        lambda: service.set_action_status(
            session=db.session, actor=current_user, item_id=item_id, status=request.form.get("status", "")
        ),
        _("Action item updated."),
        "action-items",
    )


@bp.route("/incidents/<int:incident_id>/review.<fmt>")
@login_required
def export(incident_id: int, fmt: str) -> Any:
    """?lang=id|en; times in the viewer's zone."""
    if fmt not in EXPORT_TYPES:
        abort(404)
    lang = request.args.get("lang") or select_locale()
    if lang not in exports.LANGUAGES:
        abort(400)
    review = service.get_for_incident(session=db.session, user=current_user, incident_id=incident_id)
    doc = service.document(session=db.session, review=review)
    zone = viewer_zone()
    if fmt == "html":
        body: Any = exports.render_html(doc, lang=lang, zone=zone)
    elif fmt == "md":
        body = exports.render_markdown(doc, lang=lang, zone=zone)
    elif fmt == "json":
        body = json.dumps(exports.as_dict(doc, lang=lang), ensure_ascii=False, indent=2)
    else:
        body = exports.render_pdf(doc, lang=lang, zone=zone)
    response = Response(body, content_type=EXPORT_TYPES[fmt])
    if fmt != "html":
        response.headers["Content-Disposition"] = f'attachment; filename="{exports.filename(doc, lang, fmt)}"'
    return response
