"""Users, passwords, memberships, API tokens and duty shifts."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session, joinedload

from crisis import clock
from crisis.audit import service as audit
from crisis.auth.models import ApiToken, Membership, Role, User, UserSession
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit

_hasher = PasswordHasher()
# Verifying against this when the e-mail is unknown keeps both answers equally slow.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
COMMON_PASSWORDS = frozenset(
    [
        "password",
        "password1",
        "password123",
        "passw0rd",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "1q2w3e4r5t",
        "iloveyou123",
        "admin12345",
        "administrator",
        "welcome123",
        "indonesia",
        "indonesia1",
        "indonesia123",
        "jakarta123",
        "merdeka1945",
        "bismillah",
        "bismillah123",
        "rahasia123",
        "sayang123",
        "qwerty12345",
        "abcdefghij",
        "abc1234567",
        "0987654321",
        "1111111111",
        "aaaaaaaaaa",
    ]
)
TOKEN_PREFIX = "crs_"  # noqa: S105  # nosec B105  # a visible prefix, not a secret


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(str(_l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)))
    if len(password) > 256:
        problems.append(str(_l("At most 256 characters.")))
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        problems.append(str(_l("This password is too easy to guess.")))
    local = email.split("@")[0].lower()
    if (len(local) >= 4 and local in lowered) or (name and name.lower().replace(" ", "") == lowered):
        problems.append(str(_l("Do not use your name or e-mail address in the password.")))
    return problems


def normalise_email(email: str) -> str:
    return email.strip().lower()


def authenticate(*, session: Session, email: str, password: str, now: datetime | None = None) -> User | None:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now or clock.now()
    return user


def get_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email or "")))


def known_user_id(*, session: Session, email: str) -> int | None:
    """For the audit trail of failed sign-ins; never shown to the person signing in."""
    return session.scalar(select(User.id).where(User.email == normalise_email(email or "")))


def get(*, session: Session, actor: User, user_id: int) -> User:
    """A user the actor may see: themselves, or anyone with a membership in the actor's view."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_l("User not found."))
    if user.id == actor.id:
        return user
    scope = units.visible_scope(session=session, user=actor)
    if not scope.everything and not any(m.unit_id in scope for m in user.memberships):
        raise NotFound(_l("User not found."))
    return user


def list_visible(*, session: Session, actor: User) -> list[User]:
    scope = units.visible_scope(session=session, user=actor)
    query = select(User).order_by(User.name)
    if not scope.everything:
        query = query.where(User.id.in_(select(Membership.user_id).where(scope.filter(Membership.unit_id))))
    return list(session.scalars(query))


def _require_admin(*, session: Session, actor: User, unit_id: int) -> None:
    if unit_id not in units.admin_scope(session=session, user=actor):
        raise NotPermitted(_l("You do not administer that unit."))


def _can_admin_user(*, session: Session, actor: User, user: User) -> bool:
    scope = units.admin_scope(session=session, user=actor)
    if scope.everything:
        return True
    # A user without memberships can be managed by any admin; otherwise all their units must be ours.
    return all(m.unit_id in scope for m in user.memberships) and bool(scope.unit_ids)


def create_user(
    *,
    session: Session,
    actor: User | None,
    email: str,
    name: str,
    password: str,
    language: str = "id",
    unit_id: int | None = None,
    role: str | None = None,
) -> User:
    """actor=None is the command line on the server itself (bootstrapping the first admin)."""
    if actor is not None and not units.is_admin_anywhere(actor):
        raise NotPermitted(_l("Only administrators create users."))
    if (
        actor is not None and unit_id is not None
    ):  # before anything is looked up: an address taken elsewhere stays unknown
        _require_admin(session=session, actor=actor, unit_id=unit_id)
    email = normalise_email(email or "")
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = [str(_l("Enter a valid e-mail address."))]
    elif session.scalar(select(User.id).where(func.lower(User.email) == email)):
        errors["email"] = [str(_l("A user with this e-mail address already exists."))]
    if not name or not name.strip() or len(name) > 200:
        errors["name"] = [str(_l("A name of at most 200 characters is required."))]
    if language not in ("id", "en"):
        errors["language"] = [str(_l("Choose id or en."))]
    problems = password_problems(password or "", email=email, name=name or "")
    if problems:
        errors["password"] = problems
    if (unit_id is None) != (role is None):
        errors["role" if role is None else "unit_id"] = [str(_l("Give both a unit and a role."))]
    if role is not None and role not in set(Role):
        errors["role"] = [str(_l("Unknown role."))]
    if unit_id is not None and session.get(Unit, unit_id) is None:
        errors["unit_id"] = [str(_l("No such unit."))]
    if errors:
        raise ValidationFailed(errors)
    user = User(email=email, name=name.strip(), password_hash=hash_password(password), language=language)
    session.add(user)
    session.flush()
    timeline.record(
        session=session,
        kind="user.created",
        subject_type="user",
        subject_id=user.id,
        actor_id=actor.id if actor else None,
        data={"email": email},
    )
    audit.record(
        session=session,
        kind="user.created",
        actor=actor,
        unit_id=unit_id,
        target=f"user:{user.id}",
        detail={"email": email},
    )
    if unit_id is not None and role is not None:
        add_membership(session=session, actor=actor, user_id=user.id, unit_id=unit_id, role=role)
    return user


def update_user(*, session: Session, actor: User, user_id: int, changes: dict[str, Any]) -> User:
    user = get(session=session, actor=actor, user_id=user_id)
    own_fields = {"name", "language"}
    if not (set(changes) <= own_fields and user.id == actor.id) and not _can_admin_user(
        session=session, actor=actor, user=user
    ):
        raise NotPermitted(_l("You do not administer this user."))
    errors: dict[str, list[str]] = {}
    if "email" in changes:
        email = normalise_email(changes["email"] or "")
        changes["email"] = email
        if not EMAIL_RE.match(email):
            errors["email"] = [str(_l("Enter a valid e-mail address."))]
        elif session.scalar(select(User.id).where(func.lower(User.email) == email, User.id != user.id)):
            errors["email"] = [str(_l("A user with this e-mail address already exists."))]
    if "name" in changes and (not changes["name"] or not changes["name"].strip() or len(changes["name"]) > 200):
        errors["name"] = [str(_l("A name of at most 200 characters is required."))]
    if "language" in changes and changes["language"] not in ("id", "en"):
        errors["language"] = [str(_l("Choose id or en."))]
    if "active" in changes and not isinstance(changes["active"], bool):
        errors["active"] = [str(_l("Must be true or false."))]
    if "active" in changes and changes["active"] is False and user.id == actor.id:
        errors["active"] = [str(_l("You cannot disable your own account."))]
    if errors:
        raise ValidationFailed(errors)
    changed = {k: v for k, v in changes.items() if getattr(user, k) != v}
    for key, value in changed.items():
        setattr(user, key, value)
    if changed.get("active") is False:
        end_sessions(session=session, user=user)  # every session of a disabled user ends now
    if changed:
        timeline.record(
            session=session,
            kind="user.updated",
            subject_type="user",
            subject_id=user.id,
            actor_id=actor.id,
            data={"changed": sorted(changed)},
        )
    if "active" in changed:
        audit.record(
            session=session,
            kind="user.enabled" if user.active else "user.disabled",
            actor=actor,
            unit_id=audit.unit_of(user),
            target=f"user:{user.id}",
            detail={"email": user.email},
        )
    return user


def change_password(*, session: Session, user: User, current: str, new: str, keep_session: str | None = None) -> None:
    """keep_session: the key of the session the change was made in, which stays signed in; every
    other session of the person ends."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise ValidationFailed({"current_password": str(_l("The current password is wrong."))}) from None
    problems = password_problems(new, email=user.email, name=user.name)
    if problems:
        raise ValidationFailed({"new_password": problems})
    user.password_hash = hash_password(new)
    end_sessions(session=session, user=user, keep=keep_session)
    timeline.record(
        session=session, kind="user.password_changed", subject_type="user", subject_id=user.id, actor_id=user.id
    )
    audit.record(
        session=session, kind="auth.password_changed", actor=user, unit_id=audit.unit_of(user), target=f"user:{user.id}"
    )


def start_session(*, session: Session, user: User, now: datetime, expired_before: datetime) -> str:
    """A new signed-in browser of the user; returns the key its cookie carries (only its hash is
    stored). The person's rows of sessions signed in before `expired_before` (past the absolute
    limit, never signed out) are removed on the way, so the table holds live sessions only."""
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.created_at < expired_before))
    key = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user.id, key_hash=_token_hash(key), created_at=now))
    session.flush()
    return key


def end_session(*, session: Session, key: str | None) -> None:
    """Sign one browser out: a copy of its cookie is worth nothing from now on."""
    if isinstance(key, str) and key:
        session.execute(delete(UserSession).where(UserSession.key_hash == _token_hash(key)))


def end_sessions(*, session: Session, user: User, keep: str | None = None) -> None:
    """Sign the person out everywhere, except the session whose key is `keep`."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if isinstance(keep, str) and keep:
        query = query.where(UserSession.key_hash != _token_hash(keep))
    session.execute(query)


@functools.cache
def _session_with_user() -> Any:
    """Built once (every page request runs it), on first use: its loader options need every model mapped."""
    return (
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(User.id == bindparam("user_id"), UserSession.key_hash == bindparam("key_hash"), User.active)
        .options(joinedload(User.memberships).joinedload(Membership.unit))
    )


def user_for_session(*, session: Session, user_id: int, key: str) -> User | None:
    """The active person a browser's session belongs to, or None when that session has ended. With
    the memberships and their units, in one query: every page's access checks and time zone need them."""
    found = session.scalars(_session_with_user(), {"user_id": user_id, "key_hash": _token_hash(key)})
    return found.unique().one_or_none()


def add_membership(*, session: Session, actor: User | None, user_id: int, unit_id: int, role: str) -> Membership:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_l("User not found."))
    if actor is not None and user.memberships:
        get(session=session, actor=actor, user_id=user_id)  # out of sight: 404 before anything else
    if actor is not None:  # then the role: the unit's people stay unknown to who does not administer it
        _require_admin(session=session, actor=actor, unit_id=unit_id)
    errors = {}
    if role not in set(Role):
        errors["role"] = str(_l("Unknown role."))
    if session.get(Unit, unit_id) is None:
        errors["unit_id"] = str(_l("No such unit."))
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(Membership.id).where(Membership.user_id == user_id, Membership.unit_id == unit_id)):
        raise ValidationFailed({"unit_id": str(_l("This user already has a role in that unit; change it instead."))})
    membership = Membership(user_id=user_id, unit_id=unit_id, role=role)
    session.add(membership)
    session.flush()
    session.refresh(user)
    timeline.record(
        session=session,
        kind="membership.added",
        subject_type="user",
        subject_id=user_id,
        actor_id=actor.id if actor else None,
        unit_id=unit_id,
        data={"role": role},
    )
    audit.record(
        session=session,
        kind="membership.added",
        actor=actor,
        unit_id=unit_id,
        target=f"user:{user_id}",
        detail={"email": user.email, "role": role, "membership_id": membership.id},
    )
    return membership


def membership_or_404(*, session: Session, membership_id: int) -> Membership:
    membership = session.get(Membership, membership_id)
    if membership is None:
        raise NotFound(_l("Membership not found."))
    return membership


def _visible_membership(*, session: Session, actor: User, membership_id: int) -> Membership:
    """A role in a unit the actor can see; one out of sight is "not found", like its unit."""
    membership = session.get(Membership, membership_id)
    if membership is None or membership.unit_id not in units.visible_scope(session=session, user=actor):
        raise NotFound(_l("Membership not found."))
    return membership


def change_role(*, session: Session, actor: User, membership_id: int, role: str) -> Membership:
    membership = _visible_membership(session=session, actor=actor, membership_id=membership_id)
    _require_admin(session=session, actor=actor, unit_id=membership.unit_id)
    if role not in set(Role):
        raise ValidationFailed({"role": str(_l("Unknown role."))})
    before = membership.role
    membership.role = role
    timeline.record(
        session=session,
        kind="membership.role_changed",
        subject_type="user",
        subject_id=membership.user_id,
        actor_id=actor.id,
        unit_id=membership.unit_id,
        data={"before": before, "after": role},
    )
    if before != role:
        audit.record(
            session=session,
            kind="membership.role_changed",
            actor=actor,
            unit_id=membership.unit_id,
            target=f"user:{membership.user_id}",
            detail={"email": membership.user.email, "before": before, "after": role, "membership_id": membership.id},
        )
    return membership


def remove_membership(*, session: Session, actor: User, membership_id: int) -> None:
    membership = _visible_membership(session=session, actor=actor, membership_id=membership_id)
    _require_admin(session=session, actor=actor, unit_id=membership.unit_id)
    if membership.user_id == actor.id and membership.role == Role.admin:
        raise ValidationFailed({"role": str(_l("You cannot remove your own administrator role."))})
    user_id, unit_id, role = membership.user_id, membership.unit_id, membership.role
    audit.record(
        session=session,
        kind="membership.removed",
        actor=actor,
        unit_id=unit_id,
        target=f"user:{user_id}",
        detail={"email": membership.user.email, "role": role, "membership_id": membership.id},
    )
    session.delete(membership)
    session.flush()
    timeline.record(
        session=session,
        kind="membership.removed",
        subject_type="user",
        subject_id=user_id,
        actor_id=actor.id,
        unit_id=unit_id,
        data={"role": role},
    )


def _token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_token(*, session: Session, user: User, name: str, on_command_line: bool = False) -> tuple[ApiToken, str]:
    """Returns the row and the plaintext token, which is never stored and shown only now.
    on_command_line: made by `crisis tokens create` on the server, not by the user signed in."""
    actor = None if on_command_line else user
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed({"name": str(_l("Give the token a name of at most 100 characters."))})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=plaintext[:10], token_hash=_token_hash(plaintext))
    session.add(token)
    session.flush()
    timeline.record(
        session=session,
        kind="token.created",
        subject_type="user",
        subject_id=user.id,
        actor_id=actor.id if actor else None,
        data={"token_id": token.id, "name": name},
    )
    audit.record(
        session=session,
        kind="token.created",
        actor=actor,
        unit_id=audit.unit_of(user),
        target=f"token:{token.id}",
        detail={"name": name, "prefix": token.prefix},
    )
    return token, plaintext


def list_tokens(*, session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def revoke_token(*, session: Session, user: User, token_id: int, now: datetime | None = None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_l("Token not found."))
    if token.revoked_at is None:
        token.revoked_at = now or clock.now()
        timeline.record(
            session=session,
            kind="token.revoked",
            subject_type="user",
            subject_id=user.id,
            actor_id=user.id,
            data={"token_id": token.id},
        )
        audit.record(
            session=session,
            kind="token.revoked",
            actor=user,
            unit_id=audit.unit_of(user),
            target=f"token:{token.id}",
            detail={"name": token.name, "prefix": token.prefix},
        )
    return token


@functools.cache
def _token_with_user() -> Any:
    """Built once (every API call runs it), on first use: its loader options need every model mapped."""
    return (
        select(ApiToken)
        .where(ApiToken.token_hash == bindparam("token_hash"))
        .options(joinedload(ApiToken.user).joinedload(User.memberships).joinedload(Membership.unit))
    )


def user_for_token(*, session: Session, plaintext: str, now: datetime | None = None) -> User | None:
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 100:
        return None
    # The token, its user and the user's memberships with their units in one query: every API call
    # needs them all for its access checks (units._scope), which would otherwise read them one by one.
    token = session.scalars(_token_with_user(), {"token_hash": _token_hash(plaintext)}).unique().one_or_none()
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    moment = now or clock.now()
    # Write the last use at most once a minute so reads stay reads.
    if token.last_used_at is None or moment - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = moment
    return token.user


def user_names(session: Session, references: list[str]) -> dict[str, str]:
    """The audit page's words for "user:<id>" targets: the person's name and address."""
    ids = audit.ids_of(references)
    rows = session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids))) if ids else []
    return {str(user_id): f"{name} ({email})" for user_id, name, email in rows}


def token_names(session: Session, references: list[str]) -> dict[str, str]:
    """The audit page's words for "token:<id>" targets."""
    ids = audit.ids_of(references)
    rows = session.execute(select(ApiToken.id, ApiToken.name).where(ApiToken.id.in_(ids))) if ids else []
    return {str(token_id): str(_l("API token “%(name)s”", name=name)) for token_id, name in rows}
