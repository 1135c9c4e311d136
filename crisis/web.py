"""The web wiring: blueprints, error handlers, session rules and security headers, template globals."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask import (
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
)
from flask_babel import format_date, format_decimal, get_locale
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from crisis import clock, guards
from crisis.api import init_api
from crisis.audit.views import bp as audit_bp
from crisis.auth.identity import load_user, sign_out
from crisis.auth.labels import ROLE_LABELS
from crisis.auth.views import bp as auth_bp
from crisis.desk.views import bp as desk_bp
from crisis.errors import DomainError, page_title
from crisis.escalation.chat_views import bp as chat_hooks_bp
from crisis.escalation.views import bp as escalation_bp
from crisis.exercises.views import bp as exercises_bp
from crisis.extensions import db, login
from crisis.guards import sign_in_url
from crisis.http import handle_http_error, problem, select_locale, viewer_zone, wants_json
from crisis.i18n import _, lazy_gettext
from crisis.incidents.views import bp as incidents_bp
from crisis.issues.views import bp as issues_bp
from crisis.notify.views import bp as notify_bp
from crisis.playbooks.views import bp as playbooks_bp
from crisis.reports.situation_views import bp as situation_bp
from crisis.reports.views import bp as reports_bp
from crisis.reviews.views import bp as reviews_bp
from crisis.system.views import bp as system_bp
from crisis.timefmt import LocalTimes, format_duration, format_local, unit_words, zone_label
from crisis.units.service import KIND_LABELS as UNIT_KIND_LABELS
from crisis.units.views import bp as units_bp


def _enforce_session_age() -> Any:
    if request.path.startswith("/api/") or not current_user.is_authenticated:  # the API has no sessions
        return None
    now = clock.now().timestamp()  # the injectable clock: tests move time instead of waiting
    signed_in = session.get("signed_in_at", 0)
    last_seen = session.get("last_seen", 0)
    config = current_app.config
    if now - last_seen > config["SESSION_IDLE_MINUTES"] * 60 or (
        now - signed_in > config["SESSION_ABSOLUTE_HOURS"] * 3600
    ):
        sign_out()
        db.session.commit()
        flash(_("Your session has ended. Please sign in again."), "info")
        return redirect(sign_in_url(_here()))
    # Only refresh once a minute so the cookie is not rewritten on every request.
    if now - last_seen > 60:
        session["last_seen"] = now
    return None


def _here() -> str:
    return request.full_path.removesuffix("?")


def _to_sign_in() -> Any:
    """flask-login's way to the sign-in page, without an address over the limit (sign_in_url)."""
    flash(str(login.login_message), login.login_message_category)
    return redirect(sign_in_url(_here()))


def _security_headers(response: Any) -> Any:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "object-src 'none'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if not current_app.config["EMBEDDED"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if current_user and current_user.is_authenticated and not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    return response


def _handle_domain_error(error: DomainError) -> Any:
    db.session.rollback()
    if wants_json():
        return problem(error.status, error.title, error.message, error.errors)
    page = render_template(
        "errors/error.html", status=error.status, title=page_title(error.status), message=error.message
    )
    return page, error.status


def date_text(day: date | None, fmt: str = "d MMM yyyy") -> str:
    """A date in prose as the reader writes it ('7 Des 2026'), never ISO."""
    return format_date(day, fmt) if day is not None else "—"


def number(value: float | None, pattern: str | None = None) -> str:
    """A number as the reader writes it: '0,25' and '1.234' in Indonesian, '0.25' and '1,234' in English."""
    if value is None:
        return "—"
    return format_decimal(value, pattern) if pattern else format_decimal(value)


def _template_globals() -> dict[str, Any]:
    times: list[LocalTimes] = []  # made on first use: one zone and language lookup per page

    def page_times() -> LocalTimes:
        if not times:
            times.append(LocalTimes(viewer_zone(), get_locale()))
        return times[0]

    def local(moment: datetime | None, fmt: str = "d MMM yyyy HH:mm") -> str:
        return page_times()(moment, fmt)

    words: list[str] = []  # the countdown's unit words, once per page

    def duration_words() -> str:
        if not words:
            words.append(json.dumps(unit_words(), ensure_ascii=False))
        return words[0]

    return {
        "local": local,
        "viewer_zone": viewer_zone,
        "zone_label": zone_label,
        "format_duration": format_duration,
        "date_text": date_text,
        "number": number,
        "duration_words": duration_words,
        "deadline_text": lambda moment: page_times().deadline(moment),
        "format_local": format_local,
        "current_locale": select_locale,
    }


KIND_LABELS = {str(kind): label for kind, label in UNIT_KIND_LABELS.items()}


def init_app(app: Flask) -> None:
    login.user_loader(load_user)
    guards.init_url_map(app)
    guards.init_app(app)
    login.login_view = "auth.login"
    login.login_message = lazy_gettext("Please sign in to continue.")
    login.session_protection = "basic"
    login.unauthorized_handler(_to_sign_in)

    app.before_request(_enforce_session_age)
    app.after_request(_security_headers)
    app.register_error_handler(DomainError, _handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.context_processor(_template_globals)
    app.jinja_env.globals.update(ROLE_LABELS=ROLE_LABELS, KIND_LABELS=KIND_LABELS)

    for bp in (
        auth_bp,
        units_bp,
        audit_bp,
        playbooks_bp,
        issues_bp,
        incidents_bp,
        escalation_bp,
        chat_hooks_bp,
        notify_bp,
        reviews_bp,
        reports_bp,
        situation_bp,
        system_bp,
        desk_bp,
        exercises_bp,
    ):
        app.register_blueprint(bp)
    init_api(app)
