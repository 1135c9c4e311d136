from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user

from crisis import clock
from crisis.audit import service as audit
from crisis.auth import invitations, service
from crisis.auth.forms import InvitationForm, LanguageForm, LoginForm, PasswordForm, TokenForm
from crisis.auth.identity import sign_out
from crisis.auth.models import User
from crisis.errors import ValidationFailed
from crisis.extensions import db, limiter
from crisis.guards import local_path
from crisis.i18n import _
from crisis.timeline import service as timeline

bp = Blueprint("auth", __name__)


def _login_limit_key() -> str:
    # Per e-mail and client address: an attacker elsewhere cannot lock the real user out.
    email = (request.form.get("email") or "").strip().lower()[:254]
    return f"login:{email}|{request.remote_addr}"


def _safe_next(target: str | None) -> str:
    return local_path(target, url_for("incidents.console"))


def apply_form_errors(form: Any, error: ValidationFailed) -> None:
    """Put service errors next to the matching form fields; the rest become a flash."""
    for field_name, messages in error.errors.items():
        field = getattr(form, field_name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + list(messages)
        else:
            for message in messages:
                flash(message, "error")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_limit_key, methods=["POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("incidents.console"))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        user = service.authenticate(session=db.session, email=form.email.data, password=form.password.data)
        if user is not None:
            next_url = _safe_next(request.args.get("next"))
            lang = session.get("lang")
            session.clear()  # a new session at sign-in: nothing from before carries over
            now = clock.now()
            session["sid"] = service.start_session(
                session=db.session,
                user=user,
                now=now,
                expired_before=now - timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"]),
            )
            login_user(user)
            session["signed_in_at"] = session["last_seen"] = now.timestamp()
            if lang and lang != user.language:
                user.language = lang
            timeline.record(
                session=db.session,
                kind="auth.signed_in",
                subject_type="user",
                subject_id=user.id,
                actor_id=user.id,
                data={"ip": request.remote_addr},
            )
            audit.record(
                session=db.session,
                kind="auth.sign_in",
                actor=user,
                unit_id=audit.unit_of(user),
                target=f"user:{user.id}",
            )
            db.session.commit()
            return redirect(next_url)
        failed = True
        known = service.known_user_id(session=db.session, email=form.email.data)
        if known is not None:
            timeline.record(
                session=db.session,
                kind="auth.sign_in_failed",
                subject_type="user",
                subject_id=known,
                data={"ip": request.remote_addr},
            )
        # The address tried, known or not, and never the password.
        audit.record(
            session=db.session,
            kind="auth.sign_in_failed",
            actor_email=service.normalise_email(form.email.data or ""),
            unit_id=audit.unit_of(db.session.get(User, known)) if known is not None else None,
            target=f"user:{known}" if known is not None else "",
            detail={"known_email": known is not None},
        )
        db.session.commit()
    return render_template("auth/login.html", form=form, failed=failed), (401 if failed else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    user = current_user._get_current_object()
    audit.record(
        session=db.session, kind="auth.sign_out", actor=user, unit_id=audit.unit_of(user), target=f"user:{user.id}"
    )
    sign_out()
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(
                session=db.session,
                user=current_user,
                current=form.current_password.data,
                new=form.new_password.data,
                keep_session=session.get("sid"),
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        else:
            db.session.commit()
            flash(_("Your password has been changed. Other sessions have been signed out."), "success")
            return redirect(url_for("incidents.console"))
    return render_template("auth/password.html", form=form)


@bp.route("/invite/<value>", methods=["GET", "POST"])
def invitation(value: str) -> Any:
    """An invited person chooses their password (the link is their credential, once); then signs in.
    No rate limit as at sign-in: there is nothing to guess (the link is signed), and the argon2 hash
    is computed once, when the link is used up."""
    form = InvitationForm()
    try:
        invited = invitations.check(session=db.session, value=value)
    except (invitations.InvitationInvalid, invitations.InvitationExpired) as error:
        return render_template("auth/invitation.html", form=form, problem=error.message), error.status
    if form.validate_on_submit():
        try:
            invitations.accept(session=db.session, value=value, password=form.password.data, confirm=form.confirm.data)
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        else:
            db.session.commit()
            flash(_("Your password is set. Sign in with your e-mail address and it."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/invitation.html", form=form, invited=invited, problem=None)


@bp.route("/language", methods=["POST"])
def set_language() -> Any:
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    session["lang"] = form.language.data
    if current_user.is_authenticated:
        current_user.language = form.language.data
        db.session.commit()
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens() -> Any:
    form = TokenForm()
    created = None
    if form.validate_on_submit():
        try:
            _token, created = service.create_token(session=db.session, user=current_user, name=form.name.data)
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        else:
            db.session.commit()
            form = TokenForm(formdata=None)
    return render_template(
        "auth/tokens.html",
        form=form,
        created=created,
        tokens=service.list_tokens(session=db.session, user=current_user),
    )


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int) -> Any:
    # CSRFProtect has already checked this POST's token.
    service.revoke_token(session=db.session, user=current_user, token_id=token_id)
    db.session.commit()
    flash(_("The token has been revoked."), "success")
    return redirect(url_for("auth.tokens"))
