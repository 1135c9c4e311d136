"""The desk's pages: what is waiting for me (/waiting) and search (/search); the header's count and
`can()` for every template. Thin: parse, call a service, render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from crisis import clock
from crisis.desk import permissions, search, waiting
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.http import select_locale
from crisis.incidents.labels import STATE_LABELS, STATEMENT_LABELS
from crisis.issues.forms import STATE_LABELS as ISSUE_STATE_LABELS
from crisis.playbooks.labels import OWNER_LABELS

bp = Blueprint("desk", __name__)


@bp.app_template_global("waiting_count")
def waiting_count() -> int:
    """Things waiting for the signed-in person, for the header (0 when signed out); once a request."""
    return waiting.count(session=db.session, user=current_user, now=clock.now())


bp.add_app_template_global(waiting.BADGE_CAP, "waiting_badge_cap")  # the header's count stops here ("99+")


@bp.app_template_global("can")
def can(action: str, thing: Any = None) -> bool:
    """{% if can("log_issue") %}, {% if can("lead", incident) %}: crisis.desk.permissions."""
    return permissions.can(session=db.session, user=current_user, action=action, thing=thing)


@bp.route("/waiting")
@login_required
def page() -> Any:
    now = clock.now()
    return render_template(
        "desk/waiting.html",
        now=now,
        waiting=waiting.collect(session=db.session, user=current_user, now=now),
        lang=select_locale(),
        STATEMENT_LABELS=STATEMENT_LABELS,
        OWNER_LABELS=OWNER_LABELS,
    )


@bp.route("/search")
@login_required
def find() -> Any:
    query = request.args.get("q", "")
    error = None
    try:
        results = search.search(session=db.session, user=current_user, query=query)
    except ValidationFailed as failed:
        error = failed.errors["q"][0]
        results = search.search(session=db.session, user=current_user, query="")
    return render_template(
        "desk/search.html",
        results=results,
        query=query[: search.MAX_QUERY],
        error=error,
        limit=search.LIMIT,
        STATE_LABELS=STATE_LABELS,
        ISSUE_STATE_LABELS=ISSUE_STATE_LABELS,
        STATEMENT_LABELS=STATEMENT_LABELS,
    )
