"""The audit page for administrators: who signed in, who tried, who changed access."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from crisis.audit import service
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.http import viewer_zone

bp = Blueprint("audit", __name__)

FILTER_ARGS = ("kind", "person", "from", "to")


@bp.route("/admin/audit")
@login_required
def events() -> Any:
    if not service.can_read(session=db.session, user=current_user):
        abort(403)
    args = request.args
    kept = {name: args[name] for name in FILTER_ARGS if args.get(name)}
    errors: dict[str, list[str]] = {}
    rows: list[Any] = []
    next_cursor = None
    try:
        filters = service.filters_for(
            kind=args.get("kind"),
            person=args.get("person"),
            start=args.get("from"),
            end=args.get("to"),
            zone=viewer_zone(),
        )
        rows, next_cursor = service.list_events(
            session=db.session, actor=current_user, filters=filters, cursor=args.get("cursor")
        )
    except ValidationFailed as error:
        errors = error.errors

    def page_url(cursor: str | None) -> str:
        query = {**kept, **({"cursor": cursor} if cursor else {})}
        return url_for("audit.events") + ("?" + urlencode(query) if query else "")

    return render_template(
        "audit/list.html",
        events=rows,
        targets=service.target_words(session=db.session, events=rows),
        errors=errors,
        args=args,
        next_url=page_url(next_cursor) if next_cursor else None,
        first_url=page_url(None) if args.get("cursor") else None,
        KIND_LABELS=service.KIND_LABELS,
        DETAIL_LABELS=service.DETAIL_LABELS,
        DETAIL_HIDDEN=service.DETAIL_HIDDEN,
        ROLE_DETAILS=service.ROLE_DETAILS,
        SOURCE_LABELS=service.SOURCE_LABELS,
    ), (422 if errors else 200)
