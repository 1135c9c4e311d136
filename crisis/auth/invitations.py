"""Invitations: a person imported in bulk (crisis users import, the admins' upload page) has no
password; an invitation is a signed, expiring link to a page where they choose one.

The link names the person and a digest of their stored password hash, so it works once: setting the
password changes the hash and every earlier link of that person is worth nothing from then on. It
expires after INVITE_LINK_MAX_AGE_SECONDS. It is e-mailed when a mail server is set up
(CRISIS_SMTP_HOST), and otherwise listed for the administrator to hand over (crisis users invite,
the upload page)."""

from __future__ import annotations

import hashlib
import smtplib
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis import mail as mail_module
from crisis import signing
from crisis.audit import service as audit
from crisis.auth.models import Membership, User
from crisis.auth.people_import import NO_PASSWORD
from crisis.auth.service import end_sessions, hash_password, password_problems
from crisis.errors import DomainError, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.timeline import service as timeline

SALT = "crisis.invitation"


class InvitationInvalid(DomainError):
    status = 404
    title = "Not found"


class InvitationExpired(DomainError):
    status = 410
    title = "Gone"


def _state(user: User) -> str:
    # The stored hash as it is when the link is made: a password set since makes the link stale.
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:20]


def needs_password(user: User) -> bool:
    return user.password_hash == NO_PASSWORD


def token(user: User) -> str:
    return signing.dumps(SALT, {"u": user.id, "s": _state(user)})


def url(user: User) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + f"/invite/{token(user)}"


def expires_days() -> int:
    return max(1, int(current_app.config["INVITE_LINK_MAX_AGE_SECONDS"]) // 86400)


def check(*, session: Session, value: str) -> User:
    """The person a link invites; refused when it is forged, expired or already used."""
    try:
        data = signing.loads(SALT, value, max_age=int(current_app.config["INVITE_LINK_MAX_AGE_SECONDS"]))
    except SignatureExpired:
        raise InvitationExpired(_l("This invitation has expired. Ask your administrator for a new one.")) from None
    except BadSignature:
        raise InvitationInvalid(_l("This invitation link is not valid.")) from None
    user = session.get(User, data.get("u")) if isinstance(data, dict) and isinstance(data.get("u"), int) else None
    if user is None or data.get("s") != _state(user) or not user.active:
        raise InvitationInvalid(
            _l("This invitation has already been used, or was replaced. Sign in, or ask for a new one.")
        )
    return user


def accept(*, session: Session, value: str, password: str, confirm: str) -> User:
    """Set the invited person's password; the link is used up by it."""
    user = check(session=session, value=value)
    problems = password_problems(password or "", email=user.email, name=user.name)
    if problems:
        raise ValidationFailed({"password": problems})
    if password != confirm:
        raise ValidationFailed({"confirm": [str(_l("The two passwords differ."))]})
    user.password_hash = hash_password(password)
    end_sessions(session=session, user=user, keep=None)
    timeline.record(
        session=session,
        kind="user.password_set",
        subject_type="user",
        subject_id=user.id,
        actor_id=user.id,
        data={"source": "invitation"},
    )
    audit.record(
        session=session,
        kind="auth.password_set",
        actor=user,
        unit_id=audit.unit_of(user),
        target=f"user:{user.id}",
        detail={"source": "invitation"},
    )
    session.flush()
    return user


def waiting(*, session: Session, unit_ids: set[int] | None = None, emails: list[str] | None = None) -> list[User]:
    """People who have no password yet: of these units (None: any), or with these e-mail addresses."""
    query = select(User).where(User.password_hash == NO_PASSWORD, User.active.is_(True)).order_by(User.email)
    if unit_ids is not None:
        query = query.where(User.id.in_(select(Membership.user_id).where(Membership.unit_id.in_(sorted(unit_ids)))))
    if emails is not None:
        query = query.where(User.email.in_(emails))
    return list(session.scalars(query))


@dataclass(frozen=True)
class Invitation:
    user: User
    url: str
    mailed: bool  # False: hand the link over yourself
    problem: str = ""  # why the mail did not go, when it did not


def invite(*, session: Session, actor: User | None, people: list[User]) -> list[Invitation]:
    """A link for each person, and the record of who was invited (flush, not commit). Nothing is
    e-mailed here: the caller commits, then hands the invitations to `mail`, so that no link goes out
    for an invitation the database does not hold."""
    by_mail = bool(current_app.config.get("SMTP_HOST"))
    sent: list[Invitation] = []
    for user in people:
        sent.append(Invitation(user=user, url=url(user), mailed=False))
        _record(session, "user.invited", actor, user, by_mail=by_mail)
    session.flush()
    return sent


def mail(*, session: Session, actor: User | None, invitations: list[Invitation]) -> list[Invitation]:
    """E-mail committed invitations when a mail server is set up; each says whether it went. A mail that
    failed is recorded, with why (flush: the caller commits), and its link is for the admin to hand over."""
    if not current_app.config.get("SMTP_HOST"):
        return invitations
    done: list[Invitation] = []
    for invitation in invitations:
        user = invitation.user
        try:
            mail_module.send(_message(user, invitation.url))
            done.append(replace(invitation, mailed=True))
        except (OSError, smtplib.SMTPException) as error:
            problem = str(error)[:200]
            done.append(replace(invitation, problem=problem))
            _record(session, "user.invitation_not_mailed", actor, user, problem=problem)
    session.flush()
    return done


def _record(session: Session, kind: str, actor: User | None, user: User, **facts: Any) -> None:
    """The person's timeline and the audit trail, with the same facts (the audit adds the address)."""
    timeline.record(
        session=session,
        kind=kind,
        subject_type="user",
        subject_id=user.id,
        actor_id=actor.id if actor else None,
        data=facts,
    )
    audit.record(
        session=session,
        kind=kind,
        actor=actor,
        unit_id=audit.unit_of(user),
        target=f"user:{user.id}",
        detail={"email": user.email, **facts},
    )


def _message(user: User, link: str) -> EmailMessage:
    with force_locale(user.language if user.language in ("id", "en") else "id"):
        days = expires_days()
        context = {"user": user, "link": link, "days": days}
        return mail_module.compose(
            to=[(user.name, user.email)],
            subject=str(_l("Your account on the crisis desk: choose a password")),
            text=render_template("auth/invitation_mail.txt", **context),
        )
