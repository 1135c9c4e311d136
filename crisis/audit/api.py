"""The audit trail over JSON, for administrators (same scope as the page)."""

from __future__ import annotations

from typing import Any

from crisis.audit import service
from crisis.audit.schemas import AuditPageOut, AuditQuery
from crisis.auth.identity import authenticated, bearer_user
from crisis.errors import NotPermitted, ValidationFailed
from crisis.extensions import db
from crisis.http import Blueprint
from crisis.i18n import lazy_gettext as _l
from crisis.timefmt import is_valid_zone

blp = Blueprint("audit_api", __name__, url_prefix="/api/v1", description="The security audit trail")


@blp.route("/audit-events")
@authenticated
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditPageOut)
def list_events(query: dict[str, Any]) -> Any:
    """Sign-ins, failed sign-ins, sign-outs, tokens, roles, users, SOP publications and webhooks, newest
    first. Administrators see the units they administer; administrators of a central unit see all."""
    user = bearer_user()
    if not service.can_read(session=db.session, user=user):
        raise NotPermitted(str(_l("Only administrators read the audit trail.")))
    zone = query.get("zone") or user.timezone
    if not is_valid_zone(zone):
        message = _l("Unknown time zone; use e.g. Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT).")
        raise ValidationFailed({"zone": str(message)})
    filters = service.filters_for(
        kind=query.get("kind"), person=query.get("person"), start=query.get("from_"), end=query.get("to"), zone=zone
    )
    events, next_cursor = service.list_events(
        session=db.session, actor=user, filters=filters, cursor=query.get("cursor"), limit=query["limit"]
    )
    return {"events": events, "next_cursor": next_cursor}
